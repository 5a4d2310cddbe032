"""Every write to leads, offers, capacity, fairness and published rules goes through here.

Fetch, decide, persist: snapshots are gathered with a fixed number of queries, the pure engine
decides, and the outcome plus its audit record are written in one transaction. Follow-ups
(wake-ups, notifications, webhooks) are queued with ``transaction.on_commit``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import logging
import operator
import time
from collections.abc import Set
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, OperationalError, connection, connections, models, transaction
from django.utils import timezone

from reps.models import FairnessState, Rep, RepLoad
from reps.selectors import rep_unavailable_reason
from routing import engine
from routing.batch import (
    BatchItem,
    BatchResult,
    BatchState,
    batch_scope,
    decide_batch,
    decision_pool_id,
    error_text,
    outcome_key,
    reachable_reps,
)
from routing.engine import business_time, queue, sla
from routing.engine.eligibility import rep_calendar
from routing.engine.explain import to_jsonable
from routing.engine.route import shared_offer_deadline
from routing.engine.types import ConfigSnapshot, LeadFacts, Outcome, PoolSnapshot, RepSnapshot, StepKind
from routing.engine.types import Decision as EngineDecision
from routing.accounts import lead_links_one, leads_link
from routing.decision_detail import details_compact
from routing.models import Decision, DeliveryMode, Lead, Offer, RuleSet, Segment, TouchChannel
from routing.snapshots import (
    Directory,
    IntakeReference,
    config_live,
    directory_fingerprint,
    config_to_json,
    fetchone_prepared,
    intake_reference,
    lead_facts,
    pool_snapshots,
    rep_snapshots,
    routing_directory,
    rule_index,
    server_bound_cursor,
)

log = logging.getLogger(__name__)

DEFAULT_SEGMENT_PRIORITY = 100  # a lead no segment claims queues like a default-priority segment

# Listeners the inbox layer registers (notifications, webhooks). Each gets a whole batch of
# (event, payload) pairs: either inside the transaction that made the change (for durable
# side-effect rows, written atomically with it) or after it commits (for queue tasks).
Event = tuple[str, dict[str, Any]]
_listeners: list[Callable[[list[Event]], None]] = []
_transaction_listeners: list[Callable[[list[Event]], None]] = []


def listen(callback: Callable[[list[Event]], None], *, in_transaction: bool = False) -> None:
    registry = _transaction_listeners if in_transaction else _listeners
    if callback not in registry:
        registry.append(callback)


def _emit(events: list[Event]) -> None:
    """Tell listeners about changes made in the current transaction: one call per batch.

    One bad listener or event never stops the others. In-transaction listeners (durable rows
    written with the change) each run in a savepoint; if one fails on the batch, it is called
    again event by event, each in its own savepoint, and only the events that still fail are
    dropped (logged) while the change itself commits. After-commit listeners are isolated the
    same way, without savepoints.
    """
    if not events:
        return
    for callback in list(_transaction_listeners):
        _call_isolated(callback, events, savepoint=True)

    def fire() -> None:
        for callback in list(_listeners):
            _call_isolated(callback, events, savepoint=False)

    transaction.on_commit(fire)


def _call_isolated(callback: Callable[[list[Event]], None], events: list[Event], *, savepoint: bool) -> None:
    def call(batch: list[Event]) -> None:
        if savepoint:
            with transaction.atomic():
                callback(batch)
        else:
            callback(batch)

    try:
        call(events)
        return
    except Exception:
        if len(events) == 1:
            log.exception("listener %s failed for event %s", getattr(callback, "__name__", callback), events[0][0])
            return
    for event in events:
        try:
            call([event])
        except Exception:  # this event only; the rest were delivered
            log.exception("listener %s failed for event %s %s", getattr(callback, "__name__", callback), event[0],
                          event[1].get("lead_id"))  # fmt: skip


def _emit_on_commit(event: str, payload: dict[str, Any]) -> None:
    _emit([(event, payload)])


def _wake_router() -> None:
    from routing.tasks import enqueue_route_pending

    transaction.on_commit(enqueue_route_pending)


def _retry_on_deadlock(fn: Callable[[], Any], attempts: int = 5) -> Any:
    for attempt in range(attempts):
        try:
            return fn()
        except OperationalError as exc:  # deadlock / serialization failure / sqlite busy
            if attempt == attempts - 1:
                raise
            log.warning("retrying after %s", exc)
            time.sleep(0.05 * (attempt + 1))
    return None


# --- intake -----------------------------------------------------------------------------


def lead_build(*, data: dict[str, Any], config: ConfigSnapshot, now: dt.datetime, segment_ids: Set[int]) -> Lead:
    """An unsaved pending Lead with its segment, high-value flag and queue place worked out by
    the engine (``engine.classify`` through the version's rule index, ``RuleIndex.classify``:
    the same classification routing decides with), so the queue can order it before it is
    routed. ``segment_ids``: segment rows that exist (the live rule set may name a segment the
    draft has deleted; the lead then keeps no segment link)."""
    facts = lead_facts(data, received_at=now)
    classified, _ = rule_index(config).classify(facts)
    segment = classified.segment
    priority = segment.priority if segment else DEFAULT_SEGMENT_PRIORITY
    return Lead(
        **data,
        received_at=now,
        segment_id=segment.id if segment and segment.id in segment_ids else None,
        high_value=classified.high_value,
        segment_priority=priority,
        queue_at=queue.queue_at(received_at=now, segment_priority=priority, high_value=classified.high_value,
                                value=facts.fields.get("value")),
        status=Lead.Status.PENDING,
    )


def lead_intake(*, data: dict[str, Any], now: dt.datetime | None = None,
                reference: IntakeReference | None = None) -> tuple[Lead, bool]:  # fmt: skip
    """Store a validated lead durably, or return the existing one for the same source + id.

    ``data`` is cleaned input (see routing.validation.clean_lead). Returns (lead, created).
    ``reference``: the rule set and segments to classify it with, as read when its input was
    validated (``snapshots.intake_reference``; read now when not given).
    The INSERT itself finds the duplicate (the unique source + external id): a new lead, the
    common case, costs no look-up first. Raises IntegrityError for any other constraint.
    """
    now = now or timezone.now()
    reference = reference or intake_reference()
    lead = lead_build(data=data, config=reference.config, now=now, segment_ids=reference.segment_ids)
    for _attempt in range(2):
        if _db().in_atomic_block:
            with transaction.atomic():  # a savepoint: a refused row leaves the caller's transaction usable
                created = _lead_insert(lead)
        else:
            created = _lead_insert(lead)  # one statement, its own transaction
        if created:
            _wake_router()
            return lead, True
        # Sent before (a retry), or a concurrent duplicate committed first: answer with that lead.
        existing = Lead.objects.filter(source=data["source"], external_id=data["external_id"]).first()
        if existing is not None:
            return existing, False
        # The row that conflicted was deleted before we could read it: insert again, once.
    raise IntegrityError(f"lead {data['source']!r}/{data['external_id']!r} conflicts with a row that keeps vanishing")


# The lead INSERT's text per connection alias, and its columns' fields in order.
_LEAD_INSERT: dict[str, tuple[str, tuple[models.Field, ...]]] = {}


def _lead_insert(lead: Lead) -> bool:
    """INSERT one new lead, ``... ON CONFLICT (source, external_id) DO NOTHING RETURNING id``;
    True with ``lead.id`` set when it was stored, False when a lead with the same source and
    external id exists (or was committed meanwhile: the statement waits for a concurrent insert
    of the same key and then does nothing). Raises IntegrityError for any other constraint.

    The statement's text is built once per connection (Django builds an INSERT's SQL for every
    ``save``: about 40 % of intake's CPU with the Lead's 45 columns). Values are prepared as
    ``Model.save`` prepares them (``pre_save`` then ``get_db_prep_save``); Lead has no history
    and no save signals, and its ``save`` only fills ``queue_at``, which ``lead_build`` sets."""
    db = _db()
    cached = _LEAD_INSERT.get(db.alias)
    if cached is None:
        meta = Lead._meta
        qn = db.ops.quote_name
        fields = [f for f in meta.concrete_fields if f is not meta.pk]
        conflict = ", ".join(qn(meta.get_field(name).column) for name in ("source", "external_id"))
        sql = (f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
               f"VALUES ({', '.join(['%s'] * len(fields))}) ON CONFLICT ({conflict}) DO NOTHING "
               f"RETURNING {qn(meta.pk.column)}")  # fmt: skip
        cached = _LEAD_INSERT[db.alias] = (sql, tuple(fields))
    sql, columns = cached
    if lead.queue_at is None:
        lead.queue_at = lead.received_at  # as Lead.save does
    values = [field.get_db_prep_save(field.pre_save(lead, True), db) for field in columns]
    row = fetchone_prepared(sql, values, using=db)
    if row is None:
        return False
    lead.pk = row[0]
    lead._state.adding, lead._state.db = False, db.alias
    return True


# --- routing ----------------------------------------------------------------------------

# Quarantined leads are never taken by a batch: they wait for a publish or an ops retry.
ROUTABLE_STATUSES = (Lead.Status.PENDING, Lead.Status.HOLDING)
# Batches of held leads one holding_release call works through at most (each batch backs its
# leads off or offers them, so the loop ends; the cap bounds one call under a huge pool).
HOLDING_RELEASE_MAX_BATCHES = 50


def _select_waiting(limit: int, statuses: tuple[str, ...], now: dt.datetime) -> list[Lead]:
    """Leads to route, locked, in queue order (routing.engine.queue): pending ones, or held ones
    whose retry is due (``next_retry_at`` passed, or made due by ``holding_wake``)."""
    return list(_select_waiting_qs(statuses, now)[:limit])


def _select_waiting_qs(statuses: tuple[str, ...], now: dt.datetime) -> models.QuerySet[Lead]:
    if tuple(statuses) == (Lead.Status.HOLDING,):
        qs = Lead.objects.filter(
            models.Q(next_retry_at__lte=now) | models.Q(next_retry_at__isnull=True), status=Lead.Status.HOLDING
        )
    else:
        qs = Lead.objects.filter(status__in=statuses)
    qs = qs.order_by("queue_at", "id")
    if connection.features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    return qs


def leads_route_pending(*, limit: int = 50, now: dt.datetime | None = None) -> int:
    """Route up to ``limit`` pending leads, in queue order, in one transaction.

    Safe to call from any number of workers at once: leads are taken with
    SELECT ... FOR UPDATE SKIP LOCKED and capacity/fairness rows are locked in a fixed order.
    A lead whose routing raises is quarantined; the others are routed. Returns the number of
    leads taken (routed or quarantined).
    """
    return _retry_on_deadlock(lambda: _route_batch(limit=limit, now=now, statuses=(Lead.Status.PENDING,)))


def routing_warm(*, now: dt.datetime | None = None) -> None:
    """Fill this process's routing caches (live configuration, rule index, the pools and reps
    every published rule can reach) as a worker's first batches would. Writes nothing."""
    now = now or timezone.now()
    config = config_live()
    rule_index(config)
    directory = routing_directory()
    pool_ids, extra_reps = batch_scope(config.rules)
    directory.reps(reachable_reps(directory.pools(pool_ids), extra_reps), now=now, loads={})


def leads_route_all_pending(*, batch: int = 50, now: dt.datetime | None = None) -> int:
    total = 0
    while routed := leads_route_pending(limit=batch, now=now):
        total += routed
    return total


# Kept under their old names for callers outside routing (dry run, replay).
_batch_scope = batch_scope
_reachable_reps = reachable_reps


def _locked_rows(model: type[models.Model], column: str, ids: set[int], *, order: tuple[str, ...],
                 lock: bool = True) -> list[Any]:  # fmt: skip
    """``SELECT ... WHERE column = ANY(ids) ORDER BY order FOR UPDATE`` (``lock=False``: without
    FOR UPDATE): one array parameter instead of an IN list of thousands of placeholders (cheaper
    to build and to parse), bound on the server (``server_bound_cursor``: a batch at 10,000 reps
    passes ~1,400 rep ids, which client-side binding quoted one by one in Python), rows returned
    as light rows with the model's attributes (``_loaded_rows``); on other databases as model
    instances. Either can be written back with ``_bulk_set``."""
    if not ids:
        return []
    if connection.vendor != "postgresql":
        qs = model.objects.filter(**{f"{column}__in": ids}).order_by(*order)
        return list(qs.select_for_update() if lock else qs)
    qn = connection.ops.quote_name
    meta = model._meta
    field = next(f for f in meta.concrete_fields if f.column == column)
    sql = (
        f"SELECT * FROM {qn(meta.db_table)} WHERE {qn(column)} = ANY(%b::{field.cast_db_type(connection)}[]) "
        f"ORDER BY {', '.join(qn(c) for c in order)}{' FOR UPDATE' if lock else ''}"
    )
    with server_bound_cursor() as cursor:
        cursor.execute(sql, [sorted(ids)], prepare=False)
        attnames = {f.column: f.attname for f in meta.concrete_fields}
        names = [attnames[col.name] for col in cursor.description]
        rows = cursor.fetchall()
    return _loaded_rows(model, names, rows)


def _loaded_rows(model: type[models.Model], names: list[str], rows: list[tuple]) -> list[Any]:
    """``rows`` of ``model``'s table (``names``: the attribute of each column) as light rows: the
    columns as attributes plus ``pk``, which is all routing reads and writes on its counter rows
    (``_apply``, ``_bulk_set``), not model instances. A batch reads ~1,500 capacity and fairness
    rows at 500 reps / 50 rules and ~3,400 at 10,000 / 1,000 (then locks the touched ones again);
    a model instance, even without ``__init__``, cost ~5 us a row, a slotted row ~1.3 us."""
    cls = _row_class(model, tuple(names))
    return [cls(*row) for row in rows]


_ROW_CLASSES: dict[tuple[type[models.Model], tuple[str, ...]], type] = {}


def _row_class(model: type[models.Model], names: tuple[str, ...]) -> type:
    """A slotted dataclass with ``names`` as fields, in that order, and ``pk`` (``RepLoadRow``)."""
    cls = _ROW_CLASSES.get((model, names))
    if cls is None:
        pk = model._meta.pk.attname
        cls = _ROW_CLASSES[(model, names)] = dataclasses.make_dataclass(
            f"{model.__name__}Row", names, slots=True, eq=False,
            namespace={"pk": property(lambda row: getattr(row, pk)), "model": model},
        )  # fmt: skip
    return cls


def _lock_loads(rep_ids: set[int]) -> dict[int, RepLoad]:
    """Lock the capacity rows of ``rep_ids`` in rep id order, creating missing ones first."""
    def lock(ids: set[int]) -> dict[int, RepLoad]:
        return {row.rep_id: row for row in _locked_rows(RepLoad, "rep_id", ids, order=("rep_id",))}

    loads = lock(rep_ids)
    if missing := rep_ids - loads.keys():
        RepLoad.objects.bulk_create([RepLoad(rep_id=r) for r in sorted(missing)], ignore_conflicts=True)
        loads.update(lock(missing))
    return loads


def _lock_fairness(members: dict[int, list[int]]) -> dict[tuple[int, int], FairnessState]:
    """Lock the fairness rows of these pools in (pool, rep) order, creating missing ones first."""
    def lock(pool_ids: Iterable[int]) -> dict[tuple[int, int], FairnessState]:
        rows = _locked_rows(FairnessState, "pool_id", set(pool_ids), order=("pool_id", "rep_id"))
        return {(row.pool_id, row.rep_id): row for row in rows}

    rows = lock(members)
    missing = [(p, r) for p, reps in members.items() for r in reps if (p, r) not in rows]
    if missing:
        FairnessState.objects.bulk_create(
            [FairnessState(pool_id=p, rep_id=r) for p, r in sorted(missing)], ignore_conflicts=True
        )
        rows.update(lock({p for p, _ in missing}))
    return rows


def _read_loads(rep_ids: set[int]) -> dict[int, RepLoad]:
    """The capacity rows of ``rep_ids`` without locking them (creating missing ones first)."""
    def read(ids: set[int]) -> dict[int, RepLoad]:
        return {row.rep_id: row for row in _locked_rows(RepLoad, "rep_id", ids, order=("rep_id",), lock=False)}

    loads = read(rep_ids)
    if missing := rep_ids - loads.keys():
        RepLoad.objects.bulk_create([RepLoad(rep_id=r) for r in sorted(missing)], ignore_conflicts=True)
        loads.update(read(missing))
    return loads


def _read_fairness(members: dict[int, list[int]]) -> dict[tuple[int, int], FairnessState]:
    """The fairness rows of these pools without locking them (creating missing ones first)."""
    def read(pool_ids: Iterable[int]) -> dict[tuple[int, int], FairnessState]:
        rows = _locked_rows(FairnessState, "pool_id", set(pool_ids), order=("pool_id", "rep_id"), lock=False)
        return {(row.pool_id, row.rep_id): row for row in rows}

    rows = read(members)
    missing = [(p, r) for p, reps in members.items() for r in reps if (p, r) not in rows]
    if missing:
        FairnessState.objects.bulk_create(
            [FairnessState(pool_id=p, rep_id=r) for p, r in sorted(missing)], ignore_conflicts=True
        )
        rows.update(read({p for p, _ in missing}))
    return rows


_LOAD_FIELDS = ("open_count", "day", "daily_count", "week", "weekly_count")
_load_values: Callable[[Any], tuple] = operator.attrgetter(*_LOAD_FIELDS)  # a capacity row's counters, as a tuple


def _exceeds(cap: int | None, count: int) -> bool:
    return cap is not None and count > cap


def _without_counts(rep: RepSnapshot) -> RepSnapshot:
    return dataclasses.replace(rep, open_count=0, daily_count=0, weekly_count=0)


def _eligibility_moved(rep_ids: set[int], *, directory: Directory, seen_reps: dict[int, RepSnapshot],
                       now: dt.datetime) -> set[int]:  # fmt: skip
    """Reps among ``rep_ids`` (the batch's chosen reps, their capacity rows locked by the caller)
    whose eligibility is no longer what the batch decided with; empty: nothing moved.

    Re-read under the lock, with ``now`` the batch's own instant: the live availability (active,
    away, an absence covering now: ``Directory.reps`` reads it in one query, never cached) and,
    through the directory fingerprint (one query), everything static the engine checks (caps,
    licences and their dates, skills, territories, tier, calendars, pools and memberships). If
    the fingerprint moved, every chosen rep counts as moved. Capacity counts are compared by the
    caller against the locked rows, so they are left out here.

    Why this is enough: the availability services (``reps.services``) take the same capacity lock
    after withdrawing a rep's offers and withdraw again once they hold it. A change that committed
    before our lock is seen by this read (READ COMMITTED: each statement sees every earlier
    commit); one still running waits for our commit and then withdraws what we offered.
    """
    if not rep_ids:
        return set()
    if directory_fingerprint() != directory.fingerprint:
        return set(rep_ids)
    fresh = directory.reps(rep_ids, now=now, loads={})
    return {
        rep_id for rep_id in rep_ids
        if rep_id not in fresh or rep_id not in seen_reps
        or _without_counts(fresh[rep_id]) != _without_counts(seen_reps[rep_id])
    }  # fmt: skip


def _reconcile_under_lock(state: BatchState, *, seen: _Seen, now: dt.datetime) -> None:
    """Narrow locking's second half, run after the batch's decisions, offers and leads are
    written (inside the savepoint of ``_decide_and_write``): lock only what the batch changes,
    the chosen reps' capacity rows (rep id order), re-check everything that made those reps
    eligible, then lock the fairness rows of the pools it assigns in or resets ((pool, rep)
    order: the wide path's order, so the two cannot deadlock), and fold in what other workers
    committed since the batch read them. The caller then writes ``state``'s counters.

    Raises ``_Moved`` (the savepoint is rolled back and the batch decided again with every row
    locked) when: a chosen rep's availability, caps, licences, skills, territories, calendar or
    pool membership changed since the batch read them (``_eligibility_moved``); or adding this
    batch's offers to the counts now locked would exceed a chosen rep's open, daily or weekly
    cap. Nothing in ``state`` is changed before the checks pass.

    Fairness: the batch's change to each credit and assigned count is added to the locked row
    (credits are sums, so concurrent batches' changes commute; a departed member's reset stays
    0). Rows no other worker touched keep exactly the batch's values.
    """
    touched = set(state.touched_loads)
    locked = {row.rep_id: row for row in _locked_rows(RepLoad, "rep_id", touched, order=("rep_id",))}
    if locked.keys() != touched:
        raise _Moved("a chosen rep's capacity row is gone")
    if moved := _eligibility_moved(touched, directory=seen.directory, seen_reps=seen.reps, now=now):
        raise _Moved(f"rep(s) {sorted(moved)} changed availability or eligibility meanwhile")
    counts: dict[int, tuple[int, int, int]] = {}
    for rep_id in sorted(touched):
        planned, row, before = state.loads[rep_id], locked[rep_id], seen.loads.get(rep_id)
        if before is None:
            raise _Moved(f"rep {rep_id}'s capacity row was not read before deciding")
        if _load_values(row) == before:
            continue
        offers = planned.open_count - before[0]
        opened = row.open_count + offers
        daily = (row.daily_count if row.day == planned.day else 0) + offers
        weekly = (row.weekly_count if row.week == planned.week else 0) + offers
        rep = state.reps[rep_id]
        if _exceeds(rep.max_open, opened) or _exceeds(rep.max_daily, daily) or _exceeds(rep.max_weekly, weekly):
            raise _Moved(f"rep {rep_id} reached a cap meanwhile")
        counts[rep_id] = (opened, daily, weekly)
    pools = {pool_id for pool_id, _ in state.touched_fairness}
    rows = {(r.pool_id, r.rep_id): r for r in _locked_rows(FairnessState, "pool_id", pools, order=("pool_id", "rep_id"))}
    if any(key not in rows or key not in seen.fairness for key in state.touched_fairness):
        raise _Moved("a fairness row changed membership meanwhile")
    for rep_id, (opened, daily, weekly) in counts.items():
        load = state.loads[rep_id]
        load.open_count, load.daily_count, load.weekly_count = opened, daily, weekly
    for key in state.touched_fairness:
        planned, row = state.fairness_rows[key], rows[key]
        seen_credit, seen_assigned = seen.fairness[key]
        if (row.credit, row.assigned) == (seen_credit, seen_assigned):
            continue
        if key not in seen.forgotten:
            planned.credit = row.credit + (planned.credit - seen_credit)
        planned.assigned = row.assigned + (planned.assigned - seen_assigned)


def _fairness_forget_departed(
    pools: dict[int, PoolSnapshot], rows: dict[tuple[int, int], FairnessState]
) -> set[tuple[int, int]]:
    """Zero the locked fairness rows of reps who are no longer members of their pool: leaving a
    pool forfeits what the rep was owed there, so joining (or rejoining) starts at 0 (issue 19).
    Returns the (pool, rep) keys changed, to be written with the batch's fairness update."""
    members = {pool_id: {rep_id for rep_id, _ in pool.members} for pool_id, pool in pools.items()}
    changed = set()
    for (pool_id, rep_id), row in rows.items():
        if pool_id in members and row.credit != 0.0 and rep_id not in members[pool_id]:
            row.credit = 0.0
            changed.add((pool_id, rep_id))
    return changed


@dataclasses.dataclass
class _Seen:
    """What a narrow batch read unlocked, to be checked again under the lock before it writes
    capacity and fairness (``_reconcile_under_lock``)."""

    loads: dict[int, tuple]
    fairness: dict[tuple[int, int], tuple[float, int]]
    forgotten: set[tuple[int, int]]
    directory: Directory
    reps: dict[int, RepSnapshot]


class _Moved(Exception):
    """A narrow batch's chosen rep changed or filled up meanwhile: decide again, every row locked."""


@dataclasses.dataclass
class _Plan:
    """One batch after fetch and decide, before persist. ``seen``: set when the batch decided
    without locks (narrow), None when it decided with every reachable row locked."""

    leads: list[Lead]
    results: list[BatchResult]
    state: BatchState
    prior_offers: set[int]
    failed: dict[int, str]  # lead id -> error text
    now: dt.datetime
    seen: _Seen | None = None
    linked: dict[int, tuple[Lead, LeadFacts]] = dataclasses.field(default_factory=dict)  # duplicate -> (open lead, facts)


def _narrow_locks() -> bool:
    return settings.LEADOPS_ROUTE_NARROW_LOCKS and connection.vendor == "postgresql"


def _decide_and_write(leads: list[Lead], *, config: ConfigSnapshot, now: dt.datetime) -> tuple[_Plan, list[Event]]:
    """Plan and persist one batch (or one lead of a batch being redone lead by lead).

    Narrow locks (LEADOPS_ROUTE_NARROW_LOCKS, PostgreSQL only): decide without locking capacity
    or fairness, write inside a savepoint, and lock only at the end (``_persist_batch``); if a
    chosen rep changed or filled up meanwhile the savepoint is rolled back and the batch is
    decided again with every reachable row locked (wide), which cannot be overtaken.
    """
    if _narrow_locks():
        plan = _plan_batch(leads, config=config, now=now, narrow=True)
        try:
            with transaction.atomic():
                return plan, _persist_batch(plan, now=now)
        except _Moved as moved:
            log.info("routing batch: %s; deciding again with every row locked", moved)
            # Persisting changed the Lead objects in memory; the rolled-back rows are the truth.
            fresh = {lead.id: lead for lead in Lead.objects.filter(id__in=[lead.id for lead in leads])}
            leads = [fresh[lead.id] for lead in leads if lead.id in fresh]
    plan = _plan_batch(leads, config=config, now=now, narrow=False)
    return plan, _persist_batch(plan, now=now)


def _plan_batch(leads: list[Lead], *, config: ConfigSnapshot, now: dt.datetime, narrow: bool) -> _Plan:
    """Fetch and decide (no writes but the capacity/fairness rows created before locking):

    1. work out each lead's rule with the pure engine (``engine.classify``), so only the pools
       and reps those rules can reach are read, not every rule's;
    2. read capacity rows (rep id order), then fairness rows ((pool, rep) order), creating any
       missing ones; read pool and rep snapshots. ``narrow``: read them unlocked, and keep
       what was read in ``_Plan.seen`` for the check under the lock (``_persist_batch``).
       Wide: lock them all;
    3. decide lead by lead (``routing.batch.decide_batch``), each outcome applied to the
       in-memory state so the next lead in the batch sees it.
    A lead whose facts, classification or decision raises is left out, with its error.
    """
    index = rule_index(config)
    failed: dict[int, str] = {}
    staged: list[tuple[Lead, LeadFacts, ConfigSnapshot]] = []
    batch_rules = {}
    raw_facts: dict[int, LeadFacts] = {}
    for lead in leads:
        try:
            raw_facts[lead.id] = lead_facts(lead)
        except Exception as exc:  # bad data on one lead: quarantine it, route the rest
            failed[lead.id] = error_text(exc)
    # Accounts, sticky holders and duplicates (routing.accounts), before rules read account.* fields.
    links = leads_link(leads, raw_facts, now=now)
    failed.update(links.errors)
    linked: dict[int, tuple[Lead, LeadFacts]] = {}
    policy = settings.LEADOPS_DUPLICATE_POLICY
    extra_direct: set[int] = set()
    for lead in leads:
        facts = links.facts.get(lead.id)
        if facts is None:
            continue
        original = links.duplicates.get(lead.id)
        if original is not None and policy != "route":
            linked[lead.id] = (original, facts)
            continue
        if original is not None:
            lead.duplicate_of_id = original.id
        if facts.account is not None and facts.account.account.owner_id:
            extra_direct.add(facts.account.account.owner_id)
        if facts.sticky is not None:
            extra_direct.add(facts.sticky.rep_id)
        try:
            classified, narrowed = index.classify(facts)
            rule = classified.rule
        except Exception as exc:  # bad data on one lead: quarantine it, route the rest
            failed[lead.id] = error_text(exc)
            continue
        staged.append((lead, facts, narrowed))
        if rule is not None:
            batch_rules[rule.id] = rule
    pool_ids, extra_reps = batch_scope(batch_rules.values())
    directory = routing_directory()
    pools = directory.pools(pool_ids)
    rep_ids = reachable_reps(pools, extra_reps | extra_direct)
    members = {pid: [r for r, _ in p.members] for pid, p in pools.items()}
    if narrow:
        loads, fairness_rows = _read_loads(rep_ids), _read_fairness(members)
        seen_loads = {rep_id: _load_values(load) for rep_id, load in loads.items()}
        seen_fairness = {key: (row.credit, row.assigned) for key, row in fairness_rows.items()}
    else:
        loads, fairness_rows = _lock_loads(rep_ids), _lock_fairness(members)
    touched_fairness = _fairness_forget_departed(pools, fairness_rows)
    forgotten = set(touched_fairness)
    pools = {
        pid: dataclasses.replace(
            p, fairness={r: fairness_rows[(pid, r)].credit for r, _ in p.members if (pid, r) in fairness_rows}
        )
        for pid, p in pools.items()
    }
    state = BatchState(pools=pools, reps=directory.reps(rep_ids, now=now, loads=loads), loads=loads,
                       fairness_rows=fairness_rows, touched_fairness=touched_fairness,
                       segment_calendars=segment_calendars(config, now=now),
                       owner_counts_toward_fairness=settings.LEADOPS_OWNER_COUNTS_TOWARD_FAIRNESS)  # fmt: skip
    seen_reps = dict(state.reps)  # frozen snapshots: deciding replaces entries, never changes them
    excluded: dict[int, set[int]] = {}
    prior_offers: set[int] = set()
    staged_ids = [lead.id for lead, _, _ in staged]
    for lead_id, rep_id, status, off_duty in Offer.objects.filter(lead_id__in=staged_ids).values_list(
        "lead_id", "rep_id", "status", "expired_off_duty"
    ):
        prior_offers.add(lead_id)
        if status == Offer.Status.DECLINED or (status == Offer.Status.EXPIRED and not off_duty):
            excluded.setdefault(lead_id, set()).add(rep_id)
    items = [
        BatchItem(lead_id=lead.id, facts=facts, config=narrowed, now=now,
                  excluded_rep_ids=frozenset(excluded.get(lead.id, ())), escalation=lead.id in prior_offers)
        for lead, facts, narrowed in staged
    ]  # fmt: skip
    results = decide_batch(items, state, count_offer=_count_offer, think_ms=settings.LEADOPS_BENCH_THINK_MS)
    seen = _Seen(loads=seen_loads, fairness=seen_fairness, forgotten=forgotten, directory=directory,
                 reps=seen_reps) if narrow else None  # fmt: skip
    for result in results:
        if result.decision is None:
            failed[result.item.lead_id] = result.error
    decided = {r.item.lead_id for r in results if r.decision is not None}
    return _Plan(leads=[lead for lead in leads if lead.id in decided or lead.id in linked],
                 results=[r for r in results if r.decision], state=state, prior_offers=prior_offers, failed=failed,
                 now=now, seen=seen, linked=linked)  # fmt: skip


def _decision_kind(lead: Lead, *, prior_offers: set[int]) -> str:
    """Route (first try), escalation (its last offer was declined, expired, withdrawn or handed
    back since the last decision), retry (anything else: a holding-pool or quarantine retry)."""
    if lead.status == Lead.Status.HOLDING:
        return Decision.Kind.RETRY
    if (lead.id in prior_offers and lead.offered_at is not None and lead.routed_at is not None
            and lead.offered_at >= lead.routed_at):  # fmt: skip
        return Decision.Kind.ESCALATION
    return Decision.Kind.RETRY if lead.route_attempts else Decision.Kind.ROUTE


_LEAD_ROUTING_FIELDS = [
    "segment", "high_value", "segment_priority", "queue_at", "route_attempts", "routed_at", "status", "owner",
    "offered_at", "next_retry_at", "hold_attempts", "last_tried_at", "held_rule_id", "outcome_key",
    "account", "duplicate_of",
]  # fmt: skip
# What a merged duplicate may fill in on the open lead it repeats (blank fields only).
_MERGE_FIELDS = ("first_name", "last_name", "phone", "company", "website", "title", "postal_code")


def _persist_batch(plan: _Plan, *, now: dt.datetime) -> list[Event]:
    """Write decisions, offers, leads, capacity and fairness with one statement each.

    A held lead whose retry reached the same outcome as its last recorded decision gets no new
    decision and no event: only its retry bookkeeping moves (attempts, last tried, next retry).
    Returns the events to emit.
    """
    leads = {lead.id: lead for lead in plan.leads}
    state = plan.state
    segment_ids = {r.decision.segment.id for r in plan.results if r.decision.segment}
    existing_segments = set(Segment.objects.filter(id__in=segment_ids).values_list("id", flat=True)) if segment_ids else set()
    records: list[Decision] = []
    offers: dict[int, Offer] = {}
    events: list[tuple[int, str]] = []  # (lead id, event) in batch order
    merged = _persist_duplicates(plan, records=records, events=events, now=now)
    for result in plan.results:
        lead, decision = leads[result.item.lead_id], result.decision
        account = result.item.facts.account
        lead.account_id = account.account.id if account is not None else None
        kind = _decision_kind(lead, prior_offers=plan.prior_offers)
        chosen = result.chosen_rep_id
        was_holding = lead.status == Lead.Status.HOLDING
        key = outcome_key(decision) if chosen is None else ""
        segment = decision.segment
        lead.segment_id = segment.id if segment and segment.id in existing_segments else None
        lead.high_value = decision.high_value
        lead.segment_priority = segment.priority if segment else DEFAULT_SEGMENT_PRIORITY
        lead.queue_at = queue.queue_at(received_at=lead.received_at, segment_priority=lead.segment_priority,
                                       high_value=lead.high_value, value=lead.value)  # fmt: skip
        lead.route_attempts += 1
        lead.last_tried_at = now
        if chosen is None and was_holding and key == lead.outcome_key:
            lead.hold_attempts += 1  # same outcome: nothing to record, back off
            lead.next_retry_at = now + queue.retry_delay(lead.hold_attempts)
            continue
        record = _decision_record(lead=lead, facts=result.item.facts, decision=decision, now=now,
                                  duration_us=result.duration_us, kind=kind)  # fmt: skip
        records.append(record)
        lead.routed_at = now
        if chosen is not None:
            load = state.loads[chosen]
            deadline = offer_deadline(decision=decision, rep=state.reps[chosen], now=now,
                                      calendars=state.segment_calendars)  # fmt: skip
            offers[lead.id] = Offer(
                lead=lead, rep_id=chosen, offered_at=now, deadline=deadline,
                step=len(result.item.excluded_rep_ids), via=decision.chosen_step or StepKind.PRIMARY,
                counted_day=load.day, counted_week=load.week,
                mode=segment.mode if segment else DeliveryMode.OFFER,
            )  # fmt: skip
            lead.status, lead.owner_id, lead.offered_at = Lead.Status.OFFERED, chosen, now
            lead.next_retry_at, lead.hold_attempts, lead.held_rule_id, lead.outcome_key = None, 0, None, ""
            events.append((lead.id, "offer.created"))
        else:
            lead.status, lead.owner_id = Lead.Status.HOLDING, None
            lead.hold_attempts = 1
            lead.next_retry_at = now + queue.retry_delay(1)
            lead.held_rule_id = decision.rule.id if decision.rule else None
            lead.outcome_key = key
            if not was_holding:
                events.append((lead.id, "lead.holding"))
    details_compact(decisions=records)  # the detail is stored compact (routing.decision_detail)
    _copy_create(Decision, records)
    if merged:
        _bulk_set(Lead, list(merged.values()), [*_MERGE_FIELDS, "attributes"])
    by_lead = {record.lead_id: record for record in records}
    for lead_id, offer in offers.items():
        offer.decision = by_lead[lead_id]
    _copy_create(Offer, list(offers.values()))
    _bulk_set(Lead, plan.leads, _LEAD_ROUTING_FIELDS)
    # Foreign keys of the rows just written, checked now (a violation is this batch's, and the
    # check is not left for later inside the locked part below or the commit).
    _check_constraints_now()
    if plan.seen is not None:
        # Narrow: the capacity and fairness locks are taken only now, after the bulk writes, so
        # they are held from here to commit: a few statements, not the whole batch.
        _reconcile_under_lock(state, seen=plan.seen, now=plan.now)
    _bulk_set(RepLoad, [state.loads[r] for r in sorted(state.touched_loads)],
              ["open_count", "day", "daily_count", "week", "weekly_count"])  # fmt: skip
    if state.fairness_rows is not None:
        _bulk_set(FairnessState, [state.fairness_rows[k] for k in sorted(state.touched_fairness)], ["credit", "assigned"])
    out: list[Event] = []
    for lead_id, event in events:
        escalation = by_lead[lead_id].kind == Decision.Kind.ESCALATION
        if event == "lead.duplicate":
            out.append((event, {"lead_id": lead_id, "duplicate_of": leads[lead_id].duplicate_of_id}))
        elif event == "offer.created":
            offer = offers[lead_id]
            out.append((event, {"lead_id": lead_id, "offer_id": offer.id, "rep_id": offer.rep_id,
                                "step": by_lead[lead_id].step or None, "escalation": escalation,
                                "mode": offer.mode}))  # fmt: skip
        else:
            out.append((event, {"lead_id": lead_id, "escalation": escalation}))
    return out


def _persist_duplicates(plan: _Plan, *, records: list[Decision], events: list[tuple[int, str]],
                        now: dt.datetime) -> dict[int, Lead]:  # fmt: skip
    """Link each duplicate to the open lead it repeats, with its audit record, instead of routing
    it (LEADOPS_DUPLICATE_POLICY ``link``); ``merge`` also fills the open lead's blank details and
    adds attributes it lacks. Returns the open leads to update (merge), by id."""
    merged: dict[int, Lead] = {}
    policy = settings.LEADOPS_DUPLICATE_POLICY
    for lead_id, (original, facts) in plan.linked.items():
        lead = next(lead for lead in plan.leads if lead.id == lead_id)
        holder = f", held by {original.owner.display_name}" if original.owner_id and original.owner else ""
        summary = (f"Same email as open lead #{original.id} ({original.get_status_display().lower()}{holder}): "
                   f"linked to it, not routed again.")  # fmt: skip
        if policy == "merge":
            target = merged.setdefault(original.id, original)
            filled = [name for name in _MERGE_FIELDS if not getattr(target, name) and getattr(lead, name)]
            for name in filled:
                setattr(target, name, getattr(lead, name))
            extra = {k: v for k, v in (lead.attributes or {}).items() if k not in (target.attributes or {})}
            if extra:
                target.attributes = {**(target.attributes or {}), **extra}
            summary = summary.replace("linked to it", f"its details merged into it ({', '.join(filled + list(extra)) or 'nothing new'}) and linked")
        lead.status, lead.duplicate_of_id, lead.owner_id = Lead.Status.DUPLICATE, original.id, None
        lead.account_id = facts.account.account.id if facts.account is not None else None
        lead.route_attempts += 1
        lead.routed_at = lead.last_tried_at = now
        lead.next_retry_at = None
        records.append(Decision(
            lead=lead, kind=Decision.Kind.ROUTE, created_at=now, outcome="linked", step="", summary=summary[:500],
            inputs=_jsonable(dict(facts.fields)),
            detail={"duplicate_of": original.id, "policy": policy, "account": to_jsonable(facts.account),
                    "summary": summary, "steps": []},
        ))  # fmt: skip
        events.append((lead.id, "lead.duplicate"))
    return merged


def _is_transient(exc: BaseException) -> bool:
    """Deadlocks, serialisation failures and lost connections are the batch's, not a lead's:
    they propagate (the whole batch is retried) instead of quarantining anyone."""
    return isinstance(exc, OperationalError)


def _route_batch(*, limit: int, now: dt.datetime | None, statuses: tuple[str, ...]) -> int:
    """``_route_batch_atomic`` with Python's cyclic garbage collector paused (``_collector_paused``)."""
    with _collector_paused():
        return _route_batch_atomic(limit=limit, now=now, statuses=statuses)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause automatic cyclic garbage collection for one routing batch.

    A batch allocates tens of thousands of short-lived objects (rows, snapshots, decisions, their
    audit dicts). Collections that run in the middle of it find them alive and promote them to
    the older generations, which makes full collections frequent, and a full collection walks
    every object the process keeps: at 10,000 reps / 1,000 rules the cached directory, rule index
    and configuration made that ~550 us per decision (~100 us at 100 reps / 10 rules), the
    largest single cost growing with the configuration. Paused, the batch's objects are freed
    by reference counting when it ends; whatever cyclic garbage it made is collected by the next
    automatic collection after it. Process-wide while paused (other threads' allocations are not
    collected for the batch's duration); not re-enabled if someone else had disabled it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@transaction.atomic
def _route_batch_atomic(*, limit: int, now: dt.datetime | None, statuses: tuple[str, ...]) -> int:
    """Fetch, decide, persist one batch (see ``_plan_batch`` and ``_persist_batch``) with a fixed
    number of queries, isolating poison:

    1. leads whose facts or decision raise are set aside while deciding (no database cost);
    2. the rest are decided and written together inside a savepoint;
    3. if writing fails (an integrity or data error), the savepoint is rolled back and the
       batch is redone lead by lead, each in its own savepoint, so only the faulty lead fails;
    4. failed leads are quarantined with their error (``_quarantine``).
    Returns the number of leads taken.
    """
    now = now or timezone.now()
    unreadable: dict[int, str] = {}
    try:
        with transaction.atomic():
            leads = _select_waiting(limit, statuses, now)
    except Exception as exc:  # a row the driver cannot read (e.g. a date beyond year 9999)
        if _is_transient(exc):
            raise
        leads, unreadable = _select_waiting_row_by_row(limit, statuses, now)
    if not leads and not unreadable:
        return 0
    failed: dict[int, str] = {}
    config = config_live()
    events: list[Event] = []
    try:
        with transaction.atomic():
            plan, events = _decide_and_write(leads, config=config, now=now)
            failed = plan.failed
    except Exception as exc:
        if _is_transient(exc):
            raise
        log.warning("routing batch of %d lead(s) failed (%s); retrying lead by lead", len(leads), exc)
        failed, events = {}, []
        fresh = {lead.id: lead for lead in Lead.objects.filter(id__in=[lead.id for lead in leads])}
        in_order = [fresh[taken.id] for taken in leads if taken.id in fresh]  # queue order kept
        for lead in in_order:
            try:
                with transaction.atomic():
                    plan, lead_events = _decide_and_write([lead], config=config, now=now)
                    events += lead_events
                    failed.update(plan.failed)
            except Exception as lead_exc:
                if _is_transient(lead_exc):
                    raise
                failed[lead.id] = error_text(lead_exc)
        leads = in_order
    failed.update(unreadable)
    if failed:
        _quarantine(lead_ids=failed, now=now)
    _emit(events)
    return len(leads) + len(unreadable)


def _select_waiting_row_by_row(limit: int, statuses: tuple[str, ...], now: dt.datetime) -> tuple[list[Lead], dict[int, str]]:
    """The batch's leads when reading them together failed: lock the ids (integers always read),
    then load each lead on its own; the ones that cannot be read are returned as failed."""
    qs = _select_waiting_qs(statuses, now)
    ids = list(qs.values_list("id", flat=True)[:limit])
    leads, failed = [], {}
    for lead_id in ids:
        try:
            with transaction.atomic():
                leads.append(Lead.objects.get(id=lead_id))
        except Exception as exc:
            if _is_transient(exc):
                raise
            failed[lead_id] = error_text(exc)
    return leads, failed


def _check_constraints_now() -> None:
    """Foreign keys are checked at commit (Django makes them DEFERRABLE INITIALLY DEFERRED), which
    would fail the whole batch after the fact: check them now, inside the savepoint, so a
    violation is one lead's error. On PostgreSQL this is ``SET CONSTRAINTS ALL IMMEDIATE``
    followed by ``DEFERRED`` (pending checks run at once)."""
    tables = [Lead._meta.db_table, Offer._meta.db_table, Decision._meta.db_table]
    connection.check_constraints(table_names=tables)


def _quarantine(*, lead_ids: dict[int, str], now: dt.datetime) -> None:
    """Set these leads aside with their error: status quarantined, error text, time, count.
    They wait for the next publish (``rule_publish``) or an ops retry (``lead_quarantine_release``)."""
    for lead_id, error in lead_ids.items():
        log.error("lead %s quarantined: %s", lead_id, error)
        Lead.objects.filter(id=lead_id).update(
            status=Lead.Status.QUARANTINED, owner_id=None, quarantine_error=error, quarantined_at=now,
            quarantine_count=models.F("quarantine_count") + 1, last_tried_at=now,
        )  # fmt: skip
    _emit([("lead.quarantined", {"lead_id": lead_id}) for lead_id in lead_ids])



def segment_calendars(config: ConfigSnapshot, *, now: dt.datetime) -> dict[int, business_time.BusinessCalendar]:
    """calendar id -> calendar of every segment whose SLA clock is its own calendar (cached;
    no query unless some segment uses one)."""
    from calendars.selectors import calendar_cached

    ids = {s.calendar_id for s in config.segments if s.calendar_id and sla.clock_of(s.sla_clock) == sla.SlaClock.SEGMENT}
    return {cid: cal for cid in ids if (cal := calendar_cached(cid, around=now.date())) is not None}


def offer_deadline(*, decision: EngineDecision, rep: Any, now: dt.datetime,
                   calendars: dict[int, business_time.BusinessCalendar]) -> dt.datetime:  # fmt: skip
    """When the offer ``decision`` makes to ``rep`` (a RepSnapshot) at ``now`` expires: the
    segment's SLA times its accept fraction, counted on the segment's SLA clock (wall-clock,
    the segment's calendar from ``calendars``, or the rep's working time: ``routing.engine.sla``)."""
    shared = shared_offer_deadline(decision.segment, calendars, now)
    if shared is not None:
        return shared
    segment = decision.segment
    return sla.offer_deadline(
        sla_minutes=segment.sla_minutes, accept_fraction=segment.accept_fraction, clock=sla.SlaClock.REP,
        segment_calendar=None, rep_calendar=rep_calendar(rep), now=now,
    )  # fmt: skip


def _bulk_set(model: type[models.Model], objs: list[models.Model], fields: list[str]) -> None:
    """UPDATE many rows with their own values in one statement.

    On PostgreSQL: ``UPDATE t SET f = v.f FROM unnest(arrays) v WHERE t.pk = v.pk``, much cheaper
    than ``bulk_update``'s CASE per field per row; elsewhere ``bulk_update``.
    """
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, fields)
        return
    meta = model._meta
    pk = meta.pk
    columns = [pk, *(meta.get_field(name) for name in fields)]
    qn = _db().ops.quote_name
    unnest, arrays = _unnest(columns, objs)
    names = ", ".join(qn(f.column) for f in columns)
    sets = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in columns[1:])
    sql = f"UPDATE {qn(meta.db_table)} AS t SET {sets} FROM {unnest} AS v({names}) WHERE t.{qn(pk.column)} = v.{qn(pk.column)}"
    with server_bound_cursor() as cursor:
        cursor.execute(sql, arrays, prepare=False)


def _unnest(columns: list[models.Field], objs: list[models.Model]) -> tuple[str, list[list[Any]]]:
    """``unnest(%b::type[], ...)`` over ``columns`` and its parameters, one array of the objects'
    prepared values per column (PostgreSQL). %b: the arrays travel in binary, 2-10x cheaper to
    dump than text, timestamps most of all."""
    db = _db()
    arrays = [
        [f.get_db_prep_value(obj.pk, db) if f.primary_key else f.get_db_prep_save(getattr(obj, f.attname), db) for obj in objs]
        for f in columns
    ]  # fmt: skip
    return "unnest(" + ", ".join(f"%b::{f.cast_db_type(db)}[]" for f in columns) + ")", arrays


def bulk_insert_new(model: type[models.Model], objs: list[models.Model], *, unique: tuple[str, ...]) -> int:
    """INSERT ``objs`` (unsaved rows of a model with a database-generated ``id``), skipping any
    that would break a unique constraint, as ``bulk_create(ignore_conflicts=True)`` does; returns
    how many rows were inserted. Ids are not set on ``objs``.

    PostgreSQL: ``INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING``, one array per
    column bound on the server in binary: no SQL text per row to build, quote or parse (for a CSV
    import's chunk of leads, bulk_create spent most of its time building that text). Elsewhere:
    ``bulk_create`` between two counts of the rows whose ``unique`` fields take the objects'
    values (``unique``: the model's natural key, e.g. ``("source", "external_id")`` for leads)."""
    if not objs:
        return 0
    if connection.vendor != "postgresql":
        keys = {f"{name}__in": {getattr(obj, name) for obj in objs} for name in unique}
        before = model.objects.filter(**keys).count()
        model.objects.bulk_create(objs, ignore_conflicts=True)
        return model.objects.filter(**keys).count() - before
    meta = model._meta
    fields = [f for f in meta.concrete_fields if f is not meta.pk]
    qn = _db().ops.quote_name
    unnest, arrays = _unnest(fields, objs)
    names = ", ".join(qn(f.column) for f in fields)
    sql = f"INSERT INTO {qn(meta.db_table)} ({names}) SELECT * FROM {unnest} ON CONFLICT DO NOTHING"
    with server_bound_cursor() as cursor:
        cursor.execute(sql, arrays, prepare=False)
        return cursor.rowcount


def _copy_create(model: type[models.Model], objs: list[models.Model]) -> None:
    """INSERT ``objs`` (new rows of a model with an identity ``id``) with ``COPY ... FROM STDIN``
    and set their ids, as ``bulk_create`` does.

    PostgreSQL: one statement takes the ids from the table's own sequence, then one COPY sends
    the rows (psycopg's copy, values dumped by its C dumpers) with no SQL text per row to build
    or parse. Elsewhere: ``bulk_create``. Only for models without history tracking or per-row
    save logic (decisions and offers); ``auto_now`` fields are not filled in here.
    """
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs)
        return
    meta = model._meta
    fields = [f for f in meta.concrete_fields]
    db = _db()
    qn = db.ops.quote_name
    with server_bound_cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                       [meta.db_table, meta.pk.column, len(objs)], prepare=False)  # fmt: skip
        for obj, (new_id,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = new_id
        columns = ", ".join(qn(f.column) for f in fields)
        preps = [(f.attname, f.get_db_prep_save) for f in fields]
        with cursor.copy(f"COPY {qn(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row([prep(getattr(obj, attname), db) for attname, prep in preps])
    for obj in objs:
        obj._state.adding = False
        obj._state.db = db.alias


def _db() -> Any:
    """The default connection's wrapper itself: ``django.db.connection`` is a proxy that looks the
    wrapper up (through asgiref's Local) on every attribute read, and field preparation reads it
    several times per value (~60 look-ups per decision in the bulk writes)."""
    return connections[DEFAULT_DB_ALIAS]


def _count_offer(load: RepLoad, *, day: dt.date, week: str) -> None:
    if load.day != day:
        load.day, load.daily_count = day, 0
    if load.week != week:
        load.week, load.weekly_count = week, 0
    load.open_count += 1
    load.daily_count += 1
    load.weekly_count += 1


def _decision_record(*, lead: Lead, facts: Any, decision: EngineDecision, now: dt.datetime, duration_us: int,
                     kind: str) -> Decision:  # fmt: skip
    """The unsaved audit row of one decision (saved in bulk with its batch)."""
    detail = engine.decision_to_dict(decision)
    pool_id = decision_pool_id(decision)
    return Decision(
        lead=lead, kind=kind, created_at=now, ruleset_version=decision.config_version if decision.config_version > 0 else None,
        rule_id=decision.rule.id if decision.rule else None,
        rule_history_id=decision.rule.history_id if decision.rule else None,
        segment_id=decision.segment.id if decision.segment else None,
        pool_id=pool_id, outcome=decision.outcome, step=decision.chosen_step or "",
        chosen_rep_id=decision.chosen_rep_id if decision.outcome == Outcome.OFFER else None,
        summary=decision.summary[:500], inputs=_jsonable(dict(facts.fields)), detail=detail,
        duration_us=duration_us,
    )  # fmt: skip


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in data.items()}


def lead_dry_run(*, data: dict[str, Any], draft: bool = False, now: dt.datetime | None = None) -> EngineDecision:
    """Where would this lead go, and why? Reads only; writes nothing."""
    from routing.snapshots import config_draft

    now = now or timezone.now()
    config = config_draft() if draft else config_live()
    pool_ids, extra_reps = _batch_scope(config.rules)
    pools = pool_snapshots(pool_ids)
    facts = lead_links_one(data, lead_facts(data, received_at=now))
    owner = facts.account.account.owner_id if facts.account is not None else None
    reps = rep_snapshots(_reachable_reps(pools, extra_reps | ({owner} if owner else set())), now=now)
    return engine.route(facts, config, pools, reps, now, segment_calendars=segment_calendars(config, now=now),
                        owner_counts_toward_fairness=settings.LEADOPS_OWNER_COUNTS_TOWARD_FAIRNESS)  # fmt: skip


# --- offers and capacity ----------------------------------------------------------------


class OfferError(Exception):
    """A refused action on an offer or lead; the message is safe to show to the user."""


def _release_capacity(*, rep_id: int, offer: Offer | None, daily_too: bool) -> None:
    load = RepLoad.objects.select_for_update().filter(rep_id=rep_id).first()
    if load is None:
        return
    load.open_count = max(0, load.open_count - 1)
    if daily_too and offer is not None:
        if offer.counted_day and offer.counted_day == load.day:
            load.daily_count = max(0, load.daily_count - 1)
        if offer.counted_week and offer.counted_week == load.week:
            load.weekly_count = max(0, load.weekly_count - 1)
    load.save(update_fields=["open_count", "daily_count", "weekly_count", "updated_at"])


def _locked_open_offer(*, offer_id: int, rep: Rep | None) -> Offer:
    offer = Offer.objects.select_for_update().select_related("lead").filter(id=offer_id).first()
    if offer is None or (rep is not None and offer.rep_id != rep.id):
        raise OfferError("That offer does not exist or is not yours.")
    return offer


def offer_accept(*, offer_id: int, rep: Rep, now: dt.datetime | None = None) -> Offer:
    """Accept an open offer. Accepting an offer you already accepted is a harmless no-op."""
    now = now or timezone.now()
    with transaction.atomic():
        offer = _locked_open_offer(offer_id=offer_id, rep=rep)
        if offer.status == Offer.Status.ACCEPTED:
            return offer
        if offer.status != Offer.Status.OPEN:
            raise OfferError(f"This offer is already {offer.get_status_display().lower()}.")
        if offer.mode == DeliveryMode.ASSIGN:
            raise OfferError("This lead is assigned to you: log your first touch (a call or email) to stop the clock.")
        if offer.deadline <= now:
            raise OfferError("This offer has expired; it is moving on to the next rep.")
        if unavailable := rep_unavailable_reason(rep_id=rep.id, now=now):
            raise OfferError(unavailable)  # inactive, absent or away: the sweeper withdraws it
        Lead.objects.select_for_update().filter(id=offer.lead_id).first()
        offer.status, offer.decided_at = Offer.Status.ACCEPTED, now
        offer.save(update_fields=["status", "decided_at"])
        Lead.objects.filter(id=offer.lead_id).update(
            status=Lead.Status.ACCEPTED, accepted_at=now, last_activity_at=now, owner_id=rep.id
        )
        _emit_on_commit("offer.accepted", {"lead_id": offer.lead_id, "offer_id": offer.id, "rep_id": rep.id})
    return offer


def _give_up_offer(*, offer: Offer, status: str, now: dt.datetime, reason: str = "", note: str = "") -> None:
    """Close an open offer (declined/expired/withdrawn), free capacity and requeue the lead."""
    offer.status, offer.decided_at = status, now
    offer.decline_reason, offer.decline_note = reason, note[:500]
    offer.save(update_fields=["status", "decided_at", "decline_reason", "decline_note", "expired_off_duty"])
    _release_capacity(rep_id=offer.rep_id, offer=offer, daily_too=True)
    Lead.objects.filter(id=offer.lead_id).update(status=Lead.Status.PENDING, owner_id=None)
    _wake_router()
    _emit_on_commit(f"offer.{status}", {"lead_id": offer.lead_id, "offer_id": offer.id, "rep_id": offer.rep_id})
    holding_wake(reason=f"offer {status}", rep_ids={offer.rep_id})


def offer_decline(*, offer_id: int, rep: Rep, reason: str, note: str = "", now: dt.datetime | None = None) -> Offer:
    now = now or timezone.now()
    if reason not in Offer.DeclineReason.values:
        raise OfferError("Choose a decline reason from the list.")
    with transaction.atomic():
        offer = _locked_open_offer(offer_id=offer_id, rep=rep)
        if offer.status == Offer.Status.DECLINED:
            return offer
        if offer.status != Offer.Status.OPEN:
            raise OfferError(f"This offer is already {offer.get_status_display().lower()}.")
        _give_up_offer(offer=offer, status=Offer.Status.DECLINED, now=now, reason=reason, note=note)
    return offer


def offers_expire_due(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Expire open offers past their deadline and send their leads down the chain.

    Several sweepers may run at once: each offer row is taken with SKIP LOCKED and its
    status re-checked under the lock, so an offer is escalated exactly once.
    """
    now = now or timezone.now()
    with transaction.atomic():
        qs = Offer.objects.filter(status=Offer.Status.OPEN, deadline__lte=now).order_by("deadline")
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        # Most overdue first, then processed in rep order so capacity rows lock in the same
        # order as a routing batch takes them (no deadlock between a sweep and a batch).
        due = sorted(qs[:limit], key=lambda offer: offer.rep_id)
        on_duty = _on_duty_at_deadline(due, now=now)
        for offer in due:
            offer.expired_off_duty = not on_duty.get(offer.id, True)
            _give_up_offer(offer=offer, status=Offer.Status.EXPIRED, now=now)
    return len(due)


def _on_duty_at_deadline(offers: list[Offer], *, now: dt.datetime) -> dict[int, bool]:
    """offer id -> whether its rep was on duty (working hours, no holiday, not absent) when it
    expired. Absences are those still known at ``now`` (ending after the earliest deadline)."""
    if not offers:
        return {}
    earliest = min(offer.deadline for offer in offers)
    reps = rep_snapshots({offer.rep_id for offer in offers}, now=earliest, loads={})
    result = {}
    for offer in offers:
        rep = reps.get(offer.rep_id)
        moment = offer.deadline - dt.timedelta(microseconds=1)  # the offer's last instant
        result[offer.id] = rep is None or business_time.is_open(rep_calendar(rep), moment)
    return result


def offers_withdraw_for_away(*, rep: Rep, now: dt.datetime | None = None) -> int:
    """The open offers of a rep who can no longer take leads (inactive, absent or away) are
    withdrawn and their leads move on along the chain. Called by the availability services in
    ``reps.services``, never directly by views. Returns the number of offers withdrawn."""
    now = now or timezone.now()
    with transaction.atomic():
        offers = list(Offer.objects.select_for_update().filter(rep=rep, status=Offer.Status.OPEN))
        for offer in offers:
            _give_up_offer(offer=offer, status=Offer.Status.WITHDRAWN, now=now)
    return len(offers)


def lead_first_touch(*, lead_id: int, rep: Rep | None, channel: str, now: dt.datetime | None = None) -> Lead:
    """Record the owner's first contact with a lead (a call or email logged in the CRM, or the
    inbox button). ``rep``: the rep reporting it (must own the lead), or None for an integration
    reporting it for whoever owns the lead. ``channel``: a ``TouchChannel`` value.

    1. Lock the lead; it must have an owner (and be ``rep``'s).
    2. Touched before: nothing changes (a CRM may send every call; only the first counts).
    3. Assigned (an open assign-mode offer): the touch stops the SLA clock, so the offer is
       accepted and the lead becomes the rep's accepted lead, as an accept click does in offer mode.
    4. An open offer-mode offer is not accepted by a touch: the rep accepts it first.
    5. Otherwise (accepted, closed) it is recorded for the SLA analytics only.

    Raises OfferError (safe to show) when the lead has no owner, is another rep's, or is an
    unaccepted offer, or the assignment's deadline has passed.
    """
    now = now or timezone.now()
    if channel not in TouchChannel.values:
        raise OfferError(f"Unknown channel {channel!r}: use {', '.join(TouchChannel.values)}.")
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(id=lead_id).first()
        if lead is None or lead.owner_id is None or (rep is not None and lead.owner_id != rep.id):
            raise OfferError("That lead does not exist or is not yours.")
        if lead.first_touch_at is not None:
            return lead
        offer = Offer.objects.select_for_update().filter(lead_id=lead.id, status=Offer.Status.OPEN).first()
        fields = ["first_touch_at", "first_touch_channel", "last_activity_at"]
        if offer is not None:
            if offer.mode != DeliveryMode.ASSIGN:
                raise OfferError("Accept the offer first: a touch stops the clock of assigned leads only.")
            if offer.deadline <= now:
                raise OfferError("The first-touch deadline has passed; the lead is moving on to the next rep.")
            offer.status, offer.decided_at = Offer.Status.ACCEPTED, now
            offer.save(update_fields=["status", "decided_at"])
            lead.status, lead.accepted_at = Lead.Status.ACCEPTED, now
            fields += ["status", "accepted_at"]
        lead.first_touch_at, lead.first_touch_channel, lead.last_activity_at = now, channel, now
        lead.save(update_fields=fields)
        _emit_on_commit("lead.first_touch", {"lead_id": lead.id, "rep_id": lead.owner_id, "channel": channel,
                                             "offer_id": offer.id if offer is not None else None})  # fmt: skip
    return lead


def _locked_owned_lead(*, lead_id: int, rep: Rep) -> Lead:
    lead = Lead.objects.select_for_update().filter(id=lead_id).first()
    if lead is None or lead.owner_id != rep.id:
        raise OfferError("That lead does not exist or is not yours.")
    if lead.status != Lead.Status.ACCEPTED:
        raise OfferError(f"This lead is {lead.get_status_display().lower()}, not in your accepted leads.")
    return lead


def lead_close(*, lead_id: int, rep: Rep, outcome: str, now: dt.datetime | None = None) -> Lead:
    """Mark an accepted lead converted or closed-lost; frees the rep's open capacity."""
    now = now or timezone.now()
    if outcome not in (Lead.Status.CONVERTED, Lead.Status.CLOSED_LOST):
        raise OfferError("Outcome must be converted or closed_lost.")
    with transaction.atomic():
        lead = _locked_owned_lead(lead_id=lead_id, rep=rep)
        lead.status, lead.closed_at, lead.last_activity_at = outcome, now, now
        lead.save(update_fields=["status", "closed_at", "last_activity_at"])
        _release_capacity(rep_id=rep.id, offer=None, daily_too=False)
        _emit_on_commit(f"lead.{outcome}", {"lead_id": lead.id, "rep_id": rep.id})
        holding_wake(reason=f"lead {outcome}", rep_ids={rep.id})
    return lead


def lead_hand_back(*, lead_id: int, rep: Rep, note: str = "", now: dt.datetime | None = None) -> Lead:
    """Give an accepted lead back: it is re-routed without this rep."""
    now = now or timezone.now()
    with transaction.atomic():
        lead = _locked_owned_lead(lead_id=lead_id, rep=rep)
        offer = lead.offers.filter(rep=rep, status=Offer.Status.ACCEPTED).first()
        if offer is not None:
            # Counts as declining this lead: the rep is excluded from its next routing.
            Offer.objects.filter(id=offer.id).update(
                status=Offer.Status.DECLINED, decline_reason=Offer.DeclineReason.OTHER,
                decline_note=("handed back: " + note)[:500], decided_at=now,
            )  # fmt: skip
        lead.status, lead.owner_id, lead.last_activity_at = Lead.Status.PENDING, None, now
        lead.save(update_fields=["status", "owner", "last_activity_at"])
        _release_capacity(rep_id=rep.id, offer=None, daily_too=False)
        _wake_router()
        _emit_on_commit("lead.handed_back", {"lead_id": lead.id, "rep_id": rep.id})
        holding_wake(reason="lead handed back", rep_ids={rep.id})
    return lead


def leads_age_out(*, days: int, now: dt.datetime | None = None) -> int:
    """Accepted leads with no progress for ``days`` leave the rep's pipeline."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=days)
    count = 0
    freed: set[int] = set()
    with transaction.atomic():
        qs = Lead.objects.filter(status=Lead.Status.ACCEPTED, last_activity_at__lt=cutoff)
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        for lead in qs[:500]:
            lead.status, lead.closed_at = Lead.Status.AGED_OUT, now
            lead.save(update_fields=["status", "closed_at"])
            _release_capacity(rep_id=lead.owner_id, offer=None, daily_too=False)
            _emit_on_commit("lead.aged_out", {"lead_id": lead.id, "rep_id": lead.owner_id})
            freed.add(lead.owner_id)
            count += 1
        holding_wake(reason="leads aged out", rep_ids=freed)
    return count


def capacity_lock(*, rep_ids: set[int]) -> dict[int, Any]:
    """Lock these reps' capacity rows (rep id order, created when missing), as a routing batch
    does before it reads reps; returns them as ``_locked_rows`` does (read-only to callers). An availability change takes this lock so that a batch which
    read the rep before the change has committed its offers, and one that reads after sees it."""
    return _lock_loads(set(rep_ids))


# --- holding pool -------------------------------------------------------------------------


def holding_wake(*, reason: str, rep_ids: set[int] | None = None) -> None:
    """Something happened that could change a held lead's outcome: make those leads due now and
    queue a holding-pool retry, after the current transaction commits.

    ``rep_ids``: reps who became available or freed capacity (the held leads whose rule can
    reach one of them are woken); None: anything could have changed (a publish, a licence,
    territory, pool or membership change), every held lead is woken. ``reason`` is logged.
    Runs after commit, in its own statement, so it never waits on a routing batch's lead locks
    while holding capacity locks of its own (no deadlock), and sees the change that woke it.
    Callers: offer give-up, close, hand-back, age-out, rep availability services (reps.services),
    ``rule_publish`` and the sweep pass (directory changes, absences and away markers ending).
    """
    if rep_ids is not None and not rep_ids:
        return
    # One wake per atomic block: merge into a wake registered at the same savepoint level (an
    # expiry sweep gives up hundreds of offers in one block). Such a wake commits or rolls back
    # with this change.
    if connection.in_atomic_block:
        level = set(connection.savepoint_ids)
        for savepoints, pending, _ in connection.run_on_commit:
            if isinstance(pending, _HoldingWake) and savepoints == level:  # same block: same commit
                pending.add(reason=reason, rep_ids=rep_ids)
                return
    wake = _HoldingWake()
    wake.add(reason=reason, rep_ids=rep_ids)
    transaction.on_commit(wake, robust=True)


class _HoldingWake:
    """The after-commit part of ``holding_wake``: reps freed (None: everyone) and why."""

    def __init__(self) -> None:
        self.rep_ids: set[int] | None = set()
        self.reasons: list[str] = []

    def add(self, *, reason: str, rep_ids: set[int] | None) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)
        if rep_ids is None or self.rep_ids is None:
            self.rep_ids = None
        else:
            self.rep_ids |= set(rep_ids)

    def __call__(self) -> None:
        from routing.tasks import enqueue_retry_holding

        wanted = frozenset(self.rep_ids) if self.rep_ids is not None else None
        marked = _holding_mark_due(rep_ids=wanted, now=timezone.now())
        if marked:
            log.info("holding pool: %d lead(s) due now (%s)", marked, "; ".join(self.reasons))
            enqueue_retry_holding()


def _holding_mark_due(*, rep_ids: frozenset[int] | None, now: dt.datetime) -> int:
    qs = Lead.objects.filter(status=Lead.Status.HOLDING, next_retry_at__gt=now)
    if rep_ids is not None:
        rule_ids = _rules_reaching(rep_ids)
        if not rule_ids:
            return 0
        qs = qs.filter(held_rule_id__in=rule_ids)
    return qs.update(next_retry_at=now)


def _rules_reaching(rep_ids: frozenset[int]) -> set[int]:
    """Ids of live rules whose pools, fallback pools, backups or managers include one of ``rep_ids``."""
    config = config_live()
    pool_ids, _ = batch_scope(config.rules)
    pools = routing_directory().pools(pool_ids)
    found = set()
    for rule in config.rules:
        rule_pools, extra = batch_scope([rule])
        if reachable_reps({pid: pools[pid] for pid in rule_pools if pid in pools}, extra) & rep_ids:
            found.add(rule.id)
    return found


# What the last sweep pass of this process saw: (directory fingerprint, time of the pass).
_LAST_SEEN: dict[str, Any] = {}


def holding_wake_for_changes(*, now: dt.datetime | None = None) -> int:
    """Wake held leads for changes that come without a service call (run by every sweep pass):

    - the rep/pool directory changed (a licence, territory, skill, pool, membership or rep edit
      from any path: console, config import, admin; all of them go through simple-history, so
      the routing directory's fingerprint moves): every held lead is woken;
    - an absence or an away marker ended since the last pass (time passing, no event): held
      leads those reps can take are woken.
    The first pass of a process only records what it saw. Returns the number of wake calls made.
    """
    from reps.models import Absence, Rep

    now = now or timezone.now()
    fingerprint = routing_directory().fingerprint
    last_fingerprint, last_at = _LAST_SEEN.get("fingerprint"), _LAST_SEEN.get("at")
    _LAST_SEEN.update(fingerprint=fingerprint, at=now)
    if last_at is None:
        return 0
    wakes = 0
    if fingerprint != last_fingerprint:
        holding_wake(reason="reps, pools, licences or territories changed")
        wakes += 1
    if last_at < now:
        back = set(Absence.objects.filter(ends_at__gt=last_at, ends_at__lte=now).values_list("rep_id", flat=True))
        back |= set(Rep.objects.filter(away_until__gt=last_at, away_until__lte=now).values_list("id", flat=True))
        back |= reps_back_on_duty(since=last_at, now=now)
        if back:
            holding_wake(reason="absence, away time or time off ended (a shift began)", rep_ids=back)
            wakes += 1
    return wakes


def reps_back_on_duty(*, since: dt.datetime, now: dt.datetime) -> set[int]:
    """Reps whose working time opened in ``(since, now]``: a shift began or a holiday ended,
    in their own hours or their pool's opening hours (``routing.engine.business_time``). Held
    leads they can take should not wait for their backoff: "holding until the next opening".

    Openings fall on whole minutes, so nothing is read unless a minute boundary passed; then
    two queries (reps and pools with a schedule) plus the cached routing directory.
    """
    from django.db.models import Q

    from reps.models import Pool, Rep

    if now.replace(second=0, microsecond=0) <= since:
        return set()
    scheduled = Q(calendar__isnull=False) | Q(team__calendar__isnull=False) | ~Q(working_hours={})
    rep_ids = set(Rep.objects.filter(scheduled, active=True).values_list("id", flat=True))
    directory = routing_directory()
    back = {
        rep.id for rep in directory.reps(rep_ids, now=now, loads={}).values()
        if business_time.is_open(cal := rep_calendar(rep, with_absences=False), now)
        and not business_time.is_open(cal, since)
    }  # fmt: skip
    pool_ids = set(Pool.objects.filter(calendar__isnull=False, active=True).values_list("id", flat=True))
    for pool in directory.pools(pool_ids).values():
        if pool.calendar and business_time.is_open(pool.calendar, now) and not business_time.is_open(pool.calendar, since):
            back |= {rep_id for rep_id, _ in pool.members}
    return back


def holding_release(*, limit: int = 100, now: dt.datetime | None = None) -> int:
    """Retry every held lead that is due (its backoff timer passed, or ``holding_wake`` made it
    due), ``limit`` per batch, in queue order, until none is due.

    A retry with a new outcome writes a decision (kind ``retry``); one with the same outcome as
    the lead's last decision writes none and backs the lead off (``engine.queue.retry_delay``),
    so every due lead gets its turn and unroutable ones cannot starve routable ones.
    Returns the number of leads retried.
    """
    now = now or timezone.now()
    total = 0
    for _ in range(HOLDING_RELEASE_MAX_BATCHES):
        taken = _retry_on_deadlock(lambda: _route_batch(limit=limit, now=now, statuses=(Lead.Status.HOLDING,)))
        total += taken
        if taken < limit:
            break
    return total


# --- quarantine ---------------------------------------------------------------------------


def leads_quarantine_release(*, lead_ids: Iterable[int] | None = None, reason: str) -> int:
    """Quarantined leads (all, or ``lead_ids``) go back to pending and the router is woken.

    The error text and count stay on the lead as a record; a lead that fails again is
    quarantined again. Called by ``rule_publish`` (all) and by ops (``lead_quarantine_retry``).
    Returns the number of leads released.
    """
    with transaction.atomic():
        qs = Lead.objects.filter(status=Lead.Status.QUARANTINED)
        if lead_ids is not None:
            qs = qs.filter(id__in=list(lead_ids))
        released = qs.update(status=Lead.Status.PENDING, owner_id=None)
        if released:
            log.info("%d quarantined lead(s) back to pending (%s)", released, reason)
            _wake_router()
    return released


def lead_quarantine_retry(*, lead_id: int, by: Any = None) -> Lead:
    """Ops asked to route a quarantined lead again now. Raises OfferError (safe to show) when
    the lead is not quarantined. ``by``: the user asking (logged)."""
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(id=lead_id).first()
        if lead is None:
            raise OfferError("That lead does not exist.")
        if lead.status != Lead.Status.QUARANTINED:
            raise OfferError(f"This lead is {lead.get_status_display().lower()}, not quarantined.")
        leads_quarantine_release(lead_ids=[lead.id], reason=f"retry asked by {getattr(by, 'username', by)}")
        lead.refresh_from_db()
    return lead


def leads_recover_stale(*, older_than_seconds: int, now: dt.datetime | None = None) -> int:
    """Pending leads nobody routed (lost task, dead worker): route them now. Returns leads routed."""
    now = now or timezone.now()
    stale = Lead.objects.filter(
        status=Lead.Status.PENDING, received_at__lt=now - dt.timedelta(seconds=older_than_seconds)
    ).exists()
    return leads_route_all_pending() if stale else 0


# --- configuration ------------------------------------------------------------------------


def rule_publish(*, user=None, note: str = "") -> RuleSet:  # noqa: ANN001
    """Publish the draft rule set as one new immutable version, atomically."""
    with transaction.atomic():
        snapshot = config_to_json()
        # Lock the latest version row so two concurrent publishes cannot take the same number.
        latest = RuleSet.objects.select_for_update().order_by("-version").first()
        version = (latest.version + 1) if latest else 1
        ruleset = RuleSet.objects.create(version=version, snapshot=snapshot, published_by=user, note=note[:200])
        # A new rule set can route what the old one could not: held leads retry at once and
        # quarantined ones get another go.
        holding_wake(reason=f"rule set v{version} published")
        leads_quarantine_release(reason=f"rule set v{version} published")
        return ruleset


# --- accounts -------------------------------------------------------------------------------


class AccountError(Exception):
    """An account that cannot be written; ``errors`` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()))


def account_validate(data: Any) -> Any:
    """``data`` (a mapping from a form, a CSV row, a config file or the API) read through the
    one account schema (``engine.schema.AccountFile``); raises :class:`AccountError` keyed by field."""
    from routing.engine import schema

    obj, problems = schema.validate(schema.AccountFile, data)
    if problems:
        errors: dict[str, list[str]] = {}
        for path, message in problems:
            errors.setdefault(path.split(".", 1)[0].split("[", 1)[0] or "__all__", []).append(message)
        raise AccountError(errors)
    return obj


@transaction.atomic
def account_upsert(*, data: Any, account_id: int | None = None, by: Any = None) -> tuple[Any, bool]:
    """Create or update the account with ``data.external_id`` (an ``AccountFile``): idempotent,
    so sending the same account twice changes nothing and records no history. With
    ``account_id`` (the console's edit form) that account is updated, its CRM id included.

    The owner is a rep's username; each domain belongs to one account. Raises
    :class:`AccountError` (``owner``: no such rep; ``domains``: a domain another account
    holds) and writes nothing then. Returns ``(account, created)``.
    """
    from routing.models import Account, AccountDomain

    owner_id = None
    if data.owner:
        owner_id = Rep.objects.filter(user__username=data.owner).values_list("id", flat=True).first()
        if owner_id is None:
            raise AccountError({"owner": [f"No rep with username {data.owner!r}."]})
    if account_id is not None:
        account = Account.objects.select_for_update().get(id=account_id)
        if Account.objects.filter(external_id=data.external_id).exclude(id=account_id).exists():
            raise AccountError({"external_id": ["Another account has this CRM id."]})
    else:
        account = Account.objects.select_for_update().filter(external_id=data.external_id).first()
    created = account is None
    taken = dict(AccountDomain.objects.filter(domain__in=data.domains).exclude(account_id=account.id if account else None)
                 .values_list("domain", "account__name"))  # fmt: skip
    if taken:
        raise AccountError({"domains": [f"{domain} already belongs to the account {name}." for domain, name in sorted(taken.items())]})
    from routing.matching import normalise_name

    values = {"external_id": data.external_id, "name": data.name, "name_key": normalise_name(data.name)[:200], "owner_id": owner_id, "tier": data.tier, "territory": data.territory,
              "status": data.status, "attributes": dict(data.attributes)}  # fmt: skip
    current = set() if created else set(account.domains.values_list("domain", flat=True))
    if created:
        account = Account(external_id=data.external_id)
    changed = created or any(getattr(account, k) != v for k, v in values.items()) or current != set(data.domains)
    if not changed:
        return account, False
    for key, value in values.items():
        setattr(account, key, value)
    if by is not None:
        account._history_user = by
    account.save()  # also moves updated_at, which tells the match index to rebuild (routing.accounts)
    AccountDomain.objects.filter(account=account).exclude(domain__in=data.domains).delete()
    AccountDomain.objects.bulk_create([AccountDomain(account=account, domain=d) for d in data.domains if d not in current])
    return account, created


def account_delete(*, account_id: int, by: Any = None) -> None:
    """Delete an account and its domains; leads keep their history (their account link is cleared)."""
    from routing.models import Account

    account = Account.objects.filter(id=account_id).first()
    if account is not None:
        if by is not None:
            account._history_user = by
        account.delete()


@dataclasses.dataclass
class AccountImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # {"line", "field", "message"}

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.unchanged + len({e["line"] for e in self.errors})


ACCOUNT_CSV_COLUMNS = ("external_id", "name", "domains", "owner", "tier", "territory", "status")


def accounts_import_rows(*, rows: Iterable[tuple[int, dict[str | None, Any]]], by: Any = None) -> AccountImportReport:
    """Upsert accounts from CSV rows (``(line, {header: cell})``, as ``routing.csv_import``
    decodes them): the columns of ``ACCOUNT_CSV_COLUMNS``, and ``attr.<key>`` for custom
    attributes. Each row is validated and written on its own (a savepoint), so a bad row is
    reported with its line and field and the others are imported."""
    from routing.models import Account

    report = AccountImportReport()
    for line, cells in rows:
        if None in cells:  # more cells than headers
            report.errors.append({"line": line, "field": "", "message": "This row has more cells than the header."})
            continue
        data = {k.strip(): (v or "").strip() for k, v in cells.items() if k}
        known = {k: v for k, v in data.items() if k in ACCOUNT_CSV_COLUMNS and v != ""}
        known["attributes"] = {k[5:]: v for k, v in data.items() if k.startswith("attr.") and v != ""}
        try:
            obj = account_validate(known)
            with transaction.atomic():
                before = Account.objects.filter(external_id=obj.external_id).values_list("updated_at", flat=True).first()
                account, created = account_upsert(data=obj, by=by)
        except AccountError as exc:
            for field, messages in exc.errors.items():
                report.errors.extend({"line": line, "field": field, "message": m} for m in messages)
            continue
        if created:
            report.created += 1
        elif before != account.updated_at:
            report.updated += 1
        else:
            report.unchanged += 1
    return report


__all__ = [
    "AccountError", "account_delete", "account_upsert", "account_validate", "accounts_import_rows",
    "OfferError", "capacity_lock", "holding_release", "holding_wake", "holding_wake_for_changes", "lead_close", "lead_quarantine_retry",
    "leads_quarantine_release", "lead_dry_run", "lead_hand_back", "lead_intake",
    "leads_age_out", "leads_recover_stale", "leads_route_all_pending", "leads_route_pending", "listen",
    "lead_first_touch", "offer_accept", "offer_decline", "offers_expire_due", "offers_withdraw_for_away",
    "rule_publish",
]  # fmt: skip
