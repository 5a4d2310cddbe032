"""The one definition of what a rep is *owed* in a pool, in leads.

Every lead decided in a pool step shares one lead among the reps who could take it (the
*eligible* members of that step):

    share(rep) = weight(rep) / total weight of the eligible reps          (0 for the others)

A rep's *expected* count is the sum of its shares over the pool's decisions; its *credit* (what
it is owed, ``FairnessState.credit``) is ``expected - assigned``. On every pool decision:

1. every eligible rep's credit grows by its share (``accrue``); the eligible total grows by 1;
2. a rep is picked (``pick_order`` for weighted fair, and as the tie-break of every strategy);
3. the chosen rep's credit drops by one lead (``settle``).

The same ``shares`` feed the equity page's expected column (``routing.dashboards``), its drift
alerts and replay, so what the engine balances is exactly what managers are shown.

Pick order (``pick_order``). The rep most owed goes first (largest credit, then lower rep id)
with one refinement: when every member who cannot take this lead is square (credit 0: nobody
away is owed anything), the eligible reps form a closed group and the order is *earliest
deadline* (a Pfair / Tijdeman-style rule) on their credits centred on the group's sum (0 unless a
departure or the migration left an offset): among reps owed a lead now, the one who would be a
whole lead behind soonest, ``ceil((1 - credit_before) / share)`` leads from now, then the larger
credit. Greedy largest-credit can leave a rep more than a lead behind on a fixed set (weights
6,1,1,6,1,1,6: 1.09 after 15 leads); the deadline rule keeps every rep strictly within one lead
of ``n x share`` on a fixed set from a level start. When someone away holds credit, the group as
a whole is ahead (or behind) by that much and nobody can be held within one lead of a share the
group cannot meet; largest-credit-first keeps the spread smallest there (the deadline rule
reached 1.58): measured within 1.38 leads and hypothesis-tested within 1.5
(``tests/routing/engine/test_properties.py``, ``scripts/fairness_drift.py``).

No-burst policy: credit accrues only while a rep is eligible, so an ineligible rep's credit is
left as it was; a rep coming back from an absence, a full cap or off-hours rejoins with what it
was owed when it left (never a catch-up burst for the time away), and a rep missing from the
credits (a new member) starts at 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from routing.engine.types import Decision

OWED_EPSILON = 1e-9  # a credit this close to 0 is "square", not owed (float residue)
CLOSED_EPSILON = 1e-6  # an ineligible member's credit this close to 0 counts as square
SNAP_EPSILON = 1e-12  # credits this close to 0 are stored as exactly 0

PickKey = tuple[int, int, float, int]


def _weight(weight: Any) -> int:
    return weight if isinstance(weight, int) and not isinstance(weight, bool) and weight > 0 else 0


def read_credit(credits: Mapping[int, Any], rep_id: int) -> float:
    """A stored credit in leads; missing (new member), non-numeric or non-finite reads as 0."""
    raw = credits.get(rep_id, 0.0)
    try:
        credit = float(raw)
    except (TypeError, ValueError):
        return 0.0
    return credit if math.isfinite(credit) else 0.0


def shares(eligible: Iterable[tuple[int, Any]]) -> dict[int, float]:
    """Each eligible rep's share of one lead: ``weight / total eligible weight``.

    ``eligible`` holds ``(rep_id, weight)`` pairs (a repeated rep id keeps its first weight).
    A weight that is not a positive int counts as 0 and gets share 0. When no weight is positive
    (a backup or manager step, which has no pool weights) the lead is shared equally. The shares
    of a non-empty list sum to 1 (up to float rounding). Returns ``{rep_id: share}``.
    """
    weights: dict[int, int] = {}
    for rep_id, weight in eligible:
        weights.setdefault(rep_id, _weight(weight))
    if not weights:
        return {}
    total = sum(weights.values())
    if total <= 0:
        return {rep_id: 1.0 / len(weights) for rep_id in weights}
    return {rep_id: weight / total for rep_id, weight in weights.items()}


def accrue(credits: Mapping[int, Any], share: Mapping[int, float]) -> dict[int, float]:
    """Step 1: every eligible rep's credit plus its share (ineligible reps are not returned)."""
    return {rep_id: read_credit(credits, rep_id) + s for rep_id, s in share.items()}


def pick_order(
    raised: Mapping[int, float], share: Mapping[int, float], *, others_square: bool = True
) -> Callable[[int], PickKey]:
    """The weighted-fair order over eligible rep ids: the smallest key is picked first.

    ``raised`` are the credits after ``accrue``, ``share`` the step's shares (same keys);
    ``others_square`` says whether every member who is *not* eligible holds a credit of 0 (see
    ``holds_no_credit``). When they do, the eligible reps form a closed group: their credits are
    centred (each less its share of the group's sum, which is 0 unless a departure or the
    migration left an offset) and ordered by earliest deadline; otherwise the rep most owed goes
    first. See the module docstring. Reps with share 0 (weight 0) come last.
    """
    offset = sum(raised.values()) - sum(share.get(rep_id, 0.0) for rep_id in raised)

    def key(rep_id: int) -> PickKey:
        credit, s = raised[rep_id], share.get(rep_id, 0.0)
        if s <= 0:
            return (2, 0, -credit, rep_id)
        if not others_square:
            return (0, 0, -credit, rep_id)
        centred = credit - s * offset
        if centred <= OWED_EPSILON:
            return (1, 0, -centred, rep_id)
        deadline = math.ceil((1.0 - (centred - s)) / s - OWED_EPSILON)
        return (0, deadline, -centred, rep_id)

    return key


def holds_no_credit(credits: Mapping[int, Any], rep_ids: Iterable[int]) -> bool:
    """Whether every one of ``rep_ids`` (the members who cannot take this lead) is square."""
    return all(abs(read_credit(credits, rep_id)) < CLOSED_EPSILON for rep_id in rep_ids)


def settle(raised: Mapping[int, float], chosen_rep_id: int) -> dict[int, float]:
    """Step 3: the chosen rep's credit drops by one lead. Returns the new credits to store."""
    credits = dict(raised)
    credits[chosen_rep_id] -= 1.0
    return {rep_id: 0.0 if abs(credit) < SNAP_EPSILON else credit for rep_id, credit in credits.items()}


def decision_shares(decision: Decision) -> dict[int, float]:
    """The shares of one decided lead: ``shares`` over the eligible candidates of the step that
    picked (``{}`` when the lead went to holding). What the equity rollup adds per decision
    (``routing.dashboards.services.expected_shares`` reads the same from the stored detail)."""
    step = next((s for s in reversed(decision.steps) if s.chosen_rep_id is not None), None)
    if step is None:
        return {}
    found = shares((c.rep_id, c.weight) for c in step.candidates if c.eligible)
    return {rep_id: share for rep_id, share in found.items() if share}


__all__ = ["accrue", "decision_shares", "holds_no_credit", "pick_order", "read_credit", "settle", "shares"]
