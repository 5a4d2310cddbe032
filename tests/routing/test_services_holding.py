"""Issue 10, routing side: a self-contained live rule set, a holding pool that waits instead of
spinning, accurate decision kinds, and retries that cannot starve anyone."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from reps.models import Rep
from routing import services
from routing.config_io import config_import
from routing.models import Decision, Lead, Offer, Segment, WebhookDelivery
from tests.factories import LeadFactory, PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, SegmentFactory, make_token

pytestmark = pytest.mark.django_db


# --- failing input 2: the draft deletes a segment the live rule set still uses ------------------


def _config(*, with_hot: bool) -> dict:
    segments = [{"slug": "standard", "name": "Standard", "sla_minutes": 60, "order": 99, "is_default": True}]
    if with_hot:
        segments.insert(0, {"slug": "hot", "name": "Hot", "sla_minutes": 5, "order": 1, "priority": 10,
                            "conditions": [{"field": "intent", "op": "equals", "value": "high"}]})  # fmt: skip
    return {
        "format": "leadops-config", "format_version": 1,
        "reps": [{"username": "ana", "email": "ana@example.com", "display_name": "Ana", "tier": 3},
                 {"username": "bob", "email": "bob@example.com", "display_name": "Bob", "tier": 3}],
        "pools": [{"name": "Main", "members": [{"rep": "ana", "weight": 1}, {"rep": "bob", "weight": 1}]}],
        "segments": segments,
        "rules": [{"name": "Everyone", "priority": 1, "pool": "Main", "fallback": [{"kind": "holding"}]}],
    }  # fmt: skip


def test_failing_input_2_leads_route_on_the_live_rule_set_after_the_draft_deletes_its_segment() -> None:
    config_import(_config(with_hot=True))
    services.rule_publish(note="hot + standard")
    hot_id = Segment.objects.get(slug="hot").id
    config_import(_config(with_hot=False))  # the draft loses "hot"; not published
    assert not Segment.objects.filter(slug="hot").exists()
    client, headers = Client(), {"HTTP_AUTHORIZATION": f"Bearer {make_token()}"}
    ids = {}
    for intent in ("high", "low"):
        body = {"source": "web", "external_id": f"fi2-{intent}", "email": f"{intent}@example.com", "intent": intent,
                "country": "US", "value": 100}  # fmt: skip
        response = client.post("/api/v1/leads", data=json.dumps(body), content_type="application/json", **headers)
        assert response.status_code == 201
        ids[intent] = response.json()["id"]

    services.leads_route_all_pending()
    connection.check_constraints()  # what a commit would check: nothing dangles where it must not

    high, low = Lead.objects.get(id=ids["high"]), Lead.objects.get(id=ids["low"])
    assert (high.status, low.status) == (Lead.Status.OFFERED, Lead.Status.OFFERED)
    assert Offer.objects.filter(lead__in=[high, low], status=Offer.Status.OPEN).count() == 2
    # The audit keeps the live rule set's segment (deleted from the draft); the lead links none.
    assert Decision.objects.get(lead=high).segment_id == hot_id and high.segment_id is None
    assert high.segment_priority == 10  # queued with the live segment's priority
    assert low.segment == Segment.objects.get(slug="standard")
    # The lead page still shows the decision, naming the segment the draft no longer has.
    from reps.models import Role
    from tests.factories import user_with_role

    client.force_login(user_with_role(Role.OPS))
    page = client.get(f"/dash/leads/{high.id}/")
    assert page.status_code == 200 and f"#{hot_id}" in page.content.decode()
    assert "since deleted from the draft" in page.content.decode()


def test_a_rule_and_rep_deleted_from_the_draft_do_not_break_the_live_rule_set() -> None:
    rep = RepFactory()
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=rep)
    rule = RuleFactory(pool=pool)
    services.rule_publish()
    rule_id = rule.id
    rule.delete()  # gone from the draft; still live
    lead = LeadFactory()
    services.leads_route_all_pending()
    connection.check_constraints()
    lead.refresh_from_db()
    assert lead.status == Lead.Status.OFFERED
    assert Decision.objects.get(lead=lead).rule_id == rule_id


# --- failing input 4 and deliver 3: the holding pool waits -------------------------------------


def _held_world(*, max_open: int | None = 1) -> tuple[Rep, object]:
    rep = RepFactory(max_open=max_open)
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=rep)
    rule = RuleFactory(pool=pool, fallback=[{"kind": "holding"}])
    services.rule_publish()
    return rep, rule


def test_failing_input_4_a_held_lead_retried_with_the_same_outcome_writes_nothing_and_backs_off(settings) -> None:  # noqa: ANN001
    settings.LEADOPS_WEBHOOK_URL = "https://crm.example.com/hook"
    rep, _ = _held_world()
    rep.active = False
    rep.save()
    now = timezone.now()
    lead = LeadFactory(received_at=now)
    services.leads_route_all_pending(now=now)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.HOLDING
    assert Decision.objects.filter(lead=lead).count() == 1
    assert WebhookDelivery.objects.filter(event="lead.holding").count() == 1
    first_retry = lead.next_retry_at
    assert first_retry == now + dt.timedelta(seconds=30)

    # Not due yet: a sweep-frequency retry takes nothing.
    assert services.holding_release(now=now + dt.timedelta(seconds=1)) == 0
    # Due: retried, same outcome => no decision, no webhook, longer wait each time.
    t = now
    waits = []
    for _ in range(5):
        t = Lead.objects.get(id=lead.id).next_retry_at
        assert services.holding_release(now=t) == 1
        lead.refresh_from_db()
        waits.append((lead.next_retry_at - t).total_seconds())
    assert waits == [60, 120, 240, 480, 960]
    assert lead.hold_attempts == 6 and lead.last_tried_at == t and lead.route_attempts == 6
    assert Decision.objects.filter(lead=lead).count() == 1
    assert WebhookDelivery.objects.filter(event="lead.holding").count() == 1


def test_a_held_lead_whose_reasons_change_gets_one_new_retry_decision_and_no_webhook(settings) -> None:  # noqa: ANN001
    settings.LEADOPS_WEBHOOK_URL = "https://crm.example.com/hook"
    rep, _ = _held_world()
    rep.active = False
    rep.save()
    now = timezone.now()
    lead = LeadFactory(received_at=now)
    services.leads_route_all_pending(now=now)
    rep.active, rep.max_open = True, 0  # now skipped for its cap instead: a different outcome
    rep.save()
    later = now + dt.timedelta(minutes=1)
    services.holding_release(now=later)
    kinds = list(Decision.objects.filter(lead=lead).order_by("id").values_list("kind", flat=True))
    assert kinds == [Decision.Kind.ROUTE, Decision.Kind.RETRY]
    assert WebhookDelivery.objects.filter(event="lead.holding").count() == 1
    lead.refresh_from_db()
    assert lead.hold_attempts == 1 and lead.next_retry_at == later + dt.timedelta(seconds=30)


def test_failing_input_4_retries_of_a_once_offered_lead_are_retries_not_escalations() -> None:
    rep, _ = _held_world(max_open=None)
    now = timezone.now()
    lead = LeadFactory(received_at=now)
    services.leads_route_all_pending(now=now)
    offer = Offer.objects.get(lead=lead)
    services.offer_decline(offer_id=offer.id, rep=rep, reason=Offer.DeclineReason.NO_CAPACITY, now=now)
    services.leads_route_all_pending(now=now)  # the only rep declined: held
    rep.max_open = 0
    rep.save()
    services.holding_release(now=now + dt.timedelta(minutes=1))  # a new reason: recorded as a retry
    kinds = list(Decision.objects.filter(lead=lead).order_by("id").values_list("kind", flat=True))
    assert kinds == [Decision.Kind.ROUTE, Decision.Kind.ESCALATION, Decision.Kind.RETRY]


def test_failing_input_4_unroutable_high_value_leads_do_not_starve_a_routable_low_value_one() -> None:
    routable_rep = RepFactory()
    routable_pool = PoolFactory()
    PoolMemberFactory(pool=routable_pool, rep=routable_rep)
    dead_rep = RepFactory(active=False)
    dead_pool = PoolFactory()
    PoolMemberFactory(pool=dead_pool, rep=dead_rep)
    RuleFactory(priority=1, pool=dead_pool, conditions=[{"field": "product_line", "op": "equals", "value": "auto"}])
    RuleFactory(priority=2, pool=routable_pool)
    services.rule_publish()
    now = timezone.now()
    routable_rep.active = False  # everyone held at first
    routable_rep.save()
    for i in range(100):
        LeadFactory(value=Decimal("900000"), product_line="auto", received_at=now - dt.timedelta(seconds=200 - i))
    small = LeadFactory(value=Decimal("10"), product_line="life", received_at=now)
    services.leads_route_all_pending(now=now)
    assert Lead.objects.filter(status=Lead.Status.HOLDING).count() == 101
    routable_rep.active = True
    routable_rep.save()
    # Each retry pass takes 100; the held high-value leads back off, so the small one gets its turn.
    later = now + dt.timedelta(seconds=30)
    services.holding_release(limit=100, now=later)
    small.refresh_from_db()
    assert small.status == Lead.Status.OFFERED and small.owner == routable_rep
    assert Lead.objects.filter(status=Lead.Status.HOLDING, next_retry_at__gt=later).count() == 100


def test_freed_capacity_wakes_only_held_leads_that_rep_can_take(django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    rep, _ = _held_world(max_open=1)
    other_rep = RepFactory()
    other_pool = PoolFactory()
    PoolMemberFactory(pool=other_pool, rep=other_rep)
    RuleFactory(priority=0, pool=other_pool, conditions=[{"field": "product_line", "op": "equals", "value": "auto"}],
                fallback=[{"kind": "holding"}])  # fmt: skip
    services.rule_publish()
    now = timezone.now()
    first = LeadFactory(received_at=now - dt.timedelta(seconds=2))
    services.leads_route_all_pending(now=now)
    waiting = LeadFactory(received_at=now - dt.timedelta(seconds=1))
    other_rep.active = False
    other_rep.save()
    unrelated = LeadFactory(product_line="auto", received_at=now)
    services.leads_route_all_pending(now=now)
    waiting.refresh_from_db()
    unrelated.refresh_from_db()
    assert (waiting.status, unrelated.status) == (Lead.Status.HOLDING, Lead.Status.HOLDING)
    unrelated_due = unrelated.next_retry_at

    offer = Offer.objects.get(lead=first)
    with django_capture_on_commit_callbacks(execute=True):
        services.offer_decline(offer_id=offer.id, rep=rep, reason=Offer.DeclineReason.NO_CAPACITY)
    waiting.refresh_from_db()
    unrelated.refresh_from_db()
    assert waiting.status == Lead.Status.OFFERED and waiting.owner == rep  # woken and routed at once
    assert unrelated.status == Lead.Status.HOLDING and unrelated.next_retry_at == unrelated_due  # not woken


def test_publishing_wakes_every_held_lead(django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    rep, rule = _held_world()
    rep.active = False
    rep.save()
    lead = LeadFactory()
    services.leads_route_all_pending()
    rep.active = True
    rep.save()
    with django_capture_on_commit_callbacks(execute=True):
        services.rule_publish(note="same rules")
    lead.refresh_from_db()
    assert lead.status == Lead.Status.OFFERED


def test_the_sweep_wakes_held_leads_when_a_rep_edit_lands_from_any_path(monkeypatch, django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    from routing.tasks import sweep

    monkeypatch.setattr(services, "_LAST_SEEN", {})
    rep, _ = _held_world()
    rep.active = False
    rep.save()
    now = timezone.now()
    lead = LeadFactory(received_at=now)
    services.leads_route_all_pending(now=now)
    with django_capture_on_commit_callbacks(execute=True):
        sweep()  # first pass of this process: records what it sees
    lead.refresh_from_db()
    assert lead.status == Lead.Status.HOLDING
    rep.active = True
    rep.save()  # e.g. the admin or an import: no service call, but history moves the fingerprint
    with django_capture_on_commit_callbacks(execute=True):
        result = sweep()
    lead.refresh_from_db()
    assert result["woken"] == 1 and result["failed"] == 0
    assert lead.status == Lead.Status.OFFERED


def test_the_lead_page_collapses_repeated_waits_into_one_line(client) -> None:  # noqa: ANN001
    from reps.models import Role
    from tests.factories import user_with_role

    rep, _ = _held_world()
    rep.active = False
    rep.save()
    now = timezone.now()
    lead = LeadFactory(received_at=now)
    services.leads_route_all_pending(now=now)
    t = now
    for _ in range(4):
        t = Lead.objects.get(id=lead.id).next_retry_at
        services.holding_release(now=t)
    client.force_login(user_with_role(Role.OPS))
    html = client.get(f"/dash/leads/{lead.id}/").content.decode()
    assert html.count('class="card event-decision"') == 1
    assert "Retried 4 more times with the same outcome" in html


def test_the_sweep_wakes_held_leads_when_an_away_time_ends(monkeypatch, django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    from routing.tasks import sweep

    monkeypatch.setattr(services, "_LAST_SEEN", {})
    rep, _ = _held_world()
    now = timezone.now()
    Rep.objects.filter(id=rep.id).update(away_until=now - dt.timedelta(seconds=1))  # away, until a second ago
    lead = LeadFactory(received_at=now - dt.timedelta(seconds=5))
    services.leads_route_all_pending(now=now - dt.timedelta(seconds=5))  # while the rep was away
    lead.refresh_from_db()
    assert lead.status == Lead.Status.HOLDING
    # The previous pass ran before the away time ended; it ended with no event since (absences
    # ending are found by the same query on Absence.ends_at).
    services._LAST_SEEN.update(at=now - dt.timedelta(seconds=3), fingerprint=services.routing_directory().fingerprint)
    with django_capture_on_commit_callbacks(execute=True):
        result = sweep()
    lead.refresh_from_db()
    assert result["woken"] == 1
    assert lead.status == Lead.Status.OFFERED and lead.owner == rep


def test_many_offers_given_up_in_one_transaction_make_one_wake(django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    reps = [RepFactory() for _ in range(3)]
    pool = PoolFactory()
    for rep in reps:
        PoolMemberFactory(pool=pool, rep=rep)
    RuleFactory(pool=pool)
    services.rule_publish()
    now = timezone.now()
    for _ in range(3):
        LeadFactory(received_at=now)
    services.leads_route_all_pending(now=now)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert services.offers_expire_due(now=now + dt.timedelta(days=1)) == 3
    wakes = [c for c in callbacks if isinstance(c, services._HoldingWake)]
    assert len(wakes) == 1 and wakes[0].rep_ids == {rep.id for rep in reps}
