"""Words for the routing codes that pages show: step kinds, outcomes, decision kinds, strategies,
relaxed criteria, rule requirements, condition fields, operators and values, yes/no. Pure
functions over plain values, no ORM. This is the one module pages, forms and exports take words
from: nothing else defines a label for a routing code.

Reasons and criteria reuse the engine's own labels (routing.engine.explain), so a page and a
decision summary never describe the same thing differently. Unknown codes (an old decision
written by an older release) come back unchanged rather than failing the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from reps.models import Tier
from routing.engine.conditions import LEAD_FIELDS, to_decimal
from routing.engine.explain import CRITERION_LABELS, REASON_LABELS
from routing.engine.schema import requirement_words
from routing.engine.accounts import METHOD_WORDS
from routing.engine.types import Criterion, MatchMethod, Op, Outcome, StepKind, Strategy
from routing.engine.words import (
    FIELD_LABELS, OP_LABELS, STRATEGY_LABELS, condition_text, conditions_text, field_label, join_or, op_label, value_text,
)  # fmt: skip

__all__ = [
    "FIELD_LABELS", "OP_LABELS", "condition_text", "conditions_text", "field_label", "op_label", "value_text",
    "STEP_LABELS", "OUTCOME_LABELS", "DECISION_KIND_LABELS", "STRATEGY_LABELS", "FALLBACK_LABELS",
    "step_label", "outcome_label", "decision_kind_label", "strategy_label", "criterion_label", "criteria_text",
    "reason_label", "reasons_text", "tier_label", "requirements_text", "yes_no", "fallback_text", "op_choices",
    "criterion_choices", "fallback_choices", "history_type_label", "rule_check_rows", "RULE_CHECK_LABELS", "source_label", "tie_note", "score_meaning", "SCORE_MEANINGS",
    "CREDIT_MEANING", "TIE_BREAK",
]

STEP_LABELS: Final[dict[str, str]] = {
    StepKind.PRIMARY.value: "rule's pool",
    StepKind.RELAX.value: "relaxed criteria",
    StepKind.POOL.value: "fallback pool",
    StepKind.BACKUP.value: "backup rep",
    StepKind.MANAGER.value: "pool manager",
    StepKind.HOLDING.value: "holding pool",
    StepKind.ACCOUNT_OWNER.value: "account owner",
    StepKind.STICKY.value: "rep holding the earlier lead",
}

OUTCOME_LABELS: Final[dict[str, str]] = {
    Outcome.OFFER.value: "offered",
    Outcome.HOLDING.value: "held in the holding pool",
    "linked": "linked to an open lead (duplicate)",
}

# How a lead was matched to its account (routing.matching), as pages say it.
MATCH_METHOD_LABELS: Final[dict[str, str]] = {
    method.value: words for method, words in METHOD_WORDS.items()
}


def account_match_text(match: Mapping[str, Any] | None) -> str:
    """A stored match (``decision_to_dict(...)["account"]``) in words: ``matched Acme Corp by the
    email domain acme.com``; ``""`` without one."""
    if not isinstance(match, Mapping) or not isinstance(match.get("account"), Mapping):
        return ""
    method = _code(match.get("method"))
    words = f"matched {match['account'].get('name', '?')} by {MATCH_METHOD_LABELS.get(method, method)} {match.get('evidence', '')}"
    if method == MatchMethod.FUZZY_NAME.value and isinstance(match.get("score"), (int, float)):
        words += f" ({match['score']:.0f}% similar)"
    return words


DECISION_KIND_LABELS: Final[dict[str, str]] = {
    "route": "Routing",
    "escalation": "Escalation",
    "retry": "Holding-pool retry",
    "manual": "Manual",
}


# The fallback step kinds as the rule editor offers them (a chain reads "Another pool → Holding pool").
FALLBACK_LABELS: Final[dict[str, str]] = {
    StepKind.ACCOUNT_OWNER.value: "Account owner first",
    StepKind.RELAX.value: "Relax criteria",
    StepKind.POOL.value: "Another pool",
    StepKind.BACKUP.value: "Backup rep",
    StepKind.MANAGER.value: "Pool manager",
    StepKind.HOLDING.value: "Holding pool",
}

# simple-history's record types, and a restore (a change whose reason starts "Restored").
HISTORY_TYPE_LABELS: Final[dict[str, str]] = {"+": "created", "~": "changed", "-": "deleted"}

_CRITERIA: Final[dict[str, str]] = {str(c.value): label for c, label in CRITERION_LABELS.items()}
_REASONS: Final[dict[str, str]] = {str(r.value): label for r, label in REASON_LABELS.items()}


def _code(value: Any) -> str:
    return str(getattr(value, "value", value))


def step_label(kind: Any) -> str:
    return STEP_LABELS.get(_code(kind), _code(kind))


def outcome_label(outcome: Any) -> str:
    return OUTCOME_LABELS.get(_code(outcome), _code(outcome))


def decision_kind_label(kind: Any) -> str:
    return DECISION_KIND_LABELS.get(_code(kind), _code(kind))


def strategy_label(strategy: Any) -> str:
    return STRATEGY_LABELS.get(_code(strategy), _code(strategy))


def criterion_label(criterion: Any) -> str:
    return _CRITERIA.get(_code(criterion), _code(criterion))


def criteria_text(criteria: Iterable[Any] | str | None) -> str:
    """["skill_level", "working_hours"] -> "skill level, working hours"."""
    if not criteria:
        return ""
    if isinstance(criteria, str):
        criteria = [c.strip() for c in criteria.split(",") if c.strip()]
    return ", ".join(criterion_label(c) for c in criteria)


def reason_label(reason: Any) -> str:
    return _REASONS.get(_code(reason), _code(reason))


# Why other reps could not take a lead, as a phrase after a count of reps ("3 away or absent",
# "2 at their daily cap", "2 lack the German language"): the rep-facing "why it came to you".
# {language} is the lead's language in words. Every engine Reason has a phrase
# (tests/routing/test_labels.py).
REASON_GROUP_LABELS: Final[dict[str, str]] = {
    "inactive": "inactive",
    "absent": "away or absent",
    "no_licence": "without a valid licence for it",
    "at_open_cap": "at their open-lead cap",
    "at_daily_cap": "at their daily cap",
    "at_weekly_cap": "at their weekly cap",
    "already_declined": "already passed on it",
    "expires_off_duty": "off duty until after its deadline",
    "outside_working_hours": "outside their working hours",
    "public_holiday": "on a public holiday",
    "missing_skill": "without a required skill",
    "skill_level_too_low": "below the required skill level",
    "language": "lacking the {language} language",
    "outside_territory": "outside their territory",
    "tier_too_low": "below the required tier",
}


def reason_group_text(reason: Any, count: int, *, language: str = "") -> str:
    """``count`` reps skipped for ``reason``, in words: ("at_daily_cap", 2) -> "2 at their daily cap".

    ``language`` is the lead's language in words ("German"); without it the phrase says "the
    lead's language". Unknown codes fall back to the engine's label.
    """
    phrase = REASON_GROUP_LABELS.get(_code(reason))
    if phrase is None:
        return f"{count} {reason_label(reason)}"
    return f"{count} " + phrase.format(language=language or "lead's")


def tier_label(value: Any) -> str:
    if value is None or value == "":
        return "—"
    try:
        return Tier(int(value)).label
    except (TypeError, ValueError):
        return str(value)


def requirements_text(requirements: Mapping[str, Any] | None) -> str:
    """A rule's requirements JSON in words, e.g. "Skills: product:auto ≥ 2; licence required; language".

    Words and order come from the engine schema (``schema.Requirements``: each field's ``words``),
    so a new requirement reads right without touching this function. Anything the schema does
    not know is shown as key=value so a history diff never hides a change.
    """
    if not requirements:
        return "none"
    if not isinstance(requirements, Mapping):
        return str(requirements)
    parts: list[str] = []
    skills = requirements.get("skills") or []
    if skills:
        items = []
        for skill in skills:
            if isinstance(skill, Mapping):
                level = int(skill.get("min_level") or 1)
                items.append(f"{skill.get('skill')}" + (f" ≥ {level}" if level > 1 else ""))
            else:
                items.append(str(skill))
        parts.append("Skills: " + ", ".join(items))
    words = requirement_words()
    for name, phrase in words.items():
        value = requirements.get(name)
        if value:
            parts.append(phrase.format(label=tier_label(value)) if "{label}" in phrase else phrase)
    known = {"skills", *words}
    parts += [f"{key}={value}" for key, value in sorted(requirements.items()) if key not in known and value]
    return "; ".join(parts) or "none"


def reasons_text(reasons: Iterable[Any] | None) -> list[str]:
    """A candidate's skip reason codes in words, in order."""
    return [reason_label(r) for r in reasons or ()]


def yes_no(value: Any) -> str:
    """True/False (or "true"/"false") as "yes"/"no"; anything else unchanged."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value in ("true", "True"):
        return "yes"
    if value in ("false", "False"):
        return "no"
    return "" if value is None else str(value)


def fallback_text(steps: Iterable[Mapping[str, Any]] | None, *, pools: Mapping[int, str] | None = None,
                  reps: Mapping[int, str] | None = None) -> str:
    """A fallback chain in words: "Another pool (General) → Holding pool"."""
    parts = []
    for step in steps or ():
        kind, target = _code(step.get("kind")), step.get("target_id")
        label = FALLBACK_LABELS.get(kind, kind)
        if kind == StepKind.POOL.value and target is not None:
            label += f" ({(pools or {}).get(target, f'pool #{target}')})"
        elif kind == StepKind.BACKUP.value and target is not None:
            label += f" ({(reps or {}).get(target, f'rep #{target}')})"
        parts.append(label)
    return " → ".join(parts) or "none"


def history_type_label(history_type: Any, reason: Any = None) -> str:
    """A history record's kind in words; a change recorded by a restore reads "restored"."""
    if reason and str(reason).startswith("Restored"):
        return "restored"
    return HISTORY_TYPE_LABELS.get(str(history_type), str(history_type))


def op_choices() -> list[tuple[str, str]]:
    """Operators for a drop-down: (code, words)."""
    return [(op.value, OP_LABELS[op]) for op in Op]


def criterion_choices() -> list[tuple[str, str]]:
    """Relaxable criteria for a drop-down: (code, words)."""
    return [(c.value, criterion_label(c)) for c in Criterion]


def fallback_choices(kinds: Iterable[Any]) -> list[tuple[str, str]]:
    return [(_code(k), FALLBACK_LABELS.get(_code(k), _code(k))) for k in kinds]


RULE_CHECK_LABELS: Final[dict[str, str]] = {
    "matched": "matched",
    "failed": "did not match",
    "disabled": "switched off",
    "not_reached": "not checked",
}


def rule_check_rows(checks: Iterable[Any]) -> list[dict[str, Any]]:
    """``engine.qualify.rule_checks`` as rows a page shows: each rule in evaluation order, what
    happened to it in words and why ("needs value is at least 50,000; the lead's value is 9,000")."""
    rows = []
    for check in checks:
        rule, outcome = check.rule, check.outcome
        if outcome == "matched":
            why = "all its conditions hold" if rule.conditions else "it matches every lead"
        elif outcome == "failed" and check.failing is not None:
            field = field_label(check.failing.field)
            field = field if field.split(" ", 1)[0].isupper() and len(field) > 1 else field[:1].lower() + field[1:]
            actual = check.actual
            if isinstance(actual, str) and LEAD_FIELDS.get(check.failing.field) in ("decimal", "int"):
                actual = to_decimal(actual) if to_decimal(actual) is not None else actual  # stored as text
            has = not (actual is None or actual == "" or actual == [] or actual == {})
            why = (f"needs “{condition_text(check.failing)}”, but "
                   + (f"the lead's {field} is {value_text(actual)}" if has else f"the lead has no {field}"))
        elif outcome == "disabled":
            why = "the rule is switched off"
        else:
            why = "a rule above it took the lead"
        rows.append({"rule_id": rule.id, "name": rule.name, "priority": rule.priority, "outcome": outcome,
                     "outcome_label": RULE_CHECK_LABELS.get(outcome, outcome), "why": why})
    return rows


def source_label(source: Any) -> str:
    """A decision warning's source ("rule:Zurich desk", "segment:vip") in words."""
    kind, _, name = str(source).partition(":")
    return f"{kind} “{name}”" if name and kind in ("rule", "segment") else str(source)


# What a candidate's score is under each strategy (routing.engine.strategies), and how ties go.
SCORE_MEANINGS: Final[dict[str, str]] = {
    Strategy.WEIGHTED_FAIR.value: "leads the rep is owed in this pool (their credit, after adding their share of this "
                                  "lead); the rep owed most, for their weight, is picked",
    Strategy.CAPACITY_BALANCED.value: "open leads divided by the rep's cap (uncapped reps against the largest cap); "
                                      "the lightest load is picked",
    Strategy.BEST_MATCH.value: "the sum of the rep's levels in the skills the rule requires (and the lead's language "
                               "when the rule requires it); the highest is picked",
}
CREDIT_MEANING: Final = ("a rep's running balance of leads in a pool: every lead they could have taken adds their "
                         "share (their weight over the eligible reps' weights), every lead they get takes one away. "
                         "Positive means the pool owes them leads.")
TIE_BREAK: Final = ("the weighted-fair rotation decides: the rep whose turn comes first for their weight, "
                    "then, if still equal, the rep added to LeadOps first")


def score_meaning(strategy: Any) -> str:
    return SCORE_MEANINGS.get(_code(strategy), "")


def tie_note(strategy: Any, candidates: Iterable[Mapping[str, Any]], chosen_rep_id: Any) -> str:
    """"Tie: Ana and Ben both scored 3.000; …" when the chosen rep's score (as shown, three
    decimals) equals another eligible rep's, naming the tie-break; "" otherwise."""
    candidates = [c for c in candidates if c.get("eligible") and c.get("score") is not None]
    chosen = next((c for c in candidates if c.get("rep_id") == chosen_rep_id and chosen_rep_id is not None), None)
    if chosen is None:
        return ""
    shown = f"{float(chosen['score']):.3f}"
    tied = [c for c in candidates if c is not chosen and f"{float(c['score']):.3f}" == shown]
    if not tied:
        return ""
    names = [str(chosen.get("name"))] + [str(c.get("name")) for c in tied]
    both = "both" if len(names) == 2 else "all"
    return (f"Tie: {join_or(names, 'and')} {both} scored {shown}; {chosen.get('name')} was chosen because "
            f"{TIE_BREAK}.")
