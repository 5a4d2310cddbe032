"""Properties of ``route`` over generated pools, reps and rules."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import itertools
import random
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings, target
from hypothesis import strategies as st

from routing.engine import decision_to_dict, route
from routing.engine.fairness import drift_bound, within_bound
from routing.engine.types import (
    Criterion,
    Decision,
    FallbackStep,
    Interval,
    LeadFacts,
    LicenceFact,
    PoolSnapshot,
    RepSnapshot,
    Requirements,
    RuleSpec,
    SkillRequirement,
    StepKind,
    Strategy,
    TerritoryFact,
)
from tests.routing.engine.builders import NINE_TO_FIVE, NOW, config, lead, pool, rep, rule

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
TIMEZONES = ["UTC", "America/New_York", "Asia/Tokyo", "Pacific/Kiritimati", "Not/AZone"]
REP_IDS = list(range(1, 9))


# 1. Fairness -------------------------------------------------------------------------------


def assign(weights: list[int], rounds: int) -> list[dict[int, int]]:
    """Route ``rounds`` leads through an unconstrained pool, feeding fairness back each time."""
    reps = {rep_id: rep(rep_id) for rep_id in range(1, len(weights) + 1)}
    members = tuple(zip(reps, weights, strict=True))
    fairness: dict[int, float] = {}
    assigned = dict.fromkeys(reps, 0)
    history = []
    the_config = config(rule(pool_id=10))
    for _ in range(rounds):
        decision = route(lead(), the_config, {10: pool(10, members, fairness=fairness)}, reps, NOW)
        assert decision.chosen_rep_id is not None
        assigned[decision.chosen_rep_id] += 1
        fairness = {**fairness, **decision.fairness_updates[10]}
        history.append(dict(assigned))
    return history


@PROPERTY_SETTINGS
@given(weights=st.lists(st.integers(1, 10), min_size=1, max_size=8), extra=st.integers(0, 20))
def test_weighted_fair_tracks_every_reps_weighted_share_after_every_assignment(
    weights: list[int], extra: int
) -> None:
    """After n leads a rep with weight w (total W) has share n*w/W: after every assignment every
    rep is within one lead of it on both sides, and exact after every full cycle of W leads."""
    total = sum(weights)
    history = assign(weights, rounds=total + extra)
    for n, assigned in enumerate(history, start=1):
        for index, weight in enumerate(weights):
            share = n * weight / total
            got = assigned[index + 1]
            assert abs(got - share) < 1, (n, assigned)
            if n % total == 0:
                assert got == share


def test_weighted_fair_does_not_lag_where_greedy_swrr_does() -> None:
    """Greedy SWRR on weights 6,1,1,6,1,1,6 leaves the last rep 1.09 leads behind after 15."""
    weights = [6, 1, 1, 6, 1, 1, 6]
    for n, assigned in enumerate(assign(weights, rounds=44), start=1):
        assert all(abs(assigned[i + 1] - n * w / 22) < 1 for i, w in enumerate(weights)), (n, assigned)
    assert assign(weights, rounds=22)[-1][7] == 6


# 1b. Fairness under changing eligibility ---------------------------------------------------
#
# The figure managers see (the equity page's expected column) is, per rep, the sum over the
# pool's leads of weight / eligible total weight while the rep could take the lead. The
# simulation below keeps that figure itself, from its own model of who is away or at cap, and
# checks the engine against it after every lead.

FAIRNESS_EXAMPLES = int(os.environ.get("LEADOPS_FAIRNESS_EXAMPLES", "40"))  # 100,000 for the long run
# Random (not derandomized): every CI run tries new sequences. What these properties assert is
# proven (docs/architecture.md, "what can be promised"), so a failure is a real fault; hypothesis
# prints the seed to reproduce it. The long runs' figures are in docs/architecture.md.
FAIRNESS_SETTINGS = settings(max_examples=FAIRNESS_EXAMPLES, deadline=None)
PATTERNS = ("rare_flips", "frequent_flips", "unavailable_30", "long_absences", "caps", "caps_and_flips")
AWAY = (Interval(NOW - HOUR, NOW + HOUR),)


@dataclasses.dataclass
class Ledger:
    """The test's own account per rep: expected (eligibility-adjusted) and assigned counts."""

    expected: dict[int, float]
    assigned: dict[int, int]
    since_return: dict[int, tuple[float, float, int]]  # rep -> (owed at return, expected, got)
    worst: float = 0.0  # largest |assigned - expected| seen
    outside_bound: list[int] = dataclasses.field(default_factory=list)  # leads after which the
    # credits broke the bound invariant (``within_bound``)
    worst_return: float = 0.0  # largest (got - expected since return) - (max(owed, 0) + 1)
    unforced: list[int] = dataclasses.field(default_factory=list)  # leads that gave a returner
    # a lead taking it over "owed + 1" although some eligible rep was owed a lead
    standing: list[int] = dataclasses.field(default_factory=list)  # leads some eligible rep was
    # owed while a returner stood over "owed + 1" (from an earlier lead nobody was owed)


def simulate_pool(weights: list[int], pattern: str, rng: random.Random, leads: int) -> Ledger:
    """Route ``leads`` leads through one weighted-fair pool while reps go away, come back and
    fill and free their open-lead caps; check every decision against the test's own ledger."""
    rep_ids = list(range(1, len(weights) + 1))
    weight = dict(zip(rep_ids, weights, strict=True))
    members = tuple(weight.items())
    the_config = config(rule(pool_id=10))
    flip = {"rare_flips": 0.01, "frequent_flips": rng.choice([0.03, 0.1, 0.3]), "caps_and_flips": 0.03}.get(pattern, 0.0)
    capped = pattern in ("caps", "caps_and_flips")
    max_open = {r: rng.randint(1, 3) for r in rep_ids}  # drawn always, used when capped (as the script)
    close = rng.choice([0.05, 0.2, 0.5])  # chance an open lead closes before the next lead
    absences: dict[int, list[tuple[int, int]]] = {r: [] for r in rep_ids}
    if pattern == "long_absences":
        for r in rep_ids:
            for _ in range(rng.randint(0, 2)):
                start = rng.randrange(leads)
                absences[r].append((start, start + rng.randint(50, 200)))
    away = dict.fromkeys(rep_ids, False)
    open_count = dict.fromkeys(rep_ids, 0)
    fairness: dict[int, float] = {}
    ledger = Ledger(dict.fromkeys(rep_ids, 0.0), dict.fromkeys(rep_ids, 0), {})
    was_eligible = dict.fromkeys(rep_ids, True)
    for n in range(leads):
        for r in rep_ids:
            if pattern == "unavailable_30":
                away[r] = rng.random() < 0.3
            elif pattern == "long_absences":
                away[r] = any(start <= n < end for start, end in absences[r])
            elif rng.random() < flip:
                away[r] = not away[r]
            open_count[r] -= sum(1 for _ in range(open_count[r]) if rng.random() < close)
        snapshots = {
            r: rep(r, absences=AWAY if away[r] else (), max_open=max_open[r] if capped else None, open_count=open_count[r])
            for r in rep_ids
        }
        eligible = {r for r in rep_ids if not away[r] and (not capped or open_count[r] < max_open[r])}
        for r in rep_ids:  # a rep coming back starts a new "since return" account
            if r in eligible and not was_eligible[r]:
                ledger.since_return[r] = (ledger.expected[r] - ledger.assigned[r], 0.0, 0)
            elif r not in eligible:
                ledger.since_return.pop(r, None)
            was_eligible[r] = r in eligible
        decision = route(lead(), the_config, {10: pool(10, members, fairness=fairness)}, snapshots, NOW)
        if not eligible:
            assert decision.chosen_rep_id is None and decision.fairness_updates == {}
            continue
        assert {c.rep_id for c in decision.steps[0].candidates if c.eligible} == eligible
        chosen = decision.chosen_rep_id
        assert chosen in eligible
        total = sum(weight[r] for r in eligible)
        nobody_owed = all(fairness.get(r, 0.0) + weight[r] / total <= 1e-9 for r in eligible)
        for r in eligible:
            ledger.expected[r] += weight[r] / total
            if r in ledger.since_return:
                owed, expected, got = ledger.since_return[r]
                ledger.since_return[r] = (owed, expected + weight[r] / total, got + (r == chosen))
        ledger.assigned[chosen] += 1
        open_count[chosen] += 1
        fairness = {**fairness, **decision.fairness_updates[10]}
        for r in rep_ids:
            lag = ledger.expected[r] - ledger.assigned[r]
            # The engine's account is the managers' figure: credit = expected - assigned.
            assert fairness.get(r, 0.0) == pytest.approx(lag, abs=1e-9), (n, r)
            ledger.worst = max(ledger.worst, abs(lag))
        if not within_bound([fairness.get(r, 0.0) for r in rep_ids]):
            ledger.outside_bound.append(n)
        for r, (owed, expected, got) in ledger.since_return.items():
            excess = (got - expected) - (max(owed, 0.0) + 1)
            ledger.worst_return = max(ledger.worst_return, excess)
            # Only a lead to the returner raises its excess: was anyone eligible owed one?
            if r == chosen and excess > 1e-9 and not nobody_owed:
                ledger.unforced.append(n)
            if excess > 1e-9 and not nobody_owed:
                ledger.standing.append(n)
    return ledger


@FAIRNESS_SETTINGS
@given(
    weights=st.lists(st.integers(1, 6), min_size=2, max_size=8),
    pattern=st.sampled_from(PATTERNS),
    seed=st.integers(0, 2**32),
)
@example(weights=[1, 1, 3, 1, 1, 1, 3], pattern="caps", seed=36)  # 1.509 leads: see below
def test_every_rep_stays_within_the_proven_bound_of_the_eligibility_adjusted_share(
    weights: list[int], pattern: str, seed: int
) -> None:
    """Rare and frequent flips, 30 % unavailability, long absences, caps filling and freeing:
    after every lead the credits keep the bound invariant (the k most owed are owed at most
    k (n - k) / 2 together), so every rep is within (n - 1) / 2 leads of its eligibility-adjusted
    expected count: within 1.5 leads in pools of up to 4 reps. Pools of 7 or more cannot be held
    to 1.5 by any rule (``test_no_pick_rule_keeps_seven_reps_within_one_and_a_half_leads``)."""
    ledger = simulate_pool(weights, pattern, random.Random(seed), leads=300)
    assert ledger.outside_bound == [], ledger
    assert ledger.worst <= drift_bound(len(weights)) + 1e-9, ledger
    if len(weights) <= 4:
        assert ledger.worst <= 1.5 + 1e-9, ledger
    target(ledger.worst, label="worst drift (leads)")


def test_the_sequence_that_reached_1_509_leads_is_within_the_bound_for_seven_reps() -> None:
    """The sequence a random search found (weights 1,1,3,1,1,1,3, caps, seed 36): at the start
    every rep is free and the leads fill caps one after another, so the eligible set shrinks
    7, 7, 7, 6, 5, 4, 3, 3, 2 while rep 6 (weight 1) is never the most owed; the last two share
    the 9th lead with equal credits and rep 6 is left owed 3/11 + 1/10 + 1/9 + 1/8 + 2/5 + 1/2 =
    1.509 leads. This
    is the shape of the lower bound below, not a tie-break or rounding slip: the right value is
    "within (7 - 1) / 2 = 3 leads", and no rule can promise 1.5 for seven reps."""
    ledger = simulate_pool([1, 1, 3, 1, 1, 1, 3], "caps", random.Random(36), leads=300)
    assert ledger.worst == pytest.approx(1.5088383838, abs=1e-9)
    assert ledger.outside_bound == [] and ledger.worst <= drift_bound(7)


def forced_lag(weights: list[int], order: tuple[int, ...]) -> Fraction:
    """The largest credit (exact) when every rep has a cap of one open lead and no lead closes:
    all start free and square, each lead goes to ``order``'s next rep, who is then full."""
    credit = [Fraction(0)] * len(weights)
    free, worst = set(range(len(weights))), Fraction(0)
    for chosen in order:
        total = sum(weights[r] for r in free)
        for r in free:
            credit[r] += Fraction(weights[r], total)
        credit[chosen] -= 1
        free.discard(chosen)
        worst = max(worst, *credit)
    return worst


def test_no_pick_rule_keeps_seven_reps_within_one_and_a_half_leads() -> None:
    """The lower bound: n reps of equal weight, each with a cap of one open lead, all free; each
    lead fills its taker's cap. Whatever rule picks, the rep left last has been owed
    1/n + 1/(n-1) + ... + 1/2 = H(n) - 1 leads: 1.45 for 6 reps, 1.59 for 7, 1.72 for 8. Every
    order is tried (exact fractions), and the engine meets exactly that value."""
    harmonic = {n: sum((Fraction(1, m) for m in range(2, n + 1)), Fraction(0)) for n in (4, 6, 7)}
    for n, value in harmonic.items():
        assert {forced_lag([1] * n, order) for order in itertools.permutations(range(n))} == {value}
    assert float(harmonic[7]) > 1.5 > float(harmonic[6])

    rep_ids = list(range(1, 8))
    members = tuple((r, 1) for r in rep_ids)
    fairness: dict[int, float] = {}
    open_count = dict.fromkeys(rep_ids, 0)
    for _ in rep_ids:
        snapshots = {r: rep(r, max_open=1, open_count=open_count[r]) for r in rep_ids}
        decision = route(lead(), config(rule(pool_id=10)), {10: pool(10, members, fairness=fairness)}, snapshots, NOW)
        assert decision.chosen_rep_id is not None
        open_count[decision.chosen_rep_id] += 1
        fairness = {**fairness, **decision.fairness_updates[10]}
        assert within_bound(fairness.get(r, 0.0) for r in rep_ids)
    assert max(fairness.values()) == pytest.approx(float(harmonic[7]))


@PROPERTY_SETTINGS
@given(
    weights=st.lists(st.integers(1, 6), min_size=1, max_size=8),
    sets=st.lists(st.sets(st.integers(0, 7), min_size=1), min_size=1, max_size=60),
)
def test_any_sequence_of_eligible_sets_keeps_the_bound_invariant(
    weights: list[int], sets: list[set[int]]
) -> None:
    """The proof's claim, on sequences hypothesis chooses freely (any reps in or out before any
    lead, steered towards large drift): after every lead the k most owed reps are owed at most
    k (n - k) / 2 together, for every k, so nobody is more than (n - 1) / 2 leads off."""
    rep_ids = list(range(1, len(weights) + 1))
    members = tuple(zip(rep_ids, weights, strict=True))
    fairness: dict[int, float] = {}
    worst = 0.0
    for chosen_set in sets:
        eligible = {rep_ids[i % len(rep_ids)] for i in chosen_set}
        snapshots = {r: rep(r, absences=() if r in eligible else AWAY) for r in rep_ids}
        decision = route(lead(), config(rule(pool_id=10)), {10: pool(10, members, fairness=fairness)}, snapshots, NOW)
        assert decision.chosen_rep_id in eligible
        fairness = {**fairness, **decision.fairness_updates[10]}
        credits = [fairness.get(r, 0.0) for r in rep_ids]
        assert within_bound(credits), (credits, chosen_set)
        assert sum(credits) == pytest.approx(0.0, abs=1e-9)
        worst = max(worst, *map(abs, credits))
    assert worst <= drift_bound(len(weights)) + 1e-9
    target(worst, label="worst drift (leads)")


@FAIRNESS_SETTINGS
@given(
    weights=st.lists(st.integers(1, 6), min_size=2, max_size=8),
    pattern=st.sampled_from(PATTERNS),
    seed=st.integers(0, 2**32),
)
def test_a_returning_rep_gets_no_more_than_it_was_owed_plus_one_while_anyone_is_owed(
    weights: list[int], pattern: str, seed: int
) -> None:
    """No catch-up burst: from a rep's return on, leads received minus leads expected since the
    return stay within what it was owed when it came back (its credit, frozen while away) + 1
    lead, except that a lead nobody eligible was owed (everyone in was ahead, because reps who
    are away hold what they are owed) may take a returner over: someone then has to go further
    ahead, and a returner may be the one least ahead. The excess can last a few leads after that.

    Proven (docs/architecture.md, "What can be promised"): (1) a lead that takes a returner over
    "owed + 1" is always one nobody eligible was owed: the pick is the most owed (or, in a closed
    group, a rep owed something whenever anyone is), so it ends above -1 lead when anyone was
    owed, and over "owed + 1" means below min(owed, 0) - 1; (2) the excess is at most
    (n - 3) / 2 leads, as the returner's credit never drops below -(n - 1) / 2: never for pools
    of up to 3 reps, at most half a lead with 4.

    Strict "owed + 1" cannot be guaranteed by any pick rule, with or without memory of who
    returned: ``test_no_pick_rule_keeps_every_returner_within_owed_plus_one`` forces an excess
    of 1/6 lead (6 reps) and 7/24 (8 reps) whatever the engine picks.

    Measured over 100,000 runs of this simulation through ``pick_rep`` (300 leads each,
    ``scripts/fairness_search.py random``, seeds 1 and 2): the worst excess was 0.30 lead (8 reps).
    """
    ledger = simulate_pool(weights, pattern, random.Random(seed), leads=300)
    assert ledger.unforced == [], ledger
    assert ledger.worst_return <= max(0.0, (len(weights) - 3) / 2) + 1e-9, ledger


def script_run(seed: int) -> tuple[list[int], str, Ledger]:
    """Replay run ``seed`` of ``scripts/fairness_search.py random`` (one ``random.Random(seed)``
    per run: pool size, weights and pattern first, then the same draws as ``simulate_pool``)."""
    rng = random.Random(seed)
    weights = [rng.randint(1, 6) for _ in range(rng.randint(2, 8))]
    pattern = rng.choice(PATTERNS)
    return weights, pattern, simulate_pool(weights, pattern, rng, leads=300)


def test_a_returner_over_owed_plus_one_got_there_on_a_lead_nobody_was_owed() -> None:
    """A failing input of the earlier returner check, found by the 100,000-run search (run seed
    2233: 6 reps, weights 6,1,1,2,4,2, 30 % unavailability). A returner went 0.115 lead over
    "owed + 1" on a lead nobody eligible was owed, and was still over on later leads when others
    were owed: the earlier check counted those later leads. The lead that took it over was a
    forced one, and the excess is within (6 - 3) / 2."""
    weights, pattern, ledger = script_run(2233)
    assert (weights, pattern) == ([6, 1, 1, 2, 4, 2], "unavailable_30")
    assert ledger.unforced == [] and ledger.standing != []
    assert ledger.worst_return == pytest.approx(0.11521534021534, abs=1e-9)
    assert ledger.worst == pytest.approx(1.11521534021534, abs=1e-9)


def forced_returner_excess(size: int, kept: int) -> Fraction:
    """The least worst "returner excess" any pick rule can achieve against this adversary:
    ``size`` reps of weight 1 are all away for one lead and come back owed 0 (each may now
    receive at most 1 lead more than it accrues); ``kept`` leads are decided with everyone in;
    then only the reps who took those leads stay in for one more lead, the others leave holding
    what they are owed. Every sequence of picks is tried (exact fractions); returns the minimum
    over pick sequences of the largest (received - expected since return) - 1 over reps and leads.
    """
    reps = range(size)
    best: Fraction | None = None
    for picks in itertools.product(reps, repeat=kept):
        expected = [Fraction(kept, size)] * size
        received = [picks.count(r) for r in reps]
        worst = max(received[r] - expected[r] - 1 for r in reps)
        takers = sorted(set(picks))
        if len(takers) == kept:  # else a rep already took two: worst is 2 - kept/size - 1 > 0
            for last in takers:  # the last lead, shared among the takers only
                excess = received[last] + 1 - (expected[last] + Fraction(1, kept)) - 1
                best = min(best, max(worst, excess)) if best is not None else max(worst, excess)
            continue
        best = min(best, worst) if best is not None else worst
    assert best is not None
    return best


def test_no_pick_rule_keeps_every_returner_within_owed_plus_one() -> None:
    """Issue 19 asked that returners never exceed what they were owed plus one. No online pick
    rule can promise that: above, six reps of weight 1 come back owed 0 and two leads go to two
    of them (one rep taking both would be 2/3 lead over at once); if everyone else then leaves,
    the next lead must go to one of the two, who has received 2 leads against 1/6 + 1/6 + 1/2 =
    5/6 expected: 1/6 lead over "owed + 1" whichever is picked. With eight reps and three
    leads before the others leave, 7/24. The engine (deterministic) meets the minimum on the
    fixed sequence this adversary builds against it, and stays within the 1.5-lead bound."""
    assert forced_returner_excess(6, 2) == Fraction(1, 6)
    assert forced_returner_excess(8, 3) == Fraction(7, 24)

    members = tuple((r, 1) for r in range(1, 7))
    fairness: dict[int, float] = {}
    present = set(range(1, 7))
    takers: list[int] = []
    for _ in range(3):  # two leads with everyone in, then one with only their takers
        snapshots = {r: rep(r, absences=() if r in present else AWAY) for r in range(1, 7)}
        decision = route(lead(), config(rule(pool_id=10)), {10: pool(10, members, fairness=fairness)}, snapshots, NOW)
        assert decision.chosen_rep_id is not None
        takers.append(decision.chosen_rep_id)
        fairness = {**fairness, **decision.fairness_updates[10]}
        if len(takers) == 2:
            present = set(takers)
    assert len(set(takers[:2])) == 2 and takers[2] in takers[:2]
    # the third lead's taker: received 2, expected 5/6 since its return owed 0: 1/6 over
    assert fairness[takers[2]] == pytest.approx(5 / 6 - 2)
    assert all(abs(credit) <= 1.5 for credit in fairness.values())


@PROPERTY_SETTINGS
@given(
    weights=st.lists(st.integers(1, 10), min_size=2, max_size=8),
    away=st.sets(st.integers(0, 7), max_size=6),
    rounds=st.integers(1, 80),
)
def test_while_the_eligible_set_does_not_change_every_rep_stays_within_one_lead(
    weights: list[int], away: set[int], rounds: int
) -> None:
    """Some members away throughout (never eligible, so never owed): the others stay strictly
    within one lead of n x weight / eligible total after every lead."""
    rep_ids = list(range(1, len(weights) + 1))
    absent = {rep_ids[i] for i in away if i < len(rep_ids) - 1}  # at least one rep stays in
    snapshots = {r: rep(r, absences=AWAY if r in absent else ()) for r in rep_ids}
    members = tuple(zip(rep_ids, weights, strict=True))
    total = sum(w for r, w in members if r not in absent)
    fairness: dict[int, float] = {}
    assigned = dict.fromkeys(rep_ids, 0)
    for n in range(1, rounds + 1):
        decision = route(lead(), config(rule(pool_id=10)), {10: pool(10, members, fairness=fairness)}, snapshots, NOW)
        assert decision.chosen_rep_id not in absent
        assigned[decision.chosen_rep_id] += 1
        fairness = {**fairness, **decision.fairness_updates[10]}
        for r, w in members:
            expected = 0 if r in absent else n * w / total
            assert abs(assigned[r] - expected) < 1, (n, assigned)


# Generated worlds for the safety properties ----------------------------------------------


@st.composite
def licences(draw: st.DrawFn) -> LicenceFact:
    start = NOW.date() + draw(st.sampled_from([-400, -400, -1, 0, 1])) * DAY
    until = draw(st.sampled_from([None, None, -1, 0, 1]))
    return LicenceFact(
        jurisdiction=draw(st.sampled_from(["US", "US-CA", "US-CA", "US-NY", "CA"])),
        product_line=draw(st.sampled_from(["auto", "life", "*", "*"])),
        valid_from=start,
        valid_until=None if until is None else NOW.date() + until * DAY,
    )


@st.composite
def absences(draw: st.DrawFn) -> Interval:
    start = NOW + draw(st.integers(-2, 2)) * HOUR
    return Interval(start, start + draw(st.integers(0, 3)) * HOUR)


def caps(*limits: int) -> st.SearchStrategy[int | None]:
    return st.sampled_from([None, None, None, *limits])


@st.composite
def reps(draw: st.DrawFn, rep_id: int) -> RepSnapshot:
    return rep(
        rep_id,
        active=draw(st.sampled_from([True, True, True, True, True, False])),  # offers stay common
        tier=draw(st.integers(1, 4)),
        timezone=draw(st.sampled_from(TIMEZONES)),
        working_hours=draw(st.sampled_from([{}, NINE_TO_FIVE, {5: ((0, 1440),)}])),
        skills=draw(
            st.dictionaries(
                st.sampled_from(["language:en", "language:es", "product:auto"]),
                st.integers(1, 5),
                max_size=3,
            )
        ),
        licences=tuple(draw(st.lists(licences(), min_size=1, max_size=3))),
        territories=tuple(
            draw(
                st.lists(
                    st.builds(
                        TerritoryFact,
                        st.sampled_from(["US", "CA"]),
                        st.sampled_from(["", "CA", "NY"]),
                    ),
                    max_size=2,
                )
            )
        ),
        absences=tuple(draw(st.lists(absences(), max_size=1))),
        max_open=draw(caps(1, 2, 3, 4)),
        max_daily=draw(caps(0, 2, 4)),
        max_weekly=draw(caps(3, 6)),
        open_count=draw(st.sampled_from([0, 1, 2, 3])),
        daily_count=draw(st.sampled_from([0, 1, 2, 3])),
        weekly_count=draw(st.sampled_from([0, 1, 2, 3])),
    )


@st.composite
def worlds(
    draw: st.DrawFn,
) -> tuple[
    LeadFacts, RuleSpec, dict[int, PoolSnapshot], dict[int, RepSnapshot], frozenset[int], bool
]:
    present = draw(
        st.lists(st.sampled_from(REP_IDS), unique=True, min_size=3, max_size=len(REP_IDS))
    )
    rep_map = {rep_id: draw(reps(rep_id)) for rep_id in sorted(present)}

    def members() -> tuple[tuple[int, int], ...]:
        known = sorted(rep_map)
        ids = draw(
            st.lists(st.sampled_from([*known, *known, 99]), min_size=2, max_size=8)
        )  # 99: a missing rep
        return tuple((rep_id, draw(st.integers(1, 5))) for rep_id in ids)

    fairness = st.dictionaries(
        st.sampled_from(REP_IDS), st.integers(-20, 20).map(float), max_size=4
    )
    pools = {
        10: pool(
            10,
            members(),
            fairness=draw(fairness),
            manager_id=draw(st.none() | st.sampled_from(REP_IDS)),
        ),
        20: pool(20, members(), fairness=draw(fairness)),
    }
    if draw(st.booleans()):
        del pools[20]  # a fallback pool that vanished
    chain = draw(
        st.lists(
            st.sampled_from(
                [
                    FallbackStep(StepKind.RELAX),
                    FallbackStep(StepKind.POOL, 20),
                    FallbackStep(StepKind.MANAGER),
                    FallbackStep(StepKind.HOLDING),
                ]
            )
            | st.builds(FallbackStep, st.just(StepKind.BACKUP), st.sampled_from(REP_IDS)),
            min_size=1,
            max_size=5,
        )
    )
    requirements = Requirements(
        skills=tuple(
            draw(
                st.lists(
                    st.builds(
                        SkillRequirement,
                        st.sampled_from(["product:auto", "language:es"]),
                        st.integers(1, 5),
                    ),
                    max_size=2,
                )
            )
        ),
        licence=draw(st.booleans()),
        territory=draw(st.booleans()),
        language=draw(st.booleans()),
        min_tier=draw(st.none() | st.integers(1, 4)),
        working_hours=draw(st.booleans()),
    )
    the_rule = rule(
        pool_id=10,
        strategy=draw(st.sampled_from(list(Strategy))),
        requirements=requirements,
        value_threshold=draw(st.none() | st.decimals(0, 100000, places=0)),
        high_value_min_tier=draw(st.none() | st.integers(1, 4)),
        fallback=tuple(chain),
        relaxation=tuple(draw(st.permutations(list(Criterion)))),
        reroute_on_escalation=draw(st.booleans()),
    )
    the_lead = lead(
        value=draw(st.decimals(0, 200000, places=2)),
        state=draw(st.sampled_from(["CA", "NY", ""])),
        language=draw(st.sampled_from(["en", "es", None])),
        product_line=draw(st.sampled_from(["auto", "life"])),
    )
    excluded = frozenset(draw(st.lists(st.sampled_from(REP_IDS), max_size=2)))
    return the_lead, the_rule, pools, rep_map, excluded, draw(st.booleans())


def decide(
    world: tuple[
        LeadFacts, RuleSpec, dict[int, PoolSnapshot], dict[int, RepSnapshot], frozenset[int], bool
    ],
) -> Decision:
    the_lead, the_rule, pools, rep_map, excluded, escalation = world
    return route(the_lead, config(the_rule), pools, rep_map, NOW, excluded, escalation)


def local_today(candidate: RepSnapshot) -> dt.date:
    try:
        zone: dt.tzinfo = ZoneInfo(candidate.timezone)
    except Exception:
        zone = dt.UTC
    return NOW.astimezone(zone).date()


def licensed(candidate: RepSnapshot, the_lead: LeadFacts) -> bool:
    state, product = the_lead.fields["state"], the_lead.fields["product_line"]
    jurisdictions = {"US", f"US-{state}"} if state else {"US"}
    today = local_today(candidate)
    return any(
        item.jurisdiction in jurisdictions
        and item.product_line in (product, "*")
        and item.valid_from <= today
        and (item.valid_until is None or today <= item.valid_until)
        for item in candidate.licences
    )


# 2. Caps -----------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(world=worlds())
def test_the_chosen_rep_is_never_at_a_cap(world: tuple) -> None:  # type: ignore[type-arg]
    decision = decide(world)
    if decision.chosen_rep_id is None:
        return
    chosen = world[3][decision.chosen_rep_id]
    assert chosen.max_open is None or chosen.open_count < chosen.max_open
    assert chosen.max_daily is None or chosen.daily_count < chosen.max_daily
    assert chosen.max_weekly is None or chosen.weekly_count < chosen.max_weekly


# 3. Hard constraints -----------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(world=worlds())
def test_hard_constraints_are_never_relaxed(world: tuple) -> None:  # type: ignore[type-arg]
    the_lead, the_rule, _pools, rep_map, excluded, _escalation = world
    decision = decide(world)
    if decision.chosen_rep_id is None:
        assert decision.chosen_step in (None, StepKind.HOLDING)
        return
    chosen = rep_map[decision.chosen_rep_id]
    assert chosen.active
    assert not any(absence.start <= NOW < absence.end for absence in chosen.absences)
    assert chosen.id not in excluded
    if the_rule.requirements.licence:
        assert licensed(chosen, the_lead)
    last = decision.steps[-1]
    assert last.chosen_rep_id == chosen.id and last.kind == decision.chosen_step
    assert all(step.chosen_rep_id is None for step in decision.steps[:-1])


# 4. Determinism ----------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(world=worlds(), seed=st.integers(0, 2**16))
def test_the_same_inputs_give_the_same_decision(world: tuple, seed: int) -> None:  # type: ignore[type-arg]
    first = decide(world)
    the_lead, the_rule, pools, rep_map, excluded, escalation = world
    shuffled = list(rep_map.items())
    random.Random(seed).shuffle(shuffled)
    again = decide(
        (the_lead, the_rule, dict(reversed(pools.items())), dict(shuffled), excluded, escalation)
    )
    assert again == first
    assert json.dumps(decision_to_dict(again)) == json.dumps(decision_to_dict(first))
    assert first.outcome.value in {"offer", "holding"}
    assert (first.chosen_rep_id is None) == (first.outcome.value == "holding")
