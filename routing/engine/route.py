"""Routing one lead: qualify, pick a rule, walk its pool and fallback chain, explain the outcome.

1. Qualify the lead into a segment; rules see the segment slug as the ``segment`` field.
2. Select the first matching rule; none => holding.
2a. STICKY: the lead carries an earlier lead's holder (``LeadFacts.sticky``, same person or
   account within the window, found at fetch) => that rep with only the hard checks, caps
   included.
2b. ACCOUNT_OWNER: the rule's chain starts with an ``account_owner`` step and the lead matched
   an account (``LeadFacts.account``) => its owner with only the hard checks (caps unless the
   step says not to). When either rep cannot take the lead, the step records why and the
   chain goes on. Neither moves fairness credits unless ``owner_counts_toward_fairness``: then
   the chosen rep's credit in the rule's pool drops by one lead, as if the pool had picked them.
3. PRIMARY: the rule's pool with all criteria (skipped on an escalation when the rule says not to
   re-route to the pool; RELAX steps are then skipped too).
4. Nobody eligible => walk ``rule.fallback`` in order:
   RELAX   one step per criterion of ``rule.relaxation``, each relaxing one more (cumulative);
   POOL    ``target_id`` pool with the rule's full criteria;
   BACKUP  rep ``target_id`` with only the hard checks;
   MANAGER the rule pool's manager with only the hard checks;
   HOLDING stop and park the lead.
   A chain that ends without a pick also parks the lead: it is never given to an arbitrary rep.

Missing pools or reps (deleted between fetch and decide) are empty pools and ineligible
candidates (``Reason.INACTIVE``), never exceptions. Every step and every candidate is recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from routing.engine import sla
from routing.engine.business_time import BusinessCalendar, closed_reason
from routing.engine.eligibility import ALL_CRITERIA, check_rep, relax_reasons
from routing.engine.fairness import read_credit
from routing.engine.explain import summarize
from routing.engine.qualify import classify, decision_warnings
from routing.engine.strategies import pick_rep
from routing.engine.types import (
    CandidateResult,
    ConfigSnapshot,
    Criterion,
    Decision,
    FallbackStep,
    LeadFacts,
    Outcome,
    PoolSnapshot,
    Reason,
    RepSnapshot,
    RuleSpec,
    SegmentSpec,
    StepKind,
    StepResult,
    candidate_result,
)

_ALL_CRITERIA_ORDERED: tuple[Criterion, ...] = tuple(Criterion)
_NOTHING_RELAXED: frozenset[Criterion] = frozenset()
_SOFT_CRITERIA_ALL_RELAXED: frozenset[Criterion] = ALL_CRITERIA
CAP_REASONS = frozenset({Reason.AT_OPEN_CAP, Reason.AT_DAILY_CAP, Reason.AT_WEEKLY_CAP})
DIRECT_STEPS = frozenset({StepKind.STICKY, StepKind.ACCOUNT_OWNER})  # a named rep before the pool


@dataclass(frozen=True)
class _Context:
    lead: LeadFacts
    fields: Mapping[str, Any]
    rule: RuleSpec
    high_value: bool
    now: dt.datetime
    excluded_rep_ids: frozenset[int]
    pools: Mapping[int, PoolSnapshot]
    reps: Mapping[int, RepSnapshot]
    offer_deadline: dt.datetime | None = None  # same for every rep; None on the rep's own clock
    owner_counts_toward_fairness: bool = False
    # rep id -> (the snapshot checked, its reasons with nothing relaxed): each rep is checked once
    # per decision; relaxation steps and other pools filter those reasons (relax_reasons).
    checked: dict[int, tuple[RepSnapshot, tuple[Reason, ...]]] = field(default_factory=dict, compare=False)


def _missing_rep(rep_id: int, weight: int) -> CandidateResult:
    return CandidateResult(
        rep_id=rep_id,
        name=f"Rep #{rep_id}",
        eligible=False,
        reasons=(Reason.INACTIVE,),
        weight=weight,
    )


def _check(ctx: _Context, rep: RepSnapshot, relaxed: frozenset[Criterion]) -> tuple[Reason, ...]:
    """Why ``rep`` may not take the lead with ``relaxed``: checked once per decision with nothing
    relaxed (the primary step's question), then filtered for each relaxation step and for each
    other pool the rep is also in."""
    seen = ctx.checked.get(rep.id)
    if seen is not None and seen[0] is rep:
        reasons = seen[1]
    else:
        reasons = check_rep(
            rep,
            lead=ctx.lead,
            rule=ctx.rule,
            requirements=ctx.rule.requirements,
            high_value=ctx.high_value,
            now=ctx.now,
            excluded_rep_ids=ctx.excluded_rep_ids,
            relaxed=_NOTHING_RELAXED,
            offer_deadline=ctx.offer_deadline,
        )
        ctx.checked[rep.id] = (rep, reasons)
    return relax_reasons(reasons, relaxed)


def pool_closed_reason(
    pool: PoolSnapshot, rule: RuleSpec, relaxed: frozenset[Criterion], now: dt.datetime
) -> Reason | None:
    """Why nobody may take a lead through ``pool`` now: its calendar is closed (outside its
    hours: ``OUTSIDE_WORKING_HOURS``; a closed date: ``PUBLIC_HOLIDAY``). Only under a rule that
    requires working hours, and not once working hours are relaxed."""
    if pool.calendar is None or not rule.requirements.working_hours or Criterion.WORKING_HOURS in relaxed:
        return None
    match closed_reason(pool.calendar, now):
        case None:
            return None
        case "holiday":
            return Reason.PUBLIC_HOLIDAY
    return Reason.OUTSIDE_WORKING_HOURS


def _pool_step(
    ctx: _Context, kind: StepKind, pool_id: int | None, relaxed: tuple[Criterion, ...]
) -> tuple[StepResult, dict[int, float]]:
    """Evaluate every member of a pool, pick with the rule's strategy; returns the credits too."""
    pool = ctx.pools.get(pool_id) if pool_id is not None else None
    if pool is None:
        return StepResult(kind, pool_id, relaxed, candidates=(), chosen_rep_id=None), {}

    relaxed_set = frozenset(relaxed)
    closed = pool_closed_reason(pool, ctx.rule, relaxed_set, ctx.now)
    seen: set[int] = set()
    # (rep id, name, reasons, weight) per member; each CandidateResult is built once, with its
    # score, after the pick (a missing rep is already its final result).
    results: list[tuple[int, str, tuple[Reason, ...], int] | CandidateResult] = []
    eligible: list[tuple[RepSnapshot, int]] = []
    for rep_id, weight in pool.members:
        if rep_id in seen:
            continue
        seen.add(rep_id)
        rep = ctx.reps.get(rep_id)
        if rep is None:
            results.append(_missing_rep(rep_id, weight))
            continue
        reasons = _check(ctx, rep, relaxed_set)
        if closed is not None:
            reasons = tuple(reason for reason in Reason if reason in reasons or reason == closed)
        results.append((rep.id, rep.name, reasons, weight))
        if not reasons:
            eligible.append((rep, weight))

    pick = pick_rep(ctx.rule.strategy, eligible, pool=pool, rule=ctx.rule, lead_fields=ctx.fields)
    scores = pick.scores
    candidates = tuple(
        result if type(result) is CandidateResult
        else candidate_result(result[0], result[1], not result[2], result[2], result[3],
                              None if result[2] else scores.get(result[0]))
        for result in results
    )  # fmt: skip
    step = StepResult(kind, pool.id, relaxed, candidates, chosen_rep_id=pick.chosen_rep_id)
    return step, dict(pick.credits)


def _single_rep_step(
    ctx: _Context, kind: StepKind, pool_id: int | None, rep_id: int | None, *, respect_caps: bool = True
) -> StepResult:
    """A named rep (backup, manager, account owner, sticky holder) with only the hard checks;
    without ``respect_caps`` their caps do not stop them."""
    if rep_id is None:
        return StepResult(kind, pool_id, _ALL_CRITERIA_ORDERED, (), chosen_rep_id=None)
    rep = ctx.reps.get(rep_id)
    if rep is None:
        candidate = _missing_rep(rep_id, weight=0)
    else:
        reasons = _check(ctx, rep, _SOFT_CRITERIA_ALL_RELAXED)
        if not respect_caps:
            reasons = tuple(reason for reason in reasons if reason not in CAP_REASONS)
        candidate = CandidateResult(rep.id, rep.name, eligible=not reasons, reasons=reasons)
    chosen = candidate.rep_id if candidate.eligible else None
    return StepResult(kind, pool_id, _ALL_CRITERIA_ORDERED, (candidate,), chosen_rep_id=chosen)


def _fallback_kind(step: FallbackStep) -> StepKind | None:
    try:
        return StepKind(step.kind)
    except ValueError:
        return None


def _walk(
    ctx: _Context, *, skip_pool: bool
) -> tuple[list[StepResult], dict[int, dict[int, float]], bool]:
    """Steps taken, the fairness update of the picking pool step, and whether HOLDING was hit."""
    rule = ctx.rule
    steps: list[StepResult] = []
    updates: dict[int, dict[int, float]] = {}

    def pool_step(kind: StepKind, pool_id: int | None, relaxed: tuple[Criterion, ...]) -> bool:
        step, credits = _pool_step(ctx, kind, pool_id, relaxed)
        steps.append(step)
        if step.chosen_rep_id is not None and step.pool_id is not None:
            updates[step.pool_id] = credits
        return step.chosen_rep_id is not None

    def direct_step(kind: StepKind, rep_id: int | None, respect_caps: bool) -> bool:
        step = _single_rep_step(ctx, kind, None, rep_id, respect_caps=respect_caps)
        steps.append(step)
        chosen = step.chosen_rep_id
        if chosen is None:
            return False
        pool = ctx.pools.get(rule.pool_id)
        if ctx.owner_counts_toward_fairness and pool is not None and any(r == chosen for r, _ in pool.members):
            updates[pool.id] = {chosen: read_credit(pool.fairness, chosen) - 1.0}
        return True

    sticky = ctx.lead.sticky
    if sticky is not None and direct_step(StepKind.STICKY, sticky.rep_id, True):
        return steps, updates, False
    first = rule.fallback[0] if rule.fallback else None
    if first is not None and _fallback_kind(first) is StepKind.ACCOUNT_OWNER:
        account = ctx.lead.account
        owner_id = account.account.owner_id if account is not None else None
        if account is not None and direct_step(StepKind.ACCOUNT_OWNER, owner_id, first.respect_caps):
            return steps, updates, False
        if account is None:
            steps.append(StepResult(StepKind.ACCOUNT_OWNER, None, _ALL_CRITERIA_ORDERED, (), chosen_rep_id=None))

    if not skip_pool and pool_step(StepKind.PRIMARY, rule.pool_id, ()):
        return steps, updates, False

    relaxation = tuple(dict.fromkeys(rule.relaxation))  # dedupe, keep the configured order
    relaxed_count = 0
    for fallback in rule.fallback:
        kind = _fallback_kind(fallback)
        if kind is StepKind.RELAX:
            if skip_pool:
                continue
            while relaxed_count < len(relaxation):
                relaxed_count += 1
                if pool_step(StepKind.RELAX, rule.pool_id, relaxation[:relaxed_count]):
                    return steps, updates, False
        elif kind is StepKind.POOL:
            if pool_step(StepKind.POOL, fallback.target_id, ()):
                return steps, updates, False
        elif kind is StepKind.BACKUP:
            step = _single_rep_step(ctx, StepKind.BACKUP, None, fallback.target_id)
            steps.append(step)
            if step.chosen_rep_id is not None:
                return steps, updates, False
        elif kind is StepKind.MANAGER:
            pool = ctx.pools.get(rule.pool_id)
            manager_id = pool.manager_id if pool is not None else None
            step = _single_rep_step(ctx, StepKind.MANAGER, rule.pool_id, manager_id)
            steps.append(step)
            if step.chosen_rep_id is not None:
                return steps, updates, False
        elif kind is StepKind.HOLDING:
            steps.append(StepResult(StepKind.HOLDING, None, (), (), chosen_rep_id=None))
            return steps, updates, True
        # PRIMARY, ACCOUNT_OWNER (taken before the pool) or unknown kinds: nothing to do here.
    return steps, updates, False


def shared_offer_deadline(
    segment: SegmentSpec | None, segment_calendars: Mapping[int, BusinessCalendar], now: dt.datetime
) -> dt.datetime | None:
    """When an offer made now expires if that does not depend on the rep (wall-clock or the
    segment's calendar); None on the rep's own clock."""
    clock = sla.clock_of(segment.sla_clock) if segment is not None else sla.SlaClock.CALENDAR
    if clock == sla.SlaClock.REP:
        return None
    calendar = segment_calendars.get(segment.calendar_id) if segment and segment.calendar_id else None
    return sla.offer_deadline(
        sla_minutes=segment.sla_minutes if segment else None,
        accept_fraction=segment.accept_fraction if segment else None,
        clock=clock, segment_calendar=calendar, rep_calendar=None, now=now,
    )  # fmt: skip


def route(
    lead: LeadFacts,
    config: ConfigSnapshot,
    pools: Mapping[int, PoolSnapshot],
    reps: Mapping[int, RepSnapshot],
    now: dt.datetime,
    excluded_rep_ids: frozenset[int] = frozenset(),
    escalation: bool = False,
    segment_calendars: Mapping[int, BusinessCalendar] | None = None,
    owner_counts_toward_fairness: bool = False,
) -> Decision:
    """Decide who is offered ``lead`` (or that it waits in holding), with every step's reasons.

    ``owner_counts_toward_fairness``: an account-owner or sticky assignment charges the rep one
    lead in the rule's pool (LEADOPS_OWNER_COUNTS_TOWARD_FAIRNESS; off by default).

    ``segment_calendars``: calendar id -> calendar, for segments whose SLA clock is their own
    calendar; with it, no rep is offered a lead whose offer would expire before they are back.
    """
    classified = classify(lead, config)
    segment, fields, rule = classified.segment, classified.fields, classified.rule
    warnings = decision_warnings(lead, config, segment=segment, fields=fields, rule=rule)
    if rule is None:
        return Decision(
            lead_id=lead.id,
            config_version=config.version,
            segment=segment,
            rule=None,
            high_value=False,
            steps=(),
            outcome=Outcome.HOLDING,
            chosen_rep_id=None,
            chosen_step=None,
            fairness_updates={},
            summary=summarize(segment=segment, rule=None, steps=(), pools=pools, reps=reps, account=lead.account),
            warnings=warnings,
            account=lead.account,
            sticky=lead.sticky,
        )

    high_value = classified.high_value
    ctx = _Context(
        lead=lead,
        fields=fields,
        rule=rule,
        high_value=high_value,
        now=now,
        excluded_rep_ids=frozenset(excluded_rep_ids),
        pools=pools,
        reps=reps,
        offer_deadline=shared_offer_deadline(segment, segment_calendars or {}, now),
        owner_counts_toward_fairness=owner_counts_toward_fairness,
    )
    skip_pool = escalation and not rule.reroute_on_escalation
    step_list, updates, held = _walk(ctx, skip_pool=skip_pool)
    steps = tuple(step_list)
    last = steps[-1] if steps else None
    chosen_rep_id = last.chosen_rep_id if last is not None else None
    chosen_step: StepKind | None = None
    outcome = Outcome.HOLDING
    if chosen_rep_id is not None and last is not None:
        outcome, chosen_step = Outcome.OFFER, last.kind
    elif held:
        chosen_step = StepKind.HOLDING
    return Decision(
        lead_id=lead.id,
        config_version=config.version,
        segment=segment,
        rule=rule,
        high_value=high_value,
        steps=steps,
        outcome=outcome,
        chosen_rep_id=chosen_rep_id,
        chosen_step=chosen_step,
        fairness_updates=updates,
        summary=summarize(
            segment=segment,
            rule=rule,
            steps=steps,
            pools=pools,
            reps=reps,
            escalation_skipped_pool=skip_pool,
            account=lead.account,
            sticky=lead.sticky,
        ),
        warnings=warnings,
        account=lead.account,
        sticky=lead.sticky,
    )
