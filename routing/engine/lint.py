"""Rules that can never match, found without a lead: shown in the ops console's rule list.

Two kinds, both certain (never a guess):

- **Shadowed**: an enabled rule above it matches every lead this one matches, because the upper
  rule's conditions are a subset of this one's (a catch-all, with no conditions, is the usual
  case). Rules are evaluated by ``(priority, id)`` and the first match wins.
- **Contradictory**: its own conditions cannot all hold for one lead (``country equals US`` and
  ``country equals CA``; ``value gt 100`` and ``value lt 50``; ``is_empty`` with any test that
  needs a value; ``in`` lists with nothing in common).

Equality follows the engine's own comparison (``conditions.values_equal``), so the lint and
routing agree on what "the same value" means.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from routing.engine.conditions import to_decimal, values_equal
from routing.engine.types import Condition, Op, RuleSpec
from routing.engine.words import condition_text, field_in_sentence

_VALUE_OPS = frozenset({Op.IS_SET, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN, Op.CONTAINS, Op.STARTS_WITH})


def _needs_value(cond: Condition) -> bool:
    """The condition fails on an empty field ("", [], missing): it cannot hold with ``is_empty``."""
    if cond.op in _VALUE_OPS:
        return True
    if cond.op == Op.EQUALS:
        return cond.value not in ("", None) and cond.value != []
    if cond.op == Op.IN and isinstance(cond.value, (list, tuple)):
        return all(v not in ("", None) for v in cond.value)
    return False


def _key(cond: Condition) -> tuple[str, str, str]:
    return (cond.field, str(getattr(cond.op, "value", cond.op)), repr(cond.value))


def _covers(upper: RuleSpec, lower: RuleSpec) -> bool:
    """Every condition of ``upper`` is also a condition of ``lower`` (same field, operator, value)."""
    mine = {_key(c) for c in lower.conditions}
    return all(_key(c) in mine for c in upper.conditions)


def _allowed(cond: Condition) -> list[Any] | None:
    """The values an ``equals``/``in`` condition admits, or None when it is not one."""
    if cond.op == Op.EQUALS:
        return [cond.value]
    if cond.op == Op.IN and isinstance(cond.value, (list, tuple)):
        return list(cond.value)
    return None


def _bounds(cond: Condition) -> list[tuple[str, Decimal]]:
    """Numeric bounds of a condition: ("gt", 5), ("lte", 9) ..."""
    if cond.op in (Op.GT, Op.GTE, Op.LT, Op.LTE):
        number = to_decimal(cond.value)
        return [(cond.op.value, number)] if number is not None else []
    if cond.op == Op.BETWEEN and isinstance(cond.value, (list, tuple)) and len(cond.value) == 2:
        low, high = to_decimal(cond.value[0]), to_decimal(cond.value[1])
        return [("gte", low), ("lte", high)] if low is not None and high is not None else []
    return []


def _empty_range(bounds: list[tuple[str, Decimal]]) -> bool:
    lows = [(n, op == "gt") for op, n in bounds if op in ("gt", "gte")]
    highs = [(n, op == "lt") for op, n in bounds if op in ("lt", "lte")]
    if not lows or not highs:
        return False
    low, low_strict = max(lows, key=lambda b: (b[0], b[1]))
    high, high_strict = min(highs, key=lambda b: (b[0], not b[1]))
    return low > high or (low == high and (low_strict or high_strict))


def contradiction(conditions: Sequence[Condition]) -> str | None:
    """Why ``conditions`` can never all hold, or None when some lead could satisfy them."""
    by_field: dict[str, list[Condition]] = defaultdict(list)
    for cond in conditions:
        by_field[cond.field].append(cond)
    for field, conds in by_field.items():
        name = field_in_sentence(field)
        if any(c.op == Op.IS_EMPTY for c in conds) and any(_needs_value(c) for c in conds):
            return f"{name} must be empty and also hold a value"
        allowed: list[Any] | None = None
        for cond in conds:
            values = _allowed(cond)
            if values is None:
                continue
            allowed = values if allowed is None else [v for v in allowed if any(values_equal(v, w) for w in values)]
            if not allowed:
                return f"no {name} satisfies both '{condition_text(cond)}' and the conditions before it"
        if allowed is not None:
            excluded = [c.value for c in conds if c.op == Op.NOT_EQUALS]
            excluded += [v for c in conds if c.op == Op.NOT_IN and isinstance(c.value, (list, tuple)) for v in c.value]
            if all(any(values_equal(v, x) for x in excluded) for v in allowed):
                return f"every value {name} may take is also excluded"
            numbers = [to_decimal(v) for v in allowed]
            bounds = [b for c in conds for b in _bounds(c)]
            if bounds and all(n is not None for n in numbers):
                if all(_empty_range(bounds + [("gte", n), ("lte", n)]) for n in numbers):  # type: ignore[list-item]
                    return f"the values {name} must equal are outside its range"
        if _empty_range([b for c in conds for b in _bounds(c)]):
            return f"no {name} is inside the range the conditions allow"
    return None


def never_matching(rules: Sequence[RuleSpec]) -> dict[int, str]:
    """``{rule id: why it can never match}`` for the enabled rules that cannot, in evaluation order."""
    ordered = sorted((r for r in rules if r.enabled), key=lambda r: (r.priority, r.id))
    found: dict[int, str] = {}
    for index, rule in enumerate(ordered):
        why = contradiction(rule.conditions)
        if why is not None:
            found[rule.id] = f"its conditions contradict each other: {why}"
            continue
        for upper in ordered[:index]:
            if upper.id in found:
                continue
            if _covers(upper, rule):
                if upper.conditions:
                    found[rule.id] = f"'{upper.name}' above it matches every lead it matches"
                else:
                    found[rule.id] = f"below the catch-all '{upper.name}', which matches every lead"
                break
    return found
