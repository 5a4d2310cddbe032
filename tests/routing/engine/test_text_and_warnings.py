"""Text compared after Unicode normalisation and case folding (issue 11, input 3), and named
warnings for conditions over a field the lead lacks or holds with the wrong type (deliver 3)."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.engine import decision_to_dict, route
from routing.engine.conditions import condition_warning, evaluate_condition, fold_text
from routing.engine.types import DecisionWarning, Op, Outcome
from tests.routing.engine.builders import NOW, by_id, cond, config, lead, pool, rep, rule, segment

ZURICH_COMPOSED = "Z\u00fcrich"  # ü as one code point
ZURICH_COMBINING = "Zu\u0308rich"  # u + COMBINING DIAERESIS


def test_a_city_written_with_a_combining_diaeresis_matches_the_rule_written_precomposed() -> None:
    assert ZURICH_COMPOSED != ZURICH_COMBINING
    the_rule = rule(1, conditions=(cond("attributes.city", Op.EQUALS, ZURICH_COMPOSED),), pool_id=10)
    the_lead = lead(attributes={"city": ZURICH_COMBINING})
    decision = route(the_lead, config(the_rule), by_id(pool(10, [(1, 1)])), by_id(rep(1)), NOW)
    assert decision.rule is not None and decision.rule.id == 1
    assert decision.outcome == Outcome.OFFER


@pytest.mark.parametrize(
    ("op", "field_value", "value"),
    [
        (Op.EQUALS, ZURICH_COMBINING, ZURICH_COMPOSED),
        (Op.EQUALS, ZURICH_COMPOSED, ZURICH_COMBINING),  # both sides are normalised
        (Op.EQUALS, "ZÜRICH", ZURICH_COMBINING),
        (Op.EQUALS, "Straße", "STRASSE"),  # full case folding, not lower()
        (Op.EQUALS, "ＵＳ", "us"),  # full-width letters (NFKC)
        (Op.IN, ZURICH_COMBINING, ["Bern", ZURICH_COMPOSED]),
        (Op.NOT_IN, ZURICH_COMBINING, ["Bern"]),
        (Op.CONTAINS, "Kanton Zu\u0308rich", "zürich"),
        (Op.STARTS_WITH, ZURICH_COMBINING, "zü"),
        (Op.EQUALS, "ﬁnance", "finance"),  # ligature
    ],
)
def test_text_is_compared_after_normalisation_and_case_folding(op: Op, field_value: str, value: object) -> None:
    assert evaluate_condition(cond("attributes.x", op, value), {"attributes": {"x": field_value}})


def test_different_text_still_differs() -> None:
    assert not evaluate_condition(cond("postal_code", Op.EQUALS, "01234"), {"postal_code": "1234"})
    assert not evaluate_condition(cond("attributes.x", Op.EQUALS, "Zurich"), {"attributes": {"x": ZURICH_COMPOSED}})


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=30), form=st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"]))
def test_every_normalisation_form_of_a_text_equals_it(text: str, form: str) -> None:
    other = unicodedata.normalize(form, text)
    assert evaluate_condition(cond("attributes.x", Op.EQUALS, text), {"attributes": {"x": other}})


# --- warnings ---------------------------------------------------------------------------------


def test_a_condition_over_a_missing_attribute_is_a_non_match_with_a_named_warning() -> None:
    city_rule = rule(1, name="Zurich desk", priority=1, conditions=(cond("attributes.city", Op.EQUALS, "Zürich"),))
    catch_all = rule(2, name="Everyone", priority=2)
    decision = route(lead(attributes={}), config(city_rule, catch_all), by_id(pool(10, [(1, 1)])), by_id(rep(1)), NOW)
    assert decision.rule is not None and decision.rule.id == 2
    assert decision.warnings == (
        DecisionWarning(
            kind="missing_field",
            field="attributes.city",
            message="The lead has no city; the condition 'city is Zürich' cannot match.",
            sources=("rule:Zurich desk",),
        ),
    )
    rendered = decision_to_dict(decision)["warnings"]
    assert rendered == [{"kind": "missing_field", "field": "attributes.city", "message": decision.warnings[0].message,
                         "sources": ["rule:Zurich desk"]}]  # fmt: skip


@pytest.mark.parametrize(
    ("condition", "fields"),
    [
        (cond("attributes.employees", Op.GT, 100), {"attributes": {"employees": "many"}}),
        (cond("attributes.employees", Op.BETWEEN, [1, 10]), {"attributes": {"employees": {"n": 5}}}),
        (cond("attributes.tags", Op.EQUALS, "vip"), {"attributes": {"tags": ["vip"]}}),
        (cond("attributes.size", Op.EQUALS, 50), {"attributes": {"size": "fifty"}}),
        (cond("attributes.size", Op.STARTS_WITH, "5"), {"attributes": {"size": 50}}),
        (cond("attributes.flag", Op.GTE, 1), {"attributes": {"flag": True}}),
    ],
)
def test_a_condition_over_a_field_of_the_wrong_type_is_a_non_match_with_a_wrong_type_warning(condition, fields) -> None:  # noqa: ANN001
    assert not evaluate_condition(condition, fields)
    warning = condition_warning(condition, fields)
    assert warning is not None and warning.kind == "wrong_type" and warning.field == condition.field


@pytest.mark.parametrize(
    ("condition", "fields"),
    [
        (cond("country", Op.EQUALS, "US"), {"country": "CA"}),  # simply false
        (cond("value", Op.GTE, 50000), {"value": Decimal("100")}),
        (cond("attributes.employees", Op.GT, 100), {"attributes": {"employees": "50"}}),  # numeric text compares
        (cond("attributes.x", Op.IS_EMPTY), {"attributes": {}}),  # presence operators never warn
        (cond("attributes.tags", Op.CONTAINS, "vip"), {"attributes": {"tags": ["a"]}}),
    ],
)
def test_a_condition_that_is_merely_false_gives_no_warning(condition, fields) -> None:  # noqa: ANN001
    assert condition_warning(condition, fields) is None


def test_warnings_cover_segments_tried_before_the_match_and_merge_sources() -> None:
    vip = segment(1, "vip", 1, cond("attributes.score", Op.GTE, 90))
    rest = segment(2, "rest", 2, is_default=True)
    first = rule(1, name="Scored", priority=1, conditions=(cond("attributes.score", Op.GT, 50),))
    second = rule(2, name="Also scored", priority=2, conditions=(cond("attributes.score", Op.LT, 5),))
    last = rule(3, name="Everyone", priority=3)
    decision = route(
        lead(attributes={"score": "high"}), config(first, second, last, segments=[vip, rest]),
        by_id(pool(10, [(1, 1)])), by_id(rep(1)), NOW,
    )  # fmt: skip
    assert decision.segment is not None and decision.segment.slug == "rest"
    assert [(w.kind, w.field, w.sources) for w in decision.warnings] == [
        ("wrong_type", "attributes.score", ("segment:vip", "rule:Scored", "rule:Also scored")),
    ]


def test_a_lead_that_matches_the_first_rule_has_no_warnings() -> None:
    the_rule = rule(1, conditions=(cond("country", Op.EQUALS, "US"),))
    decision = route(lead(), config(the_rule), by_id(pool(10, [(1, 1)])), by_id(rep(1)), NOW)
    assert decision.warnings == ()


def test_fetch_warnings_of_the_lead_are_carried_into_the_decision() -> None:
    no_rate = DecisionWarning("no_exchange_rate", "value", "No exchange rate for XTS.")
    base = lead(value=None, currency="XTS")
    flagged = type(base)(id=base.id, received_at=base.received_at, fields=base.fields, warnings=(no_rate,))
    decision = route(flagged, config(rule(1)), by_id(pool(10, [(1, 1)])), by_id(rep(1)), NOW)
    assert decision.warnings == (no_rate,)
