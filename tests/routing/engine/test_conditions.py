from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.engine import LEAD_FIELDS, conditions_match, evaluate_condition, validate_condition
from routing.engine.types import Condition, Op
from tests.routing.engine.builders import cond

FIELDS: dict[str, Any] = {
    "country": "US",
    "state": "ca",
    "company": "Acme Insurance Brokers",
    "email": "Ana@Example.com",
    "value": Decimal("50000.00"),
    "fit_score": 72,
    "postal_code": "01234",
    "intent": "high",
    "title": "",
    "phone": None,
    "attributes": {
        "vertical": "Insurance",
        "employees": "250",
        "tags": ["vip", "Renewal"],
        "ratio": 0.75,
        "notes": {},
    },
}


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        # equals / not_equals: strings case-insensitive, numbers numerically
        ("country", Op.EQUALS, "us", True),
        ("country", Op.EQUALS, " US ", True),
        ("country", Op.EQUALS, "CA", False),
        ("value", Op.EQUALS, 50000, True),
        ("value", Op.EQUALS, "50000", True),
        ("value", Op.EQUALS, 50000.0, True),
        ("value", Op.EQUALS, "50,000", False),
        ("fit_score", Op.EQUALS, Decimal("72.0"), True),
        ("attributes.employees", Op.EQUALS, 250, True),
        ("postal_code", Op.EQUALS, "1234", False),  # two strings stay strings
        ("country", Op.NOT_EQUALS, "CA", True),
        ("country", Op.NOT_EQUALS, "us", False),
        ("value", Op.NOT_EQUALS, 49999, True),
        # in / not_in
        ("state", Op.IN, ["CA", "NY"], True),
        ("state", Op.IN, ("TX", "NY"), False),
        ("fit_score", Op.IN, ["72", 80], True),
        ("state", Op.IN, "CA", False),  # value must be a list
        ("state", Op.NOT_IN, ["TX", "NY"], True),
        ("state", Op.NOT_IN, ["Ca"], False),
        ("state", Op.NOT_IN, "TX", False),
        # contains / starts_with
        ("company", Op.CONTAINS, "insurance", True),
        ("company", Op.CONTAINS, "bank", False),
        ("attributes.tags", Op.CONTAINS, "renewal", True),
        ("attributes.tags", Op.CONTAINS, "churn", False),
        ("value", Op.CONTAINS, "500", False),
        ("email", Op.STARTS_WITH, "ana@", True),
        ("email", Op.STARTS_WITH, "bob", False),
        ("fit_score", Op.STARTS_WITH, "7", False),
        # gt / gte / lt / lte
        ("value", Op.GT, 49999, True),
        ("value", Op.GT, 50000, False),
        ("value", Op.GTE, "50000", True),
        ("value", Op.LT, 50000.01, True),
        ("value", Op.LTE, 50000, True),
        ("value", Op.LTE, 49999.99, False),
        ("attributes.employees", Op.GTE, 200, True),
        ("attributes.ratio", Op.LT, Decimal("0.8"), True),
        ("country", Op.GT, 1, False),
        ("value", Op.GT, "lots", False),
        # between (inclusive)
        ("value", Op.BETWEEN, [50000, 100000], True),
        ("value", Op.BETWEEN, ["10000", 50000], True),
        ("fit_score", Op.BETWEEN, [73, 100], False),
        ("value", Op.BETWEEN, [100000, 50000], False),
        ("value", Op.BETWEEN, [1], False),
        ("country", Op.BETWEEN, [0, 10], False),
        # is_empty / is_set
        ("title", Op.IS_EMPTY, None, True),
        ("phone", Op.IS_EMPTY, None, True),
        ("last_name", Op.IS_EMPTY, None, True),
        ("attributes.notes", Op.IS_EMPTY, None, True),
        ("attributes.nope", Op.IS_EMPTY, None, True),
        ("country", Op.IS_EMPTY, None, False),
        ("country", Op.IS_SET, None, True),
        ("title", Op.IS_SET, None, False),
        ("attributes.tags", Op.IS_SET, None, True),
        # attributes
        ("attributes.vertical", Op.EQUALS, "insurance", True),
        ("attributes.vertical", Op.IN, ["banking", "INSURANCE"], True),
    ],
)
def test_each_operator_evaluates_per_its_documented_semantics(
    field: str, op: Op, value: Any, expected: bool
) -> None:
    assert evaluate_condition(Condition(field, op, value), FIELDS) is expected


@pytest.mark.parametrize("op", [op for op in Op if op is not Op.IS_EMPTY])
@pytest.mark.parametrize("field", ["last_name", "phone", "attributes.missing", "attributes"])
def test_a_condition_over_a_missing_field_is_false_except_is_empty(op: Op, field: str) -> None:
    lead_fields: dict[str, Any] = {"phone": None}
    values = {Op.IN: ["x"], Op.NOT_IN: ["x"], Op.BETWEEN: [0, 1]}
    assert evaluate_condition(Condition(field, op, values.get(op, "x")), lead_fields) is False
    assert evaluate_condition(Condition(field, Op.IS_EMPTY), lead_fields) is True


def test_attribute_conditions_are_false_when_attributes_is_not_a_mapping() -> None:
    assert not evaluate_condition(cond("attributes.vertical", Op.EQUALS, "x"), {"attributes": "x"})
    assert evaluate_condition(cond("attributes.vertical", Op.IS_EMPTY), {"attributes": [1]})


def test_an_unknown_operator_never_matches_instead_of_raising() -> None:
    assert evaluate_condition(Condition("country", "resembles", "US"), FIELDS) is False  # type: ignore[arg-type]


def test_string_operators_are_accepted_as_well_as_enum_members() -> None:
    assert evaluate_condition(Condition("country", "equals", "us"), FIELDS) is True  # type: ignore[arg-type]


def test_booleans_are_not_numbers() -> None:
    assert not evaluate_condition(cond("flag", Op.GT, 0), {"flag": True})
    assert not evaluate_condition(cond("flag", Op.EQUALS, 1), {"flag": True})
    assert evaluate_condition(cond("flag", Op.EQUALS, True), {"flag": True})


def test_non_finite_numbers_never_compare() -> None:
    assert not evaluate_condition(cond("value", Op.GT, 0), {"value": float("nan")})
    assert not evaluate_condition(cond("value", Op.GT, 0), {"value": "Infinity"})


@pytest.mark.parametrize(
    ("conds", "expected"),
    [
        ((), True),
        ((cond("country", Op.EQUALS, "US"),), True),
        ((cond("country", Op.EQUALS, "US"), cond("value", Op.GTE, 50000)), True),
        ((cond("country", Op.EQUALS, "US"), cond("value", Op.GT, 50000)), False),
    ],
)
def test_conditions_match_requires_every_condition(
    conds: tuple[Condition, ...], expected: bool
) -> None:
    assert conditions_match(conds, FIELDS) is expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.decimals() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    op=st.sampled_from(list(Op)) | st.text(max_size=6),
    field=st.sampled_from(["value", "country", "attributes.x", "attributes", "nope"]),
    field_value=json_values,
    value=json_values,
)
def test_odd_data_never_raises(op: Any, field: str, field_value: Any, value: Any) -> None:
    lead_fields = {"value": field_value, "country": field_value, "attributes": {"x": field_value}}
    result = evaluate_condition(Condition(field, op, value), lead_fields)
    assert isinstance(result, bool)
    assert isinstance(validate_condition(field, op, value), list)


@pytest.mark.parametrize(
    ("field", "op", "value"),
    [
        ("country", "equals", "US"),
        ("value", "gte", 50000),
        ("value", "gte", "50000"),
        ("state", "in", ["CA", "NY"]),
        ("value", "between", [1, 2]),
        ("title", "is_empty", None),
        ("attributes.vertical", "contains", "ins"),
        ("segment", "not_in", ["low"]),
    ],
)
def test_validate_condition_accepts_well_formed_conditions(field: str, op: str, value: Any) -> None:
    assert validate_condition(field, op, value) == []


@pytest.mark.parametrize(
    ("field", "op", "value", "fragment"),
    [
        ("country", "resembles", "US", "Unknown operator 'resembles'"),
        ("state", "in", "CA", "'in' needs a list"),
        ("state", "not_in", [], "at least one value"),
        ("value", "between", [1], "two numbers"),
        ("value", "between", [1, "x"], "two numbers"),
        ("value", "between", [5, 1], "low <= high"),
        ("value", "gt", "lots", "'gt' needs a number"),
        ("value", "lte", None, "'lte' needs a number"),
        ("value", "gte", True, "'gte' needs a number"),
        ("country", "equals", ["US", "CA"], "single value"),
        ("company", "starts_with", 5, "text value"),
        ("colour", "equals", "red", "Unknown field 'colour'"),
        ("attributes.", "is_set", None, "Name the attribute"),
        ("", "is_set", None, "Choose a field"),
    ],
)
def test_validate_condition_explains_malformed_conditions(
    field: str, op: str, value: Any, fragment: str
) -> None:
    errors = validate_condition(field, op, value)
    assert any(fragment in error for error in errors), errors


def test_lead_fields_lists_every_known_field_with_its_type() -> None:
    assert LEAD_FIELDS["value"] == "decimal"
    assert LEAD_FIELDS["fit_score"] == "int"
    assert LEAD_FIELDS["attributes"] == "json"
    assert set(LEAD_FIELDS) == {
        "source", "external_id", "first_name", "last_name", "email", "phone", "company",
        "title", "country", "state", "postal_code", "language", "product_line", "value",
        "currency", "fit_score", "account_tier", "intent", "segment", "attributes", "website",
        "account.name", "account.tier", "account.status", "account.territory", "account.external_id",
    }  # fmt: skip
