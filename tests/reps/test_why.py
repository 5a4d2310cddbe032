""""Why it came to you" in the rep's words (reps/why.py): pure, no database."""

from __future__ import annotations

import pytest

from reps.why import why_offered
from routing import labels
from routing.engine.types import Reason

POOLS = {7: "Enterprise", 8: "Overflow"}


def _candidate(rep_id: int, *reasons: str) -> dict:
    return {"rep_id": rep_id, "name": f"Rep {rep_id}", "eligible": not reasons, "reasons": list(reasons),
            "weight": 1, "score": 1.0}  # fmt: skip


def _detail(*steps: dict, strategy: str = "weighted_fair") -> dict:
    return {"rule": {"pool_id": 7, "strategy": strategy, "name": "Big deals"}, "steps": list(steps)}


SKIPPED = [_candidate(10 + i, "absent") for i in range(3)] + [_candidate(20, "at_daily_cap"), _candidate(21, "at_daily_cap")]
SKIPPED += [_candidate(30, "language", "outside_territory"), _candidate(31, "language")]


def test_the_issues_example_reads_plainly() -> None:
    step = {"kind": "primary", "pool_id": 7, "relaxed": [], "chosen_rep_id": 1,
            "candidates": [_candidate(1), _candidate(2), *SKIPPED]}  # fmt: skip
    text = why_offered(detail=_detail(step), kind="route", rep_id=1, pool_names=POOLS, language="German")
    assert text == (
        "You were next in the rotation for Enterprise (you had received fewer leads than your share). "
        "7 other reps could not take it: 3 away or absent, 2 at their daily cap, 2 lacking the German language."
    )


@pytest.mark.parametrize(("strategy", "words"), [
    ("capacity_balanced", "You had the most room in Enterprise"), ("best_match", "You were the best match in Enterprise"),
])  # fmt: skip
def test_each_strategy_has_its_own_reason(strategy: str, words: str) -> None:
    step = {"kind": "primary", "pool_id": 7, "relaxed": [], "chosen_rep_id": 1, "candidates": [_candidate(1)]}
    assert why_offered(detail=_detail(step, strategy=strategy), kind="route", rep_id=1, pool_names=POOLS).startswith(words)


def test_fallbacks_say_who_could_not_take_it_first() -> None:
    primary = {"kind": "primary", "pool_id": 7, "relaxed": [], "chosen_rep_id": None,
               "candidates": [_candidate(2, "no_licence"), _candidate(3, "at_open_cap")]}  # fmt: skip
    backup = {"kind": "backup", "pool_id": None, "relaxed": [], "chosen_rep_id": 1, "candidates": [_candidate(1)]}
    text = why_offered(detail=_detail(primary, backup), kind="escalation", rep_id=1, pool_names=POOLS)
    assert text == (
        "It was routed again after another rep passed on it or let it expire. Nobody in Enterprise could take it, "
        "so it came to you as the backup rep. 2 other reps could not take it: 1 without a valid licence for it, "
        "1 at their open-lead cap."
    )
    pool = {"kind": "pool", "pool_id": 8, "relaxed": [], "chosen_rep_id": 1, "candidates": [_candidate(1)]}
    assert "Nobody in Enterprise could take it, so it went to Overflow. You were next in the rotation for Overflow" in (
        why_offered(detail=_detail(primary, pool), kind="route", rep_id=1, pool_names=POOLS)
    )
    relax = {"kind": "relax", "pool_id": 7, "relaxed": ["working_hours", "language"], "chosen_rep_id": 1,
             "candidates": [_candidate(1)]}  # fmt: skip
    assert why_offered(detail=_detail(primary, relax), kind="route", rep_id=1, pool_names=POOLS).startswith(
        "Nobody matched every requirement, so these were set aside: working hours, language."
    )


@pytest.mark.parametrize("detail", [None, {}, {"steps": "junk"}, {"steps": [{"chosen_rep_id": 99}]}, {"steps": [None]}])
def test_a_missing_or_odd_detail_never_fails_the_inbox(detail) -> None:  # noqa: ANN001
    assert why_offered(detail=detail, kind="manual", rep_id=1, pool_names={}) == "Routing chose you."


@pytest.mark.parametrize("reason", list(Reason))
def test_every_skip_reason_has_a_phrase_for_a_group_of_reps(reason: Reason) -> None:
    text = labels.reason_group_text(reason, 2, language="German")
    assert reason.value in labels.REASON_GROUP_LABELS
    assert text.startswith("2 ") and "_" not in text and "{" not in text
