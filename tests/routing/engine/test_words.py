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
