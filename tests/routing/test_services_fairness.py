"""The routing service keeps the fairness account in leads, through the real write path."""

from __future__ import annotations

import datetime as dt

import pytest

from reps.models import FairnessState, PoolMember
from routing.models import Decision
from routing.services import leads_route_all_pending
from tests.factories import LeadFactory, PoolFactory, PoolMemberFactory, RepFactory, RuleFactory

NOW = dt.datetime(2026, 3, 4, 15, 0, tzinfo=dt.UTC)


def _route(n: int) -> None:
    for _ in range(n):
        LeadFactory(received_at=NOW)
    assert leads_route_all_pending(now=NOW) == n


def _credits(pool) -> dict[str, float]:  # noqa: ANN001
    return dict(FairnessState.objects.filter(pool=pool).values_list("rep__display_name", "credit"))


@pytest.mark.django_db
def test_credits_are_stored_in_leads() -> None:
    pool = PoolFactory()
    ann, bob = RepFactory(display_name="Ann"), RepFactory(display_name="Bob")
    PoolMemberFactory(pool=pool, rep=ann, weight=1)
    PoolMemberFactory(pool=pool, rep=bob, weight=3)
    RuleFactory(pool=pool)
    _route(1)  # shares 1/4 and 3/4; Bob, owed the lead soonest, gets it
    assert _credits(pool) == pytest.approx({"Ann": 0.25, "Bob": -0.25})
    _route(3)  # a whole cycle of weight 4: everyone square again
    assert _credits(pool) == pytest.approx({"Ann": 0.0, "Bob": 0.0})
    assert dict(FairnessState.objects.filter(pool=pool).values_list("rep__display_name", "assigned")) == {"Ann": 1, "Bob": 3}


@pytest.mark.django_db
def test_a_rep_who_leaves_a_pool_and_rejoins_starts_at_zero() -> None:
    pool = PoolFactory()
    ann, bob, cat = RepFactory(display_name="Ann"), RepFactory(display_name="Bob"), RepFactory(display_name="Cat")
    for rep in (ann, bob, cat):
        PoolMemberFactory(pool=pool, rep=rep)
    RuleFactory(pool=pool)
    _route(1)  # Ann gets it; Bob and Cat are each owed 1/3
    assert _credits(pool) == pytest.approx({"Ann": -2 / 3, "Bob": 1 / 3, "Cat": 1 / 3})
    PoolMember.objects.filter(pool=pool, rep=cat).delete()
    _route(1)  # Cat is no longer a member: what she was owed here is forfeited
    assert _credits(pool)["Cat"] == 0.0
    PoolMemberFactory(pool=pool, rep=cat)
    _route(1)  # back as a new member: she accrues this lead's 1/3 from 0, not from her old 1/3
    [step] = Decision.objects.latest("id").detail["steps"]
    owed = {c["rep_id"]: c["score"] for c in step["candidates"]}
    assert owed[cat.id] == pytest.approx(1 / 3)
    assert _credits(pool)["Cat"] == pytest.approx(1 / 3 - (step["chosen_rep_id"] == cat.id))
