"""Issue 14 story: an existing customer's second enquiry goes to its account owner in one step,
with the match in the explanation; with the owner on holiday it goes down the chain and says so.
Also: account fields in rule conditions, sticky follow-ups and duplicates, end to end."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from reps.models import Rep
from routing import services
from routing.config_io import config_export, config_import
from routing.models import Account, Decision, Lead, Offer
from tests.factories import AbsenceFactory, LeadFactory

pytestmark = pytest.mark.django_db


def _config() -> dict:
    return {
        "format": "leadops-config", "format_version": 1,
        "reps": [{"username": u, "email": f"{u}@example.com", "display_name": u.title(), "tier": 3}
                 for u in ("ana", "bob", "cho")],
        "pools": [{"name": "Main", "members": [{"rep": "ana", "weight": 1}, {"rep": "bob", "weight": 1},
                                               {"rep": "cho", "weight": 1}]}],
        "segments": [{"slug": "standard", "name": "Standard", "sla_minutes": 60, "is_default": True}],
        "rules": [
            {"name": "Customers", "priority": 1, "pool": "Main",
             "conditions": [{"field": "account.status", "op": "equals", "value": "customer"}],
             "fallback": [{"kind": "account_owner"}, {"kind": "holding"}]},
            {"name": "Everyone", "priority": 2, "pool": "Main", "fallback": [{"kind": "holding"}]},
        ],
        "accounts": [
            {"external_id": "crm-1", "name": "Acme Corp", "domains": ["acme.com"], "owner": "ana",
             "tier": "enterprise", "status": "customer"},
            {"external_id": "crm-2", "name": "Globex GmbH", "domains": ["globex.de"], "owner": "ana",
             "status": "prospect"},
        ],
    }  # fmt: skip


@pytest.fixture
def setup() -> None:
    config_import(_config())
    services.rule_publish(note="accounts")


def _lead(email: str, *, received: dt.datetime | None = None, **extra: object) -> Lead:
    now = received or timezone.now()
    return LeadFactory(email=email, received_at=now, queue_at=now, **{"status": Lead.Status.PENDING, **extra})


def test_a_customers_second_enquiry_goes_to_its_owner_in_one_step_with_the_match_explained(setup: None) -> None:
    ana = Rep.objects.get(user__username="ana")
    _lead("first@acme.com", received=timezone.now() - dt.timedelta(days=200),
          status=Lead.Status.CONVERTED, owner=ana)  # fmt: skip
    lead = _lead("second@acme.com")

    services.leads_route_all_pending()

    lead.refresh_from_db()
    assert (lead.status, lead.owner_id, lead.account.external_id) == (Lead.Status.OFFERED, ana.id, "crm-1")
    decision = Decision.objects.get(lead=lead)
    assert decision.step == "account_owner" and len(decision.detail["steps"]) == 1
    assert decision.summary.startswith("Matched Acme Corp by the email domain acme.com. Rule 'Customers'")
    assert "offered to account owner Ana of Acme Corp" in decision.summary
    assert decision.detail["account"]["method"] == "email_domain" and decision.detail["account"]["score"] == 100.0
    assert Offer.objects.get(lead=lead).via == "account_owner"


def test_with_the_owner_on_holiday_it_goes_down_the_chain_and_says_why(setup: None) -> None:
    ana = Rep.objects.get(user__username="ana")
    AbsenceFactory(rep=ana)
    lead = _lead("second@acme.com")

    services.leads_route_all_pending()

    lead.refresh_from_db()
    assert lead.status == Lead.Status.OFFERED and lead.owner.user.username in ("bob", "cho")
    decision = Decision.objects.get(lead=lead)
    assert [s["kind"] for s in decision.detail["steps"]] == ["account_owner", "primary"]
    assert decision.detail["steps"][0]["candidates"][0]["reasons"] == ["absent"]
    assert "account owner Ana of Acme Corp cannot take it (absent), so it went down the chain" in decision.summary


def test_account_fields_in_conditions_send_a_prospect_past_the_customer_rule(setup: None) -> None:
    lead = _lead("someone@globex.de")
    services.leads_route_all_pending()
    decision = Decision.objects.get(lead=lead)
    assert decision.detail["rule"]["name"] == "Everyone" and decision.step == "primary"
    assert decision.inputs["account.status"] == "prospect"


def test_a_follow_up_from_the_same_person_sticks_to_the_rep_holding_the_earlier_lead(setup: None) -> None:
    cho = Rep.objects.get(user__username="cho")
    earlier = _lead("pat@gmail.com", received=timezone.now() - dt.timedelta(days=3),
                    status=Lead.Status.CONVERTED, owner=cho)  # fmt: skip
    lead = _lead("PAT@gmail.com")
    services.leads_route_all_pending()
    lead.refresh_from_db()
    decision = Decision.objects.get(lead=lead)
    assert lead.owner_id == cho.id and decision.step == "sticky"
    assert f"offered to the rep holding Cho (the same person's earlier lead #{earlier.id})" in decision.summary


def test_a_lead_repeating_an_open_lead_is_linked_not_routed_again(setup: None) -> None:
    first = _lead("dup@example.org", received=timezone.now() - dt.timedelta(minutes=5))
    services.leads_route_all_pending()
    first.refresh_from_db()
    assert first.status == Lead.Status.OFFERED
    second = _lead("Dup@Example.org")
    services.leads_route_all_pending()
    second.refresh_from_db()
    assert (second.status, second.duplicate_of_id, second.owner_id) == (Lead.Status.DUPLICATE, first.id, None)
    assert Offer.objects.filter(lead=second).count() == 0
    assert Decision.objects.get(lead=second).outcome == "linked"


def test_two_leads_of_one_person_in_the_same_batch_get_one_offer(setup: None) -> None:
    a = _lead("twin@example.org", received=timezone.now() - dt.timedelta(seconds=2))
    b = _lead("twin@example.org")
    services.leads_route_all_pending()
    a.refresh_from_db(), b.refresh_from_db()
    assert (a.status, b.status, b.duplicate_of_id) == (Lead.Status.OFFERED, Lead.Status.DUPLICATE, a.id)
    assert Offer.objects.filter(lead__in=[a, b]).count() == 1


@pytest.mark.parametrize("policy", ["merge", "route"])
def test_the_duplicate_policy_merges_or_routes_anyway(setup: None, settings, policy: str) -> None:  # noqa: ANN001
    settings.LEADOPS_DUPLICATE_POLICY = policy
    first = _lead("dup@example.org", received=timezone.now() - dt.timedelta(minutes=5), phone="")
    services.leads_route_all_pending()
    second = _lead("dup@example.org", phone="+1 555 0100", attributes={"campaign": "spring"})
    services.leads_route_all_pending()
    first.refresh_from_db(), second.refresh_from_db()
    assert second.duplicate_of_id == first.id
    if policy == "merge":
        assert second.status == Lead.Status.DUPLICATE
        assert first.phone == "+1 555 0100" and first.attributes.get("campaign") == "spring"
    else:
        assert second.status == Lead.Status.OFFERED and Offer.objects.filter(lead=second).count() == 1


def test_accounts_round_trip_through_config_as_code(setup: None) -> None:
    exported = config_export()
    assert [a["external_id"] for a in exported["accounts"]] == ["crm-1", "crm-2"]
    assert exported["rules"][0]["fallback"][0] == {"kind": "account_owner", "respect_caps": True}
    result = config_import(exported)
    assert [c for c in result.changes if c["section"] == "accounts"] == []
    assert Account.objects.count() == 2


def test_owner_assignments_are_reported_apart_from_rotation_not_as_drift(setup: None, settings) -> None:  # noqa: ANN001
    from reps.models import Pool
    from routing.dashboards.selectors import equity_table
    from routing.dashboards.services import equity_rollup

    settings.LEADOPS_DRIFT_MIN_LEADS = 0
    ana = Rep.objects.get(user__username="ana")
    for n in range(8):  # eight enquiries from the customer: all to its owner, outside the rotation
        _lead(f"buyer{n}@acme.com")
    for n in range(6):  # six prospects: the rotation, two each
        _lead(f"someone{n}@globex.de")
    services.leads_route_all_pending()
    equity_rollup()
    today = timezone.now().date()
    table = equity_table(pool_id=Pool.objects.get(name="Main").id, start=today, end=today)
    rows = {r.name: r for r in table.rows}
    assert rows["Ana"].direct == 8 and sum(r.direct for r in table.rows) == 8
    assert sum(r.assigned for r in table.rows) == 6
    assert not table.drifting, [(r.name, r.assigned, r.expected) for r in table.rows]


def test_owner_assignments_can_count_toward_fairness(setup: None, settings) -> None:  # noqa: ANN001
    from reps.models import FairnessState, Pool

    settings.LEADOPS_OWNER_COUNTS_TOWARD_FAIRNESS = True
    ana = Rep.objects.get(user__username="ana")
    _lead("buyer@acme.com")
    services.leads_route_all_pending()
    decision = Decision.objects.get()
    assert decision.step == "account_owner" and decision.detail["fairness_updates"]
    state = FairnessState.objects.get(pool=Pool.objects.get(name="Main"), rep=ana)
    assert (state.credit, state.assigned) == (-1.0, 1)  # charged one lead: the rotation evens it out


def test_a_lead_with_no_account_gets_no_missing_field_warning_for_account_conditions(setup: None) -> None:
    lead = _lead("someone@unknown-company.org")
    services.leads_route_all_pending()
    decision = Decision.objects.get(lead=lead)
    assert decision.detail["rule"]["name"] == "Everyone" and decision.detail["account"] is None
    assert decision.detail["warnings"] == []
