"""LeadOps routing engine: pure functions over the frozen dataclasses in ``types``.

No ORM, settings, clock or I/O: callers fetch snapshots, pass ``now`` and persist the
``Decision`` (and its ``fairness_updates``) that comes back.
"""

from __future__ import annotations

from routing.engine.conditions import (
    LEAD_FIELDS,
    conditions_match,
    evaluate_condition,
    validate_condition,
)
from routing.engine.eligibility import HARD_REASONS, check_rep
from routing.engine.explain import CRITERION_LABELS, REASON_LABELS, decision_to_dict
from routing.engine.qualify import Classification, classify, is_high_value, qualify, routing_fields, select_rule
from routing.engine.route import route
from routing.engine.strategies import Pick, pick_rep

__all__ = [
    "CRITERION_LABELS",
    "Classification",
    "HARD_REASONS",
    "LEAD_FIELDS",
    "REASON_LABELS",
    "Pick",
    "check_rep",
    "classify",
    "conditions_match",
    "decision_to_dict",
    "evaluate_condition",
    "is_high_value",
    "pick_rep",
    "qualify",
    "route",
    "routing_fields",
    "select_rule",
    "validate_condition",
]
