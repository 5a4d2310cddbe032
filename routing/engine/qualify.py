"""Qualification (lead -> segment) and rule selection (lead fields -> rule)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from routing.engine.conditions import (
    condition_warning, conditions_match, first_failing_condition, resolve_field, to_decimal,
)  # fmt: skip
from routing.engine.types import Condition, ConfigSnapshot, DecisionWarning, LeadFacts, RuleSpec, SegmentSpec


def qualify(lead: LeadFacts, config: ConfigSnapshot) -> SegmentSpec | None:
    """First non-default segment (by ``order``, then id) whose conditions all match.

    Falls back to the default segment (the first by order if several are flagged), else None.
    A default segment's own conditions are ignored: it is the catch-all.
    """
    segments = sorted(config.segments, key=lambda segment: (segment.order, segment.id))
    for segment in segments:
        if not segment.is_default and conditions_match(segment.conditions, lead.fields):
            return segment
    return next((segment for segment in segments if segment.is_default), None)


def routing_fields(lead: LeadFacts, segment: SegmentSpec | None) -> dict[str, Any]:
    """The lead's fields as rules see them: ``segment`` is the qualified slug (or None)."""
    fields = dict(lead.fields)
    fields["segment"] = segment.slug if segment is not None else None
    return fields


def select_rule(lead_fields: Mapping[str, Any], config: ConfigSnapshot) -> RuleSpec | None:
    """First enabled rule, by (priority, id), whose conditions all match."""
    for rule in sorted(config.rules, key=lambda rule: (rule.priority, rule.id)):
        if rule.enabled and conditions_match(rule.conditions, lead_fields):
            return rule
    return None


def is_high_value(lead_fields: Mapping[str, Any], rule: RuleSpec) -> bool:
    """The rule has a value threshold and the lead's value reaches it."""
    if rule.value_threshold is None:
        return False
    value, threshold = to_decimal(lead_fields.get("value")), to_decimal(rule.value_threshold)
    return value is not None and threshold is not None and value >= threshold


@dataclass(frozen=True)
class Classification:
    """What qualification tells about a lead before any rep is considered."""

    segment: SegmentSpec | None
    fields: Mapping[str, Any]  # routing fields: the lead's fields plus ``segment`` (slug or None)
    rule: RuleSpec | None  # the first matching rule, None => holding
    high_value: bool


def classify(lead: LeadFacts, config: ConfigSnapshot, *,
             candidates: Callable[[Mapping[str, Any]], ConfigSnapshot] | None = None) -> Classification:  # fmt: skip
    """Segment, routing fields, rule and high-value flag of ``lead`` under ``config``.

    The one place these are worked out: intake (to order the queue) and routing (to decide) both
    call it, so a ``not_equals`` condition on ``segment`` reads the same value in both.
    ``candidates``: given the routing fields, ``config`` narrowed to the rules that could match
    them (``routing.snapshots.RuleIndex.narrow``); the rule is picked among those only.
    """
    segment = qualify(lead, config)
    fields = routing_fields(lead, segment)
    rule = select_rule(fields, candidates(fields) if candidates is not None else config)
    return Classification(segment=segment, fields=fields, rule=rule,
                          high_value=bool(rule is not None and is_high_value(fields, rule)))


def decision_warnings(
    lead: LeadFacts,
    config: ConfigSnapshot,
    *,
    segment: SegmentSpec | None,
    fields: Mapping[str, Any],
    rule: RuleSpec | None,
) -> tuple[DecisionWarning, ...]:
    """The lead's fetch warnings plus one warning per (kind, field) for every segment and rule
    tried before the chosen one that failed because the lead lacks the field or holds it with
    the wrong type (see ``conditions.condition_warning``). Sources list the segments and rules
    affected, in evaluation order. ``fields`` are the routing fields (with ``segment``)."""
    found: dict[tuple[str, str], DecisionWarning] = {}
    order: list[tuple[str, str]] = []

    def note(warning: DecisionWarning | None, source: str) -> None:
        if warning is None:
            return
        key = (warning.kind, warning.field)
        if key in found:
            previous = found[key]
            if source not in previous.sources:
                found[key] = DecisionWarning(previous.kind, previous.field, previous.message, (*previous.sources, source))
            return
        found[key] = DecisionWarning(warning.kind, warning.field, warning.message, (source,) if source else ())
        order.append(key)

    for warning in lead.warnings:
        note(warning, "")
    for candidate in sorted(config.segments, key=lambda s: (s.order, s.id)):
        if candidate.is_default:
            continue
        if segment is not None and candidate.id == segment.id:
            break
        failing = first_failing_condition(candidate.conditions, lead.fields)
        if failing is not None:
            note(condition_warning(failing, lead.fields), f"segment:{candidate.slug}")
    for candidate_rule in sorted(config.rules, key=lambda r: (r.priority, r.id)):
        if rule is not None and candidate_rule.id == rule.id:
            break
        if not candidate_rule.enabled:
            continue
        failing = first_failing_condition(candidate_rule.conditions, fields)
        if failing is not None:
            note(condition_warning(failing, fields), f"rule:{candidate_rule.name}")
    return tuple(found[key] for key in order)


class CheckOutcome:
    """What happened to one rule when a lead was matched against the rules, in evaluation order."""

    MATCHED = "matched"  # the first enabled rule whose conditions all hold: it routed the lead
    FAILED = "failed"  # enabled, checked, and ``failing`` did not hold
    DISABLED = "disabled"  # switched off: never checked
    NOT_REACHED = "not_reached"  # after the matching rule: never checked


@dataclass(frozen=True)
class RuleCheck:
    """One rule as the lead met it: ``failing`` is the first condition that did not hold and
    ``actual`` the lead's value of that condition's field (None when the lead has none)."""

    rule: RuleSpec
    outcome: str
    failing: Condition | None = None
    actual: Any = None


def rule_checks(lead_fields: Mapping[str, Any], config: ConfigSnapshot) -> tuple[RuleCheck, ...]:
    """Every rule of ``config`` in evaluation order ((priority, id), as ``select_rule``) with what
    happened to it for a lead whose routing fields (``routing_fields``: with ``segment``) are
    ``lead_fields``. The first MATCHED (if any) is exactly the rule ``select_rule`` returns."""
    found: list[RuleCheck] = []
    matched = False
    for rule in sorted(config.rules, key=lambda rule: (rule.priority, rule.id)):
        if matched:
            found.append(RuleCheck(rule, CheckOutcome.NOT_REACHED))
        elif not rule.enabled:
            found.append(RuleCheck(rule, CheckOutcome.DISABLED))
        else:
            failing = first_failing_condition(rule.conditions, lead_fields)
            if failing is None:
                matched = True
                found.append(RuleCheck(rule, CheckOutcome.MATCHED))
            else:
                found.append(RuleCheck(rule, CheckOutcome.FAILED, failing, resolve_field(failing.field, lead_fields)))
    return tuple(found)
