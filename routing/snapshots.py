"""Fetch: turn database rows into the engine's frozen dataclasses with a fixed number of queries."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from django.db.models import Q

from reps.models import WEEKDAYS, Absence, FairnessState, Licence, Pool, PoolMember, Rep, RepLoad, RepSkill
from routing.engine.types import (
    ConfigSnapshot,
    Condition,
    Criterion,
    FallbackStep,
    Interval,
    LeadFacts,
    LicenceFact,
    Op,
    PoolSnapshot,
    RepSnapshot,
    Requirements,
    RuleSpec,
    SegmentSpec,
    SkillRequirement,
    StepKind,
    Strategy,
    TerritoryFact,
)
from routing.models import Lead, Rule, RuleSet, Segment

LEAD_FACT_FIELDS = (
    "source", "external_id", "first_name", "last_name", "email", "phone", "company", "title",
    "country", "state", "postal_code", "language", "product_line", "value", "currency",
    "fit_score", "account_tier", "intent", "attributes",
)  # fmt: skip


# --- configuration ----------------------------------------------------------------------


def config_to_json() -> dict[str, Any]:
    """The current draft (tables) as the JSON a RuleSet stores: what routing would read."""
    segments = [
        {
            "id": s.id, "slug": s.slug, "name": s.name, "sla_minutes": s.sla_minutes,
            "accept_fraction": s.accept_fraction, "priority": s.priority, "order": s.order,
            "conditions": s.conditions, "is_default": s.is_default,
        }
        for s in Segment.objects.all()
    ]  # fmt: skip
    rules = list(Rule.objects.filter(archived=False))
    latest_history = {}
    for rid, hid in Rule.history.filter(id__in=[r.id for r in rules]).values_list("id", "history_id"):
        latest_history[rid] = max(hid, latest_history.get(rid, 0))
    return {
        "segments": segments,
        "rules": [
            {
                "id": r.id, "history_id": latest_history.get(r.id), "name": r.name,
                "priority": r.priority, "enabled": r.enabled, "conditions": r.conditions,
                "pool_id": r.pool_id, "strategy": r.strategy, "requirements": r.requirements,
                "value_threshold": str(r.value_threshold) if r.value_threshold is not None else None,
                "high_value_min_tier": r.high_value_min_tier, "fallback": r.fallback,
                "relaxation": r.relaxation, "reroute_on_escalation": r.reroute_on_escalation,
            }
            for r in rules
        ],
    }  # fmt: skip


def _conditions(raw: Iterable[dict]) -> tuple[Condition, ...]:
    return tuple(Condition(field=c["field"], op=Op(c["op"]), value=c.get("value")) for c in raw or ())


def _requirements(raw: dict) -> Requirements:
    raw = raw or {}
    return Requirements(
        skills=tuple(
            SkillRequirement(skill=s["skill"], min_level=int(s.get("min_level", 1))) for s in raw.get("skills", ())
        ),
        licence=bool(raw.get("licence", False)),
        territory=bool(raw.get("territory", False)),
        language=bool(raw.get("language", False)),
        min_tier=raw.get("min_tier"),
        working_hours=bool(raw.get("working_hours", False)),
    )


def config_from_json(data: dict[str, Any], *, version: int) -> ConfigSnapshot:
    segments = tuple(
        SegmentSpec(
            id=s["id"], slug=s["slug"], name=s["name"], sla_minutes=s["sla_minutes"],
            accept_fraction=s["accept_fraction"], priority=s["priority"], order=s["order"],
            conditions=_conditions(s.get("conditions")), is_default=s.get("is_default", False),
        )
        for s in data.get("segments", ())
    )  # fmt: skip
    rules = tuple(
        RuleSpec(
            id=r["id"], history_id=r.get("history_id"), name=r["name"], priority=r["priority"],
            enabled=r["enabled"], conditions=_conditions(r.get("conditions")), pool_id=r["pool_id"],
            strategy=Strategy(r.get("strategy") or Strategy.WEIGHTED_FAIR),
            requirements=_requirements(r.get("requirements")),
            value_threshold=Decimal(r["value_threshold"]) if r.get("value_threshold") not in (None, "") else None,
            high_value_min_tier=r.get("high_value_min_tier"),
            fallback=tuple(
                FallbackStep(kind=StepKind(f["kind"]), target_id=f.get("target_id")) for f in r.get("fallback") or ()
            ) or (FallbackStep(StepKind.HOLDING),),
            relaxation=tuple(Criterion(c) for c in r.get("relaxation") or ()),
            reroute_on_escalation=r.get("reroute_on_escalation", True),
        )
        for r in data.get("rules", ())
    )  # fmt: skip
    return ConfigSnapshot(version=version, segments=segments, rules=rules)


_CONFIG_CACHE: dict[int, ConfigSnapshot] = {}


def config_live() -> ConfigSnapshot:
    """The published rule set, parsed once per version (one query per call to find the version).

    Before anything is published, routing reads the tables directly as version 0.
    """
    latest = RuleSet.objects.order_by("-version").values_list("version", flat=True).first()
    if latest is None:
        return config_from_json(config_to_json(), version=0)
    cached = _CONFIG_CACHE.get(latest)
    if cached is None:
        snapshot = RuleSet.objects.values_list("snapshot", flat=True).get(version=latest)
        cached = config_from_json(snapshot, version=latest)
        _CONFIG_CACHE.clear()
        _CONFIG_CACHE[latest] = cached
    return cached


def config_draft() -> ConfigSnapshot:
    return config_from_json(config_to_json(), version=-1)


# --- leads ------------------------------------------------------------------------------


def to_decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return Decimal(0)


def lead_facts(lead: Lead | dict[str, Any], *, received_at: dt.datetime | None = None) -> LeadFacts:
    if isinstance(lead, Lead):
        fields = {name: getattr(lead, name) for name in LEAD_FACT_FIELDS}
        return LeadFacts(id=lead.id, received_at=lead.received_at, fields=fields)
    fields = {name: lead.get(name, "") for name in LEAD_FACT_FIELDS}
    fields["value"] = to_decimal(lead.get("value") or 0)
    fields["attributes"] = lead.get("attributes") or {}
    return LeadFacts(id=None, received_at=received_at or dt.datetime.now(dt.UTC), fields=fields)


# --- reps and pools ---------------------------------------------------------------------


def _working_hours(raw: dict) -> dict[int, tuple[tuple[int, int], ...]]:
    def minutes(hhmm: str) -> int:
        h, m = hhmm.split(":")
        return int(h) * 60 + int(m)

    return {
        WEEKDAYS.index(day): tuple((minutes(a), minutes(b)) for a, b in ranges)
        for day, ranges in (raw or {}).items()
        if day in WEEKDAYS
    }


def local_day_and_week(now: dt.datetime, tz_name: str) -> tuple[dt.date, str]:
    try:
        tz = zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = dt.UTC
    local = now.astimezone(tz).date()
    iso = local.isocalendar()
    return local, f"{iso.year}-W{iso.week:02d}"


def pool_snapshots(pool_ids: Iterable[int], *, with_fairness: bool = True) -> dict[int, PoolSnapshot]:
    """Pools with their effective members: static members plus dynamic ones (active reps only)."""
    pools = {p.id: p for p in Pool.objects.filter(id__in=set(pool_ids), active=True)}
    if not pools:
        return {}
    members: dict[int, dict[int, int]] = defaultdict(dict)
    for pool_id, rep_id, weight in PoolMember.objects.filter(pool_id__in=pools).values_list("pool_id", "rep_id", "weight"):
        members[pool_id][rep_id] = weight
    dynamic = [p for p in pools.values() if p.is_dynamic]
    if dynamic:
        query = Q()
        for p in dynamic:
            clause = Q(active=True)
            if p.dynamic_skill_id:
                clause &= Q(skills__skill_id=p.dynamic_skill_id, skills__level__gte=p.dynamic_min_level)
            if p.dynamic_team_id:
                clause &= Q(team_id=p.dynamic_team_id)
            query |= clause
        candidates = Rep.objects.filter(query).values("id", "team_id").distinct()
        skill_levels = defaultdict(dict)
        skill_ids = {p.dynamic_skill_id for p in dynamic if p.dynamic_skill_id}
        for rep_id, skill_id, level in RepSkill.objects.filter(skill_id__in=skill_ids).values_list("rep_id", "skill_id", "level"):
            skill_levels[rep_id][skill_id] = level
        for rep in candidates:
            for p in dynamic:
                if p.dynamic_team_id and rep["team_id"] != p.dynamic_team_id:
                    continue
                if p.dynamic_skill_id and skill_levels[rep["id"]].get(p.dynamic_skill_id, 0) < p.dynamic_min_level:
                    continue
                members[p.id].setdefault(rep["id"], p.dynamic_weight)
    fairness: dict[int, dict[int, float]] = defaultdict(dict)
    if with_fairness:
        for pool_id, rep_id, credit in FairnessState.objects.filter(pool_id__in=pools).values_list("pool_id", "rep_id", "credit"):
            fairness[pool_id][rep_id] = credit
    return {
        pid: PoolSnapshot(
            id=pid, name=p.name, members=tuple(sorted(members[pid].items())),
            fairness=dict(fairness[pid]), manager_id=p.manager_id,
        )
        for pid, p in pools.items()
    }  # fmt: skip


def rep_snapshots(rep_ids: Iterable[int], *, now: dt.datetime, loads: dict[int, RepLoad] | None = None) -> dict[int, RepSnapshot]:
    """Reps with skills, licences, territories, absences and live load: six queries at most."""
    ids = set(rep_ids)
    if not ids:
        return {}
    reps = list(Rep.objects.filter(id__in=ids).prefetch_related("territories"))
    skills: dict[int, dict[str, int]] = defaultdict(dict)
    for rep_id, kind, code, level in RepSkill.objects.filter(rep_id__in=ids, skill__active=True).values_list(
        "rep_id", "skill__kind", "skill__code", "level"
    ):
        skills[rep_id][f"{kind}:{code}"] = level
    licences: dict[int, list[LicenceFact]] = defaultdict(list)
    for lic in Licence.objects.filter(rep_id__in=ids):
        licences[lic.rep_id].append(
            LicenceFact(jurisdiction=lic.jurisdiction.upper(), product_line=lic.product_line,
                        valid_from=lic.valid_from, valid_until=lic.valid_until)
        )  # fmt: skip
    absences: dict[int, list[Interval]] = defaultdict(list)
    for ab in Absence.objects.filter(rep_id__in=ids, ends_at__gt=now, starts_at__lte=now + dt.timedelta(days=1)):
        absences[ab.rep_id].append(Interval(start=ab.starts_at, end=ab.ends_at))
    if loads is None:
        loads = {load.rep_id: load for load in RepLoad.objects.filter(rep_id__in=ids)}
    result = {}
    for rep in reps:
        if rep.away_until and rep.away_until > now:
            absences[rep.id].append(Interval(start=now - dt.timedelta(seconds=1), end=rep.away_until))
        load = loads.get(rep.id)
        day, week = local_day_and_week(now, rep.timezone)
        result[rep.id] = RepSnapshot(
            id=rep.id, name=rep.display_name, active=rep.active, tier=rep.tier, timezone=rep.timezone,
            working_hours=_working_hours(rep.working_hours), skills=dict(skills[rep.id]),
            licences=tuple(licences[rep.id]),
            territories=tuple(
                TerritoryFact(country=t.country, region=t.region, postal_prefix=t.postal_prefix)
                for t in rep.territories.all() if t.active
            ),
            absences=tuple(absences[rep.id]), max_open=rep.max_open, max_daily=rep.max_daily,
            max_weekly=rep.max_weekly,
            open_count=load.open_count if load else 0,
            daily_count=load.daily_count if load and load.day == day else 0,
            weekly_count=load.weekly_count if load and load.week == week else 0,
            manager_id=rep.manager_id,
        )  # fmt: skip
    return result
