"""Column mapping on header sets shaped like real exports (no database)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.import_mapping import (
    ColumnMapping, MappingError, header_key, mapping_apply, mapping_check, mapping_parse, mapping_suggest,
    target_label,
)  # fmt: skip

CRM_LEAD_EXPORT = ["First Name", "Last Name", "Email", "Company", "Lead Source", "State/Province", "Country",
                   "Annual Revenue"]  # fmt: skip
CONTACTS_EXPORT = ["Record ID", "First Name", "Last Name", "Email", "Phone Number", "Company Name", "Job Title",
                   "Country/Region", "State/Region", "Annual Revenue", "Lifecycle Stage"]  # fmt: skip
BADGE_SCANNER_DE = ["Vorname", "Nachname", "E-Mail", "Firma", "Land", "PLZ", "Interesse", "Notizen am Stand"]
WEBINAR = ["Registrant ID", "first_name", "last_name", "email", "Organization", "Attended", "Currency", "Deal Size"]
LEADOPS_OWN = ["source", "external_id", "country", "state", "value", "intent", "attr.vertical"]


def test_a_crm_lead_export_maps_every_column_to_a_lead_field() -> None:
    assert mapping_suggest(CRM_LEAD_EXPORT) == {
        "First Name": "first_name", "Last Name": "last_name", "Email": "email", "Company": "company",
        "Lead Source": "source", "State/Province": "state", "Country": "country", "Annual Revenue": "value",
    }  # fmt: skip


def test_a_contacts_export_keeps_its_record_id_and_an_unknown_column_as_an_attribute() -> None:
    suggested = mapping_suggest(CONTACTS_EXPORT)
    assert suggested["Record ID"] == "external_id"
    assert suggested["Phone Number"] == "phone"
    assert suggested["Company Name"] == "company"
    assert suggested["Job Title"] == "title"
    assert suggested["Country/Region"] == "country"
    assert suggested["State/Region"] == "state"
    assert suggested["Lifecycle Stage"] == "attributes.lifecycle_stage"


def test_a_german_badge_scanner_file_maps_by_german_synonyms() -> None:
    suggested = mapping_suggest(BADGE_SCANNER_DE)
    assert [suggested[h] for h in BADGE_SCANNER_DE] == [
        "first_name", "last_name", "email", "company", "country", "postal_code",
        "attributes.interesse", "attributes.notizen_am_stand",
    ]  # fmt: skip


def test_a_webinar_export_maps_snake_case_headers_and_a_currency_column() -> None:
    suggested = mapping_suggest(WEBINAR)
    assert suggested["Registrant ID"] == "external_id"
    assert suggested["first_name"] == "first_name"
    assert suggested["Organization"] == "company"
    assert suggested["Currency"] == "currency"
    assert suggested["Deal Size"] == "value"
    assert suggested["Attended"] == "attributes.attended"


def test_leadops_own_headers_still_map_to_themselves() -> None:
    suggested = mapping_suggest(LEADOPS_OWN)
    assert suggested == {"source": "source", "external_id": "external_id", "country": "country", "state": "state",
                         "value": "value", "intent": "intent", "attr.vertical": "attributes.vertical"}  # fmt: skip


def test_a_field_is_suggested_once_and_a_second_match_becomes_an_attribute() -> None:
    suggested = mapping_suggest(["Email", "Work Email"])
    assert suggested == {"Email": "email", "Work Email": "attributes.work_email"}


@pytest.mark.parametrize("header", ["First Name", "FirstName", "first_name", "FIRST-NAME", " first  name ", "Vorname",
                                    "Prénom"])  # fmt: skip
def test_header_matching_ignores_case_punctuation_and_accents(header: str) -> None:
    assert mapping_suggest([header]) == {header: "first_name"}
    assert header_key(header) in {"firstname", "vorname", "prenom"}


def test_applying_a_mapping_builds_the_lead_payload_with_fixed_source_currency_and_derived_id() -> None:
    mapping = ColumnMapping(columns=mapping_suggest(CRM_LEAD_EXPORT) | {"Lead Source": "attributes.channel"},
                            source="crm-export", currency="eur")  # fmt: skip
    row = dict(zip(CRM_LEAD_EXPORT, ["Ana", "Muñoz", "Ana@Example.com", "Acme", "Webinar", "CA", "US", "52000"],
                   strict=True))  # fmt: skip
    assert mapping_apply(row, mapping) == {
        "first_name": "Ana", "last_name": "Muñoz", "email": "Ana@Example.com", "company": "Acme", "state": "CA",
        "country": "US", "value": "52000", "attributes": {"channel": "Webinar"}, "source": "crm-export",
        "currency": "EUR", "external_id": "email:ana@example.com",
    }  # fmt: skip


def test_a_row_without_email_or_id_gets_a_stable_id_from_its_cells() -> None:
    mapping = ColumnMapping(columns={"Company": "company", "Country": "country"}, source="list")
    first = mapping_apply({"Company": "Acme", "Country": "US"}, mapping)
    again = mapping_apply({"Company": " Acme ", "Country": "US", "Unmapped": "x"}, mapping)
    other = mapping_apply({"Company": "Acme", "Country": "DE"}, mapping)
    assert first["external_id"] == again["external_id"]
    assert first["external_id"].startswith("row:")
    assert other["external_id"] != first["external_id"]


def test_ignored_and_empty_cells_are_left_out() -> None:
    mapping = ColumnMapping(columns={"A": "company", "B": "ignore", "C": "phone"}, source="s")
    assert mapping_apply({"A": "Acme", "B": "secret", "C": "  "}, mapping) == {
        "company": "Acme", "source": "s", "external_id": mapping_apply({"A": "Acme"}, mapping)["external_id"],
    }  # fmt: skip


@pytest.mark.parametrize(("data", "field"), [
    ({"columns": {"A": "nonsense"}}, "columns"),
    ({"columns": {"A": "email", "B": "email"}}, "columns"),
    ({"columns": {"A": "attributes.bad key!"}}, "columns"),
    ({"columns": {}, "currency": "EURO"}, "currency"),
    ({"columns": {}, "source": "a;b"}, "source"),
    ({"columns": {}, "extra": 1}, "extra"),
    ({"columns": []}, "columns"),
])  # fmt: skip
def test_a_bad_mapping_is_refused_naming_the_field(data: dict, field: str) -> None:
    with pytest.raises(MappingError) as caught:
        mapping_parse(data)
    assert field in caught.value.errors


def test_a_file_with_no_source_column_needs_a_fixed_source() -> None:
    mapping = ColumnMapping(columns=mapping_suggest(["Email"]))
    assert "source" in mapping_check(mapping, ["Email"])
    assert mapping_check(mapping.model_copy(update={"source": "expo"}), ["Email"]) == {}


def test_target_labels_are_words() -> None:
    assert target_label("first_name") == "First name"
    assert target_label("attributes.vertical") == "Custom attribute “vertical”"
    assert target_label("ignore") == "Ignore this column"


@given(st.lists(st.text(max_size=30), max_size=12))
def test_every_header_gets_a_valid_target_and_the_suggestion_parses(headers: list[str]) -> None:
    headers = [h.replace("\x00", "") for h in headers]
    suggested = mapping_suggest(headers)
    assert set(suggested) == set(headers)
    mapping_parse({"columns": {h: t for h, t in suggested.items() if len(h) <= 200}})
