"""The configuration schema, its cross-object checks and the never-matching-rule lint: pure, no database."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from routing import config_schema
from routing.engine import lint, schema, types
from routing.engine.types import Condition, Op, RuleSpec

DOC = Path(__file__).resolve().parents[3] / "docs" / "config-format.md"


def rule(**extra: object) -> dict:
    return {"name": "R", "pool": "P", **extra}


@pytest.mark.parametrize(("value", "path", "words"), [
    (float("nan"), "rules[0].conditions[0].value", "NaN and infinity"),
    (float("inf"), "rules[0].conditions[0].value", "NaN and infinity"),
    (-float("inf"), "rules[0].conditions[0].value", "NaN and infinity"),
    ("\ud800", "rules[0].conditions[0].value", "lone surrogate"),
    ("a\x00b", "rules[0].conditions[0].value", "NUL"),
    (["ok", "\udfff"], "rules[0].conditions[0].value[1]", "lone surrogate"),
])  # fmt: skip
def test_unstorable_condition_values_are_refused_with_their_path(value: object, path: str, words: str) -> None:
    data = rule(conditions=[{"field": "state", "op": "equals", "value": value}])
    obj, problems = schema.validate(schema.RuleFile, data, "rules[0]")
    assert obj is None
    assert [p for p, _ in problems] == [path] and words in problems[0][1]


def test_unstorable_keys_and_deep_nesting_are_named() -> None:
    deep: object = "x"
    for _ in range(40):
        deep = [deep]
    problems = schema.storable_problems({"a\ud800": 1, "b": deep, "c": {"d": float("nan")}})
    assert ("$", "a key contains a lone surrogate (not valid Unicode text)") in problems
    assert any(p.startswith("b[0]") and "nested more than 32" in m for p, m in problems)
    assert any(p == "c.d" for p, _ in problems)


def test_storable_values_pass_untouched() -> None:
    assert schema.storable_problems({"ß": ["Zürich", "שלום", "👩🏽‍💻", 1e308, -0.0, 10**40, None, True]}) == []


@pytest.mark.parametrize(("fallback", "relaxation", "expected"), [
    ([{"kind": "holding"}, {"kind": "manager"}], [], [("rules[0].fallback[0]", schema.HOLDING_NOT_LAST)]),
    ([{"kind": "relax"}, {"kind": "holding"}], [], [("rules[0].fallback[0]", schema.RELAX_WITHOUT_ORDER)]),
    ([{"kind": "relax"}, {"kind": "holding"}], ["tier"], []),
    ([{"kind": "manager"}], ["tier", "tier"], [("rules[0].relaxation[1]", "'tier' is listed twice")]),
])  # fmt: skip
def test_fallback_chain_checks(fallback: list, relaxation: list, expected: list) -> None:
    obj, problems = schema.validate(schema.RuleFile, rule(fallback=fallback, relaxation=relaxation), "rules[0]")
    assert problems == expected
    assert (obj is None) == bool(expected)


def test_a_pool_step_without_its_pool_and_a_wrong_type_are_named() -> None:
    _obj, problems = schema.validate(schema.RuleFile, rule(priority="5", fallback=[{"kind": "pool"}]), "rules[3]")
    assert ("rules[3].priority", "expected a whole number, got '5'") in problems
    assert ("rules[3].fallback[0]", "a pool step names its pool") in problems


def test_unknown_keys_are_refused() -> None:
    _obj, problems = schema.validate(schema.RuleFile, rule(prority=5), "rules[0]")
    assert problems == [("rules[0].prority", "unknown field")]


def test_amounts_keep_cents_and_refuse_the_rest() -> None:
    assert schema.RuleFile.model_validate(rule(value_threshold=5e4)).dump()["value_threshold"] == "50000"
    for bad in ("-1", "abc", "1e999", "0.001", True, [1]):
        _obj, problems = schema.validate(schema.RuleFile, rule(value_threshold=bad))
        assert problems and problems[0][0] == "value_threshold", bad


def test_file_and_stored_forms_read_into_the_engines_rule() -> None:
    stored = {"id": 4, "history_id": 9, "name": "R", "priority": 5, "enabled": True, "pool_id": 2,
              "conditions": [{"field": "country", "op": "equals", "value": "US"}],
              "requirements": {"skills": [{"skill": "product:auto", "min_level": 2}], "licence": True},
              "value_threshold": "50000.00", "fallback": [{"kind": "pool", "target_id": 3}, {"kind": "holding"}],
              "relaxation": ["language"]}  # fmt: skip
    spec = schema.read_stored(schema.RuleStored, stored).to_spec()
    assert spec.conditions == (Condition("country", Op.EQUALS, "US"),)
    assert spec.requirements.licence and spec.requirements.skills[0].min_level == 2
    assert spec.fallback == (types.FallbackStep(types.StepKind.POOL, 3), types.FallbackStep(types.StepKind.HOLDING))
    assert spec.relaxation == (types.Criterion.LANGUAGE,)
    # An empty chain means holding, as before.
    assert schema.read_stored(schema.RuleStored, {**stored, "fallback": []}).to_spec().fallback == (
        types.FallbackStep(types.StepKind.HOLDING),)


def test_a_published_rule_set_is_read_even_if_todays_editor_would_refuse_its_condition() -> None:
    stored = {"name": "Old", "pool_id": 1, "conditions": [{"field": "nope", "op": "equals", "value": ""}]}
    assert schema.read_stored(schema.RuleStored, stored).to_spec().conditions[0].field == "nope"
    assert schema.validate(schema.RuleStored, stored)[1]  # ... while the editor and restore refuse it


def test_a_published_rule_with_keys_this_release_does_not_know_still_reads() -> None:
    stored = {"name": "Old", "pool_id": 1, "color": "red", "requirements": {"licence": True, "future_flag": True},
              "conditions": [{"field": "country", "op": "equals", "value": "US", "note": "x"}]}  # fmt: skip
    spec = schema.read_stored(schema.RuleStored, stored).to_spec()
    assert spec.requirements.licence and spec.conditions[0].value == "US"
    assert stored["requirements"]["future_flag"]  # the caller's data is left alone
    with pytest.raises(Exception, match="priority"):
        schema.read_stored(schema.RuleStored, {**stored, "priority": "5"})


def test_every_requirement_of_the_schema_is_a_field_the_eligibility_check_reads() -> None:
    # A new requirement is a schema field plus its eligibility check; the two must stay in step.
    assert set(schema.Requirements.model_fields) == {f.name for f in dataclasses.fields(types.Requirements)}
    flags = dict(schema.requirement_flags())
    assert set(flags) == {"licence", "language", "territory", "working_hours"} and all(flags.values())
    assert set(schema.requirement_words()) == set(schema.Requirements.model_fields) - {"skills"}


@pytest.mark.parametrize(("managers", "cycle"), [
    ({"a": "b", "b": "c", "c": "a", "d": None}, ["a", "b", "c", "a"]),
    ({"a": "a"}, ["a", "a"]),
    ({"a": "b", "b": None, "c": "b"}, None),
    ({"a": "ghost"}, None),
])  # fmt: skip
def test_manager_cycles(managers: dict, cycle: list | None) -> None:
    assert schema.manager_cycle(managers) == cycle


@pytest.mark.parametrize(("roles", "superuser", "staff", "has_rep", "refused"), [
    ([], False, False, False, False), (["Rep"], False, False, False, False), (["Manager", "Rep"], False, False, False, False),
    (["Sales Ops"], False, False, False, True), (["Manager"], False, False, False, True),
    ([], True, False, False, True), ([], False, True, False, True), (["Rep"], False, False, True, True),
])  # fmt: skip
def test_which_logins_may_become_a_reps(roles: list, superuser: bool, staff: bool, has_rep: bool, refused: bool) -> None:
    problem = schema.rep_login_problem(roles=roles, is_superuser=superuser, is_staff=staff, has_rep=has_rep)
    assert (problem is not None) == refused


# --- rules that can never match --------------------------------------------------------------


def spec(rid: int, priority: int, *conds: tuple, enabled: bool = True) -> RuleSpec:
    return RuleSpec(id=rid, history_id=None, name=f"r{rid}", priority=priority, enabled=enabled, pool_id=1,
                    conditions=tuple(Condition(f, Op(o), v) for f, o, v in conds))  # fmt: skip


def test_a_rule_below_a_catch_all_never_matches_and_one_above_does() -> None:
    rules = [spec(1, 90), spec(2, 100, ("country", "equals", "US")), spec(3, 10, ("country", "equals", "CA"))]
    assert lint.never_matching(rules) == {2: "below the catch-all 'r1', which matches every lead"}


def test_a_disabled_catch_all_shadows_nothing_and_a_narrower_rule_above_shadows_nothing() -> None:
    assert lint.never_matching([spec(1, 1, enabled=False), spec(2, 2, ("country", "equals", "US"))]) == {}
    wider_below = [spec(1, 1, ("country", "equals", "US"), ("value", "gt", 5)), spec(2, 2, ("country", "equals", "US"))]
    assert lint.never_matching(wider_below) == {}
    narrower_below = [spec(1, 1, ("country", "equals", "US")), spec(2, 2, ("country", "equals", "US"), ("value", "gt", 5))]
    assert lint.never_matching(narrower_below) == {2: "'r1' above it matches every lead it matches"}


@pytest.mark.parametrize("conds", [
    [("country", "equals", "US"), ("country", "equals", "CA")],
    [("country", "in", ["US", "CA"]), ("country", "in", ["MX"])],
    [("country", "equals", "US"), ("country", "not_equals", "us")],
    [("value", "gt", 100), ("value", "lt", 50)],
    [("value", "gt", 100), ("value", "lte", 100)],
    [("value", "between", [10, 20]), ("value", "gte", 21)],
    [("value", "equals", 5), ("value", "gt", 5)],
    [("state", "is_empty", None), ("state", "is_set", None)],
    [("state", "is_empty", None), ("state", "equals", "CA")],
])  # fmt: skip
def test_contradictory_conditions_are_flagged(conds: list) -> None:
    found = lint.never_matching([spec(1, 1, *conds)])
    assert found[1].startswith("its conditions contradict each other")


@pytest.mark.parametrize("conds", [
    [("country", "equals", "US"), ("state", "equals", "CA")],
    [("country", "in", ["US", "CA"]), ("country", "in", ["ca"])],
    [("value", "gte", 100), ("value", "lte", 100)],
    [("value", "equals", 5), ("value", "between", [1, 9])],
    [("state", "is_empty", None), ("state", "not_equals", "CA")],  # "" is empty and not CA
])  # fmt: skip
def test_satisfiable_conditions_are_not_flagged(conds: list) -> None:
    assert lint.never_matching([spec(1, 1, *conds)]) == {}


# --- documentation ---------------------------------------------------------------------------


def test_the_committed_field_reference_is_generated_from_the_schema() -> None:
    text = DOC.read_text(encoding="utf-8")
    begin = text.index("<!-- schema:begin")
    section = text[text.index("\n", begin) + 1 : text.index("<!-- schema:end -->")]
    assert section == config_schema.reference_markdown(), "run `manage.py configdoc` and commit docs/config-format.md"
    for prefix, model in config_schema.DOCUMENTED.items():
        for name, info in model.model_fields.items():
            assert f"`{prefix}.{name}`" in section and info.description, f"{prefix}.{name} is undocumented"
