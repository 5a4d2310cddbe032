""""Why it came to you": a routing decision told to the rep who got the offer, in plain words.

Pure functions over the decision's stored detail (``routing.engine.explain.decision_to_dict``),
no ORM. The words come from ``routing.labels``; the engine's one-line summary (written for
managers: "weighted fair, owed 0.79 leads; 7 of 14 reps skipped") stays on the decision pages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from routing import labels

# Why the chosen rep came first, by the rule's strategy ({pool} is the pool's name).
_CHOSEN_BY_STRATEGY: dict[str, str] = {
    "weighted_fair": "You were next in the rotation for {pool} (you had received fewer leads than your share).",
    "capacity_balanced": "You had the most room in {pool} (the fewest open leads for your limit).",
    "best_match": "You were the best match in {pool} (skills, tier and track record).",
}
_DEFAULT_CHOSEN = "You were chosen in {pool}."
_BY_KIND: dict[str, str] = {
    "escalation": "It was routed again after another rep passed on it or let it expire. ",
    "retry": "It waited in the holding pool until someone could take it. ",
}


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _pool(pool_names: Mapping[int, str], pool_id: Any) -> str:
    try:
        return pool_names.get(int(pool_id)) or "the pool"
    except (TypeError, ValueError):
        return "the pool"


def _skipped(step: Mapping[str, Any], rep_id: int, language: str) -> str:
    """ "7 other reps could not take it: 3 away or absent, 2 at their daily cap, …" (each rep
    counted once, under its first reason, so the parts add up to the total)."""
    others = [c for c in step.get("candidates") or [] if c.get("rep_id") != rep_id and not c.get("eligible")]
    if not others:
        return ""
    firsts = Counter((c.get("reasons") or ["inactive"])[0] for c in others)
    parts = [labels.reason_group_text(reason, n, language=language) for reason, n in firsts.most_common()]
    return f" {_plural(len(others), 'other rep')} could not take it: {', '.join(parts)}."


def why_offered(
    *, detail: Mapping[str, Any] | None, kind: str, rep_id: int, pool_names: Mapping[int, str], language: str = "",
) -> str:  # fmt: skip
    """Why the decision ``detail`` offered its lead to rep ``rep_id``, for that rep.

    Args:
        detail: ``Decision.detail`` (steps with candidates and reasons, the rule with its strategy).
        kind: ``Decision.kind`` ("route", "escalation", "retry", "manual").
        rep_id: the rep reading the offer.
        pool_names: pool id -> name, for the pools the steps name.
        language: the lead's language in words ("German"), or "".

    Returns a sentence or two; "Routing chose you." when the detail is missing or does not name
    this rep (an old or hand-made decision). Never raises on a malformed detail.
    """
    try:
        return _why(detail or {}, kind, rep_id, pool_names, language)
    except (AttributeError, TypeError, ValueError, KeyError):
        return "Routing chose you."


def _why(detail: Mapping[str, Any], kind: str, rep_id: int, pool_names: Mapping[int, str], language: str) -> str:
    steps = list(detail.get("steps") or [])
    chosen = next((s for s in steps if s.get("chosen_rep_id") == rep_id), None)
    if chosen is None:
        return "Routing chose you."
    rule = detail.get("rule") or {}
    lead_in = _BY_KIND.get(kind, "")
    step_kind = chosen.get("kind")
    primary_pool = _pool(pool_names, rule.get("pool_id"))
    if step_kind in ("backup", "manager"):
        role = "the backup rep" if step_kind == "backup" else "the pool's manager"
        primary = next((s for s in steps if s.get("kind") == "primary"), None)
        nobody = f"Nobody in {primary_pool} could take it"
        reasons = _skipped(primary, rep_id, language) if primary else ""
        return f"{lead_in}{nobody}, so it came to you as {role}.{reasons}"
    pool = _pool(pool_names, chosen.get("pool_id"))
    sentence = _CHOSEN_BY_STRATEGY.get(str(rule.get("strategy")), _DEFAULT_CHOSEN).format(pool=pool)
    if step_kind == "relax":
        relaxed = labels.criteria_text(chosen.get("relaxed"))
        sentence = f"Nobody matched every requirement, so these were set aside: {relaxed or 'some criteria'}. {sentence}"
    elif step_kind == "pool":
        sentence = f"Nobody in {primary_pool} could take it, so it went to {pool}. {sentence}"
    return f"{lead_in}{sentence}{_skipped(chosen, rep_id, language)}"
