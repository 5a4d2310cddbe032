"""Every write to leads, offers, capacity, fairness and published rules goes through here.

Fetch, decide, persist: snapshots are gathered with a fixed number of queries, the pure engine
decides, and the outcome plus its audit record are written in one transaction. Follow-ups
(wake-ups, notifications, webhooks) are queued with ``transaction.on_commit``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from decimal import Decimal
from typing import Any, Callable, Iterable

from django.db import IntegrityError, OperationalError, connection, models, transaction
from django.db.models.base import ModelState
from django.utils import timezone

from reps.models import FairnessState, Rep, RepLoad
from routing import engine
from routing.engine.types import ConfigSnapshot
from routing.engine.types import Decision as EngineDecision
from routing.engine.types import Outcome, PoolSnapshot, StepKind
from routing.models import Decision, Lead, Offer, RuleSet, Segment
from routing.snapshots import (
    config_live,
    config_to_json,
    lead_facts,
    local_day_and_week,
    pool_snapshots,
    rep_snapshots,
    routing_directory,
    rule_index,
)

log = logging.getLogger(__name__)

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
    """Tell listeners about changes made in the current transaction: one call per batch."""
    if not events:
        return
    for callback in list(_transaction_listeners):
        callback(events)  # failures roll the change back: these rows must not be lost

    def fire() -> None:
        for callback in list(_listeners):
            try:
                callback(events)
            except Exception:  # a notifier must never break routing
                log.exception("listener failed for %d event(s)", len(events))

    transaction.on_commit(fire)


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


def lead_build(*, data: dict[str, Any], config: ConfigSnapshot, now: dt.datetime, segment_ids: set[int]) -> Lead:
    """An unsaved pending Lead with its segment and high-value flag worked out by the engine,
    so the queue can order it (high value first) before it is routed."""
    facts = lead_facts(data, received_at=now)
    segment = engine.qualify(facts, config)
    fields = {**facts.fields, "segment": segment.slug if segment else ""}
    rule = engine.select_rule(fields, config)
    return Lead(
        **data,
        received_at=now,
        segment_id=segment.id if segment and segment.id in segment_ids else None,
        high_value=bool(rule and engine.is_high_value(fields, rule)),
        status=Lead.Status.PENDING,
    )


def lead_intake(*, data: dict[str, Any], now: dt.datetime | None = None) -> tuple[Lead, bool]:
    """Store a validated lead durably, or return the existing one for the same source + id.

    ``data`` is cleaned input (see routing.validation.clean_lead). Returns (lead, created).
    """
    now = now or timezone.now()
    existing = Lead.objects.filter(source=data["source"], external_id=data["external_id"]).first()
    if existing is not None:
        return existing, False
    lead = lead_build(data=data, config=config_live(), now=now, segment_ids=segment_ids_live())
    try:
        with transaction.atomic():
            lead.save(force_insert=True)
            _wake_router()
    except IntegrityError:
        # A concurrent duplicate won the unique (source, external_id) race.
        return Lead.objects.get(source=data["source"], external_id=data["external_id"]), False
    return lead, True


def segment_ids_live() -> set[int]:
    return set(Segment.objects.values_list("id", flat=True))


# --- routing ----------------------------------------------------------------------------


# Pending leads: high value first, then oldest. The holding pool re-drains highest value first.
QUEUE_ORDER = ("-high_value", "received_at")
HOLDING_ORDER = ("-high_value", "-value", "received_at")


def _select_waiting(limit: int, statuses: tuple[str, ...]) -> list[Lead]:
    order = HOLDING_ORDER if tuple(statuses) == (Lead.Status.HOLDING,) else QUEUE_ORDER
    qs = Lead.objects.filter(status__in=statuses).order_by(*order)
    if connection.features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    return list(qs[:limit])


def leads_route_pending(*, limit: int = 50, now: dt.datetime | None = None) -> int:
    """Route up to ``limit`` pending leads (high value first, then oldest) in one transaction.

    Safe to call from any number of workers at once: leads are taken with
    SELECT ... FOR UPDATE SKIP LOCKED and capacity/fairness rows are locked in a fixed order.
    Returns the number of leads routed.
    """
    return _retry_on_deadlock(lambda: _route_batch(limit=limit, now=now, statuses=(Lead.Status.PENDING,)))


def leads_route_all_pending(*, batch: int = 50, now: dt.datetime | None = None) -> int:
    total = 0
    while routed := leads_route_pending(limit=batch, now=now):
        total += routed
    return total


def _batch_scope(rules: Iterable[Any]) -> tuple[set[int], set[int]]:
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


def _reachable_reps(pools: dict[int, PoolSnapshot], extra_reps: set[int]) -> set[int]:
    """Every rep a decision over these pools can reach: members, named backups, pool managers."""
    rep_ids = {rep_id for pool in pools.values() for rep_id, _ in pool.members} | extra_reps
    return rep_ids | {pool.manager_id for pool in pools.values() if pool.manager_id}


def _locked_rows(model: type[models.Model], column: str, ids: set[int], *, order: tuple[str, ...]) -> list[Any]:
    """``SELECT ... WHERE column = ANY(ids) ORDER BY order FOR UPDATE``: one array parameter
    instead of an IN list of thousands of placeholders (cheaper to build and to parse)."""
    if not ids:
        return []
    if connection.vendor != "postgresql":
        return list(model.objects.select_for_update().filter(**{f"{column}__in": ids}).order_by(*order))
    qn = connection.ops.quote_name
    sql = (
        f"SELECT * FROM {qn(model._meta.db_table)} WHERE {qn(column)} = ANY(%s) "
        f"ORDER BY {', '.join(qn(c) for c in order)} FOR UPDATE"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [sorted(ids)])
        attnames = {f.column: f.attname for f in model._meta.concrete_fields}
        names = [attnames[col.name] for col in cursor.description]
        return [_loaded(model, dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


def _loaded(model: type[models.Model], values: dict[str, Any]) -> Any:
    """An instance of ``model`` loaded from the database, as ``Model.from_db`` makes it but
    without ``__init__`` and its pre/post_init signals (no receivers for these counter models):
    a batch at 500 reps / 50 rules locks ~1,300 rows, and ``from_db`` cost ~10 us each."""
    obj = model.__new__(model)
    obj.__dict__.update(values)
    obj._state = ModelState()
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj


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


@transaction.atomic
def _route_batch(*, limit: int, now: dt.datetime | None, statuses: tuple[str, ...]) -> int:
    """Fetch, decide, persist one batch. A fixed number of queries per batch:

    1. take the leads (SKIP LOCKED) and work out each one's rule with the pure engine, so only
       the pools and reps those rules can reach are read and locked, not every rule's;
    2. lock capacity rows (rep id order), then fairness rows ((pool, rep) order), creating any
       missing ones; read pool and rep snapshots;
    3. decide lead by lead, applying each outcome to the in-memory state so the next lead in
       the batch sees it;
    4. write decisions, offers, leads, capacity and fairness with one statement each.
    """
    now = now or timezone.now()
    leads = _select_waiting(limit, statuses)
    if not leads:
        return 0
    config = config_live()
    index = rule_index(config)
    facts = {lead.id: lead_facts(lead) for lead in leads}
    configs: dict[int, ConfigSnapshot] = {}
    batch_rules = {}
    for lead in leads:
        segment = engine.qualify(facts[lead.id], config)
        fields = engine.routing_fields(facts[lead.id], segment)
        configs[lead.id] = narrowed = index.narrow(fields)
        rule = engine.select_rule(fields, narrowed)
        if rule is not None:
            batch_rules[rule.id] = rule
    pool_ids, extra_reps = _batch_scope(batch_rules.values())
    directory = routing_directory()
    pools = directory.pools(pool_ids)
    rep_ids = _reachable_reps(pools, extra_reps)
    loads = _lock_loads(rep_ids)
    fairness_rows = _lock_fairness({pid: [r for r, _ in p.members] for pid, p in pools.items()})
    touched_fairness = _fairness_forget_departed(pools, fairness_rows)
    pools = {
        pid: dataclasses.replace(
            p, fairness={r: fairness_rows[(pid, r)].credit for r, _ in p.members if (pid, r) in fairness_rows}
        )
        for pid, p in pools.items()
    }
    reps = directory.reps(rep_ids, now=now, loads=loads)
    excluded: dict[int, set[int]] = {}
    prior_offers: set[int] = set()
    for lead_id, rep_id, status in Offer.objects.filter(lead__in=leads).values_list("lead_id", "rep_id", "status"):
        prior_offers.add(lead_id)
        if status in (Offer.Status.DECLINED, Offer.Status.EXPIRED):
            excluded.setdefault(lead_id, set()).add(rep_id)
    segments = {s.id for s in config.segments}

    touched_loads: set[int] = set()
    records: list[Decision] = []
    offers: dict[int, Offer] = {}
    escalations: set[int] = set()
    for lead in leads:
        started = time.perf_counter()
        escalation = lead.id in prior_offers
        decision = engine.route(
            facts[lead.id], configs[lead.id], pools, reps, now,
            excluded_rep_ids=frozenset(excluded.get(lead.id, ())), escalation=escalation,
        )  # fmt: skip
        duration_us = int((time.perf_counter() - started) * 1_000_000)
        # Apply the decision to the in-memory state so the next lead in the batch sees it.
        for pool_id, credits in decision.fairness_updates.items():
            pools[pool_id] = dataclasses.replace(pools[pool_id], fairness={**pools[pool_id].fairness, **credits})
            for rep_id, credit in credits.items():
                row = fairness_rows.get((pool_id, rep_id))
                if row is not None:
                    row.credit = credit
                    touched_fairness.add((pool_id, rep_id))
        chosen = decision.chosen_rep_id if decision.outcome == Outcome.OFFER else None
        if chosen is not None:
            rep = reps[chosen]
            load = loads[chosen]
            day, week = local_day_and_week(now, rep.timezone)
            _count_offer(load, day=day, week=week)
            touched_loads.add(chosen)
            reps[chosen] = dataclasses.replace(
                rep, open_count=load.open_count, daily_count=load.daily_count, weekly_count=load.weekly_count
            )
            if decision.chosen_step and decision.fairness_updates:
                for pool_id in decision.fairness_updates:
                    row = fairness_rows.get((pool_id, chosen))
                    if row is not None:
                        row.assigned += 1
        if escalation:
            escalations.add(lead.id)
        records.append(_decision_record(
            lead=lead, facts=facts[lead.id], decision=decision, now=now, duration_us=duration_us,
            kind=Decision.Kind.ESCALATION if escalation else (
                Decision.Kind.RETRY if lead.route_attempts else Decision.Kind.ROUTE),
        ))  # fmt: skip
        segment = decision.segment
        lead.segment_id = segment.id if segment and segment.id in segments else lead.segment_id
        lead.high_value = decision.high_value
        lead.route_attempts += 1
        lead.routed_at = now
        if chosen is not None:
            seg = decision.segment
            window = dt.timedelta(minutes=(seg.sla_minutes * seg.accept_fraction) if seg else 60)
            offers[lead.id] = Offer(
                lead=lead, rep_id=chosen, offered_at=now, deadline=now + window,
                step=len(excluded.get(lead.id, ())), via=decision.chosen_step or StepKind.PRIMARY,
                counted_day=loads[chosen].day, counted_week=loads[chosen].week,
            )  # fmt: skip
            lead.status = Lead.Status.OFFERED
            lead.owner_id = chosen
            lead.offered_at = now
        else:
            lead.status = Lead.Status.HOLDING
            lead.owner_id = None
    Decision.objects.bulk_create(records)
    for record in records:
        if offer := offers.get(record.lead_id):
            offer.decision = record
    Offer.objects.bulk_create(list(offers.values()))
    _bulk_set(Lead, leads, ["segment", "high_value", "route_attempts", "routed_at", "status", "owner", "offered_at"])
    _bulk_set(RepLoad, [loads[r] for r in sorted(touched_loads)], ["open_count", "day", "daily_count", "week", "weekly_count"])
    _bulk_set(FairnessState, [fairness_rows[k] for k in sorted(touched_fairness)], ["credit", "assigned"])
    events: list[Event] = []
    for lead, record in zip(leads, records, strict=True):
        escalation = lead.id in escalations
        if offer := offers.get(lead.id):
            events.append(("offer.created", {"lead_id": lead.id, "offer_id": offer.id, "rep_id": offer.rep_id,
                                             "step": record.step or None, "escalation": escalation}))  # fmt: skip
        else:
            events.append(("lead.holding", {"lead_id": lead.id, "escalation": escalation}))
    _emit(events)
    return len(leads)


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
    qn = connection.ops.quote_name
    arrays = [
        [f.get_db_prep_value(obj.pk, connection) if f is pk else f.get_db_prep_save(getattr(obj, f.attname), connection)
         for obj in objs]
        for f in columns
    ]  # fmt: skip
    casts = ", ".join(f"%s::{f.cast_db_type(connection)}[]" for f in columns)
    names = ", ".join(qn(f.column) for f in columns)
    sets = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in columns[1:])
    sql = (
        f"UPDATE {qn(meta.db_table)} AS t SET {sets} FROM unnest({casts}) AS v({names}) "
        f"WHERE t.{qn(pk.column)} = v.{qn(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)


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
    pool_id = decision.rule.pool_id if decision.rule else None
    for step in decision.steps:
        if step.chosen_rep_id is not None:
            pool_id = step.pool_id or pool_id
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
    reps = rep_snapshots(_reachable_reps(pools, extra_reps), now=now)
    return engine.route(lead_facts(data, received_at=now), config, pools, reps, now)


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
        if offer.deadline <= now:
            raise OfferError("This offer has expired; it is moving on to the next rep.")
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
    offer.save(update_fields=["status", "decided_at", "decline_reason", "decline_note"])
    _release_capacity(rep_id=offer.rep_id, offer=offer, daily_too=True)
    Lead.objects.filter(id=offer.lead_id).update(status=Lead.Status.PENDING, owner_id=None)
    _wake_router()
    _emit_on_commit(f"offer.{status}", {"lead_id": offer.lead_id, "offer_id": offer.id, "rep_id": offer.rep_id})
    _capacity_freed()


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
        for offer in due:
            _give_up_offer(offer=offer, status=Offer.Status.EXPIRED, now=now)
    return len(due)


def offers_withdraw_for_away(*, rep: Rep, now: dt.datetime | None = None) -> int:
    """An away rep's open offers move on along the chain."""
    now = now or timezone.now()
    with transaction.atomic():
        offers = list(Offer.objects.select_for_update().filter(rep=rep, status=Offer.Status.OPEN))
        for offer in offers:
            _give_up_offer(offer=offer, status=Offer.Status.WITHDRAWN, now=now)
    return len(offers)


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
        _capacity_freed()
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
        _capacity_freed()
    return lead


def leads_age_out(*, days: int, now: dt.datetime | None = None) -> int:
    """Accepted leads with no progress for ``days`` leave the rep's pipeline."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=days)
    count = 0
    with transaction.atomic():
        qs = Lead.objects.filter(status=Lead.Status.ACCEPTED, last_activity_at__lt=cutoff)
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        for lead in qs[:500]:
            lead.status, lead.closed_at = Lead.Status.AGED_OUT, now
            lead.save(update_fields=["status", "closed_at"])
            _release_capacity(rep_id=lead.owner_id, offer=None, daily_too=False)
            _emit_on_commit("lead.aged_out", {"lead_id": lead.id, "rep_id": lead.owner_id})
            count += 1
        if count:
            _capacity_freed()
    return count


def _capacity_freed() -> None:
    """Capacity changed: let the holding pool try again (highest value first), after commit."""
    from routing.tasks import enqueue_retry_holding

    transaction.on_commit(enqueue_retry_holding)


def holding_release(*, limit: int = 100, now: dt.datetime | None = None) -> int:
    """Route up to ``limit`` holding-pool leads again now, highest value first.

    Each retry is a decision record (kind ``retry``); a lead nobody can take stays in holding.
    Returns the number of leads retried.
    """
    return _retry_on_deadlock(lambda: _route_batch(limit=limit, now=now, statuses=(Lead.Status.HOLDING,)))


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
        return RuleSet.objects.create(version=version, snapshot=snapshot, published_by=user, note=note[:200])


__all__ = [
    "OfferError", "holding_release", "lead_close", "lead_dry_run", "lead_hand_back", "lead_intake",
    "leads_age_out", "leads_recover_stale", "leads_route_all_pending", "leads_route_pending", "listen",
    "offer_accept", "offer_decline", "offers_expire_due", "offers_withdraw_for_away",
    "rule_publish",
]  # fmt: skip
