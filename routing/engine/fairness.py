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

Pick order (``pick_order``). The rep most owed goes first (largest credit after accruing,
then lower rep id): this is the greedy rule of the carpool problem (Fagin and Williams, "A fair
carpool scheduling algorithm", IBM J. Res. Dev. 27(2), 1983), whose "fair share" is exactly our
share with every weight 1. One refinement: when every member who cannot take this lead is square
(credit 0: nobody away is owed anything), the eligible reps form a closed group and the order is
*earliest deadline* on their credits centred on the group's sum (0 unless a departure or the
migration left an offset): among reps owed a lead now, the one who would be a whole lead behind
soonest, ``ceil((1 - credit_before) / share)`` leads from now, then the larger credit. That is the
rule of Tijdeman's chairman assignment theorem (R. Tijdeman, "The chairman assignment problem",
Discrete Math. 32, 1980): on a fixed set from a level start every rep stays strictly within one
lead of ``n x share`` (greedy alone reaches 1.09 on weights 6,1,1,6,1,1,6 after 15 leads). The
deadline pick is taken only if it keeps the *bound invariant* below; otherwise the greedy pick.

Bounds (``drift_bound``; proofs in docs/architecture.md, "Fairness policy: what can be promised"):

* Invariant (``within_bound``): for a pool of ``n`` members and every ``k``, the ``k`` largest
  credits sum to at most ``k (n - k) / 2``. A greedy pick always keeps it (for any weights and any
  sequence of eligible sets), so ``pick_order`` keeps it too, and every credit stays within
  ``(n - 1) / 2`` leads on both sides: within 1.5 leads for pools of up to 4 members, whatever
  happens to who can take leads. The proof is ours; the figure matches the worst case of
  greedy reported in the carpool literature ((n - 1) / 2 for n people: Ajtai, Aspnes, Naor,
  Rabani, Schulman, Waarts, "Fairness in scheduling", J. Algorithms 29, 1998, as summarised in
  Moni Naor's carpool notes, wisdom.weizmann.ac.il/~naor/PUZZLES/carpool_sol.html).
* No rule can do better than ``H(n) - 1`` (1/2 + 1/3 + ... + 1/n: 1.59 leads for 7 reps, 1.72
  for 8) on every sequence: reps of equal weight and a cap of one open lead each, the rep taking
  a lead leaves until it closes; whoever is picked, the last rep left has been owed
  1/n + 1/(n-1) + ... + 1/2. So "within 1.5 leads" cannot be promised for pools of 7 or more.
* Measured on random sequences (rare and frequent flips, 30 % unavailability, long absences,
  caps filling and freeing) and against a search that picks who can take each lead on purpose:
  ``scripts/fairness_drift.py``, ``scripts/fairness_search.py`` and the hypothesis properties.

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


def drift_bound(members: int) -> float:
    """The proven bound, in leads, on any rep's credit (both sides) in a pool of ``members``
    members under ``pick_order``: ``(members - 1) / 2``. See the module docstring."""
    return max(members - 1, 0) / 2


def within_bound(credits: Iterable[float], members: int | None = None) -> bool:
    """Whether ``credits`` (one per pool member, in leads) keep the bound invariant: for every
    ``k``, the ``k`` largest sum to at most ``k (n - k) / 2`` (``n = members``, default the number
    of credits; a float slack of ``OWED_EPSILON`` per credit). Implies every credit is at most
    ``(n - 1) / 2`` and, when the credits sum to 0, at least ``-(n - 1) / 2``."""
    ordered = sorted(credits, reverse=True)
    n = len(ordered) if members is None else members
    top = 0.0
    for k, credit in enumerate(ordered, start=1):
        top += credit
        if top > k * (n - k) / 2 + k * OWED_EPSILON:
            return False
    return True


def pick_order(
    raised: Mapping[int, float],
    share: Mapping[int, float],
    *,
    others_square: bool = True,
    held: Iterable[float] = (),
) -> Callable[[int], PickKey]:
    """The weighted-fair order over eligible rep ids: the smallest key is picked first.

    ``raised`` are the credits after ``accrue``, ``share`` the step's shares (same keys);
    ``others_square`` says whether every member who is *not* eligible holds a credit of 0 (see
    ``holds_no_credit``); ``held`` are those members' credits (in leads), which the bound
    invariant counts. When the others are square, the eligible reps form a closed group: their
    credits are centred (each less its share of the group's sum, which is 0 unless a departure or
    the migration left an offset) and ordered by earliest deadline, if the rep that order puts
    first keeps ``within_bound``; otherwise, and whenever someone away holds credit, the rep most
    owed goes first. See the module docstring. Reps with share 0 (weight 0) come last.
    """
    offset = sum(raised.values()) - sum(share.get(rep_id, 0.0) for rep_id in raised)

    def greedy(rep_id: int) -> PickKey:
        credit, s = raised[rep_id], share.get(rep_id, 0.0)
        return (2, 0, -credit, rep_id) if s <= 0 else (0, 0, -credit, rep_id)

    def deadline(rep_id: int) -> PickKey:
        credit, s = raised[rep_id], share.get(rep_id, 0.0)
        if s <= 0:
            return (2, 0, -credit, rep_id)
        centred = credit - s * offset
        if centred <= OWED_EPSILON:
            return (1, 0, -centred, rep_id)
        step = math.ceil((1.0 - (centred - s)) / s - OWED_EPSILON)
        return (0, step, -centred, rep_id)

    if not others_square or not raised:
        return greedy
    first = min(raised, key=deadline)
    if first == min(raised, key=greedy):
        return deadline
    kept = list(held)
    after = [credit - (rep_id == first) for rep_id, credit in raised.items()]
    return deadline if within_bound([*after, *kept]) else greedy


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


__all__ = [
    "accrue",
    "decision_shares",
    "drift_bound",
    "holds_no_credit",
    "pick_order",
    "read_credit",
    "settle",
    "shares",
    "within_bound",
]
