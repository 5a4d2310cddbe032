"""The one definition of "owed" (routing/engine/fairness.py), on numbers worked out by hand."""

from __future__ import annotations

import pytest

from routing.engine import route
from routing.engine.fairness import (
    accrue,
    decision_shares,
    drift_bound,
    holds_no_credit,
    pick_order,
    settle,
    shares,
    within_bound,
)
from routing.engine.types import Interval
from tests.routing.engine.builders import NOW, config, lead, pool, rep, rule

AWAY = (Interval(NOW.replace(hour=0), NOW.replace(hour=23)),)


@pytest.mark.parametrize(
    ("eligible", "expected"),
    [
        ([(1, 1), (2, 3)], {1: 0.25, 2: 0.75}),
        ([(1, 2), (2, 0), (1, 5)], {1: 1.0, 2: 0.0}),  # weight 0 shares nothing; first weight wins
        ([(7, 0)], {7: 1.0}),  # a backup or manager step: no weights, the lead is theirs
        ([(1, 0), (2, -3)], {1: 0.5, 2: 0.5}),
        ([], {}),
    ],
)
def test_a_lead_is_shared_by_weight_among_the_reps_who_could_take_it(
    eligible: list[tuple[int, int]], expected: dict[int, float]
) -> None:
    assert shares(eligible) == expected


def test_one_decision_adds_each_share_and_takes_one_lead_from_the_chosen_rep() -> None:
    share = shares([(1, 1), (2, 3)])
    raised = accrue({1: 0.5, 9: 4.0}, share)  # rep 9 cannot take the lead: not touched
    assert raised == {1: 0.75, 2: 0.75}
    assert settle(raised, 2) == {1: 0.75, 2: -0.25}
    assert settle({1: 1.0 + 1e-13}, 1) == {1: 0.0}  # float residue is stored as square


def test_the_most_owed_rep_goes_first_when_someone_away_is_owed() -> None:
    raised = {1: 0.6, 2: 0.9}
    order = pick_order(raised, {1: 0.5, 2: 0.5}, others_square=False)
    assert min(raised, key=order) == 2


@pytest.mark.parametrize(
    ("credits", "members", "kept"),
    [
        ([0.5, -0.5], None, True),  # 2 members: nobody more than (2 - 1) / 2 = 0.5 off
        ([0.6, -0.6], None, False),
        ([1.0, 0.0, -1.0], None, True),  # 3 members: the most owed at most 1, the two most at most 1
        ([0.9, 0.2, -1.1], None, False),  # the two most owed hold 1.1 > 2 x 1 / 2
        ([1.5, 0.5, -1.0, -1.0], None, True),  # 4 members: 1.5, then 2 for two, 1.5 for three
        ([1.5, 0.6, -1.0, -1.1], None, False),
        ([0.6, -0.6], 3, True),  # a third member square (away throughout)
    ],
)
def test_the_bound_invariant_caps_what_the_k_most_owed_hold_together(
    credits: list[float], members: int | None, kept: bool
) -> None:
    assert within_bound(credits, members) is kept


def test_the_proven_bound_grows_with_the_pool() -> None:
    assert [drift_bound(n) for n in range(1, 9)] == [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5]


def test_the_deadline_pick_gives_way_to_the_most_owed_when_it_would_break_the_bound() -> None:
    """Two reps, weights 6 and 1, after three leads to the heavy rep: owed -3/7 and 3/7. For the
    fourth lead the deadline order puts the heavy rep first (a whole lead behind in 2 leads,
    against 4), which would leave the light rep owed 4/7 > 0.5, the proven bound for 2 members:
    the most owed (the light rep, 4/7 after accruing) goes first instead. With a third member
    away and square the bound is 1 lead, and the deadline pick stands."""
    raised = {1: -3 / 7 + 6 / 7, 2: 3 / 7 + 1 / 7}
    share = {1: 6 / 7, 2: 1 / 7}
    assert min(raised, key=pick_order(raised, share, others_square=True)) == 2
    assert min(raised, key=pick_order(raised, share, others_square=True, held=[0.0])) == 1


def test_reps_away_holding_nothing_leave_a_closed_group() -> None:
    assert holds_no_credit({1: 0.0, 2: 1e-9}, [1, 2, 3])
    assert not holds_no_credit({1: 0.0, 2: 0.25}, [1, 2])


def test_the_shares_of_a_decision_are_those_of_the_step_that_picked() -> None:
    reps = {1: rep(1), 2: rep(2), 3: rep(3, absences=AWAY)}
    decision = route(lead(), config(rule(pool_id=10)), {10: pool(10, [(1, 1), (2, 3), (3, 4)])}, reps, NOW)
    assert decision_shares(decision) == {1: 0.25, 2: 0.75}  # rep 3 is away: no share
    assert decision.fairness_updates == {10: {1: 0.25, 2: -0.25}}
