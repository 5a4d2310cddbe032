"""django-q2 tasks for the dashboards. Each takes ids at most; running one twice is harmless."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import Counter
from typing import Any, Iterator

log = logging.getLogger(__name__)

REPLAY_MAX_LEADS = 20_000
PROGRESS_EVERY = 50


def equity_rollup() -> int:
    """Fold new decisions into the equity rollup, then repair recent days a watermark may have
    stepped over (schedule every minute: `manage.py setup_schedules`; pages also fold the tail)."""
    from routing.dashboards.services import equity_reconcile
    from routing.dashboards.services import equity_rollup as rollup

    read = rollup()
    equity_reconcile(days=2)
    return read


def enqueue_replay(job_id: int) -> None:
    from django_q.tasks import async_task

    async_task("routing.dashboards.tasks.replay_run", job_id, group="replay")


def replay_run(job_id: int) -> None:
    """Replay a window's leads through the draft rules in memory; writes only the ReplayJob row."""
    from routing.dashboards.models import ReplayJob
    from routing.dashboards.services import replay_finish

    job = ReplayJob.objects.filter(id=job_id).first()
    if job is None or job.status in (ReplayJob.Status.DONE, ReplayJob.Status.FAILED):
        return
    try:
        result = _replay(job)
    except Exception as exc:  # a replay must report failure on its row, never vanish
        log.exception("replay %s failed", job_id)
        replay_finish(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        return
    replay_finish(job_id=job_id, result=result)


def _replay(job: Any) -> dict[str, Any]:
    """1. Fetch draft config, pools, reps (capacity as of the window start) and the window's leads.
    2. Route each lead in arrival order, applying fairness credits and daily/weekly counts in memory
       (credits start at 0: the engine's own account, ``routing.engine.fairness``), and sum each
       rep's eligibility-adjusted expected count of the projected offers.
    3. Compare with the first decision each lead actually got."""
    from reps.models import Rep, RepLoad
    from routing.batch import BatchItem, BatchState, batch_scope, decide_batch, decision_pool_id, reachable_reps
    from routing.dashboards.models import ReplayJob
    from routing.engine import fairness
    from routing.dashboards.services import replay_progress
    from routing.models import Decision, Lead
    from routing.services import _count_offer
    from routing.snapshots import config_draft, lead_facts, pool_snapshots, rep_snapshots, rule_index

    start = dt.datetime.combine(job.start, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(job.end, dt.time.min, tzinfo=dt.UTC) + dt.timedelta(days=1)
    leads = list(Lead.objects.filter(received_at__gte=start, received_at__lt=end).order_by("received_at", "id")[:REPLAY_MAX_LEADS])
    replay_progress(job_id=job.id, done=0, total=len(leads), status=ReplayJob.Status.RUNNING)

    # The same state and decide step as a routing batch (routing.batch), from the draft rules,
    # with fairness and counts starting empty at the window start and nothing written.
    config = config_draft()
    index = rule_index(config)
    pool_ids, extra_reps = batch_scope(config.rules)
    pools = {pid: dataclasses.replace(p, fairness={}) for pid, p in pool_snapshots(pool_ids).items()}
    reps = {
        rid: dataclasses.replace(r, open_count=0, daily_count=0, weekly_count=0)
        for rid, r in rep_snapshots(reachable_reps(pools, extra_reps), now=start).items()
    }
    state = BatchState(pools=pools, reps=reps, loads={rid: RepLoad(rep_id=rid) for rid in reps}, count_open=False)

    projected: Counter[int] = Counter()
    expected: Counter[int] = Counter()  # eligibility-adjusted share of the replayed leads
    projected_holding: Counter[str] = Counter()
    per_segment: Counter[str] = Counter()
    by_lead: dict[int, int | None] = {}

    def items() -> Iterator[Any]:
        for n, lead in enumerate(leads, start=1):
            facts = lead_facts(lead)
            yield BatchItem(lead_id=lead.id, facts=facts, config=index.narrow(_routing_fields(facts, config)),
                            now=lead.received_at)  # fmt: skip
            if n % PROGRESS_EVERY == 0:
                replay_progress(job_id=job.id, done=n)

    # One batch in arrival order: each lead sees the fairness and caps of the ones before it.
    for result in decide_batch(items(), state, count_offer=_count_offer):
        decision = result.decision
        if decision is None:  # the engine failed on this lead: routing would quarantine it
            by_lead[result.item.lead_id] = None
            projected_holding["(routing failed)"] += 1
            per_segment["(routing failed)"] += 1
            continue
        segment = decision.segment.name if decision.segment else "(none)"
        per_segment[segment] += 1
        chosen = result.chosen_rep_id
        by_lead[result.item.lead_id] = chosen
        if chosen is None:
            projected_holding[segment] += 1
        elif job.pool_id is None or decision_pool_id(decision) == job.pool_id:
            projected[chosen] += 1
            for rep_id, share in fairness.decision_shares(decision).items():
                expected[rep_id] += share

    actual: Counter[int] = Counter()
    actual_holding = 0
    first: dict[int, tuple[int | None, int | None]] = {}
    for lead_id, pool_id, rep_id in (
        Decision.objects.filter(lead__received_at__gte=start, lead__received_at__lt=end)
        .order_by("id").values_list("lead_id", "pool_id", "chosen_rep_id")
    ):  # fmt: skip
        first.setdefault(lead_id, (pool_id, rep_id))
    for lead_id, (pool_id, rep_id) in first.items():
        if lead_id not in by_lead:
            continue
        if rep_id is None:
            actual_holding += 1
        elif job.pool_id is None or pool_id == job.pool_id:
            actual[rep_id] += 1
    changed = sum(1 for lead_id, rep_id in by_lead.items() if lead_id in first and first[lead_id][1] != rep_id)
    names = dict(Rep.objects.filter(id__in=set(actual) | set(projected)).values_list("id", "display_name"))
    total_actual, total_projected = sum(actual.values()), sum(projected.values())
    rows = [
        {
            "rep_id": rid, "name": names.get(rid, f"Rep #{rid}"), "actual": actual[rid], "projected": projected[rid],
            "projected_expected": round(expected[rid], 3),
            "actual_share": actual[rid] / total_actual if total_actual else 0.0,
            "projected_share": projected[rid] / total_projected if total_projected else 0.0,
        }
        for rid in set(actual) | set(projected) | set(expected)
    ]  # fmt: skip
    rows.sort(key=lambda r: (-r["projected"], r["name"]))
    segments = [
        {"segment": seg, "leads": total, "projected_holding": projected_holding[seg],
         "risk": projected_holding[seg] / total if total else 0.0}
        for seg, total in sorted(per_segment.items())
    ]  # fmt: skip
    return {
        "leads": len(leads), "truncated": len(leads) >= REPLAY_MAX_LEADS, "changed": changed,
        "holding": {"actual": actual_holding, "projected": sum(projected_holding.values())},
        "reps": rows, "segments": segments,
    }  # fmt: skip


def _routing_fields(facts: Any, config: Any) -> dict[str, Any]:
    from routing import engine

    return engine.routing_fields(facts, engine.qualify(facts, config))


__all__ = ["enqueue_replay", "equity_rollup", "replay_run"]
