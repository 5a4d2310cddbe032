from __future__ import annotations

import json

import pytest
from django.test import Client

from reps.models import FairnessState, RepLoad
from routing import services
from routing.models import Decision, Lead, Offer, RuleSet
from tests.factories import LeadFactory, PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, SegmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup() -> dict:
    SegmentFactory(slug="standard", is_default=True)
    pool = PoolFactory(name="Main")
    ana, bob = RepFactory(display_name="Ana", max_open=0), RepFactory(display_name="Bob")
    PoolMemberFactory(pool=pool, rep=ana)
    PoolMemberFactory(pool=pool, rep=bob)
    RuleFactory(name="CA rule", pool=pool, conditions=[{"field": "state", "op": "equals", "value": "CA"}])
    return {"pool": pool}


def counts() -> tuple:
    return (Lead.objects.count(), Offer.objects.count(), Decision.objects.count(), RepLoad.objects.count(),
            FairnessState.objects.count(), RuleSet.objects.count())  # fmt: skip


def test_dry_run_shows_segment_rule_candidates_and_writes_nothing(htmx_client: Client, setup: dict) -> None:
    before = counts()
    response = htmx_client.post("/ops/test/", {"mode": "draft", "country": "US", "state": "CA", "value": "100"})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and 'id="test-result"' in html
    assert "CA rule" in html and "Standard" in html
    assert "Bob" in html and "at open-lead cap" in html  # Ana skipped with her reason
    assert "offer to <strong>Bob</strong>" in html
    assert counts() == before


def test_pasted_json_and_live_mode_use_the_published_version(ops_client: Client, setup: dict) -> None:
    html = ops_client.post("/ops/test/", {"mode": "live", "lead_json": json.dumps({"country": "US", "state": "CA"})}).content.decode()
    assert "CA rule" in html  # nothing published: routing reads the tables
    services.rule_publish()
    RuleFactory(name="Newer", priority=0, pool=setup["pool"])
    live = ops_client.post("/ops/test/", {"mode": "live", "lead_json": json.dumps({"country": "US", "state": "CA"})}).content.decode()
    draft = ops_client.post("/ops/test/", {"mode": "draft", "lead_json": json.dumps({"country": "US", "state": "CA"})}).content.decode()
    assert "CA rule" in live and "Newer" not in live
    assert "Newer" in draft


def test_picking_a_recent_lead_routes_its_data(ops_client: Client, setup: dict) -> None:
    lead = LeadFactory(state="CA")
    html = ops_client.post("/ops/test/", {"mode": "draft", "recent_lead": str(lead.id)}).content.decode()
    assert "CA rule" in html


def test_bad_json_is_an_inline_error(htmx_client: Client, setup: dict) -> None:
    html = htmx_client.post("/ops/test/", {"mode": "draft", "lead_json": "{nope"}).content.decode()
    assert "Not valid JSON" in html and 'id="test-result"' in html
    html = htmx_client.post("/ops/test/", {"mode": "draft", "lead_json": "[1, 2]"}).content.decode()
    assert "Paste one lead" in html


# --- the typed fields accept what the lead normaliser accepts (issue 11 leftover) -------------


@pytest.mark.parametrize(("typed", "stored_state"), [
    ({"country": "United States", "state": "California"}, "CA"),
    ({"country": "USA", "state": "US-CA"}, "CA"),
    ({"country": "840", "state": "ca"}, "CA"),
    ({"country": " united states of america ", "state": "California", "intent": "hot", "language": "English",
      "currency": "usd", "value": "52000.50", "fit_score": "80"}, "CA"),
])  # fmt: skip
def test_the_typed_lead_takes_country_names_iso3_and_state_names_like_the_api(htmx_client: Client, setup: dict,
                                                                              typed: dict, stored_state: str) -> None:  # fmt: skip
    from routing.models import LeadSynonym

    LeadSynonym.objects.get_or_create(field="intent", alias="hot", defaults={"value": "high"})
    html = htmx_client.post("/ops/test/", {"mode": "draft", **typed}).content.decode()
    assert "Fix the highlighted fields" not in html and "cannot be routed" not in html, html
    assert "CA rule" in html  # the rule on state CA matched the normalised lead


@pytest.mark.parametrize(("typed", "field", "words"), [
    ({"country": "Narnia"}, "country", "Unknown country"),
    ({"country": "US", "state": "Atlantis"}, "state", "Unknown state or region of US"),
    ({"state": "CA"}, "state", "Give the country too"),
    ({"value": "lots"}, "value", "Expected a number"),
    ({"value": "-5"}, "value", "Must not be negative"),
    ({"fit_score": "101"}, "fit_score", "between 0 and 100"),
    ({"intent": "scorching"}, "intent", "Unknown intent"),
    ({"currency": "ZZZ"}, "currency", "Unknown currency"),
    ({"country": "x" * 101}, "country", "at most 100 characters"),
])  # fmt: skip
def test_a_typed_field_the_normaliser_refuses_is_shown_on_that_field(ops_client: Client, setup: dict, typed: dict,
                                                                     field: str, words: str) -> None:  # fmt: skip
    before = counts()
    response = ops_client.post("/ops/test/", {"mode": "draft", **typed})
    assert response.status_code == 200
    assert any(words in e for e in response.context["form"].errors[field]), response.context["form"].errors
    assert counts() == before


def test_every_typed_field_allows_the_input_length_the_api_allows() -> None:
    from routing.console.forms import TestLeadForm
    from routing.validation import lead_input_fields

    form, spec = TestLeadForm(), lead_input_fields()
    for name in TestLeadForm.INPUT_FIELDS:
        assert form.fields[name].max_length == (spec[name]["max_length"] or 100), name
    assert form.fields["country"].max_length == 100 and form.fields["currency"].max_length == 20
