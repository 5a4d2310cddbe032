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


@pytest.mark.django_db
def test_the_demo_team_takes_most_leads_and_the_holding_pool_stays_small() -> None:
    """The demo as `make run` seeds it, 40 streamed leads and the simulated reps acting: most
    leads end with a rep (issue 15: "1 of 266 accepted" and an ever-growing holding pool)."""
    import random

    from routing.config_io import config_import
    from routing.demo.data import demo_config, demo_lead
    from routing.reference import vocabulary_load
    from routing.services import lead_intake, leads_route_all_pending, rule_publish
    from routing.validation import clean_lead

    config_import(demo_config(timezone.now().date()))
    rule_publish(note="demo data")
    rng, vocabulary = random.Random(7), vocabulary_load()
    for n in range(40):
        data = demo_lead(rng, n)
        lead_intake(data=clean_lead({**data, "value": str(data["value"])}, vocabulary=vocabulary))
    leads_route_all_pending()
    for _ in range(5):  # each pass acts on the offers the last one's declines and hand-backs made
        simulate_tick(now=timezone.now() + dt.timedelta(seconds=1), speed=1000)
        leads_route_all_pending()
    statuses = Counter(Lead.objects.values_list("status", flat=True))
    with_a_rep = statuses["accepted"] + statuses["converted"] + statuses["closed_lost"]
    assert with_a_rep >= 30, statuses  # the rest: ana's offers (a person's), ignored ones, hand-backs
    assert statuses["holding"] <= 2, statuses
