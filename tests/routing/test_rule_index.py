"""The rule index (routing.snapshots.RuleIndex) narrows the rules a lead could match; routing with
the narrowed configuration must pick the same rule and give the same warnings as with all rules,
including for text that only matches after normalisation and for missing fields."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.engine import classify, select_rule
from routing.engine.qualify import decision_warnings, routing_fields
from routing.engine.types import Condition, ConfigSnapshot, LeadFacts, Op, RuleSpec, SegmentSpec
from routing.snapshots import RuleIndex
from tests.routing.engine.builders import NOW

TEXTS = ["US", "us", "ＵＳ", " CA ", "ca", "Zürich", "Zu\u0308rich", "ZÜRICH", "straße", "STRASSE", ""]
FIELDS = ["country", "state", "intent", "attributes.city"]

conditions = st.builds(
    Condition,
    field=st.sampled_from(FIELDS),
    op=st.sampled_from([Op.EQUALS, Op.IN, Op.NOT_EQUALS]),
    value=st.one_of(st.sampled_from(TEXTS), st.lists(st.sampled_from(TEXTS), min_size=1, max_size=3), st.integers(0, 3)),
)
rules = st.lists(st.tuples(st.lists(conditions, max_size=3), st.booleans()), min_size=1, max_size=8).map(
    lambda specs: tuple(
        RuleSpec(id=i + 1, history_id=None, name=f"R{i + 1}", priority=(i * 7) % 5, enabled=enabled,
                 conditions=tuple(conds), pool_id=1)  # fmt: skip
        for i, (conds, enabled) in enumerate(specs)
    )
)
field_values = st.one_of(st.none(), st.sampled_from(TEXTS), st.integers(0, 3))
leads = st.fixed_dictionaries({"country": field_values, "state": field_values, "intent": field_values,
                               "attributes": st.fixed_dictionaries({}, optional={"city": field_values})})  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(rule_specs=rules, fields=leads)
def test_narrowing_picks_the_same_rule_and_warns_the_same(rule_specs: tuple[RuleSpec, ...], fields: dict) -> None:
    full = ConfigSnapshot(version=1, segments=(), rules=rule_specs)
    facts = LeadFacts(id=1, received_at=NOW, fields=fields)
    routed = routing_fields(facts, None)
    narrowed = RuleIndex(full).narrow(routed)
    chosen_full, chosen_narrow = select_rule(routed, full), select_rule(routed, narrowed)
    assert chosen_full == chosen_narrow
    assert decision_warnings(facts, full, segment=None, fields=routed, rule=chosen_full) == decision_warnings(
        facts, narrowed, segment=None, fields=routed, rule=chosen_narrow
    )


def test_a_rule_is_left_out_when_a_later_condition_of_its_keyed_run_fails_on_a_present_value() -> None:
    # The bench's shape: product_line then state, one rule per cell. The first condition alone
    # left every rule of the product (25 of 1,000 in the bench); the run narrows to the cell.
    def rule(rule_id: int, product: str, state: str) -> RuleSpec:
        return RuleSpec(id=rule_id, history_id=None, name=f"R{rule_id}", priority=rule_id, enabled=True, pool_id=1,
                        conditions=(Condition("product_line", Op.EQUALS, product), Condition("state", Op.IN, [state, "tx"]),
                                    Condition("value", Op.GTE, 10)))  # fmt: skip

    grid = tuple(rule(i + 1, product, state) for i, (product, state) in
                 enumerate((p, s) for p in ("p01", "p02") for s in ("CA", "NY", "WA")))  # fmt: skip
    index = RuleIndex(ConfigSnapshot(version=1, segments=(), rules=grid))
    assert [r.id for r in index.narrow({"product_line": "P01", "state": " ny "}).rules] == [2]
    # Texas is in every rule's list: the run holds for all of the product's rules.
    assert [r.id for r in index.narrow({"product_line": "p02", "state": "TX"}).rules] == [4, 5, 6]
    # No state: the state condition fails with a missing-field warning, so the rules stay.
    assert [r.id for r in index.narrow({"product_line": "p01", "state": ""}).rules] == [1, 2, 3]
    # No product: every rule stays (each warns about the product line).
    assert [r.id for r in index.narrow({"state": "CA"}).rules] == [1, 2, 3, 4, 5, 6]


segments = st.lists(st.lists(conditions, min_size=1, max_size=2), max_size=3).map(
    lambda specs: tuple(SegmentSpec(id=i + 1, slug=f"s{i + 1}", name=f"S{i + 1}", sla_minutes=30, accept_fraction=0.5,
                                    priority=i, order=i, conditions=tuple(conds))
                        for i, conds in enumerate(specs))  # fmt: skip
)


@settings(max_examples=300, deadline=None)
@given(rule_specs=rules, segment_specs=segments, fields=leads, threshold=st.sampled_from([None, 0, 2, 5]),
       value=st.sampled_from([None, 1, 2, 3]))  # fmt: skip
def test_classifying_through_the_index_gives_the_engines_classification(
    rule_specs: tuple[RuleSpec, ...], segment_specs: tuple[SegmentSpec, ...], fields: dict, threshold: int | None,
    value: int | None,
) -> None:  # fmt: skip
    """Intake orders the queue and routing decides with ``RuleIndex.classify``: segment, routing
    fields, rule and high-value flag equal ``engine.classify`` over every rule."""
    rule_specs = tuple(dataclasses.replace(r, value_threshold=None if threshold is None else Decimal(threshold))
                       for r in rule_specs)  # fmt: skip
    full = ConfigSnapshot(version=1, segments=segment_specs, rules=rule_specs)
    facts = LeadFacts(id=1, received_at=NOW, fields={**fields, "value": value})

    classified, narrowed = RuleIndex(full).classify(facts)

    assert classified == classify(facts, full)
    assert all(any(rule is r for r in full.rules) for rule in narrowed.rules)
    if classified.rule is not None and threshold is not None and value is not None:
        assert classified.high_value == (value >= threshold)
