"""Exchange rates, lead synonyms and saved import mappings travel with the configuration
(issue 11 leftover, issue 20): exported, imported through the one schema, round trip exact."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal

import pytest

from routing.config_io import ConfigImportError, config_export, config_import
from routing import config_schema
from routing.models import ExchangeRate, ImportMapping, LeadSynonym
from routing.reference import SYNONYM_FIELDS
from tests.console.test_config_io import demo_config

pytestmark = pytest.mark.django_db

REFERENCE = {
    "exchange_rates": [
        {"currency": "EUR", "rate": "1.0842", "as_of": "2026-11-01", "note": "ECB"},
        {"currency": "JPY", "rate": "0.0067", "as_of": "2026-01-01", "note": ""},
        {"currency": "JPY", "rate": "0.0066512345", "as_of": "2026-11-01", "note": ""},
    ],
    "lead_synonyms": [
        {"field": "country", "alias": "Deutschland", "value": "DE"},
        {"field": "intent", "alias": "hot", "value": "high"},
        {"field": "state", "alias": "Bavaria", "value": "DE-BY"},
    ],
    "import_mappings": [
        {"name": "CRM export", "columns": {"First Name": "first_name", "Lead Source": "attributes.channel",
                                           "Annual Revenue": "value", "Notes": "ignore"},
         "source": "crm-export", "currency": "USD"},
        {"name": "Trade show scanner", "columns": {"E-Mail": "email", "Vorname": "first_name"}, "source": "expo",
         "currency": ""},
    ],
}  # fmt: skip


def full_config() -> dict:
    return demo_config() | copy.deepcopy(REFERENCE)


def test_rates_synonyms_and_mappings_round_trip_exactly() -> None:
    config_import(full_config())
    first = json.loads(json.dumps(config_export()))
    assert {k: first[k] for k in REFERENCE} == REFERENCE  # exported as written: rates as exact text
    assert ExchangeRate.objects.get(currency="JPY", as_of=dt.date(2026, 11, 1)).rate == Decimal("0.0066512345")
    assert config_import(copy.deepcopy(first)).changes == []  # importing the export changes nothing
    ExchangeRate.objects.all().delete()
    LeadSynonym.objects.all().delete()
    ImportMapping.objects.all().delete()
    changes = config_import(copy.deepcopy(first)).changes
    assert {(c["section"], c["action"]) for c in changes} == {
        ("exchange_rates", "add"), ("lead_synonyms", "add"), ("import_mappings", "add")}
    assert json.loads(json.dumps(config_export())) == first


def test_a_rate_written_as_a_number_is_stored_exactly_and_exported_as_text() -> None:
    config_import(demo_config() | {"exchange_rates": [{"currency": "GBP", "rate": 1.27, "as_of": "2026-11-01"}]})
    assert config_export()["exchange_rates"] == [{"currency": "GBP", "rate": "1.27", "as_of": "2026-11-01", "note": ""}]


def test_a_file_without_the_sections_leaves_them_alone_and_an_empty_section_empties_them() -> None:
    config_import(full_config())
    older = demo_config()  # written before these sections existed
    assert not [c for c in config_import(older).changes if c["section"] in REFERENCE]
    assert (ExchangeRate.objects.count(), LeadSynonym.objects.count(), ImportMapping.objects.count()) == (3, 3, 2)
    result = config_import(demo_config() | {"exchange_rates": [], "lead_synonyms": [], "import_mappings": []})
    assert sum(c["action"] == "delete" for c in result.changes) == 8
    assert (ExchangeRate.objects.count(), LeadSynonym.objects.count(), ImportMapping.objects.count()) == (0, 0, 0)


def test_a_changed_rate_and_a_changed_mapping_are_updated_in_place() -> None:
    config_import(full_config())
    doc = full_config()
    doc["exchange_rates"][0]["rate"] = "1.09"
    doc["import_mappings"][1]["columns"]["Firma"] = "company"
    changes = config_import(doc).changes
    assert [(c["section"], c["key"], c["action"]) for c in changes if c["section"] in REFERENCE] == [
        ("exchange_rates", "EUR as of 2026-11-01", "change"), ("import_mappings", "Trade show scanner", "change")]
    assert ExchangeRate.objects.get(currency="EUR").rate == Decimal("1.09")
    assert ImportMapping.objects.get(name="Trade show scanner").columns["Firma"] == "company"


@pytest.mark.parametrize(("section", "row", "path", "words"), [
    ("exchange_rates", {"currency": "usd", "rate": "1", "as_of": "2026-01-01"}, "exchange_rates[0].currency", "ISO 4217"),
    ("exchange_rates", {"currency": "USD", "rate": "1", "as_of": "2026-01-01"}, "exchange_rates[0].currency", "base currency"),
    ("exchange_rates", {"currency": "XYZ", "rate": "1", "as_of": "2026-01-01"}, "exchange_rates[0].currency", "unknown currency"),
    ("exchange_rates", {"currency": "JPY", "rate": "0", "as_of": "2026-01-01"}, "exchange_rates[0].rate", "positive"),
    ("exchange_rates", {"currency": "JPY", "rate": "NaN", "as_of": "2026-01-01"}, "exchange_rates[0].rate", "positive"),
    ("exchange_rates", {"currency": "JPY", "rate": "1e-11", "as_of": "2026-01-01"}, "exchange_rates[0].rate", "10 after"),
    ("exchange_rates", {"currency": "JPY", "rate": True, "as_of": "2026-01-01"}, "exchange_rates[0].rate", "expected a rate"),
    ("exchange_rates", {"currency": "JPY", "rate": "1", "as_of": "2026-13-01"}, "exchange_rates[0].as_of", "YYYY-MM-DD"),
    ("exchange_rates", {"currency": "JPY", "rate": "1", "as_of": 20260101}, "exchange_rates[0].as_of", "YYYY-MM-DD"),
    ("exchange_rates", {"currency": "JPY", "rate": "1"}, "exchange_rates[0].as_of", "is required"),
    ("lead_synonyms", {"field": "intent", "alias": "scorching", "value": "very high"}, "lead_synonyms[0]", "Intent synonyms"),
    ("lead_synonyms", {"field": "country", "alias": "Germany", "value": "DEU"}, "lead_synonyms[0]", "alpha-2"),
    ("lead_synonyms", {"field": "mood", "alias": "x", "value": "y"}, "lead_synonyms[0].field", "unknown field"),
    ("lead_synonyms", {"field": "intent", "alias": "", "value": "high"}, "lead_synonyms[0].alias", "is required"),
    ("import_mappings", {"name": "X", "columns": {"A": "e-mail"}}, "import_mappings[0].columns", "unknown lead field"),
    ("import_mappings", {"name": "X", "columns": {"A": "email", "B": "email"}}, "import_mappings[0].columns", "both fill"),
    ("import_mappings", {"name": "X", "columns": {}, "currency": "EURO"}, "import_mappings[0].currency", "ISO 4217"),
    ("import_mappings", {"columns": {}}, "import_mappings[0].name", "is required"),
    ("import_mappings", {"name": "X", "columns": {}, "extra": 1}, "import_mappings[0].extra", "unknown field"),
])  # fmt: skip
def test_a_bad_row_is_refused_with_its_path_and_nothing_is_written(section: str, row: dict, path: str, words: str) -> None:
    with pytest.raises(ConfigImportError) as caught:
        config_import(demo_config() | {section: [row]})
    assert any(e.startswith(f"{path}: ") and words in e for e in caught.value.errors), caught.value.errors
    assert not ImportMapping.objects.exists() and not ExchangeRate.objects.exists()


@pytest.mark.parametrize(("section", "rows", "words"), [
    ("exchange_rates", [{"currency": "JPY", "rate": "1", "as_of": "2026-01-01"},
                        {"currency": "JPY", "rate": "2", "as_of": "2026-01-01"}], "duplicate rate"),
    ("lead_synonyms", [{"field": "intent", "alias": "Hot", "value": "high"},
                       {"field": "intent", "alias": "hot", "value": "low"}], "duplicate synonym"),
    ("import_mappings", [{"name": "A"}, {"name": "A"}], "duplicate mapping name"),
])  # fmt: skip
def test_duplicates_are_refused_naming_both_rows(section: str, rows: list, words: str) -> None:
    with pytest.raises(ConfigImportError) as caught:
        config_import(demo_config() | {section: rows})
    assert any(e.startswith(f"{section}[1]: {words}") and f"also {section}[0]" in e for e in caught.value.errors)


def test_synonym_fields_are_the_models_choices() -> None:
    assert SYNONYM_FIELDS == tuple(LeadSynonym.Field.values)
    assert {"exchange_rates[]", "lead_synonyms[]", "import_mappings[]"} <= set(config_schema.DOCUMENTED)
