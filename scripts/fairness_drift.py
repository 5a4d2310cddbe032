"""Measure how far the weighted-fair pick lets reps drift from the eligibility-adjusted share.

    .venv/bin/python scripts/fairness_drift.py                  # this checkout's engine
    .venv/bin/python scripts/fairness_drift.py --root /path/to/other/checkout   # e.g. before
    .venv/bin/python scripts/fairness_drift.py --trials 50 --json out.json

The settings are those of issue 19: pools of 2-8 reps with weights 1-6, 400 leads, 300 random
trials per setting; each rep's availability flips with probability 1 %, 3 % or 10 % before every
lead, or each rep is independently unavailable for 30 % of leads. The script keeps its own
account of the figure managers see (per rep, the sum of weight / eligible total weight over the
leads it could take) and feeds the engine's own ``pick_rep`` the credits the engine returned, so
it measures any engine version with the same ``pick_rep`` signature (``--root``).

Reported per setting: the worst |assigned - expected| over every rep, lead and trial, the mean
over trials of each trial's worst, and the worst "returner excess": from a rep's return on,
(leads received - leads expected since the return) - (max(owed at return, 0) + 1), which is
<= 0 when a returner never gets more than it was owed plus one lead.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

SETTINGS = (("flip 1 %", "flip", 0.01), ("flip 3 %", "flip", 0.03), ("flip 10 %", "flip", 0.10),
            ("unavailable 30 %", "iid", 0.30))  # fmt: skip


def run(setting: tuple[str, str, float], *, trials: int, leads: int, seed: int) -> dict[str, float]:
    from routing.engine import pick_rep
    from routing.engine.types import PoolSnapshot, RepSnapshot, RuleSpec, Strategy

    _name, mode, p = setting
    rng = random.Random(seed)
    rule = RuleSpec(id=1, history_id=None, name="r", priority=1, enabled=True, conditions=(), pool_id=1)
    worst = mean = worst_return = 0.0
    for _ in range(trials):
        size = rng.randint(2, 8)
        weights = {r: rng.randint(1, 6) for r in range(1, size + 1)}
        reps = {r: RepSnapshot(id=r, name=f"Rep {r}", active=True, tier=1, timezone="UTC", working_hours={}, skills={})
                for r in weights}  # fmt: skip
        available = dict.fromkeys(weights, True)
        credits: dict[int, float] = {}
        expected = dict.fromkeys(weights, 0.0)
        assigned = dict.fromkeys(weights, 0)
        returned: dict[int, list[float]] = {}  # rep -> [owed at return, expected since, got since]
        trial_worst = 0.0
        for _lead in range(leads):
            for r in weights:
                before = available[r]
                available[r] = (rng.random() >= p) if mode == "iid" else (before != (rng.random() < p))
                if available[r] and not before:
                    returned[r] = [expected[r] - assigned[r], 0.0, 0.0]
                elif not available[r]:
                    returned.pop(r, None)
            eligible = [r for r in weights if available[r]]
            if not eligible:
                continue
            pool = PoolSnapshot(id=1, name="p", members=tuple(weights.items()), fairness=dict(credits))
            pick = pick_rep(Strategy.WEIGHTED_FAIR, [(reps[r], weights[r]) for r in eligible], pool=pool,
                            rule=rule, lead_fields={})  # fmt: skip
            credits.update(pick.credits)
            total = sum(weights[r] for r in eligible)
            for r in eligible:
                expected[r] += weights[r] / total
                if r in returned:
                    returned[r][1] += weights[r] / total
            chosen = pick.chosen_rep_id
            assigned[chosen] += 1
            if chosen in returned:
                returned[chosen][2] += 1
            trial_worst = max(trial_worst, *(abs(assigned[r] - expected[r]) for r in weights))
            for owed, since, got in returned.values():
                worst_return = max(worst_return, (got - since) - (max(owed, 0.0) + 1))
        worst = max(worst, trial_worst)
        mean += trial_worst / trials
    return {"worst": round(worst, 3), "mean_worst": round(mean, 3), "returner_excess": round(worst_return, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent), help="checkout to measure")
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--leads", type=int, default=400)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    sys.path.insert(0, args.root)
    results = {name: run((name, mode, p), trials=args.trials, leads=args.leads, seed=args.seed)
               for name, mode, p in SETTINGS}  # fmt: skip
    print(f"engine: {args.root}  ({args.trials} trials x {args.leads} leads, pools 2-8 reps, weights 1-6)")
    print(f"{'setting':<18}{'worst':>8}{'mean worst':>12}{'returner excess':>17}")
    for name, r in results.items():
        print(f"{name:<18}{r['worst']:>8.2f}{r['mean_worst']:>12.2f}{r['returner_excess']:>17.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"root": args.root, "results": results}, indent=2))


if __name__ == "__main__":
    main()
