"""Choosing one rep among the eligible members of a pool.

Fairness is kept in leads, with the one definition of "owed" in ``routing.engine.fairness``:
every eligible rep's credit grows by ``weight / eligible total``, the chosen rep's credit drops
by one lead. Every strategy applies that same update (so the fairness state stays meaningful
when a rule switches strategy) and returns the new credits of the eligible reps as the pool's
fairness update; ineligible members' credits are left untouched (no catch-up bursts).

Ties, in every strategy, go to the weighted-fair order (``fairness.pick_order``), whose last
key is the lower rep id.

Scores reported per eligible rep:
- ``weighted_fair``: the credit after accruing this lead's share, in leads (what the rep is owed
  now; the pick follows ``fairness.pick_order``).
- ``capacity_balanced``: the load ``open_count / max_open`` (lower wins). An uncapped rep is
  measured against the largest cap among the eligible reps (or 1 when nobody is capped, i.e. raw
  open counts), so being uncapped neither starves a rep nor makes them the dumping ground.
- ``best_match``: the sum of the rep's levels in the rule's required skills, plus the lead's
  language skill when the rule requires language (higher wins).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from routing.engine.eligibility import language_skill, skill_level
from routing.engine.fairness import accrue, holds_no_credit, pick_order, read_credit, settle, shares
from routing.engine.types import PoolSnapshot, RepSnapshot, RuleSpec, Strategy


@dataclass(frozen=True)
class Pick:
    chosen_rep_id: int | None
    scores: Mapping[int, float]  # eligible rep id -> strategy score
    credits: Mapping[int, float]  # eligible rep id -> new credit in leads (the fairness update)


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

    share = shares((rep.id, weight) for rep, weight in eligible)
    raised = accrue(pool.fairness, share)
    others = [rep_id for rep_id, _weight_ in pool.members if rep_id not in share]
    fair_key = pick_order(
        raised,
        share,
        others_square=holds_no_credit(pool.fairness, others),
        held=[read_credit(pool.fairness, rep_id) for rep_id in others],
    )

    reps = [rep for rep, _weight_ in eligible]
    if strategy == Strategy.CAPACITY_BALANCED:
        caps = [rep.max_open for rep in reps if rep.max_open is not None and rep.max_open > 0]
        notional_cap = max(caps, default=1)
        scores = {rep.id: capacity_load(rep, notional_cap) for rep in reps}
        chosen = min(reps, key=lambda rep: (scores[rep.id], *fair_key(rep.id)))
    elif strategy == Strategy.BEST_MATCH:
        scores = {rep.id: match_score(rep, rule, lead_fields) for rep in reps}
        chosen = min(reps, key=lambda rep: (-scores[rep.id], *fair_key(rep.id)))
    else:
        scores = dict(raised)
        chosen = min(reps, key=lambda rep: fair_key(rep.id))

    return Pick(chosen_rep_id=chosen.id, scores=scores, credits=settle(raised, chosen.id))
