"""Conditions in words (routing.engine.words): the one source every page, form and message uses."""

from __future__ import annotations

import pytest

from routing import labels
from routing.engine import lint
from routing.engine.types import Condition, Op, RuleSpec
from routing.engine.words import condition_text, conditions_text, field_label, value_text


@pytest.mark.parametrize(("field", "op", "value", "words"), [
    ("value", Op.GTE, 50000, "value is at least 50,000"),
    ("state", Op.IN, ["TX", "FL"], "state is TX or FL"),
    ("state", Op.IN, ["TX", "FL", "CA"], "state is TX, FL or CA"),
    ("attributes.vertical", Op.EQUALS, "insurance", "vertical is insurance"),
    ("country", Op.NOT_EQUALS, "US", "country is not US"),
    ("state", Op.NOT_IN, ["TX", "FL"], "state is neither TX nor FL"),
    ("value", Op.BETWEEN, [1000, 2500.5], "value is between 1,000 and 2,500.5"),
    ("value", Op.GT, "12.50", "value is more than 12.50"),
    ("fit_score", Op.LTE, 3, "fit score is at most 3"),
    ("postal_code", Op.STARTS_WITH, "01", "postal code starts with 01"),
    ("company", Op.CONTAINS, "Bank", "company contains Bank"),
    ("state", Op.IS_EMPTY, None, "state is empty"),
    ("state", Op.IS_SET, None, "state is filled in"),
    ("attributes.vip", Op.EQUALS, True, "vip is yes"),
])  # fmt: skip
def test_a_condition_reads_as_a_sentence(field: str, op: Op, value: object, words: str) -> None:
    assert condition_text(Condition(field, op, value)) == words
    assert condition_text({"field": field, "op": op.value, "value": value}) == words


def test_field_labels_are_words() -> None:
    assert field_label("attributes.vertical") == "Vertical"
    assert field_label("postal_code") == "Postal code"
    assert field_label("attributes.utm_source") == "UTM source"
    assert conditions_text([]) == "every lead"
    assert value_text(False) == "no"


def test_every_operator_has_distinct_words_for_the_drop_down() -> None:
    words = [label for _, label in labels.op_choices()]
    assert len(words) == len(Op) == len(set(words))
    assert all("_" not in w and w not in {"gte", "in", "lt"} for w in words)


def test_lint_messages_name_fields_and_conditions_in_words() -> None:
    rule = RuleSpec(id=1, history_id=1, name="r", priority=1, enabled=True, pool_id=1, conditions=(
        Condition("attributes.vertical", Op.EQUALS, "saas"), Condition("attributes.vertical", Op.IN, ["insurance"])))
    message = lint.never_matching([rule])[1]
    assert "no vertical satisfies both 'vertical is insurance'" in message
    assert "attributes." not in message and " in " not in message


def _rule(rule_id: int, priority: int, *conds: tuple, enabled: bool = True) -> RuleSpec:
    return RuleSpec(id=rule_id, history_id=rule_id, name=f"r{rule_id}", priority=priority, enabled=enabled, pool_id=1,
                    conditions=tuple(Condition(f, Op(o), v) for f, o, v in conds))


def test_each_rule_is_checked_in_order_and_says_why_it_did_not_match() -> None:
    from routing.engine.qualify import rule_checks, select_rule
    from routing.engine.types import ConfigSnapshot

    config = ConfigSnapshot(version=1, segments=(), rules=(
        _rule(4, 40),  # catch-all, after the match
        _rule(1, 10, ("attributes.vertical", "equals", "insurance"), ("value", "gte", 50000)),
        _rule(2, 20, ("state", "in", ["TX", "FL"])),
        _rule(5, 15, ("country", "equals", "US"), enabled=False),
        _rule(3, 30, ("attributes.vertical", "equals", "insurance")),
    ))  # fmt: skip
    fields = {"value": "9000.00", "state": "CA", "attributes": {"vertical": "insurance"}}
    checks = rule_checks(fields, config)
    assert [(c.rule.id, c.outcome) for c in checks] == [
        (1, "failed"), (5, "disabled"), (2, "failed"), (3, "matched"), (4, "not_reached")]
    assert next(c.rule for c in checks if c.outcome == "matched") == select_rule(fields, config)
    rows = labels.rule_check_rows(checks)
    assert rows[0]["why"] == "needs “value is at least 50,000”, but the lead's value is 9,000"
    assert rows[2]["why"] == "needs “state is TX or FL”, but the lead's state is CA"
    assert [r["outcome_label"] for r in rows] == ["did not match", "switched off", "did not match", "matched", "not checked"]
    assert labels.rule_check_rows(rule_checks({"attributes": {}}, config))[0]["why"] == (
        "needs “vertical is insurance”, but the lead has no vertical")
