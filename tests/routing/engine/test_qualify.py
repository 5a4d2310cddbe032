from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from routing.engine import is_high_value, qualify, routing_fields, select_rule
from routing.engine.types import Op
from tests.routing.engine.builders import cond, config, lead, rule, segment

HOT = segment(1, "hot", 1, cond("intent", Op.EQUALS, "high"), sla_minutes=5)
WARM = segment(2, "warm", 2, cond("intent", Op.EQUALS, "medium"), sla_minutes=30)
COLD = segment(3, "cold", 3, sla_minutes=240, is_default=True)


def test_it_qualifies_into_the_first_matching_segment_by_order() -> None:
    broad = segment(4, "broad", 5, cond("country", Op.EQUALS, "US"))
    narrow = segment(5, "narrow", 0, cond("intent", Op.EQUALS, "high"))
    snapshot = config(segments=[broad, narrow])
    assert qualify(lead(intent="high"), snapshot) == narrow
    assert qualify(lead(intent="low"), snapshot) == broad


def test_it_ties_segment_order_by_id() -> None:
    second = segment(8, "second", 1)
    first = segment(7, "first", 1)
    assert qualify(lead(), config(segments=[second, first])) == first


def test_the_default_segment_is_a_catch_all_even_when_listed_first() -> None:
    default_first = segment(3, "cold", 0, cond("intent", Op.EQUALS, "nope"), is_default=True)
    snapshot = config(segments=[default_first, HOT])
    assert qualify(lead(intent="high"), snapshot) == HOT
    assert qualify(lead(intent="low"), snapshot) == default_first


def test_it_returns_none_without_a_match_or_default() -> None:
    assert qualify(lead(intent="low"), config(segments=[HOT, WARM])) is None
    assert qualify(lead(), config()) is None


def test_routing_fields_carry_the_segment_slug() -> None:
    assert routing_fields(lead(segment="stale"), HOT)["segment"] == "hot"
    assert routing_fields(lead(segment="stale"), None)["segment"] is None


def test_it_selects_the_first_enabled_matching_rule_by_priority_then_id() -> None:
    late = rule(1, priority=20)
    tie_b = rule(3, priority=10)
    tie_a = rule(2, priority=10)
    disabled = rule(4, priority=1, enabled=False)
    assert select_rule({}, config(late, tie_b, tie_a, disabled)) == tie_a


def test_rules_can_condition_on_the_qualified_segment() -> None:
    hot_rule = rule(1, priority=1, conditions=(cond("segment", Op.EQUALS, "hot"),))
    catch_all = rule(2, priority=2)
    snapshot = config(hot_rule, catch_all, segments=[HOT, COLD])
    hot_lead = lead(intent="high")
    assert select_rule(routing_fields(hot_lead, qualify(hot_lead, snapshot)), snapshot) == hot_rule
    cold_lead = lead(intent="low")
    assert (
        select_rule(routing_fields(cold_lead, qualify(cold_lead, snapshot)), snapshot) == catch_all
    )


def test_no_rule_matches_when_every_rule_is_disabled_or_misses() -> None:
    snapshot = config(
        rule(1, enabled=False), rule(2, conditions=(cond("country", Op.EQUALS, "FR"),))
    )
    assert select_rule({"country": "US"}, snapshot) is None


@pytest.mark.parametrize(
    ("value", "threshold", "expected"),
    [
        (Decimal("50000"), Decimal("50000"), True),
        (Decimal("49999.99"), Decimal("50000"), False),
        ("75000", Decimal("50000"), True),
        (None, Decimal("50000"), False),
        ("n/a", Decimal("50000"), False),
        (Decimal("1e9"), None, False),
    ],
)
def test_a_lead_is_high_value_when_its_value_reaches_the_rule_threshold(
    value: Any, threshold: Decimal | None, expected: bool
) -> None:
    assert is_high_value({"value": value}, rule(value_threshold=threshold)) is expected
