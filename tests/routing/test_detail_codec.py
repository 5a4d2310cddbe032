"""The compact decision detail (``routing.detail_codec``), without a database: every detail the
engine makes comes back exactly (same keys in the same order, same scalar types), anything else
is left as it is, and the fixed tables never change meaning."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing import detail_codec as codec
from routing.engine import decision_to_dict, route
from routing.engine.types import (
    AccountFacts,
    AccountMatch,
    Criterion,
    DecisionWarning,
    FallbackStep,
    MatchMethod,
    Outcome,
    Reason,
    StepKind,
    StickyHint,
)
from tests.routing.engine.builders import NOW, cond, config, segment
from tests.routing.engine.test_properties import worlds


def exact(value: Any) -> str:
    """Equality that also tells key order and scalar types apart (True vs 1 vs 1.0)."""
    return json.dumps(value)


def roundtrip(detail: Any, *, jsonb_order: bool = False) -> Any:
    stored, entries = codec.encode(detail)
    # Through JSON text, as the database column and the legend table hold them.
    stored = json.loads(json.dumps(stored))
    legend = {code: text for code, text in entries.items()}
    return codec.decode(stored, legend, jsonb_order=jsonb_order)


@st.composite
def engine_details(draw: st.DrawFn) -> dict[str, Any]:
    """Details as routing makes them: the generated worlds of the engine properties, plus an
    account match, a sticky holder, warnings, segments and the owner-first chain."""
    the_lead, the_rule, pools, reps, excluded, escalation = draw(worlds())
    account = None
    if draw(st.booleans()):
        facts = AccountFacts(id=draw(st.integers(1, 50)), name=draw(st.text(max_size=12)),
                             owner_id=draw(st.none() | st.sampled_from(sorted(reps))), tier="gold")  # fmt: skip
        account = AccountMatch(account=facts, method=draw(st.sampled_from(list(MatchMethod))),
                               score=draw(st.floats(0, 100)), evidence="acme.com")  # fmt: skip
        if draw(st.booleans()):
            owner_first = FallbackStep(StepKind.ACCOUNT_OWNER, respect_caps=draw(st.booleans()))
            the_rule = dataclasses.replace(the_rule, fallback=(owner_first, *the_rule.fallback))
    sticky = None
    if draw(st.booleans()):
        sticky = StickyHint(rep_id=draw(st.sampled_from(sorted(reps))), lead_id=7, basis="person")
    warnings = tuple(
        DecisionWarning(kind="missing_field", field=f, message=f"{f} is missing", sources=("rule:Rule 100",))
        for f in draw(st.lists(st.sampled_from(["attributes.city", "state"]), unique=True, max_size=2))
    )
    the_lead = dataclasses.replace(the_lead, account=account, sticky=sticky, warnings=warnings)
    if draw(st.integers(0, 9)) == 0:  # no rule matches: holding, no steps
        the_rule = dataclasses.replace(the_rule, conditions=(cond("state", "equals", "ZZ"),))
    segments = [segment(7, "hot", 1, cond("value", "gte", 1000), sla_minutes=draw(st.integers(1, 600)),
                        accept_fraction=draw(st.floats(0.01, 1.0))), segment(8, "rest", 2, is_default=True)]  # fmt: skip
    decision = route(the_lead, config(the_rule, segments=segments if draw(st.booleans()) else ()), pools, reps, NOW,
                     excluded, escalation, owner_counts_toward_fairness=draw(st.booleans()))  # fmt: skip
    return decision_to_dict(decision)


@settings(max_examples=400, deadline=None)
@given(detail=engine_details())
def test_every_engine_detail_comes_back_exactly(detail: dict[str, Any]) -> None:
    stored, entries = codec.encode(detail)
    assert codec.is_compact(stored), "an engine detail is always compacted"
    assert codec.codes(stored) == set(entries)
    assert exact(roundtrip(detail)) == exact(detail)


@settings(max_examples=200, deadline=None)
@given(detail=engine_details())
def test_jsonb_order_is_the_order_postgresql_gives_the_plain_dict(detail: dict[str, Any]) -> None:
    assert exact(roundtrip(detail, jsonb_order=True)) == exact(codec.jsonb_like(detail))


@settings(max_examples=200, deadline=None)
@given(detail=engine_details())
def test_the_compact_form_is_much_smaller(detail: dict[str, Any]) -> None:
    stored, entries = codec.encode(detail)
    compact = len(json.dumps(stored))
    plain = len(json.dumps(detail))
    assert compact < plain
    # With a rule and a few candidates (their keys, names and the rule spec are most of it):
    if detail["rule"] is not None and sum(len(s["candidates"]) for s in detail["steps"]) >= 4:
        assert compact < plain / 2


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(detail=st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_any_other_dict_is_stored_as_it_is(detail: dict[str, Any]) -> None:
    stored, entries = codec.encode(detail)
    assert stored is detail and entries == {}
    assert codec.decode(json.loads(json.dumps(stored)), {}) == detail


def _one() -> dict[str, Any]:
    from tests.routing.engine.builders import pool, rep, rule

    decision = route(
        dataclasses.replace(__import__("tests.routing.engine.builders", fromlist=["lead"]).lead(), account=None),
        config(rule(pool_id=10)), {10: pool(10, ((1, 1), (2, 3), (3, 2)), fairness={1: 0.5})},
        {1: rep(1), 2: rep(2, active=False), 3: rep(3)}, NOW,
    )  # fmt: skip
    assert decision.outcome is Outcome.OFFER
    return decision_to_dict(decision)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(extra=1),  # a key the engine does not write
        lambda d: d.pop("sticky"),
        lambda d: d.update(segment="hot"),  # a spec that is not a dict
        lambda d: d["steps"][0]["candidates"][0]["reasons"].append("a_new_reason"),
        lambda d: d["steps"][0]["candidates"][0].update(eligible=1),  # 1, not True
        lambda d: d["steps"][0]["candidates"][0].update(weight=[1]),
        lambda d: d["steps"][0].update(relaxed=["telepathy"]),
        lambda d: d["steps"][0].update(kind=3),
        lambda d: d["rule"].update(priority=(1, 2)),  # a tuple would come back a list
        lambda d: d["rule"].update({5: "int key"}),
        lambda d: d["rule"].update(accept=float("nan")),
        lambda d: d["steps"][0]["candidates"][0].update(score=float("inf")),  # jsonb refuses it in a plain dict too
        lambda d: d.update(fairness_updates={10: {"1": 0.5}}),
        lambda d: d.update(steps=tuple(d["steps"])),
    ],
)
def test_a_detail_of_another_shape_is_stored_as_it_is(change: Any) -> None:
    detail = _one()
    change(detail)
    stored, entries = codec.encode(detail)
    assert stored is detail and entries == {}


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["steps"][0]["candidates"][0].update(score="nan"),
        lambda d: d["steps"][0]["candidates"][1].update(rep_id=True, weight=1.0),  # equal to 1, not the same
        lambda d: d.update(fairness_updates={"10": {"1": 0.5, "007": 2}, "x": {}}),  # keys that are not ids
        lambda d: d.update(fairness_updates={"10": {"3": d["steps"][0]["candidates"][2]["score"],
                                                    "1": d["steps"][0]["candidates"][0]["score"]}}),  # other order
        lambda d: d.update(chosen_step="a_new_step", outcome=None, summary="", lead_id=None),
        lambda d: d.update(account={"nested": {"b": 1, "a": [1, 2.5, None]}}, warnings=["odd"]),
        lambda d: d.update(fairness_updates={"10": {"1": None, "3": -0.0}}),  # not the scores
        # Scores jsonb would change (-0.0 to 0.0, 1e16 to an int) stay JSON, so they change alike.
        lambda d: [c.update(score=s) for c, s in zip(d["steps"][0]["candidates"], (-0.0, 1e16, 5e-324))],
        lambda d: [c.update(score=s) for c, s in zip(d["steps"][0]["candidates"], (None, 0.25, 7))],  # eligible, no score
    ],
)
def test_odd_values_still_come_back_exactly(change: Any) -> None:
    detail = _one()
    change(detail)
    stored, _ = codec.encode(detail)
    assert codec.is_compact(stored)
    assert exact(roundtrip(detail)) == exact(detail)
    # and on PostgreSQL as jsonb gives the plain dict back (1e16 an int, -0.0 as 0.0):
    assert exact(roundtrip(detail, jsonb_order=True)) == exact(codec.jsonb_like(detail))


def test_rosters_equal_but_of_other_types_get_other_codes() -> None:
    """1 == 1.0 == True in Python: the roster cache must not hand one's code to the other."""
    detail = _one()
    other = json.loads(json.dumps(detail))
    other["steps"][0]["candidates"][0]["weight"] = float(detail["steps"][0]["candidates"][0]["weight"])
    _, entries = codec.encode(detail)
    stored, other_entries = codec.encode(other)
    assert set(entries) != set(other_entries)
    assert exact(roundtrip(other)) == exact(other)


def test_the_fixed_tables_cover_the_engine_and_never_change() -> None:
    # Codes are positions: these lists may only grow at the end.
    assert codec.WORDS[:9] == ("offer", "holding", "primary", "relax", "pool", "backup", "manager", "account_owner",
                               "sticky")  # fmt: skip
    assert codec.REASONS[:15] == (
        "inactive", "absent", "no_licence", "at_open_cap", "at_daily_cap", "at_weekly_cap", "already_declined",
        "expires_off_duty", "outside_working_hours", "public_holiday", "missing_skill", "skill_level_too_low",
        "language", "outside_territory", "tier_too_low",
    )  # fmt: skip
    assert codec.CRITERIA[:6] == ("language", "territory", "skill_level", "skills", "tier", "working_hours")
    # A new engine value must be added (else its decisions are stored uncompacted, never wrong).
    assert {r.value for r in Reason} <= set(codec.REASONS)
    assert {c.value for c in Criterion} <= set(codec.CRITERIA)
    assert {k.value for k in StepKind} | {o.value for o in Outcome} <= set(codec.WORDS)
    assert len(codec.REASONS) <= 52 and len(codec.CRITERIA) <= 52


def test_a_legend_code_is_the_texts_hash_and_fits_a_bigint() -> None:
    text = codec.legend_text({"id": 1, "name": "Rule"})
    assert text == '{"id":1,"name":"Rule"}'
    assert codec.legend_code(text) == codec.legend_code(text) and 0 < codec.legend_code(text) < 2**63
    assert codec.legend_code(text) != codec.legend_code('{"id":2,"name":"Rule"}')


def test_decoding_without_the_legend_or_of_an_unknown_version_fails_loudly() -> None:
    stored, _ = codec.encode(_one())
    with pytest.raises(codec.DecodeError, match="legend codes missing"):
        codec.decode(stored, {})
    with pytest.raises(codec.DecodeError, match="version"):
        codec.decode('[2,"future"]', {})
    assert codec.decode({"steps": []}, {}) == {"steps": []}  # a plain dict from before


def test_a_legend_lookup_is_asked_only_for_the_codes_the_row_names() -> None:
    stored, entries = codec.encode(_one())
    asked: list[set[int]] = []

    def lookup(codes: Any) -> dict[int, str]:
        asked.append(set(codes))
        return entries

    codec.decode(stored, lookup)
    assert asked == [set(entries)]
