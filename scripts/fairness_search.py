"""Search for sequences that push the weighted-fair pick furthest from the eligibility-adjusted share.

    nice -n 10 .venv/bin/python scripts/fairness_search.py random --runs 100000 --seed 1
    nice -n 10 .venv/bin/python scripts/fairness_search.py adversary --seed 1
    ... --root /path/to/other/checkout      # measure another engine (e.g. main before a change)

``random`` replays the hypothesis property's patterns (tests/routing/engine/test_properties.py,
``simulate_pool``) through the engine's own ``pick_rep`` instead of the whole ``route`` (about 20x
faster, same pick): pools of 2-8 reps with weights 1-6, 300 leads, one of rare flips (1 %),
frequent flips (3/10/30 %), 30 % unavailability, long absences, caps of 1-3 open leads filling and
freeing, caps and flips. After every lead it checks the bound invariant
(``routing.engine.fairness.within_bound``) and reports, per pool size, the worst
|assigned - expected| and the worst "returner excess" ((leads since return - expected since
return) - (max(owed at return, 0) + 1)).

``adversary`` does not wait for luck: a beam search chooses, before every lead, which reps can
take it (any subset) so as to push the engine's worst credit up, for equal weights of 2-8 reps
and a few random weight lists. It reports the worst it reached and the proven bound (n - 1) / 2.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import random
import sys
from collections import defaultdict
from pathlib import Path

PATTERNS = ("rare_flips", "frequent_flips", "unavailable_30", "long_absences", "caps", "caps_and_flips")


def engine_step(credits: dict[int, float], weights: dict[int, int], eligible: list[int]) -> int:
    """One weighted-fair pick through the engine's own ``pick_rep``; updates ``credits``."""
    from routing.engine import pick_rep
    from routing.engine.types import PoolSnapshot, Strategy

    reps = [(_snapshot(r), weights[r]) for r in eligible]
    pool = PoolSnapshot(id=1, name="p", members=tuple(weights.items()), fairness=dict(credits))
    pick = pick_rep(Strategy.WEIGHTED_FAIR, reps, pool=pool, rule=_rule(), lead_fields={})
    credits.update(pick.credits)
    assert pick.chosen_rep_id is not None
    return pick.chosen_rep_id


@functools.cache
def _snapshot(rep_id: int):  # noqa: ANN202 (the engine's types are imported from --root)
    from routing.engine.types import RepSnapshot

    return RepSnapshot(id=rep_id, name=f"Rep {rep_id}", active=True, tier=1, timezone="UTC", working_hours={}, skills={})


@functools.cache
def _rule():  # noqa: ANN202
    from routing.engine.types import RuleSpec

    return RuleSpec(id=1, history_id=None, name="r", priority=1, enabled=True, conditions=(), pool_id=1)


def random_run(fairness_module, rng: random.Random, leads: int) -> tuple[int, float, float, bool, int]:
    """One sequence of the property's kind. Returns (pool size, worst drift, worst returner
    excess, invariant kept after every lead, leads that took a returner over "owed + 1" although
    some eligible rep was owed a lead: the hypothesis property's ``unforced``)."""
    size = rng.randint(2, 8)
    weight = {r: rng.randint(1, 6) for r in range(1, size + 1)}
    pattern = rng.choice(PATTERNS)
    rep_ids = list(weight)
    flip = {"rare_flips": 0.01, "frequent_flips": rng.choice([0.03, 0.1, 0.3]), "caps_and_flips": 0.03}.get(pattern, 0.0)
    capped = pattern in ("caps", "caps_and_flips")
    max_open = {r: rng.randint(1, 3) for r in rep_ids}
    close = rng.choice([0.05, 0.2, 0.5])
    absences: dict[int, list[tuple[int, int]]] = {r: [] for r in rep_ids}
    if pattern == "long_absences":
        for r in rep_ids:
            for _ in range(rng.randint(0, 2)):
                start = rng.randrange(leads)
                absences[r].append((start, start + rng.randint(50, 200)))
    away = dict.fromkeys(rep_ids, False)
    open_count = dict.fromkeys(rep_ids, 0)
    credits: dict[int, float] = {}
    expected = dict.fromkeys(rep_ids, 0.0)
    assigned = dict.fromkeys(rep_ids, 0)
    since: dict[int, list[float]] = {}
    was = dict.fromkeys(rep_ids, True)
    worst = worst_return = 0.0
    kept, unforced = True, 0
    within_bound = getattr(fairness_module, "within_bound", None)
    for n in range(leads):
        for r in rep_ids:
            if pattern == "unavailable_30":
                away[r] = rng.random() < 0.3
            elif pattern == "long_absences":
                away[r] = any(start <= n < end for start, end in absences[r])
            elif rng.random() < flip:
                away[r] = not away[r]
            open_count[r] -= sum(1 for _ in range(open_count[r]) if rng.random() < close)
        eligible = [r for r in rep_ids if not away[r] and (not capped or open_count[r] < max_open[r])]
        for r in rep_ids:
            if r in eligible and not was[r]:
                since[r] = [expected[r] - assigned[r], 0.0, 0.0]
            elif r not in eligible:
                since.pop(r, None)
            was[r] = r in eligible
        if not eligible:
            continue
        total = sum(weight[r] for r in eligible)
        nobody_owed = all(credits.get(r, 0.0) + weight[r] / total <= 1e-9 for r in eligible)
        chosen = engine_step(credits, weight, eligible)
        for r in eligible:
            expected[r] += weight[r] / total
            if r in since:
                since[r][1] += weight[r] / total
        assigned[chosen] += 1
        open_count[chosen] += 1
        if chosen in since:
            since[chosen][2] += 1
        worst = max(worst, *(abs(expected[r] - assigned[r]) for r in rep_ids))
        excess = max(((got - exp) - (max(owed, 0.0) + 1) for owed, exp, got in since.values()), default=0.0)
        worst_return = max(worst_return, excess)
        if chosen in since and not nobody_owed:  # only a lead to the returner raises its excess
            owed, exp, got = since[chosen]
            unforced += (got - exp) - (max(owed, 0.0) + 1) > 1e-9
        if within_bound is not None and not within_bound([credits.get(r, 0.0) for r in rep_ids]):
            kept = False
    return size, worst, worst_return, kept, unforced


def adversary(fairness_module, weights: dict[int, int], *, depth: int, beam: int, rng: random.Random) -> float:
    """Beam search over eligible sets (any non-empty subset before each lead) maximising the
    engine's worst |credit|; returns the worst reached."""
    reps = list(weights)
    subsets = [list(c) for k in range(1, len(reps) + 1) for c in itertools.combinations(reps, k)]
    states: list[tuple[dict[int, float], float]] = [(dict.fromkeys(reps, 0.0), 0.0)]
    best = 0.0
    for _ in range(depth):
        scored = []
        for credits, worst in states:
            for eligible in subsets if len(subsets) <= 64 else rng.sample(subsets, 64):
                new = dict(credits)
                engine_step(new, weights, eligible)
                top = sorted(new.values(), reverse=True)
                now = max(abs(top[0]), abs(top[-1]))
                score = max(worst, now) + 0.3 * now + 0.1 * (top[0] + top[1]) - 0.1 * top[-1]
                scored.append((score, max(worst, now), new))
        scored.sort(key=lambda item: -item[0])
        seen, states = set(), []
        for _score, worst, credits in scored:
            signature = tuple(round(v, 6) for v in credits.values())
            if signature not in seen:
                seen.add(signature)
                states.append((credits, worst))
            if len(states) >= beam:
                break
        best = max(best, *(worst for _, worst in states))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("random", "adversary"))
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent), help="checkout to measure")
    parser.add_argument("--runs", type=int, default=1000, help="random: sequences to try")
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--depth", type=int, default=30, help="adversary: leads per sequence")
    parser.add_argument("--beam", type=int, default=40, help="adversary: states kept per lead")
    args = parser.parse_args()
    sys.path.insert(0, args.root)
    from routing.engine import fairness

    rng = random.Random(args.seed)
    print(f"engine: {args.root}  mode: {args.mode}  seed: {args.seed}")
    if args.mode == "adversary":
        cases = [[1] * n for n in range(2, 9)] + [[rng.randint(1, 6) for _ in range(rng.randint(2, 8))] for _ in range(6)]
        for weights in cases:
            worst = adversary(fairness, dict(enumerate(weights, start=1)), depth=args.depth, beam=args.beam, rng=rng)
            print(f"{len(weights)} reps, weights {weights}: worst {worst:.3f} leads (proven bound {(len(weights) - 1) / 2})", flush=True)
        return
    # per pool size: runs, worst drift, worst returner excess, runs breaking the invariant, runs
    # with an unforced returner excess, runs over 1.5 leads
    by_size: dict[int, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0, 0, 0])
    for _ in range(args.runs):
        size, worst, worst_return, kept, unforced = random_run(fairness, rng, args.leads)
        row = by_size[size]
        row[0] += 1
        row[1] = max(row[1], worst)
        row[2] = max(row[2], worst_return)
        row[3] += not kept
        row[4] += unforced > 0
        row[5] += worst > 1.5 + 1e-9
    print(f"{'reps':>4}{'runs':>8}{'worst drift':>13}{'bound':>7}{'runs > 1.5':>12}{'returner excess':>17}"
          f"{'unforced runs':>15}{'invariant broken':>18}")  # fmt: skip
    for size in sorted(by_size):
        runs, worst, worst_return, broken, unforced, over = by_size[size]
        print(f"{size:>4}{runs:>8}{worst:>13.3f}{(size - 1) / 2:>7.1f}{over:>12}{worst_return:>17.3f}"
              f"{unforced:>15}{broken:>18}")  # fmt: skip


if __name__ == "__main__":
    main()
