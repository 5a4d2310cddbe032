"""The rule index (routing.snapshots.RuleIndex) narrows the rules a lead could match; routing with
the narrowed configuration must pick the same rule and give the same warnings as with all rules,
including for text that only matches after normalisation and for missing fields."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.engine import select_rule
from routing.engine.qualify import decision_warnings, routing_fields
from routing.engine.types import Condition, ConfigSnapshot, LeadFacts, Op, RuleSpec
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
rules = st.lists(st.tuples(st.lists(conditions, max_size=2), st.booleans()), min_size=1, max_size=8).map(
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
