"""The one definition of "owed" (routing/engine/fairness.py), on numbers worked out by hand."""

from __future__ import annotations

import pytest

from routing.engine import route
from routing.engine.fairness import accrue, decision_shares, holds_no_credit, pick_order, settle, shares
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


def test_reps_away_holding_nothing_leave_a_closed_group() -> None:
    assert holds_no_credit({1: 0.0, 2: 1e-9}, [1, 2, 3])
    assert not holds_no_credit({1: 0.0, 2: 0.25}, [1, 2])


def test_the_shares_of_a_decision_are_those_of_the_step_that_picked() -> None:
    reps = {1: rep(1), 2: rep(2), 3: rep(3, absences=AWAY)}
    decision = route(lead(), config(rule(pool_id=10)), {10: pool(10, [(1, 1), (2, 3), (3, 4)])}, reps, NOW)
    assert decision_shares(decision) == {1: 0.25, 2: 0.75}  # rep 3 is away: no share
    assert decision.fairness_updates == {10: {1: 0.25, 2: -0.25}}
