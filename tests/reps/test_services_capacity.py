"""Capacity refreshes at once on every event, and freed capacity re-drains the holding pool."""

from __future__ import annotations

import datetime as dt
from typing import Callable

import pytest

from reps.models import Rep, RepLoad
from routing import services
from routing.models import Lead, Offer
from tests.reps.helpers import make_world, open_offer, route_new_lead

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2030, 3, 4, 10, 0, tzinfo=dt.UTC)


def _counters(rep: Rep) -> tuple[int, int]:
    load = RepLoad.objects.get(rep=rep)
    return load.open_count, load.daily_count


def _accept(lead: Lead, rep: Rep) -> None:
    services.offer_accept(offer_id=open_offer(lead).id, rep=rep, now=T0)


def _decline(lead: Lead, rep: Rep) -> None:
    services.offer_decline(offer_id=open_offer(lead).id, rep=rep, reason=Offer.DeclineReason.NO_CAPACITY, now=T0)


def _expire(lead: Lead, rep: Rep) -> None:
    assert services.offers_expire_due(now=T0 + dt.timedelta(minutes=3, seconds=1)) == 1


def _convert(lead: Lead, rep: Rep) -> None:
    _accept(lead, rep)
    services.lead_close(lead_id=lead.id, rep=rep, outcome=Lead.Status.CONVERTED, now=T0)


def _close_lost(lead: Lead, rep: Rep) -> None:
    _accept(lead, rep)
    services.lead_close(lead_id=lead.id, rep=rep, outcome=Lead.Status.CLOSED_LOST, now=T0)


def _hand_back(lead: Lead, rep: Rep) -> None:
    _accept(lead, rep)
    services.lead_hand_back(lead_id=lead.id, rep=rep, note="wrong region", now=T0)


def _age_out(lead: Lead, rep: Rep) -> None:
    _accept(lead, rep)
    assert services.leads_age_out(days=14, now=T0 + dt.timedelta(days=15)) == 1


def _run_on_commit(callbacks: list, capture) -> None:  # noqa: ANN001
    """Run captured on-commit callbacks, and the ones they register in turn, as a commit would."""
    while callbacks:
        with capture(execute=False) as more:
            for callback in callbacks:
                callback()
        callbacks = list(more)


# event, (open, daily) right after it: an offer counts toward both from the moment it is made;
# giving an offer up (decline/expiry) returns both, finishing an accepted lead returns only "open".
EVENTS: list[tuple[Callable[[Lead, Rep], None], tuple[int, int], bool]] = [
    (_accept, (1, 1), False),
    (_decline, (0, 0), True),
    (_expire, (0, 0), True),
    (_convert, (0, 1), True),
    (_close_lost, (0, 1), True),
    (_hand_back, (0, 1), True),
    (_age_out, (0, 1), True),
]


@pytest.mark.parametrize(("event", "after", "frees"), EVENTS, ids=[e[0].__name__.strip("_") for e in EVENTS])
def test_capacity_refreshes_at_once_and_holding_redrains_high_value_first(
    event: Callable[[Lead, Rep], None], after: tuple[int, int], frees: bool, django_capture_on_commit_callbacks
) -> None:
    world = make_world(max_open=1, fallback=[{"kind": "holding"}], value_threshold="800")
    lead = route_new_lead(now=T0, value="300")
    assert _counters(world.primary) == (1, 1)
    # The rep is at their open cap: the next two leads wait in the holding pool. The small one is
    # a minute older, less than the high-value head start (routing.engine.queue).
    small = route_new_lead(now=T0, value="100", received_at=T0 - dt.timedelta(minutes=1))
    big = route_new_lead(now=T0, value="900")
    assert (small.status, big.status, big.high_value) == (Lead.Status.HOLDING, Lead.Status.HOLDING, True)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event(lead, world.primary)
    assert _counters(world.primary) == after

    _run_on_commit(callbacks, django_capture_on_commit_callbacks)  # holding re-drains, routing wakes
    small.refresh_from_db()
    big.refresh_from_db()
    if frees:
        assert (big.status, big.owner) == (Lead.Status.OFFERED, world.primary)
        assert small.status == Lead.Status.HOLDING
        assert _counters(world.primary)[0] == 1
    else:
        assert (small.status, big.status) == (Lead.Status.HOLDING, Lead.Status.HOLDING)


def test_holding_redrains_by_value_among_leads_of_the_same_class(django_capture_on_commit_callbacks) -> None:
    world = make_world(max_open=1, fallback=[{"kind": "holding"}])
    lead = route_new_lead(now=T0)
    # Ten seconds older, less than the value head start of 900 over 100 (routing.engine.queue).
    older_small = route_new_lead(now=T0, value="100", received_at=T0 - dt.timedelta(seconds=10))
    newer_big = route_new_lead(now=T0, value="900")
    with django_capture_on_commit_callbacks(execute=True):
        _convert(lead, world.primary)
    older_small.refresh_from_db()
    newer_big.refresh_from_db()
    assert (newer_big.status, older_small.status) == (Lead.Status.OFFERED, Lead.Status.HOLDING)


def test_the_next_decision_sees_freed_capacity_without_any_sweep() -> None:
    world = make_world(max_open=1, fallback=[{"kind": "holding"}])
    lead = route_new_lead(now=T0)
    _convert(lead, world.primary)
    nxt = route_new_lead(now=T0)
    assert (nxt.status, nxt.owner) == (Lead.Status.OFFERED, world.primary)
    assert _counters(world.primary) == (1, 2)


def test_aging_out_only_takes_accepted_leads_idle_past_the_limit() -> None:
    world = make_world(pool_size=1)
    idle, busy = route_new_lead(now=T0), route_new_lead(now=T0)
    for lead in (idle, busy):
        _accept(lead, world.primary)
    Lead.objects.filter(id=busy.id).update(last_activity_at=T0 + dt.timedelta(days=10))
    assert services.leads_age_out(days=14, now=T0 + dt.timedelta(days=14, seconds=1)) == 1
    idle.refresh_from_db()
    busy.refresh_from_db()
    assert (idle.status, busy.status) == (Lead.Status.AGED_OUT, Lead.Status.ACCEPTED)
    assert _counters(world.primary) == (1, 2)
