"""Territories and licences accept places as the lead normaliser does and store its codes
(issue 11 leftover: a form field narrower than the normaliser, or wider without its checks)."""

from __future__ import annotations

import pytest
from django.test import Client

from reps.models import Licence, Rep, Territory
from routing.config_io import ConfigImportError, config_import
from tests.console.test_config_io import demo_config
from tests.console.test_objects import rep_post

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("country", "region", "stored"), [
    ("United States", "California", ("US", "CA")), ("USA", "US-CA", ("US", "CA")), ("Germany", "Bayern", ("DE", "BY")),
    ("de", "", ("DE", "")),
])  # fmt: skip
def test_a_territory_takes_country_and_region_names_and_stores_the_codes_leads_carry(
        ops_client: Client, country: str, region: str, stored: tuple) -> None:  # fmt: skip
    response = ops_client.post("/ops/territories/new/", {"name": "T", "country": country, "region": region, "active": "on"})
    assert response.status_code == 302
    assert (Territory.objects.get().country, Territory.objects.get().region) == stored


@pytest.mark.parametrize(("country", "region", "field"), [("Narnia", "", "country"), ("US", "Atlantis", "region"),
                                                          ("XX", "CA", "country")])  # fmt: skip
def test_an_unknown_country_or_region_is_refused_on_its_field(ops_client: Client, country: str, region: str,
                                                             field: str) -> None:  # fmt: skip
    response = ops_client.post("/ops/territories/new/", {"name": "T", "country": country, "region": region, "active": "on"})
    assert response.status_code == 200 and field in response.context["form"].errors
    assert not Territory.objects.exists()


@pytest.mark.parametrize(("typed", "stored"), [("US-California", "US-CA"), ("United States", "US"), ("us-ca", "US-CA")])
def test_a_licence_jurisdiction_takes_names_and_stores_the_code(ops_client: Client, typed: str, stored: str) -> None:
    response = ops_client.post("/ops/reps/new/", rep_post(**{
        "licence-TOTAL_FORMS": "1", "licence-0-jurisdiction": typed, "licence-0-product_line": "auto",
        "licence-0-valid_from": "2025-01-01"}))  # fmt: skip
    assert response.status_code == 302 and Licence.objects.get().jurisdiction == stored


def test_an_unknown_jurisdiction_is_refused_and_no_rep_is_created(ops_client: Client) -> None:
    response = ops_client.post("/ops/reps/new/", rep_post(**{
        "licence-TOTAL_FORMS": "1", "licence-0-jurisdiction": "US-ZZ", "licence-0-product_line": "auto",
        "licence-0-valid_from": "2025-01-01"}))  # fmt: skip
    assert response.status_code == 200 and "Unknown jurisdiction" in response.content.decode()
    assert not Rep.objects.exists()


def test_config_import_gives_the_same_verdict_as_the_forms() -> None:
    doc = demo_config()
    doc["territories"][1] |= {"country": "United States", "region": "California"}
    doc["reps"][0]["licences"][0]["jurisdiction"] = "US-California"
    config_import(doc)
    assert Territory.objects.get(name="California").region == "CA"
    assert Licence.objects.get().jurisdiction == "US-CA"
    doc["territories"][1]["region"] = "Atlantis"
    doc["reps"][0]["licences"][0]["jurisdiction"] = "US-ßßßßßßßßß"
    with pytest.raises(ConfigImportError) as caught:
        config_import(doc)
    assert {e.split(":")[0] for e in caught.value.errors} == {"territories[1].region", "reps[0].licences[0].jurisdiction"}


@pytest.mark.parametrize(("field", "op", "written", "stored"), [
    ("country", "equals", "United States", "US"), ("country", "in", ["USA", "Germany", "Narnia"], ["US", "DE", "Narnia"]),
    ("language", "not_equals", "English", "en"), ("currency", "equals", "jpy", "JPY"), ("country", "equals", "US", "US"),
    ("country", "contains", "United", "United"), ("company", "equals", "United States", "United States"),
])  # fmt: skip
def test_a_condition_on_a_coded_field_is_stored_as_the_code_leads_carry(field: str, op: str, written: object,
                                                                        stored: object) -> None:  # fmt: skip
    from routing.engine import schema

    condition, problems = schema.validate(schema.Condition, {"field": field, "op": op, "value": written})
    assert problems == [] and condition.dump()["value"] == stored


def test_a_rule_on_united_states_routes_a_lead_from_the_us(ops_client: Client) -> None:
    from routing.models import Rule
    from tests.factories import PoolFactory

    pool = PoolFactory()
    response = ops_client.post("/ops/rules/new/", {
        "name": "US", "priority": "5", "enabled": "on", "pool": str(pool.id), "strategy": "weighted_fair",
        "value_threshold": "", "high_value_min_tier": "", "req_min_tier": "", "cond_field": ["country"],
        "cond_op": ["equals"], "cond_value": ["United States"], "fb_kind": [], "action": "save"})  # fmt: skip
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    assert Rule.objects.get(name="US").conditions == [{"field": "country", "op": "equals", "value": "US"}]
