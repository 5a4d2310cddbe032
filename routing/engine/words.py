"""Conditions in words: field names, operators and values as a person reads them.

Pure (no ORM, no settings) so the engine's own messages (lint, decision warnings) and every page
use the same words; ``routing.labels`` re-exports these for templates, forms and exports.

    condition_text(Condition("value", Op.GTE, 50000))          -> "value is at least 50,000"
    condition_text(Condition("state", Op.IN, ["TX", "FL"]))    -> "state is TX or FL"
    field_label("attributes.vertical")                          -> "Vertical"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

from routing.engine.types import Condition, Op, Strategy

ATTRIBUTES_PREFIX: Final = "attributes."

# The words of each known lead field (routing.engine.conditions.LEAD_FIELDS); a custom attribute
# ("attributes.<key>") reads as its key in words.
FIELD_LABELS: Final[dict[str, str]] = {
    "source": "Source",
    "external_id": "External id",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "phone": "Phone",
    "company": "Company",
    "title": "Job title",
    "country": "Country",
    "state": "State",
    "postal_code": "Postal code",
    "language": "Language",
    "product_line": "Product line",
    "value": "Value",
    "currency": "Currency",
    "fit_score": "Fit score",
    "account_tier": "Account tier",
    "intent": "Intent",
    "segment": "Segment",
    "attributes": "Attributes",
}

# Operator words, distinct from each other so a drop-down can offer them as they are.
OP_LABELS: Final[dict[Op, str]] = {
    Op.EQUALS: "is",
    Op.NOT_EQUALS: "is not",
    Op.IN: "is one of",
    Op.NOT_IN: "is none of",
    Op.CONTAINS: "contains",
    Op.STARTS_WITH: "starts with",
    Op.GT: "is more than",
    Op.GTE: "is at least",
    Op.LT: "is less than",
    Op.LTE: "is at most",
    Op.BETWEEN: "is between",
    Op.IS_EMPTY: "is empty",
    Op.IS_SET: "is filled in",
}

STRATEGY_LABELS: Final[dict[str, str]] = {
    Strategy.WEIGHTED_FAIR.value: "Weighted fair",
    Strategy.CAPACITY_BALANCED.value: "Capacity balanced",
    Strategy.BEST_MATCH.value: "Best match",
}

_ACRONYMS: Final = frozenset({"id", "sla", "url", "crm", "api", "utm", "us", "eu"})


def field_label(field: Any) -> str:
    """``"postal_code"`` -> "Postal code"; ``"attributes.vertical"`` -> "Vertical"; other text in words."""
    name = str(field or "")
    if name in FIELD_LABELS:
        return FIELD_LABELS[name]
    if name.startswith(ATTRIBUTES_PREFIX):
        name = name[len(ATTRIBUTES_PREFIX) :]
    words = [w.upper() if w.lower() in _ACRONYMS else w for w in name.replace("_", " ").replace(".", " ").split()]
    text = " ".join(words)
    return text[:1].upper() + text[1:] if text else "(no field)"


def field_in_sentence(field: Any) -> str:
    """A field as it reads inside a sentence: "attributes.city" -> "city", "SLA minutes" stays."""
    label = field_label(field)
    first = label.split(" ", 1)[0]
    return label if first.isupper() and len(first) > 1 else label[:1].lower() + label[1:]


def op_label(op: Any) -> str:
    """An operator code ("gte") in words ("is at least"); an unknown code as it is."""
    try:
        return OP_LABELS[Op(getattr(op, "value", op))]
    except ValueError:
        return str(op)


def value_text(value: Any) -> str:
    """One condition value as read: numbers with thousands separators, yes/no, lists joined with "or"."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, Decimal)) or isinstance(value, float):
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        if not number.is_finite():
            return str(value)
        text = f"{number:,f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, (list, tuple)):
        return join_or([value_text(v) for v in value])
    if isinstance(value, Mapping):
        return ", ".join(f"{field_label(k).lower()} {value_text(v)}" for k, v in value.items())
    return str(value)


def join_or(items: Iterable[str], word: str = "or") -> str:
    """["TX", "FL", "CA"] -> "TX, FL or CA"."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def condition_text(condition: Condition | Mapping[str, Any]) -> str:
    """One condition in words: "value is at least 50,000", "state is TX or FL", "vertical is insurance"."""
    if isinstance(condition, Mapping):
        field, op, value = condition.get("field"), condition.get("op"), condition.get("value")
    else:
        field, op, value = condition.field, condition.op, condition.value
    subject = field_in_sentence(field)
    try:
        parsed = Op(getattr(op, "value", op))
    except ValueError:
        return f"{subject} {op} {value_text(value)}"
    if parsed in (Op.IS_EMPTY, Op.IS_SET):
        return f"{subject} {OP_LABELS[parsed]}"
    if parsed is Op.IN and isinstance(value, (list, tuple)):
        return f"{subject} is {value_text(value)}" if len(value) > 1 else f"{subject} is {value_text(list(value))}"
    if parsed is Op.NOT_IN and isinstance(value, (list, tuple)):
        values = [value_text(v) for v in value]
        if len(values) == 2:
            return f"{subject} is neither {values[0]} nor {values[1]}"
        return f"{subject} is not {join_or(values)}" if len(values) < 2 else f"{subject} is none of {', '.join(values)}"
    if parsed is Op.BETWEEN and isinstance(value, (list, tuple)) and len(value) == 2:
        return f"{subject} is between {value_text(value[0])} and {value_text(value[1])}"
    return f"{subject} {OP_LABELS[parsed]} {value_text(value)}"


def conditions_text(conditions: Iterable[Condition | Mapping[str, Any]] | None, *, empty: str = "every lead") -> str:
    """All of a rule's or segment's conditions: "vertical is insurance and value is at least 50,000"."""
    parts = [condition_text(c) for c in conditions or ()]
    return " and ".join(parts) if parts else empty
