"""Poison isolation: a lead whose routing raises is quarantined and never holds back another lead;
the same for sweep steps and listeners. Queue priority: one documented order, one classify."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from reps.models import Role
from routing import engine, services
from routing.engine import queue
from routing.models import Decision, Lead, Offer
from tests.factories import LeadFactory, PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, SegmentFactory, user_with_role

pytestmark = pytest.mark.django_db


def _world(pool_size: int = 3) -> list:
    pool = PoolFactory()
    reps = [RepFactory() for _ in range(pool_size)]
    for rep in reps:
        PoolMemberFactory(pool=pool, rep=rep)
    RuleFactory(pool=pool)
    services.rule_publish()
    return reps


def _poison_engine(monkeypatch: pytest.MonkeyPatch, bad_lead_id: int) -> None:
    """An engine bug that strikes one lead: the pure function raises for that lead id only."""
    real = engine.route

    def route(lead, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if lead.id == bad_lead_id:
            raise ZeroDivisionError("engine bug on this lead")
        return real(lead, *args, **kwargs)

    monkeypatch.setattr(engine, "route", route)


def test_an_engine_fault_on_one_lead_quarantines_it_and_the_batch_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    _world()
    leads = [LeadFactory() for _ in range(5)]
    bad = leads[2]
    _poison_engine(monkeypatch, bad.id)
    assert services.leads_route_pending(limit=50) == 5
    bad.refresh_from_db()
    assert bad.status == Lead.Status.QUARANTINED
    assert bad.quarantine_error.startswith("ZeroDivisionError: engine bug on this lead")
    assert bad.quarantine_count == 1 and bad.quarantined_at is not None
    assert not Decision.objects.filter(lead=bad).exists()
    others = Lead.objects.exclude(id=bad.id)
    assert set(others.values_list("status", flat=True)) == {Lead.Status.OFFERED}
    assert Offer.objects.filter(status=Offer.Status.OPEN).count() == 4
    # A quarantined lead is not taken again by later batches.
    assert services.leads_route_pending(limit=50) == 0


def test_bad_data_that_breaks_the_write_quarantines_only_that_lead() -> None:
    """A stored lead received at the very end of the calendar: its queue place cannot be
    computed, so writing its decision raises; the batch is redone lead by lead around it."""
    _world()
    good = [LeadFactory() for _ in range(3)]
    bad = LeadFactory(received_at=dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC))
    assert services.leads_route_pending(limit=50) == 4
    bad.refresh_from_db()
    assert bad.status == Lead.Status.QUARANTINED and "OverflowError" in bad.quarantine_error
    for lead in good:
        lead.refresh_from_db()
        assert lead.status == Lead.Status.OFFERED
    assert Decision.objects.count() == 3 and Offer.objects.count() == 3


@pytest.mark.postgres
def test_a_database_error_on_one_lead_quarantines_it_and_the_rest_are_offered() -> None:
    """A real integrity error from PostgreSQL (a trigger refusing one lead's offer row)."""
    _world()
    leads = [LeadFactory() for _ in range(4)]
    bad = leads[1]
    with connection.cursor() as cursor:
        cursor.execute(f"""
            CREATE FUNCTION refuse_poison() RETURNS trigger AS $$
            BEGIN
              IF NEW.lead_id = {bad.id} THEN
                RAISE EXCEPTION 'poison lead refused' USING ERRCODE = '23514';
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql;
            CREATE TRIGGER refuse_poison BEFORE INSERT ON routing_offer
              FOR EACH ROW EXECUTE FUNCTION refuse_poison();
        """)  # fmt: skip
    assert services.leads_route_pending(limit=50) == 4
    bad.refresh_from_db()
    assert bad.status == Lead.Status.QUARANTINED and "poison lead refused" in bad.quarantine_error
    assert Lead.objects.filter(status=Lead.Status.OFFERED).count() == 3
    assert not Decision.objects.filter(lead=bad).exists()  # its savepoint rolled back whole
    connection.check_constraints()


def test_quarantined_leads_are_retried_after_a_publish(monkeypatch: pytest.MonkeyPatch,
                                                       django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    _world()
    bad = LeadFactory()
    _poison_engine(monkeypatch, bad.id)
    services.leads_route_all_pending()
    monkeypatch.undo()  # the bug is fixed
    with django_capture_on_commit_callbacks(execute=True):
        services.rule_publish(note="after the fix")
    bad.refresh_from_db()
    assert bad.status == Lead.Status.OFFERED
    assert bad.quarantine_count == 1  # the record of the failure stays


def test_ops_can_retry_a_quarantined_lead_from_its_page(client, monkeypatch: pytest.MonkeyPatch,
                                                        django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    _world()
    bad = LeadFactory()
    _poison_engine(monkeypatch, bad.id)
    services.leads_route_all_pending()
    client.force_login(user_with_role(Role.OPS))
    home = client.get("/dash/").content.decode()
    assert 'id="quarantine"' in home and f"#{bad.id}" in home and "ZeroDivisionError" in home
    page = client.get(f"/dash/leads/{bad.id}/").content.decode()
    assert 'id="lead-quarantine"' in page and "Route this lead again" in page

    # Still broken: the retry quarantines it again, with a count of two.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/dash/leads/{bad.id}/retry/")
    assert response.status_code == 302
    bad.refresh_from_db()
    assert (bad.status, bad.quarantine_count) == (Lead.Status.QUARANTINED, 2)
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/dash/leads/{bad.id}/retry/")
    bad.refresh_from_db()
    assert bad.status == Lead.Status.OFFERED


def test_only_ops_may_retry_and_only_a_quarantined_lead(client) -> None:  # noqa: ANN001
    _world()
    lead = LeadFactory()
    client.force_login(user_with_role(Role.MANAGER))
    assert client.post(f"/dash/leads/{lead.id}/retry/").status_code == 403
    assert 'Route this lead again' not in client.get(f"/dash/leads/{lead.id}/").content.decode()
    client.force_login(user_with_role(Role.OPS))
    assert client.get(f"/dash/leads/{lead.id}/retry/").status_code == 405
    response = client.post(f"/dash/leads/{lead.id}/retry/", follow=True)
    assert "not quarantined" in response.content.decode()
    lead.refresh_from_db()
    assert lead.status == Lead.Status.PENDING


# --- sweep steps and listeners -------------------------------------------------------------------


def test_a_failing_sweep_step_does_not_stop_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    import routing.services
    from routing.tasks import sweep

    reps = _world(pool_size=1)
    lead = LeadFactory()
    services.leads_route_all_pending()
    offer = Offer.objects.get(lead=lead)
    Offer.objects.filter(id=offer.id).update(deadline=timezone.now() - dt.timedelta(seconds=1))

    def broken(**kwargs: object) -> int:
        raise RuntimeError("age-out is broken")

    monkeypatch.setattr(routing.services, "leads_age_out", broken)
    result = sweep()
    assert result["failed"] == 1 and result["aged_out"] == 0
    assert result["expired"] == 1  # the steps before and after still ran
    offer.refresh_from_db()
    assert offer.status == Offer.Status.EXPIRED and reps


def test_the_sweeper_command_and_the_schedule_run_the_same_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from reps.management.commands import sweeper

    import routing.tasks

    calls = []
    monkeypatch.setattr(routing.tasks, "sweep", lambda **kw: calls.append(kw) or {"failed": 0})
    sweeper.run_pass()
    assert calls == [{}]
    from reps.management.commands.setup_schedules import SCHEDULES

    assert {s["func"] for s in SCHEDULES if s["name"] == "leadops-sweep"} == {"routing.tasks.sweep"}


def test_one_bad_listener_or_event_never_stops_the_others(monkeypatch: pytest.MonkeyPatch,
                                                          django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    seen_in_tx: list[str] = []
    seen_after: list[str] = []

    def bad_in_tx(events: list) -> None:
        for name, payload in events:
            if payload.get("lead_id") == -1:
                raise ValueError("bad event")
        seen_in_tx.extend(name for name, _ in events)

    def broken_after(events: list) -> None:
        raise RuntimeError("always broken")

    def good_after(events: list) -> None:
        seen_after.extend(name for name, _ in events)

    monkeypatch.setattr(services, "_transaction_listeners", [bad_in_tx])
    monkeypatch.setattr(services, "_listeners", [broken_after, good_after])
    with django_capture_on_commit_callbacks(execute=True):
        services._emit([("a", {"lead_id": 1}), ("poison", {"lead_id": -1}), ("b", {"lead_id": 2})])
    assert seen_in_tx == ["a", "b"]
    assert seen_after == ["a", "poison", "b"]


# --- queue priority ------------------------------------------------------------------------------


def test_queue_order_is_segment_priority_then_high_value_then_value_then_age() -> None:
    now = timezone.now()
    key = lambda p, hv, v, age=0: queue.queue_at(  # noqa: E731
        received_at=now - dt.timedelta(seconds=age), segment_priority=p, high_value=hv, value=Decimal(v))
    same_time = [key(10, False, 1), key(20, True, 10**9), key(10, True, 5), key(10, True, 500), key(10, False, 0)]
    assert sorted(range(5), key=lambda i: same_time[i]) == [3, 2, 0, 4, 1]
    # Age boost: a priority-100 lead is taken before priority-90 leads received more than 100 min
    # (plus their high-value and value head start, 9 min at most) after it, never forever behind.
    assert key(100, False, 0, age=110 * 60) < key(90, True, 10**9)
    assert key(100, False, 0, age=90 * 60) > key(90, False, 0)
    # A normal lead is taken before high-value leads of its segment arriving 5+ minutes after it.
    assert key(50, False, 0, age=301) < key(50, True, 0)


def test_pending_leads_are_taken_in_queue_order() -> None:
    pool = PoolFactory()
    rep = RepFactory(max_open=1)
    PoolMemberFactory(pool=pool, rep=rep)
    SegmentFactory(slug="urgent", priority=5, order=1, conditions=[{"field": "intent", "op": "equals", "value": "high"}])
    SegmentFactory(slug="normal", priority=50, order=2, is_default=True)
    RuleFactory(pool=pool, value_threshold=Decimal("10000"))
    services.rule_publish()
    now = timezone.now()
    old_normal = services.lead_intake(data=_data("a", intent="low", value="100"), now=now - dt.timedelta(seconds=5))[0]
    urgent = services.lead_intake(data=_data("b", intent="high", value="100"), now=now)[0]
    assert urgent.queue_at < old_normal.queue_at
    services.leads_route_pending(limit=50, now=now)
    urgent.refresh_from_db()
    old_normal.refresh_from_db()
    assert urgent.owner == rep and old_normal.status == Lead.Status.HOLDING  # one slot: the urgent one got it


def _data(external_id: str, **fields: str) -> dict:
    return {"source": "web", "external_id": external_id, "country": "US", "email": f"{external_id}@example.com",
            **{k: (Decimal(v) if k == "value" else v) for k, v in fields.items()}}  # fmt: skip


def test_intake_and_routing_agree_on_a_not_equals_segment_condition() -> None:
    """Intake used to qualify with segment "" and routing with None: a ``not_equals`` rule on
    the segment matched at intake (flagging the lead high value) but not when routing. Both now
    call ``engine.classify``: a lead with no segment has no segment value, which fails
    ``not_equals`` (routing.engine.conditions: a missing field fails every operator but is_empty)."""
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=RepFactory())
    RuleFactory(pool=pool, priority=1, value_threshold=Decimal("1"),
                conditions=[{"field": "segment", "op": "not_equals", "value": "vip"}])  # fmt: skip
    catch_all = RuleFactory(pool=pool, priority=2)
    services.rule_publish()
    lead = services.lead_intake(data=_data("x", value="50"))[0]  # no segment at all
    assert lead.high_value is False
    services.leads_route_all_pending()
    lead.refresh_from_db()
    decision = Decision.objects.get(lead=lead)
    assert lead.high_value is False and decision.detail["high_value"] is False
    assert decision.rule_id == catch_all.id and lead.status == Lead.Status.OFFERED


@pytest.mark.postgres
def test_a_lead_row_the_driver_cannot_read_is_quarantined_and_the_others_are_routed() -> None:
    """A timestamp beyond year 9999 is valid in PostgreSQL but unreadable in Python: the batch
    reads its leads one by one and sets that one aside without ever reading it."""
    _world()
    good = [LeadFactory() for _ in range(3)]
    bad = LeadFactory()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE routing_lead SET received_at = '10000-01-01 04:59+00' WHERE id = %s", [bad.id])
    assert services.leads_route_pending(limit=50) == 4
    assert list(Lead.objects.filter(id=bad.id).values_list("status", flat=True)) == [Lead.Status.QUARANTINED]
    assert "DataError" in Lead.objects.filter(id=bad.id).values_list("quarantine_error", flat=True)[0]
    assert Lead.objects.filter(id__in=[lead.id for lead in good], status=Lead.Status.OFFERED).count() == 3
    assert services.leads_route_pending(limit=50) == 0
