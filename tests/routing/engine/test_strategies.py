from __future__ import annotations

from typing import Any

import pytest

from routing.engine import pick_rep
from routing.engine.types import RepSnapshot, Requirements, SkillRequirement, Strategy
from tests.routing.engine.builders import lead, pool, rep, rule


def run_swrr(weights: dict[int, int], rounds: int) -> tuple[list[int], dict[int, float]]:
    the_pool = pool(members=weights.items())
    reps = {rep_id: rep(rep_id) for rep_id in weights}
    fairness: dict[int, float] = {}
    picks: list[int] = []
    for _ in range(rounds):
        eligible = [(reps[rep_id], weight) for rep_id, weight in weights.items()]
        result = pick_rep(
            Strategy.WEIGHTED_FAIR,
            eligible,
            pool=pool(members=the_pool.members, fairness=fairness),
            rule=rule(),
            lead_fields=lead().fields,
        )
        assert result.chosen_rep_id is not None
        picks.append(result.chosen_rep_id)
        fairness = {**fairness, **result.credits}
    return picks, fairness


def test_weighted_fair_serves_the_earliest_deadline_among_reps_owed_a_lead() -> None:
    picks, fairness = run_swrr({1: 5, 2: 1, 3: 1}, rounds=7)
    # Rep 2 is owed its lead by turn 7 but rep 1 falls a lead behind sooner, so rep 1 goes first.
    assert picks == [1, 1, 1, 2, 1, 3, 1]
    assert fairness == {1: 0.0, 2: 0.0, 3: 0.0}  # a full cycle returns every credit to zero


def test_equal_weights_rotate_by_rep_id() -> None:
    picks, _ = run_swrr({3: 1, 1: 1, 2: 1}, rounds=6)
    assert picks == [1, 2, 3, 1, 2, 3]


def test_it_scores_with_the_credit_after_adding_the_share_and_takes_one_lead_from_the_chosen() -> None:
    """Weights 2 and 3 among the eligible: shares 0.4 and 0.6 of this lead, in leads."""
    result = pick_rep(
        Strategy.WEIGHTED_FAIR,
        [(rep(1), 2), (rep(2), 3)],
        pool=pool(members=[(1, 2), (2, 3), (3, 9)], fairness={1: 0.75, 2: -0.25, 3: 1.0}),
        rule=rule(),
        lead_fields={},
    )
    assert result.chosen_rep_id == 1  # owed 1.15 leads against 0.35
    assert result.scores == pytest.approx({1: 1.15, 2: 0.35})
    assert result.credits == pytest.approx({1: 0.15, 2: 0.35})  # rep 3 is not eligible: untouched


def test_a_rep_missing_from_fairness_starts_at_zero_credit() -> None:
    result = pick_rep(
        Strategy.WEIGHTED_FAIR,
        [(rep(1), 1), (rep(2), 1)],
        pool=pool(members=[(1, 1), (2, 1)], fairness={1: -0.5}),
        rule=rule(),
        lead_fields={},
    )
    assert result.chosen_rep_id == 2
    assert result.credits == {1: 0.0, 2: -0.5}


def test_a_returning_rep_gets_no_burst_of_catch_up_leads() -> None:
    members = [(1, 1), (2, 1)]
    fairness: dict[int, float] = {}
    picks: list[int] = []
    for round_ in range(16):
        returned = round_ >= 10  # rep 2 is absent for the first 10 leads
        eligible = [(rep(1), 1), (rep(2), 1)] if returned else [(rep(1), 1)]
        result = pick_rep(
            Strategy.WEIGHTED_FAIR,
            eligible,
            pool=pool(members=members, fairness=fairness),
            rule=rule(),
            lead_fields={},
        )
        assert result.chosen_rep_id is not None
        picks.append(result.chosen_rep_id)
        fairness = {**fairness, **result.credits}
    assert picks == [1] * 10 + [1, 2, 1, 2, 1, 2]
    assert fairness == {1: 0.0, 2: 0.0}


def test_no_eligible_reps_means_no_pick_and_no_fairness_update() -> None:
    result = pick_rep(Strategy.WEIGHTED_FAIR, [], pool=pool(), rule=rule(), lead_fields={})
    assert (result.chosen_rep_id, result.scores, result.credits) == (None, {}, {})


SKILLED_RULE = rule(
    strategy=Strategy.BEST_MATCH,
    requirements=Requirements(skills=(SkillRequirement("product:auto"),), language=True),
)

# (strategy, reps with weights, fairness, expected pick, expected scores)
STRATEGY_CASES: list[
    tuple[Strategy, list[tuple[RepSnapshot, int]], dict[int, float], int, dict[int, float]]
] = [
    (
        Strategy.WEIGHTED_FAIR,
        [(rep(1), 1), (rep(2), 3)],
        {},
        2,
        {1: 0.25, 2: 0.75},
    ),
    (
        Strategy.CAPACITY_BALANCED,
        [(rep(1, max_open=10, open_count=5), 9), (rep(2, max_open=40, open_count=12), 1)],
        {},
        2,
        {1: 0.5, 2: 0.3},
    ),
    (  # an uncapped rep is measured against the largest cap among eligible reps
        Strategy.CAPACITY_BALANCED,
        [(rep(1, max_open=20, open_count=10), 1), (rep(2, open_count=8), 1)],
        {},
        2,
        {1: 0.5, 2: 0.4},
    ),
    (  # nobody capped: raw open counts
        Strategy.CAPACITY_BALANCED,
        [(rep(1, open_count=3), 1), (rep(2, open_count=2), 1)],
        {},
        2,
        {1: 3.0, 2: 2.0},
    ),
    (  # equal load: the weighted-fair order breaks the tie
        Strategy.CAPACITY_BALANCED,
        [(rep(1, max_open=10, open_count=5), 1), (rep(2, max_open=20, open_count=10), 1)],
        {2: 1.0},
        2,
        {1: 0.5, 2: 0.5},
    ),
    (
        Strategy.BEST_MATCH,
        [
            (rep(1, skills={"product:auto": 5, "language:en": 1}), 5),
            (rep(2, skills={"product:auto": 4, "language:en": 4}), 1),
        ],
        {},
        2,
        {1: 6.0, 2: 8.0},
    ),
    (  # equal match: the weighted-fair order, then the lower rep id
        Strategy.BEST_MATCH,
        [(rep(2, skills={"product:auto": 3}), 1), (rep(1, skills={"product:auto": 3}), 1)],
        {},
        1,
        {1: 3.0, 2: 3.0},
    ),
]


@pytest.mark.parametrize(("strategy", "eligible", "fairness", "expected", "scores"), STRATEGY_CASES)
def test_each_strategy_picks_and_scores_deterministically(
    strategy: Strategy,
    eligible: list[tuple[RepSnapshot, int]],
    fairness: dict[int, float],
    expected: int,
    scores: dict[int, float],
) -> None:
    the_rule = SKILLED_RULE if strategy is Strategy.BEST_MATCH else rule(strategy=strategy)
    members = [(candidate.id, weight) for candidate, weight in eligible]
    result = pick_rep(
        strategy,
        eligible,
        pool=pool(members=members, fairness=fairness),
        rule=the_rule,
        lead_fields=lead(language="en").fields,
    )
    assert result.chosen_rep_id == expected
    assert result.scores == pytest.approx(scores)


@pytest.mark.parametrize("strategy", list(Strategy))
def test_every_strategy_applies_the_same_credit_update_in_leads(strategy: Strategy) -> None:
    eligible = [(rep(1, open_count=1), 2), (rep(2, open_count=9), 3)]
    result = pick_rep(
        strategy,
        eligible,
        pool=pool(members=[(1, 2), (2, 3)], fairness={1: 0.5, 2: 0.5}),
        rule=rule(strategy=strategy),
        lead_fields={},
    )
    raised: dict[int, Any] = {1: 0.9, 2: 1.1}
    assert result.chosen_rep_id is not None
    raised[result.chosen_rep_id] -= 1
    assert result.credits == pytest.approx(raised)
    assert sum(result.credits.values()) == pytest.approx(1.0)  # one lead shared, one lead given


def test_corrupt_fairness_credits_are_read_as_zero() -> None:
    result = pick_rep(
        Strategy.WEIGHTED_FAIR,
        [(rep(1), 1), (rep(2), 1)],
        pool=pool(members=[(1, 1), (2, 1)], fairness={1: float("nan"), 2: "x"}),  # type: ignore[dict-item]
        rule=rule(),
        lead_fields={},
    )
    assert result.chosen_rep_id == 1
