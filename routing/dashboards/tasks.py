"""django-q2 tasks for the dashboards. Each takes ids at most; running one twice is harmless."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import Counter
from typing import Any, Iterator

log = logging.getLogger(__name__)

REPLAY_MAX_LEADS = 20_000
REPLAY_MAX_CHANGES = 500  # leads listed by name with why they would move (the count covers all)
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
    projected_decisions: dict[int, Any] = {}  # lead id -> the draft's engine decision

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
        projected_decisions[result.item.lead_id] = decision
        if chosen is None:
            projected_holding[segment] += 1
        elif job.pool_id is None or decision_pool_id(decision) == job.pool_id:
            projected[chosen] += 1
            for rep_id, share in fairness.decision_shares(decision).items():
                expected[rep_id] += share

    actual: Counter[int] = Counter()
    actual_holding = 0
    first: dict[int, tuple[int | None, int | None]] = {}
    actual_rules: dict[int, tuple[int | None, str | None]] = {}
    for lead_id, pool_id, rep_id, rule_id, rule_name in (
        Decision.objects.filter(lead__received_at__gte=start, lead__received_at__lt=end)
        .order_by("id").values_list("lead_id", "pool_id", "chosen_rep_id", "rule_id", "rule__name")
    ):  # fmt: skip
        first.setdefault(lead_id, (pool_id, rep_id))
        actual_rules.setdefault(lead_id, (rule_id, rule_name))
    for lead_id, (pool_id, rep_id) in first.items():
        if lead_id not in by_lead:
            continue
        if rep_id is None:
            actual_holding += 1
        elif job.pool_id is None or pool_id == job.pool_id:
            actual[rep_id] += 1
    changed = sum(1 for lead_id, rep_id in by_lead.items() if lead_id in first and first[lead_id][1] != rep_id)
    changed_ids = [lead.id for lead in leads if lead.id in first and first[lead.id][1] != by_lead.get(lead.id)]
    names = dict(Rep.objects.filter(id__in=set(actual) | set(projected) | {first[i][1] for i in changed_ids}
                                    | {by_lead[i] for i in changed_ids}).values_list("id", "display_name"))  # fmt: skip
    lead_names = {lead.id: str(lead) for lead in leads}
    changes = [
        replay_change(lead_id=i, lead_name=lead_names[i], actual_rep_id=first[i][1], actual_rule=actual_rules.get(i, (None, None)),
                      projected=projected_decisions.get(i), names=names)
        for i in changed_ids[:REPLAY_MAX_CHANGES]
    ]  # fmt: skip
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
        "reps": rows, "segments": segments, "changes": changes,
    }  # fmt: skip


def replay_change(*, lead_id: int, lead_name: str, actual_rep_id: int | None, actual_rule: tuple[int | None, str | None],
                  projected: Any, names: dict[int, str]) -> dict[str, Any]:  # fmt: skip
    """One lead the draft would send elsewhere, and why, in words: the rule that matched instead,
    or why the rep who got it would not (their skip reasons under the draft), or that another rep
    was ahead (the draft decision's own summary)."""
    from routing import labels

    actual_name = names.get(actual_rep_id, f"Rep #{actual_rep_id}") if actual_rep_id else "holding"
    row: dict[str, Any] = {"lead_id": lead_id, "lead": lead_name, "actual_rep_id": actual_rep_id, "actual": actual_name,
                           "projected_rep_id": None, "projected": "holding", "why": ""}  # fmt: skip
    if projected is None:
        row["why"] = "routing this lead under the draft failed (it would be quarantined)"
        return row
    chosen = projected.chosen_rep_id
    row["projected_rep_id"] = chosen
    row["projected"] = names.get(chosen, f"Rep #{chosen}") if chosen else "holding"
    draft_rule = projected.rule
    if draft_rule is None:
        row["why"] = "no draft rule matches it, so it would wait in holding"
    elif draft_rule.id != actual_rule[0]:
        row["why"] = f"the draft rule “{draft_rule.name}” matches it before “{actual_rule[1] or 'no rule'}”"
    elif actual_rep_id is not None:
        candidate = next((c for step in projected.steps for c in step.candidates if c.rep_id == actual_rep_id), None)
        if candidate is None:
            row["why"] = f"{actual_name} is not in the pools the draft rule tries"
        elif not candidate.eligible:
            row["why"] = f"{actual_name} would be skipped: {', '.join(labels.reasons_text(candidate.reasons))}"
        else:
            row["why"] = f"{actual_name} is eligible but another rep is ahead: {projected.summary}"
    else:
        row["why"] = projected.summary
    return row


def _routing_fields(facts: Any, config: Any) -> dict[str, Any]:
    from routing import engine

    return engine.routing_fields(facts, engine.qualify(facts, config))


__all__ = ["enqueue_replay", "equity_rollup", "replay_change", "replay_run"]
