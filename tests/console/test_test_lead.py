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
