"""Decide a batch of leads in memory: the step routing and replay share. Writes nothing.

``routing.services`` fetches and locks the state (``BatchState``), calls ``decide_batch`` and
persists what comes back; the what-if replay (``routing.dashboards.tasks``) builds the same state
from the draft rules and keeps only the outcomes. A lead whose decision raises (bad data, an
engine bug) is returned as failed with its error and leaves the state untouched for the others.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from reps.models import FairnessState, RepLoad
from routing import engine
from routing.engine.business_time import BusinessCalendar
from routing.engine.types import ConfigSnapshot, LeadFacts, Outcome, PoolSnapshot, RepSnapshot, StepKind
from routing.engine.types import Decision as EngineDecision
from routing.snapshots import capacity_counts, local_day_and_week


@dataclasses.dataclass
class BatchState:
    """What a batch decides against, updated in memory as each lead is decided.

    ``loads`` are capacity rows (as ``routing.services`` reads them when routing: RepLoad's
    attributes, written back with its ``_bulk_set``; unsaved RepLoad instances in replay);
    ``fairness_rows`` are the batch's fairness rows, likewise (None in replay: credits live in
    ``pools``).
    ``count_open``: count each offer as open (routing) or not (replay cannot know when leads
    were closed, so it projects daily and weekly caps only).
    """

    pools: dict[int, PoolSnapshot]
    reps: dict[int, RepSnapshot]
    loads: dict[int, RepLoad]
    fairness_rows: dict[tuple[int, int], FairnessState] | None = None
    count_open: bool = True
    touched_loads: set[int] = dataclasses.field(default_factory=set)
    touched_fairness: set[tuple[int, int]] = dataclasses.field(default_factory=set)
    # calendar id -> calendar of segments whose SLA clock is their own calendar (routing.engine.sla)
    segment_calendars: dict[int, BusinessCalendar] = dataclasses.field(default_factory=dict)
    owner_counts_toward_fairness: bool = False  # LEADOPS_OWNER_COUNTS_TOWARD_FAIRNESS (routing.engine.route)

    def refresh_counts(self, now: dt.datetime) -> None:
        """Re-derive every rep's daily and weekly counts for ``now`` (a new local day or week)."""
        for rep_id, rep in self.reps.items():
            counts = capacity_counts(load=self.loads.get(rep_id), tz_name=rep.timezone, now=now)
            self.reps[rep_id] = dataclasses.replace(rep, daily_count=counts.today, weekly_count=counts.week)


@dataclasses.dataclass(frozen=True)
class BatchItem:
    """One lead to decide: its facts, the configuration narrowed to its candidate rules, the
    reps excluded (declined or let it expire), whether it is an escalation for the engine, and
    the time it is decided at."""

    lead_id: int | None
    facts: LeadFacts
    config: ConfigSnapshot
    now: dt.datetime
    excluded_rep_ids: frozenset[int] = frozenset()
    escalation: bool = False


@dataclasses.dataclass(frozen=True)
class BatchResult:
    item: BatchItem
    decision: EngineDecision | None  # None: deciding raised, see ``error``
    error: str = ""
    duration_us: int = 0

    @property
    def chosen_rep_id(self) -> int | None:
        d = self.decision
        return d.chosen_rep_id if d is not None and d.outcome == Outcome.OFFER else None


def error_text(exc: BaseException) -> str:
    """``Type: message`` plus the innermost frames, short enough for a lead row and a page."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in reversed(frames))
    return f"{type(exc).__name__}: {exc}"[:1500] + (f"\n at {where}" if where else "")


def decide_batch(items: Iterable[BatchItem], state: BatchState, *, count_offer: Callable[..., None],
                 think_ms: float = 0.0) -> list[BatchResult]:  # fmt: skip
    """Decide ``items`` in order against ``state``, applying each offer to the state (fairness
    credits, capacity counts) so the next lead sees it.

    ``count_offer(load, day=, week=)`` is the one capacity counter (routing.services).
    ``think_ms``: benchmarks only (LEADOPS_BENCH_THINK_MS): sleep this many milliseconds in every
    decision, standing in for a costlier engine, to show whether workers decide in parallel.
    A lead whose decision raises gets a result with ``error`` and no decision; the state is
    left as it was before that lead.
    """
    results: list[BatchResult] = []
    counted_hour: tuple[int, int, int, int] | None = None
    for item in items:
        hour = (item.now.year, item.now.month, item.now.day, item.now.hour)
        if counted_hour is not None and hour != counted_hour:
            state.refresh_counts(item.now)  # replay crosses days: caps restart per local day
        counted_hour = hour
        started = time.perf_counter()
        try:
            decision = engine.route(
                item.facts, item.config, state.pools, state.reps, item.now,
                excluded_rep_ids=item.excluded_rep_ids, escalation=item.escalation,
                segment_calendars=state.segment_calendars,
                owner_counts_toward_fairness=state.owner_counts_toward_fairness,
            )  # fmt: skip
            if think_ms:
                time.sleep(think_ms / 1000)
            duration_us = int((time.perf_counter() - started) * 1_000_000)
            _apply(decision, state, now=item.now, count_offer=count_offer)
        except Exception as exc:  # one lead's fault is recorded on that lead; the batch goes on
            results.append(BatchResult(item=item, decision=None, error=error_text(exc)))
            continue
        results.append(BatchResult(item=item, decision=decision, duration_us=duration_us))
    return results


def _apply(decision: EngineDecision, state: BatchState, *, now: dt.datetime,
           count_offer: Callable[..., None]) -> None:  # fmt: skip
    """The decision's effect on the in-memory state; everything is checked before anything
    changes, so a failure leaves the state as it was."""
    chosen = decision.chosen_rep_id if decision.outcome == Outcome.OFFER else None
    if chosen is not None and chosen not in state.reps:
        raise LookupError(f"the engine chose rep {chosen}, who is not among the batch's reps")
    for pool_id in decision.fairness_updates:
        if pool_id not in state.pools:
            raise LookupError(f"fairness update for pool {pool_id}, which is not among the batch's pools")
    for pool_id, credits in decision.fairness_updates.items():
        pool = state.pools[pool_id]
        state.pools[pool_id] = dataclasses.replace(pool, fairness={**pool.fairness, **credits})
        if state.fairness_rows is not None:
            for rep_id, credit in credits.items():
                row = state.fairness_rows.get((pool_id, rep_id))
                if row is not None:
                    row.credit = credit
                    state.touched_fairness.add((pool_id, rep_id))
    if chosen is None:
        return
    rep = state.reps[chosen]
    load = state.loads.get(chosen)
    if load is None:
        load = state.loads[chosen] = RepLoad(rep_id=chosen)
    day, week = local_day_and_week(now, rep.timezone)
    open_before = load.open_count
    count_offer(load, day=day, week=week)
    if not state.count_open:
        load.open_count = open_before
    state.touched_loads.add(chosen)
    state.reps[chosen] = dataclasses.replace(
        rep, open_count=load.open_count, daily_count=load.daily_count, weekly_count=load.weekly_count
    )
    if decision.chosen_step and decision.fairness_updates and state.fairness_rows is not None:
        for pool_id in decision.fairness_updates:
            row = state.fairness_rows.get((pool_id, chosen))
            if row is not None:
                row.assigned += 1


def decision_pool_id(decision: EngineDecision) -> int | None:
    """The pool a decision assigned from: the picking step's pool, else the rule's."""
    pool_id = decision.rule.pool_id if decision.rule else None
    for step in decision.steps:
        if step.chosen_rep_id is not None:
            pool_id = step.pool_id or pool_id
    return pool_id


def outcome_key(decision: EngineDecision) -> str:
    """A digest of what a decision concluded and why: rule set, segment, rule, outcome, and each
    step's candidates with their reasons (not scores or counts). A holding-pool retry with the
    same digest as the lead's last recorded decision changed nothing and writes nothing."""
    parts: list[Any] = [
        decision.config_version, decision.segment.id if decision.segment else None,
        decision.rule.id if decision.rule else None, str(decision.outcome), str(decision.chosen_step or ""),
        decision.chosen_rep_id,
    ]  # fmt: skip
    for step in decision.steps:
        parts.append((str(step.kind), step.pool_id, tuple(map(str, step.relaxed)),
                      tuple((c.rep_id, c.eligible, tuple(map(str, c.reasons))) for c in step.candidates)))  # fmt: skip
    return hashlib.sha1(repr(parts).encode(), usedforsecurity=False).hexdigest()


def batch_scope(rules: Iterable[Any]) -> tuple[set[int], set[int]]:
    """Pools and extra reps (backups) the engine can reach from these rules."""
    pool_ids: set[int] = set()
    extra_reps: set[int] = set()
    for rule in rules:
        pool_ids.add(rule.pool_id)
        for step in rule.fallback:
            if step.kind == StepKind.POOL and step.target_id:
                pool_ids.add(step.target_id)
            elif step.kind == StepKind.BACKUP and step.target_id:
                extra_reps.add(step.target_id)
    return pool_ids, extra_reps


def reachable_reps(pools: Mapping[int, PoolSnapshot], extra_reps: set[int]) -> set[int]:
    """Every rep a decision over these pools can reach: members, named backups, pool managers."""
    rep_ids = {rep_id for pool in pools.values() for rep_id, _ in pool.members} | extra_reps
    return rep_ids | {pool.manager_id for pool in pools.values() if pool.manager_id}
