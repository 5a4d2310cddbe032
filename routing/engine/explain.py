"""Human and JSON renderings of a routing ``Decision``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any, Final

from routing.engine.accounts import STICKY_WORDS, match_words
from routing.engine.words import STRATEGY_LABELS
from routing.engine.types import (
    AccountMatch,
    CandidateResult,
    Condition,
    Criterion,
    Decision,
    DecisionWarning,
    FallbackStep,
    PoolSnapshot,
    Reason,
    RepSnapshot,
    Requirements,
    RuleSpec,
    SegmentSpec,
    SkillRequirement,
    StepKind,
    StepResult,
    StickyHint,
    Strategy,
)

REASON_LABELS: Final[dict[Reason, str]] = {
    Reason.INACTIVE: "inactive",
    Reason.ABSENT: "absent",
    Reason.NO_LICENCE: "no valid licence",
    Reason.AT_OPEN_CAP: "at open-lead cap",
    Reason.AT_DAILY_CAP: "at daily cap",
    Reason.AT_WEEKLY_CAP: "at weekly cap",
    Reason.ALREADY_DECLINED: "already declined this lead",
    Reason.EXPIRES_OFF_DUTY: "offer would expire before their next working minute",
    Reason.OUTSIDE_WORKING_HOURS: "outside working hours",
    Reason.PUBLIC_HOLIDAY: "public holiday",
    Reason.MISSING_SKILL: "missing a required skill",
    Reason.SKILL_LEVEL_TOO_LOW: "skill level too low",
    Reason.LANGUAGE: "does not speak the lead's language",
    Reason.OUTSIDE_TERRITORY: "outside territory",
    Reason.TIER_TOO_LOW: "tier too low",
}

CRITERION_LABELS: Final[dict[Criterion, str]] = {
    Criterion.LANGUAGE: "language",
    Criterion.TERRITORY: "territory",
    Criterion.SKILL_LEVEL: "skill level",
    Criterion.SKILLS: "skills",
    Criterion.TIER: "tier",
    Criterion.WORKING_HOURS: "working hours",
}

_REASON_ORDER: Final = {reason: index for index, reason in enumerate(Reason)}


def _pool_label(pools: Mapping[int, PoolSnapshot], pool_id: int | None) -> str:
    if pool_id is None:
        return "no pool"
    pool = pools.get(pool_id)
    return f"pool '{pool.name}'" if pool is not None else f"pool #{pool_id}"


def _reason_tally(candidates: Sequence[CandidateResult]) -> str:
    counts = Counter(reason for candidate in candidates for reason in candidate.reasons)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], _REASON_ORDER[item[0]]))
    return ", ".join(f"{REASON_LABELS[reason]}: {count}" for reason, count in ordered)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _role(kind: StepKind) -> str:
    return "pool manager" if kind is StepKind.MANAGER else "backup rep"


def _failure(step: StepResult, pools: Mapping[int, PoolSnapshot]) -> str:
    """Why the primary step (the rule's own pool, already named in the sentence) found nobody."""
    if step.pool_id is None or step.pool_id not in pools:
        return "pool not found"
    if not step.candidates:
        return "pool has no members"
    count = _plural(len(step.candidates), "rep")
    return f"nobody eligible ({count}; {_reason_tally(step.candidates)})"


def _score_detail(
    strategy: Strategy, candidate: CandidateResult, reps: Mapping[int, RepSnapshot]
) -> str:
    code = str(strategy.value if isinstance(strategy, Strategy) else strategy)
    label = STRATEGY_LABELS.get(code, code).lower()
    score = candidate.score if candidate.score is not None else 0.0
    if strategy == Strategy.CAPACITY_BALANCED:
        rep = reps.get(candidate.rep_id)
        if rep is not None and rep.max_open is not None:
            return f"{label}, load {rep.open_count}/{rep.max_open}"
        if rep is not None:
            return f"{label}, {rep.open_count} open, no cap"
        return f"{label}, load {score:.2f}"
    if strategy == Strategy.BEST_MATCH:
        return f"{label}, match score {score:g}"
    return f"{label}, owed {float(score):.2f} leads"


def _offer(step: StepResult, rule: RuleSpec, reps: Mapping[int, RepSnapshot]) -> str:
    candidate = next(c for c in step.candidates if c.rep_id == step.chosen_rep_id)
    if step.kind in (StepKind.BACKUP, StepKind.MANAGER):
        return f"offered to {_role(step.kind)} {candidate.name}"
    skipped = sum(1 for c in step.candidates if not c.eligible)
    detail = _score_detail(rule.strategy, candidate, reps)
    return (
        f"offered to {candidate.name} ({detail}); "
        f"{skipped} of {_plural(len(step.candidates), 'rep')} skipped"
    )


def _fallback_offer(
    step: StepResult,
    rule: RuleSpec,
    pools: Mapping[int, PoolSnapshot],
    reps: Mapping[int, RepSnapshot],
) -> str:
    if step.kind is StepKind.RELAX:
        relaxed = ", ".join(CRITERION_LABELS.get(c, str(c)) for c in step.relaxed)
        return f"after relaxing {relaxed}, {_offer(step, rule, reps)}"
    if step.kind is StepKind.POOL:
        return f"fell back to {_pool_label(pools, step.pool_id)}: {_offer(step, rule, reps)}"
    return _offer(step, rule, reps)


def _direct(step: StepResult, account: AccountMatch | None, sticky: StickyHint | None) -> str:
    """A sticky or account-owner step in words: who was offered it, or why they could not take it."""
    if step.kind is StepKind.STICKY:
        basis = STICKY_WORDS.get(sticky.basis, "an earlier lead") if sticky is not None else "an earlier lead"
        role, whose = "the rep holding", f" ({basis} #{sticky.lead_id})" if sticky is not None else ""
    else:
        role, whose = "account owner", f" of {account.account.name}" if account is not None else ""
    if not step.candidates:
        if step.kind is StepKind.ACCOUNT_OWNER and account is None:
            return "no account matched, so no account owner to try"
        return f"{account.account.name if account else 'the account'} has no owner"
    candidate = step.candidates[0]
    if candidate.eligible:
        return f"offered to {role} {candidate.name}{whose}"
    reasons = ", ".join(REASON_LABELS.get(r, str(r)) for r in candidate.reasons)
    return f"{role} {candidate.name}{whose} cannot take it ({reasons}), so it went down the chain"


def summarize(
    *,
    segment: SegmentSpec | None,
    rule: RuleSpec | None,
    steps: Sequence[StepResult],
    pools: Mapping[int, PoolSnapshot],
    reps: Mapping[int, RepSnapshot],
    escalation_skipped_pool: bool = False,
    account: AccountMatch | None = None,
    sticky: StickyHint | None = None,
) -> str:
    """One sentence saying why the decision came out as it did (after the account match, if
    any: "Matched Acme Corp by the email domain acme.com.")."""
    lead_in = ""
    if account is not None:
        words = match_words(account)
        lead_in = f"{words[0].upper()}{words[1:]}. "
    if rule is None:
        where = f" (segment '{segment.name}')" if segment is not None else ""
        return f"{lead_in}No rule matched the lead{where}; parked in holding."

    head = f"{lead_in}Rule '{rule.name}' → {_pool_label(pools, rule.pool_id)}"
    if escalation_skipped_pool:
        head += " (escalation: pool not retried)"
    direct = []
    for step in steps:
        if step.kind not in (StepKind.STICKY, StepKind.ACCOUNT_OWNER):
            break
        direct.append(step)
    if direct and direct[-1].chosen_rep_id is not None:
        return f"{head}: {_direct(direct[-1], account, sticky)}."
    parts: list[str] = [_direct(step, account, sticky) for step in direct]
    steps = steps[len(direct):]
    if not steps:
        parts.append("no fallback step to take; parked in holding")
        return f"{head}: {'; '.join(parts)}."

    last = steps[-1]
    if last.chosen_rep_id is not None and len(steps) == 1 and last.kind is StepKind.PRIMARY:
        parts.append(_offer(last, rule, reps))
        return f"{head}: {'; '.join(parts)}."

    if steps[0].kind is StepKind.PRIMARY:
        parts.append(_failure(steps[0], pools))
    if last.chosen_rep_id is not None:
        parts.append(_fallback_offer(last, rule, pools, reps))
    else:
        tried = len([s for s in steps if s.kind not in (StepKind.PRIMARY, StepKind.HOLDING)])
        if last.kind is StepKind.HOLDING:
            if tried:
                parts.append(f"{_plural(tried, 'fallback step')} found nobody")
        elif tried:
            parts.append(f"fallback chain exhausted after {_plural(tried, 'step')}")
        else:
            parts.append("no fallback configured")
        parts.append("parked in holding")
    return f"{head}: {'; '.join(parts)}."


def to_jsonable(value: Any) -> Any:
    """Plain JSON data: enums as values, Decimals as strings, datetimes as ISO 8601,
    dataclasses as dicts, mapping keys as strings, tuples and sets as lists."""
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: to_jsonable(getattr(value, field.name))
            for field in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        return {_key(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, (set, frozenset)):
        items = [to_jsonable(item) for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return str(value)


def _key(key: Any) -> str:
    if isinstance(key, Enum):
        return str(key.value)
    return str(key)


def decision_to_dict(decision: Decision) -> dict[str, Any]:
    """The decision as JSON-ready data for the audit record and the API.

    Keys are the ``Decision`` field names; ``fairness_updates`` keys (pool and rep ids) become
    strings, as any JSON round trip would make them.
    """
    # Built field by field: the generic ``to_jsonable`` walk cost ~0.45 ms per decision
    # (~225 calls for a 20-member pool). The output is identical to ``to_jsonable(decision)``
    # (tests/routing/engine/test_explain_dict.py); any value of an unexpected type is handed to
    # ``to_jsonable``, so only the common shapes take the fast path.
    if type(decision) is not Decision:
        return to_jsonable(decision)  # type: ignore[no-any-return]
    d = decision
    return {
        "lead_id": _plain(d.lead_id),
        "config_version": _plain(d.config_version),
        "segment": _segment(d.segment),
        "rule": _rule(d.rule),
        "high_value": _plain(d.high_value),
        "steps": [_step(s) for s in d.steps] if type(d.steps) in _SEQUENCES else to_jsonable(d.steps),
        "outcome": _enum(d.outcome),
        "chosen_rep_id": _plain(d.chosen_rep_id),
        "chosen_step": _enum(d.chosen_step),
        "fairness_updates": _fairness(d.fairness_updates),
        "summary": _plain(d.summary),
        "warnings": _warnings(d.warnings),
        "account": to_jsonable(d.account),
        "sticky": to_jsonable(d.sticky),
    }


_PLAIN: Final = frozenset({int, str, bool, type(None)})
_SEQUENCES: Final = frozenset({tuple, list})


def _plain(value: Any) -> Any:
    return value if type(value) in _PLAIN else to_jsonable(value)


def _number(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN or (kind is float and math.isfinite(value)):
        return value
    return to_jsonable(value)


def _enum(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else to_jsonable(value)


def _enums(values: Any) -> Any:
    if type(values) not in _SEQUENCES:
        return to_jsonable(values)
    return [v.value if isinstance(v, Enum) else to_jsonable(v) for v in values]


def _conditions(conditions: Any) -> Any:
    if type(conditions) not in _SEQUENCES:
        return to_jsonable(conditions)
    return [
        {"field": _plain(c.field), "op": _enum(c.op), "value": to_jsonable(c.value)}
        if type(c) is Condition else to_jsonable(c)
        for c in conditions
    ]  # fmt: skip


def _segment(segment: Any) -> Any:
    if type(segment) is not SegmentSpec:
        return to_jsonable(segment)
    return {
        "id": _plain(segment.id), "slug": _plain(segment.slug), "name": _plain(segment.name),
        "sla_minutes": _number(segment.sla_minutes), "accept_fraction": _number(segment.accept_fraction),
        "priority": _plain(segment.priority), "order": _plain(segment.order),
        "conditions": _conditions(segment.conditions), "is_default": _plain(segment.is_default),
        "sla_clock": _plain(segment.sla_clock), "calendar_id": _plain(segment.calendar_id),
        "mode": _plain(segment.mode),
    }  # fmt: skip


_REQUIREMENT_FLAGS: Final = tuple(f.name for f in dataclasses.fields(Requirements) if f.name != "skills")


def _rule(rule: Any) -> Any:
    if type(rule) is not RuleSpec:
        return to_jsonable(rule)
    req = rule.requirements
    if type(req) is Requirements and type(req.skills) in _SEQUENCES:
        requirements = {
            "skills": [
                {"skill": _plain(s.skill), "min_level": _plain(s.min_level)} if type(s) is SkillRequirement
                else to_jsonable(s)
                for s in req.skills
            ],
            # every other requirement as it is: a new one needs no line here
            **{name: _plain(getattr(req, name)) for name in _REQUIREMENT_FLAGS},
        }  # fmt: skip
    else:
        requirements = to_jsonable(req)
    if type(rule.fallback) in _SEQUENCES:
        fallback = [
            {"kind": _enum(f.kind), "target_id": _plain(f.target_id), "respect_caps": _plain(f.respect_caps)}
            if type(f) is FallbackStep else to_jsonable(f)
            for f in rule.fallback
        ]  # fmt: skip
    else:
        fallback = to_jsonable(rule.fallback)
    return {
        "id": _plain(rule.id), "history_id": _plain(rule.history_id), "name": _plain(rule.name),
        "priority": _plain(rule.priority), "enabled": _plain(rule.enabled), "conditions": _conditions(rule.conditions),
        "pool_id": _plain(rule.pool_id), "strategy": _enum(rule.strategy), "requirements": requirements,
        "value_threshold": to_jsonable(rule.value_threshold), "high_value_min_tier": _plain(rule.high_value_min_tier),
        "fallback": fallback, "relaxation": _enums(rule.relaxation),
        "reroute_on_escalation": _plain(rule.reroute_on_escalation),
    }  # fmt: skip


def _step(step: Any) -> Any:
    if type(step) is not StepResult:
        return to_jsonable(step)
    candidates = step.candidates
    if type(candidates) in _SEQUENCES:
        rendered = []
        for c in candidates:
            if type(c) is not CandidateResult:
                rendered.append(to_jsonable(c))
                continue
            rendered.append({
                "rep_id": _plain(c.rep_id), "name": _plain(c.name), "eligible": _plain(c.eligible),
                "reasons": _enums(c.reasons), "weight": _number(c.weight), "score": _number(c.score),
            })  # fmt: skip
    else:
        rendered = to_jsonable(candidates)
    return {
        "kind": _enum(step.kind), "pool_id": _plain(step.pool_id), "relaxed": _enums(step.relaxed),
        "candidates": rendered, "chosen_rep_id": _plain(step.chosen_rep_id),
    }  # fmt: skip


def _warnings(warnings: Any) -> Any:
    if type(warnings) not in _SEQUENCES:
        return to_jsonable(warnings)
    return [
        {"kind": _plain(w.kind), "field": _plain(w.field), "message": _plain(w.message), "sources": _enums(w.sources)}
        if type(w) is DecisionWarning else to_jsonable(w)
        for w in warnings
    ]  # fmt: skip


def _fairness(updates: Any) -> Any:
    if type(updates) is not dict:
        return to_jsonable(updates)
    out = {}
    for pool_id, credits in updates.items():
        if type(credits) is not dict:
            out[_key(pool_id)] = to_jsonable(credits)
            continue
        out[_key(pool_id)] = {_key(rep_id): _number(credit) for rep_id, credit in credits.items()}
    return out
