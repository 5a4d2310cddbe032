"""Test a lead and the lead page list every rule in evaluation order and why it did not match."""

from __future__ import annotations

import pytest
from django.test import Client

from reps.models import Role
from routing import services
from tests.console.conftest import client_for
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, SegmentFactory
from tests.reps.helpers import route_new_lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def rules() -> None:
    SegmentFactory(slug="standard", name="Standard", is_default=True)
    pool = PoolFactory(name="Main")
    PoolMemberFactory(pool=pool, rep=RepFactory(display_name="Ana"))
    RuleFactory(name="Big Texans", priority=10, pool=pool,
                conditions=[{"field": "state", "op": "in", "value": ["TX", "FL"]}, {"field": "value", "op": "gte", "value": 50000}])
    RuleFactory(name="Verticals", priority=20, pool=pool,
                conditions=[{"field": "attributes.vertical", "op": "equals", "value": "saas"}])
    RuleFactory(name="Everyone", priority=30, pool=pool, conditions=[])
    RuleFactory(name="Afterwards", priority=40, pool=pool, conditions=[])
    services.rule_publish(note="v1")


def _order(html: str, *names: str) -> bool:
    positions = [html.index(n) for n in names]
    return positions == sorted(positions)


def test_test_a_lead_lists_each_rule_in_order_with_why_it_did_not_match(ops_client: Client, rules: None) -> None:
    html = ops_client.post("/ops/test/", {"mode": "live", "country": "US", "state": "CA", "value": "900"}).content.decode()
    assert 'class="rule-checks"' in html
    checks = html[html.index('class="rule-checks"'):]
    assert _order(checks, "Big Texans", "Verticals", "Everyone", "Afterwards")
    assert "needs “state is TX or FL”, but the lead&#x27;s state is CA" in checks
    assert "needs “vertical is saas”, but the lead has no vertical" in checks
    assert 'data-outcome="matched"' in checks and "a rule above it took the lead" in checks


def test_every_decision_on_the_lead_page_lists_the_rules_checked(rules: None) -> None:
    lead = route_new_lead(state="TX", value="9000", attributes={"vertical": "insurance"})
    html = client_for(Role.OPS).get(f"/dash/leads/{lead.id}/").content.decode()
    checks = html[html.index('class="rule-checks"'):]
    assert "needs “value is at least 50,000”, but the lead&#x27;s value is 9,000" in checks
    assert "needs “vertical is saas”, but the lead&#x27;s vertical is insurance" in checks
    assert _order(checks, "Big Texans", "Verticals", "Everyone", "Afterwards")
