"""``decision_to_dict`` is built field by field for speed; it must render exactly what the
generic ``to_jsonable`` walk renders (the audit rows and the API depend on it)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.engine import decision_to_dict, route
from routing.engine.explain import to_jsonable
from routing.engine.types import (
    CandidateResult,
    Criterion,
    Decision,
    Outcome,
    Reason,
    StepKind,
    StepResult,
)
from tests.routing.engine.builders import NOW, cond, config, lead, pool, rep, rule, segment
from tests.routing.engine.test_properties import decide, worlds


def assert_same_as_generic(decision: Decision) -> None:
    fast, generic = decision_to_dict(decision), to_jsonable(decision)
    assert fast == generic
    # Byte-for-byte: same key order, same scalar types (True is not 1 in JSON).
    assert json.dumps(fast) == json.dumps(generic)
    assert _types(fast) == _types(generic)


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


@settings(max_examples=300, deadline=None)
@given(world=worlds())
def test_generated_decisions_render_exactly_as_the_generic_walk(world: tuple) -> None:  # type: ignore[type-arg]
    assert_same_as_generic(decide(world))


@settings(max_examples=100, deadline=None)
@given(world=worlds(), sla=st.integers(1, 600), fraction=st.floats(0.01, 1.0))
def test_decisions_with_a_segment_render_exactly_as_the_generic_walk(world: tuple, sla: int, fraction: float) -> None:  # type: ignore[type-arg]
    the_lead, the_rule, pools, reps, excluded, escalation = world
    hot = segment(7, "hot", 1, cond("value", "gte", 1000), cond("state", "in", ["CA", "NY"]),
                  sla_minutes=sla, accept_fraction=fraction)  # fmt: skip
    fallback_segment = segment(8, "rest", 2, is_default=True)
    the_config = config(the_rule, segments=[hot, fallback_segment])
    assert_same_as_generic(route(the_lead, the_config, pools, reps, NOW, excluded, escalation))


def test_odd_values_take_the_generic_path_and_still_match() -> None:
    """Values the fast path does not expect (non-finite scores, Decimals, sets, datetimes,
    enum keys, lists instead of tuples) are rendered by ``to_jsonable`` all the same."""
    the_rule = rule(
        pool_id=10, value_threshold=Decimal("50000.00"),
        conditions=(cond("received_at", "gte", NOW), cond("state", "in", frozenset({"NY", "CA"})),
                    cond("value", "between", [Decimal("1.5"), 10])),
    )  # fmt: skip
    plain = route(lead(state="CA", value=Decimal("60000")), config(rule(pool_id=10)),
                  {10: pool(10, ((1, 1), (2, 3)))}, {1: rep(1), 2: rep(2)}, NOW)  # fmt: skip
    decision = dataclasses.replace(plain, rule=the_rule)
    step = decision.steps[0]
    odd_step = StepResult(
        kind=StepKind.RELAX, pool_id=10, relaxed=[Criterion.TERRITORY],  # type: ignore[arg-type]
        candidates=(
            CandidateResult(rep_id=1, name="A", eligible=True, reasons=(), weight=2, score=float("inf")),
            CandidateResult(rep_id=2, name="B", eligible=False, reasons=(Reason.ABSENT, "custom"),  # type: ignore[arg-type]
                            weight=Decimal("1.5"), score=float("nan")),  # type: ignore[arg-type]
            {"not": "a candidate"},  # type: ignore[arg-type]
        ),
        chosen_rep_id=None,
    )  # fmt: skip
    odd = dataclasses.replace(
        decision, steps=[step, odd_step], outcome=Outcome.OFFER, chosen_step="primary",  # type: ignore[arg-type]
        fairness_updates={10: {1: 0.5, StepKind.POOL: -1}, 11: [1, 2], "x": {2: dt.date(2026, 1, 1)}},  # type: ignore[dict-item]
    )  # fmt: skip
    assert_same_as_generic(plain)
    assert_same_as_generic(decision)
    assert_same_as_generic(odd)
    assert decision_to_dict(odd)["steps"][1]["candidates"][0]["score"] == "inf"
