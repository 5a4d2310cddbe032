"""CPU per decision of the pure engine (``routing.engine.route``) when a lead walks every step.

    .venv/bin/python scripts/engine_steps.py                    # this checkout
    .venv/bin/python scripts/engine_steps.py --root ../other    # another checkout's engine, same builders

Two scenarios over the same 260 reps (skills, territories, licences and tiers varied; no working
hours): ``capped``, every rep at their open cap, so a lead walks the primary step, three
relaxation steps (territory, skill level, tier), a fallback pool of 61 and lands in holding (what
the load test's leads do once its reps stop answering); ``free``, the same with capacity left, so
the primary step offers. 400 leads each, five rounds, the best round's CPU per lead
(``time.process_time``). No database: the engine is pure. Compare checkouts by running both in
one sitting, alternately.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(scenario: str, rounds: int = 5) -> tuple[float, list[str], str]:
    from routing.engine import route
    from routing.engine.types import Criterion, FallbackStep, Requirements, SkillRequirement, StepKind, TerritoryFact
    from tests.routing.engine.builders import NOW, config, lead, licence, pool, rep, rule

    capped = scenario == "capped"
    reps = {
        i: rep(i, max_open=5, open_count=5 if capped else i % 5, tier=1 + i % 3, working_hours={},
               skills={"language:en": 1 + i % 3, "product:auto": 1 + i % 3}, licences=(licence("US", "*"),),
               territories=(TerritoryFact("US", ("CA", "NY", "TX")[i % 3]),))
        for i in range(1, 261)
    }  # fmt: skip
    requirements = Requirements(skills=(SkillRequirement("product:auto", 2),), licence=True, territory=True,
                                language=True, min_tier=2)  # fmt: skip
    the_rule = rule(requirements=requirements, relaxation=(Criterion.TERRITORY, Criterion.SKILL_LEVEL, Criterion.TIER),
                    fallback=(FallbackStep(StepKind.RELAX), FallbackStep(StepKind.POOL, 11), FallbackStep(StepKind.HOLDING)))  # fmt: skip
    pools = {10: pool(10, [(i, 1) for i in range(1, 211)]), 11: pool(11, [(i, 1) for i in range(200, 261)])}
    cfg = config(the_rule)
    leads = [lead(n, state=("CA", "NY", "TX", "FL")[n % 4]) for n in range(1, 401)]
    for one in leads[:50]:  # warm caches
        route(one, cfg, pools, reps, NOW)
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for one in leads:
            route(one, cfg, pools, reps, NOW)
        best = min(best, (time.process_time() - started) / len(leads) * 1e6)
    decision = route(leads[0], cfg, pools, reps, NOW)
    return best, [str(step.kind) for step in decision.steps], str(decision.outcome)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose routing.engine is measured")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # the builders (tests/routing/engine/builders.py)
    sys.path.insert(0, str(args.root.resolve()))  # its routing package first
    for scenario in ("capped", "free"):
        us, steps, outcome = measure(scenario)
        print(f"{scenario:>6}: {us:,.0f} µs per lead; steps {' → '.join(steps)}; {outcome}")


if __name__ == "__main__":
    main()
