"""Choosing one rep among the eligible members of a pool.

Fairness keeps one credit per pool member in ``PoolSnapshot.fairness`` (the smooth weighted
round-robin bookkeeping): ``credit = weight x turns eligible - total x leads won``, in units of
the eligible total weight ``W``. On every decision:

1. every *eligible* rep's credit += its weight;
2. the strategy picks a rep;
3. the chosen rep's credit -= ``W``.

``weighted_fair`` picks by *earliest deadline* (a Pfair / Tijdeman-style rule), not by the
largest credit as nginx's SWRR does. Among reps whose credit after step 1 is positive (they are
owed a lead now), it takes the one whose next lead falls due first: the smallest
``ceil((W - credit) / weight)``, the number of turns until the rep would be a whole lead behind.
Then larger credit, then lower rep id. Greedy SWRR can leave a rep more than one lead behind its
share (weights 6,1,1,6,1,1,6: 1.09 behind after 15 leads); the deadline rule keeps every rep
within one lead on both sides: after every assignment, for every rep,
``|assigned - n * weight / W| < 1`` (hypothesis-tested; every ``W`` assignments the shares are
exact and the credits are back to 0).

Every strategy applies the same credit update, so the fairness state stays meaningful when a rule
switches strategy, and returns the new credits of the eligible reps as the pool's fairness update.

Policy: credit accrues only while a rep is eligible. Ineligible members' credits are left
untouched, and a rep missing from ``fairness`` (new member) starts at 0. A rep coming back from
holiday, off-hours or a full cap therefore gets no burst of "catch-up" leads: they rejoin the
rotation at the credit they had.

Ties, in every strategy, go to the weighted-fair order above, then the lower rep id.

Scores reported per eligible rep:
- ``weighted_fair``: the credit after step 1 (the rep with the earliest deadline wins).
- ``capacity_balanced``: the load ``open_count / max_open`` (lower wins). An uncapped rep is
  measured against the largest cap among the eligible reps (or 1 when nobody is capped, i.e. raw
  open counts), so being uncapped neither starves a rep nor makes them the dumping ground.
- ``best_match``: the sum of the rep's levels in the rule's required skills, plus the lead's
  language skill when the rule requires language (higher wins).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from routing.engine.eligibility import language_skill, skill_level
from routing.engine.types import PoolSnapshot, RepSnapshot, RuleSpec, Strategy


@dataclass(frozen=True)
class Pick:
    chosen_rep_id: int | None
    scores: Mapping[int, float]  # eligible rep id -> strategy score
    credits: Mapping[int, float]  # eligible rep id -> new SWRR credit (the fairness update)


def _credit(fairness: Mapping[int, Any], rep_id: int) -> float:
    raw = fairness.get(rep_id, 0.0)
    try:
        credit = float(raw)
    except (TypeError, ValueError):
        return 0.0
    return credit if math.isfinite(credit) else 0.0


def _weight(weight: Any) -> int:
    return weight if isinstance(weight, int) and not isinstance(weight, bool) and weight > 0 else 0


def capacity_load(rep: RepSnapshot, notional_cap: int) -> float:
    cap = rep.max_open if rep.max_open is not None and rep.max_open > 0 else notional_cap
    return rep.open_count / max(cap, 1)


def match_score(rep: RepSnapshot, rule: RuleSpec, lead_fields: Mapping[str, Any]) -> float:
    skills = [requirement.skill for requirement in rule.requirements.skills]
    if rule.requirements.language:
        language = language_skill(lead_fields)
        if language is not None:
            skills.append(language)
    return float(sum(skill_level(rep, skill) for skill in skills))


def pick_rep(
    strategy: Strategy,
    eligible: Sequence[tuple[RepSnapshot, int]],
    *,
    pool: PoolSnapshot,
    rule: RuleSpec,
    lead_fields: Mapping[str, Any],
) -> Pick:
    """Apply ``strategy`` to the eligible ``(rep, weight)`` pairs of ``pool``."""
    if not eligible:
        return Pick(chosen_rep_id=None, scores={}, credits={})

    raised = {rep.id: _credit(pool.fairness, rep.id) + _weight(weight) for rep, weight in eligible}
    total = sum(_weight(weight) for _rep, weight in eligible)

    weights = {rep.id: _weight(weight) for rep, weight in eligible}

    def swrr_key(rep: RepSnapshot) -> tuple[int, int, float, int]:
        """Earliest deadline among reps owed a lead now; see the module docstring."""
        credit, weight = raised[rep.id], weights[rep.id]
        if weight <= 0:
            return (1, math.inf, -credit, rep.id)  # type: ignore[return-value]
        owed = 0 if credit > 1e-9 else 1
        deadline = math.ceil((total - (credit - weight)) / weight - 1e-9)
        return (owed, deadline, -credit, rep.id)

    reps = [rep for rep, _weight_ in eligible]
    if strategy == Strategy.CAPACITY_BALANCED:
        caps = [rep.max_open for rep in reps if rep.max_open is not None and rep.max_open > 0]
        notional_cap = max(caps, default=1)
        scores = {rep.id: capacity_load(rep, notional_cap) for rep in reps}
        chosen = min(reps, key=lambda rep: (scores[rep.id], *swrr_key(rep)))
    elif strategy == Strategy.BEST_MATCH:
        scores = {rep.id: match_score(rep, rule, lead_fields) for rep in reps}
        chosen = min(reps, key=lambda rep: (-scores[rep.id], *swrr_key(rep)))
    else:
        scores = dict(raised)
        chosen = min(reps, key=swrr_key)

    credits = dict(raised)
    credits[chosen.id] -= total
    return Pick(chosen_rep_id=chosen.id, scores=scores, credits=credits)
