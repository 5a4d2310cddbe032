"""Narrow locks (routing.services._plan_batch / _reconcile_under_lock) on PostgreSQL: a batch
decides without locks, then locks only the rows it writes. Another worker's commit that lands
between the two is folded in, and a cap it would break sends the batch back to deciding with
every row locked, so no cap is exceeded."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from django.db import connections
from django.utils import timezone

from reps import services as rep_services
from reps.models import FairnessState, Licence, Rep, RepLoad
from routing import services
from routing.models import Decision, Lead, Offer
from tests.factories import LeadFactory, LicenceFactory, PoolFactory, PoolMemberFactory, RepFactory, RuleFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _in_other_worker(job: Callable[[], object]) -> None:
    """Run ``job`` in another thread with its own connection, committed (another worker's or a
    manager's change). Its errors are raised here."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            job()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the other worker was blocked: the batch held a lock while deciding"
    assert not errors, errors


def _sql(sql: str, params: list) -> Callable[[], None]:
    def run() -> None:
        with connections["default"].cursor() as cursor:
            cursor.execute(sql, params)

    return run


def _between_decide_and_write(monkeypatch, sql: str | Callable[[], object], params: list | None = None) -> list[bool]:  # noqa: ANN001
    """Commit ``sql`` (or run a callable) from another connection right after the batch's first
    decide step (while it holds no capacity or fairness lock). Returns a list that records each
    decide call."""
    real = services.decide_batch
    calls: list[bool] = []
    job = _sql(sql, params or []) if isinstance(sql, str) else sql

    def decide(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        results = real(*args, **kwargs)
        if not calls:
            _in_other_worker(job)
        calls.append(True)
        return results

    monkeypatch.setattr(services, "decide_batch", decide)
    return calls


def _one_rep_world(*, max_open: int) -> tuple:
    rep = RepFactory(max_open=max_open)
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=rep)
    RuleFactory(pool=pool, fallback=[{"kind": "holding"}])
    services.rule_publish()
    RepLoad.objects.create(rep=rep, open_count=0)
    return rep, pool


def test_a_cap_reached_meanwhile_is_respected(monkeypatch, settings) -> None:  # noqa: ANN001
    settings.LEADOPS_ROUTE_NARROW_LOCKS = True
    rep, _ = _one_rep_world(max_open=1)
    lead = LeadFactory(received_at=timezone.now())
    # Another worker gives the rep their one open lead after this batch read the rep as free.
    calls = _between_decide_and_write(monkeypatch, "UPDATE reps_repload SET open_count = 1 WHERE rep_id = %s", [rep.id])
    services.leads_route_all_pending()
    lead.refresh_from_db()
    assert len(calls) == 2  # decided unlocked, then again with every row locked
    assert lead.status == Lead.Status.HOLDING and not Offer.objects.filter(lead=lead).exists()
    assert RepLoad.objects.get(rep=rep).open_count == 1  # the cap of 1 held


def test_another_workers_offers_are_added_not_overwritten(monkeypatch, settings) -> None:  # noqa: ANN001
    settings.LEADOPS_ROUTE_NARROW_LOCKS = True
    rep, pool = _one_rep_world(max_open=5)
    LeadFactory(received_at=timezone.now())
    calls = _between_decide_and_write(
        monkeypatch, "UPDATE reps_repload SET open_count = 2, daily_count = 2, weekly_count = 2 WHERE rep_id = %s",
        [rep.id],
    )  # fmt: skip
    # day/week as the batch will count them, so the other worker's counts belong to the same day
    from routing.snapshots import local_day_and_week

    day, week = local_day_and_week(timezone.now(), rep.timezone)
    RepLoad.objects.filter(rep=rep).update(day=day, week=week)
    services.leads_route_all_pending()
    assert len(calls) == 1  # no second decision needed: the cap of 5 still holds
    load = RepLoad.objects.get(rep=rep)
    assert (load.open_count, load.daily_count, load.weekly_count) == (3, 3, 3)
    assert Offer.objects.filter(rep=rep, status=Offer.Status.OPEN).count() == 1


def test_fairness_changes_by_other_workers_are_kept(monkeypatch, settings) -> None:  # noqa: ANN001
    settings.LEADOPS_ROUTE_NARROW_LOCKS = True
    first, second = RepFactory(), RepFactory()
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=first)
    PoolMemberFactory(pool=pool, rep=second)
    RuleFactory(pool=pool, fallback=[{"kind": "holding"}])
    services.rule_publish()
    LeadFactory(received_at=timezone.now())
    services.leads_route_all_pending()  # creates both fairness rows
    before = {r.rep_id: (r.credit, r.assigned) for r in FairnessState.objects.filter(pool=pool)}
    LeadFactory(received_at=timezone.now())
    # Another worker offered a lead in this pool meanwhile: +1 assigned, credits moved by +-0.5.
    _between_decide_and_write(
        monkeypatch,
        "UPDATE reps_fairnessstate SET credit = credit + (CASE WHEN rep_id = %s THEN 0.5 ELSE -0.5 END), "
        "assigned = assigned + (CASE WHEN rep_id = %s THEN 0 ELSE 1 END) WHERE pool_id = %s",
        [first.id, first.id, pool.id],
    )  # fmt: skip
    services.leads_route_all_pending()
    after = {r.rep_id: (r.credit, r.assigned) for r in FairnessState.objects.filter(pool=pool)}
    # Both changes survive: the two workers' credits sum to zero, and 3 leads were assigned in all.
    assert sum(credit for credit, _ in after.values()) == pytest.approx(0.0)
    assert sum(assigned for _, assigned in after.values()) == sum(a for _, a in before.values()) + 2


def _licence_ended(rep: Rep) -> None:
    licence = Licence.objects.get(rep=rep)
    licence.valid_until = timezone.now().date() - dt.timedelta(days=1)
    licence.save()


# Each change makes the batch's chosen rep (the only one) unable to take the lead. It commits
# after the batch decided and before it locks; the lead must not be offered to that rep.
CHANGES: dict[str, Callable[[Rep], object]] = {
    "deactivated": lambda rep: rep_services.rep_set_active(rep=Rep.objects.get(pk=rep.pk), active=False),
    "away": lambda rep: rep_services.rep_set_away(rep=Rep.objects.get(pk=rep.pk)),
    "absence begins": lambda rep: rep_services.absence_create(
        rep=Rep.objects.get(pk=rep.pk), starts_at=timezone.now() - dt.timedelta(minutes=5),
        ends_at=timezone.now() + dt.timedelta(hours=2), reason="illness", created_by=None),
    "cap lowered": lambda rep: rep_services.rep_set_caps(rep=Rep.objects.get(pk=rep.pk), max_open=1, max_daily=None,
                                                         max_weekly=None),
    "licence ended": _licence_ended,
}  # fmt: skip


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_rep_who_became_ineligible_meanwhile_gets_no_offer(monkeypatch, settings, change: str) -> None:  # noqa: ANN001
    settings.LEADOPS_ROUTE_NARROW_LOCKS = True
    rep = RepFactory(max_open=5)
    LicenceFactory(rep=rep, jurisdiction="US-CA", product_line="life")
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=rep)
    RuleFactory(pool=pool, requirements={"licence": True}, fallback=[{"kind": "holding"}])
    services.rule_publish()
    # The rep already holds one lead, so a cap lowered to 1 leaves no room for another.
    RepLoad.objects.create(rep=rep, open_count=1)
    lead = LeadFactory(received_at=timezone.now(), country="US", state="CA", product_line="life")
    calls = _between_decide_and_write(monkeypatch, lambda: CHANGES[change](rep))
    services.leads_route_all_pending()
    lead.refresh_from_db()
    assert len(calls) == 2, "the batch did not decide again after its chosen rep changed"
    assert lead.status == Lead.Status.HOLDING, lead.status
    assert not Offer.objects.filter(lead=lead).exists()
    assert RepLoad.objects.get(rep=rep).open_count == 1
    # The first attempt's writes were rolled back whole: one decision, a first route, one attempt.
    assert list(Decision.objects.filter(lead=lead).values_list("kind", "outcome")) == [(Decision.Kind.ROUTE, "holding")]
    assert lead.route_attempts == 1


def test_an_unrelated_change_lets_the_batch_stand(monkeypatch, settings) -> None:  # noqa: ANN001
    """Another rep (not the chosen one) deactivated meanwhile: availability is re-read for the
    chosen rep only, so the first decision is written as it is."""
    settings.LEADOPS_ROUTE_NARROW_LOCKS = True
    rep, pool = _one_rep_world(max_open=5)
    other = RepFactory()
    LeadFactory(received_at=timezone.now())
    calls = _between_decide_and_write(
        monkeypatch, "UPDATE reps_rep SET away_until = now() + interval '1 hour' WHERE id = %s", [other.id]
    )
    services.leads_route_all_pending()
    assert len(calls) == 1
    assert Offer.objects.filter(rep=rep, status=Offer.Status.OPEN).count() == 1
