"""Conditions over lead fields: evaluation and validation.

Semantics, chosen so that odd data never raises and never matches by accident:

- A field is ``"<lead field>"`` or ``"attributes.<key>"`` (a key of ``lead_fields["attributes"]``).
- A field that is missing or ``None`` fails every operator except ``is_empty`` (true). So
  ``not_equals``/``not_in`` over a missing field are false, as in SQL: "country is not US" does not
  hold for a lead with no country.
- ``equals``/``in`` compare numerically when either side is a real number (int, float, Decimal)
  and the other side coerces to one (``"50000"`` equals ``50000``); two strings compare after
  ``fold_text`` on both sides (Unicode NFKC normalisation, full case folding, surrounding
  whitespace stripped: "Zürich" written with a combining diaeresis equals "ZÜRICH"; "STRASSE"
  equals "straße"), so ``"01234"`` and ``"1234"`` (postal codes) stay different.
- ``contains``/``starts_with`` need a string field and a string value (folded the same way);
  ``contains`` also accepts a list field (e.g. ``attributes.tags``) and then means "has an element
  equal to the value".
- ``gt``/``gte``/``lt``/``lte``/``between`` coerce both sides to ``Decimal``; a field that is not
  numeric (booleans included) never matches. ``between`` is inclusive and needs ``[low, high]``.
- ``is_empty`` is true for a missing field, ``None``, ``""``, ``[]``, ``()`` and ``{}``.

``condition_warning`` names why a condition did not match when the cause is the lead's data
rather than its value: the field is missing (``missing_field``) or holds a value of the wrong
type for the operator (``wrong_type``). Routing records these on the decision.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Final

from routing.engine.accounts import ACCOUNT_FIELDS
from routing.engine.types import Condition, DecisionWarning, Op
from routing.engine.words import condition_text
from routing.engine.words import field_in_sentence as _field

ATTRIBUTES_PREFIX: Final = "attributes."

# Known lead fields -> value type. "json" is the free-form attributes dict.
LEAD_FIELDS: Final[dict[str, str]] = {
    "source": "str",
    "external_id": "str",
    "first_name": "str",
    "last_name": "str",
    "email": "str",
    "phone": "str",
    "company": "str",
    "title": "str",
    "country": "str",
    "state": "str",
    "postal_code": "str",
    "language": "str",
    "product_line": "str",
    "value": "decimal",
    "currency": "str",
    "fit_score": "int",
    "account_tier": "str",
    "intent": "str",
    "segment": "str",
    "attributes": "json",
    "website": "str",
    **ACCOUNT_FIELDS,  # the matched account (routing.engine.accounts)
}

NUMERIC_OPS: Final = frozenset({Op.GT, Op.GTE, Op.LT, Op.LTE})
LIST_OPS: Final = frozenset({Op.IN, Op.NOT_IN})
STRING_OPS: Final = frozenset({Op.CONTAINS, Op.STARTS_WITH})
PRESENCE_OPS: Final = frozenset({Op.IS_EMPTY, Op.IS_SET})

_MISSING: Final = object()


def to_decimal(value: Any) -> Decimal | None:
    """Return ``value`` as a finite Decimal, or None if it is not a number (bools are not)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # repr: 0.1 -> Decimal("0.1"), not the binary expansion
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except (InvalidOperation, ValueError):
            return None
    else:
        return None
    return number if number.is_finite() else None


@lru_cache(maxsize=65536)
def fold_text(text: str) -> str:
    """``text`` as conditions compare it: stripped, NFKC-normalised and case-folded.

    This is Unicode's NFKC_Casefold idea (NFKC, full case folding, NFKC again), so canonically
    and compatibility-equivalent spellings compare equal: a precomposed "ü" and "u" + U+0308,
    "ß" and "ss", the ligature "ﬁ" and "fi", full-width "ＵＳ" and "US". Source: Unicode
    Standard Annex #15 (normalisation forms) and §3.13 "Default Caseless Matching".
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold()).strip()


def _is_real_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple, set, frozenset))


def is_empty_value(value: Any) -> bool:
    if value is None or value is _MISSING:
        return True
    if isinstance(value, str):
        return value == ""
    if isinstance(value, (list, tuple, dict, set, frozenset, Mapping)):
        return len(value) == 0
    return False


def resolve_field(field: str, lead_fields: Mapping[str, Any]) -> Any:
    """Value of ``field`` in ``lead_fields``; ``None`` when missing or unreadable."""
    if not isinstance(field, str):
        return None
    if field.startswith(ATTRIBUTES_PREFIX):
        attributes = lead_fields.get("attributes")
        if not isinstance(attributes, Mapping):
            return None
        return attributes.get(field[len(ATTRIBUTES_PREFIX) :])
    return lead_fields.get(field)


def values_equal(left: Any, right: Any) -> bool:
    """Loose equality used by equals/in (see the module docstring)."""
    if _is_real_number(left) or _is_real_number(right):
        left_number, right_number = to_decimal(left), to_decimal(right)
        return left_number is not None and right_number is not None and left_number == right_number
    if isinstance(left, str) and isinstance(right, str):
        return fold_text(left) == fold_text(right)
    if isinstance(left, str) or isinstance(right, str):
        return False
    try:
        return bool(left == right)
    except Exception:  # a hostile __eq__ in attributes must not break routing
        return False


def _numeric_compare(op: Op, field_value: Any, value: Any) -> bool:
    left, right = to_decimal(field_value), to_decimal(value)
    if left is None or right is None:
        return False
    if op is Op.GT:
        return left > right
    if op is Op.GTE:
        return left >= right
    if op is Op.LT:
        return left < right
    return left <= right


def _between(field_value: Any, value: Any) -> bool:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return False
    number, low, high = to_decimal(field_value), to_decimal(value[0]), to_decimal(value[1])
    if number is None or low is None or high is None:
        return False
    return low <= number <= high


def _coerce_op(op: Any) -> Op | None:
    try:
        return Op(op)
    except ValueError:
        return None


def evaluate_condition(cond: Condition, lead_fields: Mapping[str, Any]) -> bool:
    """Whether ``cond`` holds for ``lead_fields``. Never raises; unknown operators are false."""
    op = _coerce_op(cond.op)
    if op is None:
        return False
    field_value = resolve_field(cond.field, lead_fields)
    if op is Op.IS_EMPTY:
        return is_empty_value(field_value)
    if op is Op.IS_SET:
        return not is_empty_value(field_value)
    if field_value is None:
        return False

    value = cond.value
    if op is Op.EQUALS:
        return values_equal(field_value, value)
    if op is Op.NOT_EQUALS:
        return not values_equal(field_value, value)
    if op in LIST_OPS:
        if not _is_list(value):
            return False
        found = any(values_equal(field_value, item) for item in value)
        return found if op is Op.IN else not found
    if op is Op.CONTAINS:
        if isinstance(field_value, str) and isinstance(value, str):
            return fold_text(value) in fold_text(field_value)
        if isinstance(field_value, (list, tuple)):
            return any(values_equal(item, value) for item in field_value)
        return False
    if op is Op.STARTS_WITH:
        if isinstance(field_value, str) and isinstance(value, str):
            return fold_text(field_value).startswith(fold_text(value))
        return False
    if op in NUMERIC_OPS:
        return _numeric_compare(op, field_value, value)
    if op is Op.BETWEEN:
        return _between(field_value, value)
    return False  # pragma: no cover - every Op is handled above


def conditions_match(conds: Sequence[Condition], lead_fields: Mapping[str, Any]) -> bool:
    """All conditions hold; an empty sequence matches everything."""
    return all(evaluate_condition(cond, lead_fields) for cond in conds)


def condition_warning(cond: Condition, lead_fields: Mapping[str, Any]) -> DecisionWarning | None:
    """Why ``cond`` cannot hold for this lead's data, or None when the data has the right shape.

    ``missing_field``: the field is absent, ``None`` or ``""`` and the operator is not
    ``is_empty``/``is_set`` (not for ``account.*`` fields: a lead with no account is no fault). ``wrong_type``: the field holds a value the operator cannot compare
    (a non-number for gt/gte/lt/lte/between or against a number; a list or object for
    equals/in; a number or object for contains/starts_with). A condition that is merely false
    ("country equals US" for a CA lead) gives None.
    """
    op = _coerce_op(cond.op)
    if op is None or op in PRESENCE_OPS:
        return None
    field_value = resolve_field(cond.field, lead_fields)
    if field_value is None or (isinstance(field_value, str) and field_value.strip() == ""):
        if cond.field in ACCOUNT_FIELDS:
            return None  # no account matched: not a fault in the lead's data (the decision says so)
        return DecisionWarning(
            kind="missing_field",
            field=str(cond.field),
            message=f"The lead has no {_field(cond.field)}; the condition '{condition_text(cond)}' cannot match.",
        )
    kind = _type_name(field_value)
    wrong = False
    if op in NUMERIC_OPS or op is Op.BETWEEN:
        wrong = to_decimal(field_value) is None
    elif op in (Op.EQUALS, Op.NOT_EQUALS, Op.IN, Op.NOT_IN):
        values = cond.value if op in LIST_OPS and _is_list(cond.value) else (cond.value,)
        if isinstance(field_value, (Mapping, list, tuple, set, frozenset)):
            wrong = True
        elif any(_is_real_number(v) for v in values) and to_decimal(field_value) is None:
            wrong = True
    elif op in STRING_OPS:
        wrong = not isinstance(field_value, str) and not (op is Op.CONTAINS and isinstance(field_value, (list, tuple)))
    if not wrong:
        return None
    return DecisionWarning(
        kind="wrong_type",
        field=str(cond.field),
        message=(f"The lead's {_field(cond.field)} is {kind}, which the condition '{condition_text(cond)}' cannot "
                 "compare; it cannot match."),
    )


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if _is_real_number(value):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "an object"
    if _is_list(value):
        return "a list"
    return f"a {type(value).__name__}"


def first_failing_condition(conds: Sequence[Condition], lead_fields: Mapping[str, Any]) -> Condition | None:
    """The first condition of ``conds`` that does not hold (the one ``conditions_match`` stops at)."""
    for cond in conds:
        if not evaluate_condition(cond, lead_fields):
            return cond
    return None


def validate_condition(field: Any, op: Any, value: Any) -> list[str]:
    """Human-readable problems with a condition, for forms and imports; empty when valid."""
    errors: list[str] = []
    if not isinstance(field, str) or not field.strip():
        errors.append("Choose a field.")
    elif field.startswith(ATTRIBUTES_PREFIX):
        if not field[len(ATTRIBUTES_PREFIX) :].strip():
            errors.append("Name the attribute after 'attributes.', e.g. attributes.vertical.")
    elif field not in LEAD_FIELDS:
        errors.append(
            f"Unknown field '{field}'. Use a lead field such as 'country' or 'attributes.<key>'."
        )

    parsed = _coerce_op(op)
    if parsed is None:
        choices = ", ".join(member.value for member in Op)
        errors.append(f"Unknown operator '{op}'. Use one of: {choices}.")
        return errors

    label = parsed.value
    if parsed in (Op.EQUALS, Op.NOT_EQUALS):
        if value is None or _is_list(value) or isinstance(value, Mapping):
            errors.append(
                f"'{label}' needs a single value; use 'in'/'not_in' for lists "
                "or 'is_empty'/'is_set' for blanks."
            )
    elif parsed in LIST_OPS:
        if not _is_list(value):
            errors.append(f"'{label}' needs a list of values.")
        elif len(value) == 0:
            errors.append(f"'{label}' needs at least one value.")
    elif parsed in STRING_OPS:
        if not isinstance(value, str) or value == "":
            errors.append(f"'{label}' needs a non-empty text value.")
    elif parsed in NUMERIC_OPS:
        if to_decimal(value) is None:
            errors.append(f"'{label}' needs a number, got {value!r}.")
    elif parsed is Op.BETWEEN:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            errors.append("'between' needs two numbers: [low, high].")
        else:
            low, high = to_decimal(value[0]), to_decimal(value[1])
            if low is None or high is None:
                errors.append("'between' needs two numbers: [low, high].")
            elif low > high:
                errors.append(f"'between' needs low <= high, got [{value[0]}, {value[1]}].")
    return errors
