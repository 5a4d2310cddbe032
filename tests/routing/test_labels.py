"""Routing codes in words (routing/labels.py): pure, no database."""

from __future__ import annotations

import pytest

from routing import labels
from routing.engine.explain import CRITERION_LABELS
from routing.engine.types import Criterion, Outcome, StepKind, Strategy


@pytest.mark.parametrize("kind", list(StepKind))
def test_every_step_kind_and_outcome_and_strategy_has_words(kind: StepKind) -> None:
    assert labels.step_label(kind) != kind.value and labels.step_label(kind.value) == labels.step_label(kind)
    assert all(labels.outcome_label(o) != o.value for o in Outcome)
    assert all(labels.strategy_label(s) != s.value for s in Strategy)


def test_relaxed_criteria_use_the_engines_labels_from_a_list_or_a_joined_string() -> None:
    assert labels.criteria_text(["skill_level", "working_hours"]) == "skill level, working hours"
    assert labels.criteria_text("skill_level, working_hours") == "skill level, working hours"
    assert labels.criteria_text([Criterion.TIER]) == CRITERION_LABELS[Criterion.TIER]
    assert labels.criteria_text([]) == ""


def test_unknown_codes_come_back_unchanged() -> None:
    assert labels.step_label("teleport") == "teleport"
    assert labels.outcome_label("vanished") == "vanished"
    assert labels.criteria_text(["mood"]) == "mood"


@pytest.mark.parametrize(("requirements", "text"), [
    ({"skills": [{"skill": "product:auto", "min_level": 2}], "licence": True, "language": True},
     "Skills: product:auto ≥ 2; licence required; language"),
    ({"skills": [{"skill": "vertical:insurance"}, {"skill": "language:es", "min_level": 3}]},
     "Skills: vertical:insurance, language:es ≥ 3"),
    ({"territory": True, "min_tier": 3, "working_hours": True}, "territory; tier ≥ Senior; within working hours"),
    ({"licence": False, "language": False}, "none"),
    ({}, "none"),
    ({"future_flag": "x"}, "future_flag=x"),
])  # fmt: skip
def test_requirements_read_as_text(requirements: dict, text: str) -> None:
    assert labels.requirements_text(requirements) == text
