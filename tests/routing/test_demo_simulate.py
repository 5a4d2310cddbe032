"""The demo's simulated reps (routing/demo/simulate.py): human pace, the inbox's own services,
and the demo's rep login left alone."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.core.management import call_command
from django.utils import timezone

from routing.demo.simulate import Pace, plan_lead, plan_offer, simulate_tick
from routing.models import Lead, Offer
from tests.reps.helpers import make_world, open_offer, route_new_lead


def test_plans_are_repeatable_and_mostly_accepts_within_the_offer_window() -> None:
    pace = Pace()
    plans = [plan_offer(i) for i in range(2000)]
    assert plans == [plan_offer(i) for i in range(2000)]  # a restarted simulator keeps its plan
    share = Counter(p.action for p in plans)
    assert 0.78 < share["accept"] / 2000 < 0.90 and 0.08 < share["decline"] / 2000 < 0.16
    assert all(pace.accept_after[0] <= p.after <= pace.accept_after[1] for p in plans)
    assert all(p.reason for p in plans if p.action == "decline")
    endings = Counter(plan_lead(i).action for i in range(2000))
    assert set(endings) == {"converted", "closed_lost", "hand_back"}


@pytest.mark.django_db
def test_a_simulated_rep_accepts_when_its_moment_comes_then_closes_the_lead() -> None:
    world = make_world()
    start = timezone.now()
    lead = next(
        lead for lead in (route_new_lead(now=start) for _ in range(10))
        if plan_offer(open_offer(lead).id).action == "accept"
    )  # fmt: skip
    offer = open_offer(lead)
    plan = plan_offer(offer.id)
    assert simulate_tick(now=offer.offered_at + dt.timedelta(seconds=plan.after - 1))["accept"] == 0  # not yet
    offer.refresh_from_db()
    assert offer.status == Offer.Status.OPEN

    simulate_tick(now=offer.offered_at + dt.timedelta(seconds=plan.after + 0.5))
    offer.refresh_from_db()
    lead.refresh_from_db()
    assert offer.status == Offer.Status.ACCEPTED and lead.owner == offer.rep

    ending = plan_lead(lead.id)
    simulate_tick(now=lead.accepted_at + dt.timedelta(seconds=ending.after + 0.5))
    lead.refresh_from_db()
    if ending.action == "hand_back":
        assert lead.status != Lead.Status.ACCEPTED or lead.owner != offer.rep  # re-routed without them
    else:
        assert lead.status == ending.action


@pytest.mark.django_db
def test_the_demo_rep_login_is_never_simulated() -> None:
    world = make_world()
    world.primary.user.username = "ana"
    world.primary.user.save()
    start = timezone.now()
    lead = next(
        lead for lead in (route_new_lead(now=start) for _ in range(10))
        if plan_offer(open_offer(lead).id).action == "accept"
    )  # fmt: skip
    offer = open_offer(lead)
    simulate_tick(now=offer.offered_at + dt.timedelta(seconds=plan_offer(offer.id).after + 0.5))
    offer.refresh_from_db()
    assert offer.status == Offer.Status.OPEN  # the same moment accepts for any other rep (test above)


def test_simulatereps_refuses_a_speed_of_zero() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="more than 0"):
        call_command("simulatereps", "--speed", "0", "--once")
