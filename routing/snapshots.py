"""Fetch: turn database rows into the engine's frozen dataclasses with a fixed number of queries."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import threading
import zoneinfo
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

import psycopg
from django.conf import settings
from django.db import connection
from django.db.models import OuterRef, Q, Subquery
from django.db.models.expressions import RawSQL

from reps.models import Absence, FairnessState, Licence, Pool, PoolMember, Rep, RepLoad, RepSkill
from routing import engine
from routing.engine import schema
from routing.engine.conditions import fold_text
from routing.engine.types import (
    ConfigSnapshot,
    DecisionWarning,
    Interval,
    LeadFacts,
    LicenceFact,
    Op,
    PoolSnapshot,
    RepSnapshot,
    RuleSpec,
    TerritoryFact,
)
from routing.models import Lead, Rule, RuleSet, Segment
from routing.prepared import PreparedQuery, fetchone_prepared, pk_any  # fetchone_prepared also for intake, tokens

LEAD_FACT_FIELDS = (
    "source", "external_id", "first_name", "last_name", "email", "phone", "company", "website", "title",
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
            "sla_clock": s.sla_clock, "calendar_id": s.calendar_id, "mode": s.mode,
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


def config_from_json(data: dict[str, Any], *, version: int) -> ConfigSnapshot:
    """A rule set's JSON (``config_to_json`` or a published snapshot) as engine dataclasses, read
    through the engine schema (``routing.engine.schema``)."""
    segments = tuple(schema.read_stored(schema.SegmentStored, s).to_spec() for s in data.get("segments", ()))
    rules = tuple(schema.read_stored(schema.RuleStored, r).to_spec() for r in data.get("rules", ()))
    return ConfigSnapshot(version=version, segments=segments, rules=rules)


# Keyed by (version, published_at), not the version alone: a database that was rolled back or
# rebuilt (tests, restores) can reuse a version number for a different rule set.
_CONFIG_CACHE: dict[tuple[int, Any], ConfigSnapshot] = {}


def config_live() -> ConfigSnapshot:
    """The published rule set, parsed once per version (one query per call to find the version).

    Before anything is published, routing reads the tables directly as version 0.
    """
    latest = RuleSet.objects.order_by("-version").values_list("version", "published_at").first()
    if latest is None:
        return config_from_json(config_to_json(), version=0)
    cached = _CONFIG_CACHE.get(latest)
    if cached is None:
        snapshot = RuleSet.objects.values_list("snapshot", flat=True).get(version=latest[0])
        cached = config_from_json(snapshot, version=latest[0])
        _CONFIG_CACHE.clear()
        _CONFIG_CACHE[latest] = cached
    return cached


@dataclasses.dataclass(frozen=True)
class IntakeReference:
    """What intake reads besides the lead: the live rule set (to classify the lead), the
    vocabulary (synonyms and exchange rates, to normalise and convert it) and the ids of the
    segments that exist (to link it)."""

    config: ConfigSnapshot
    vocabulary: Any  # routing.reference.Vocabulary
    segment_ids: frozenset[int]


# Rebuilt at least this often whatever the fingerprint says (a write that bypassed the history,
# e.g. a data migration's ``.update()``, is then seen within this time).
INTAKE_REFERENCE_MAX_AGE_SECONDS = 30.0
_INTAKE_REFERENCE: tuple[tuple, float, IntakeReference] | None = None  # (fingerprint, built at, reference)
_INTAKE_FINGERPRINT_SQL: dict[str, str] = {}


def _intake_fingerprint_sql() -> str:
    sql = _INTAKE_FINGERPRINT_SQL.get(connection.vendor)
    if sql is None:
        from routing.models import ExchangeRate, LeadSynonym

        qn = connection.ops.quote_name
        ruleset = qn(RuleSet._meta.db_table)
        latest = f"SELECT {{}} FROM {ruleset} ORDER BY version DESC LIMIT 1"
        parts = [f"({latest.format('version')})", f"({latest.format('published_at')})"]
        # Rules too: before the first publish, routing reads the draft tables (config_live).
        parts += _history_fingerprint_parts((Segment, Rule, LeadSynonym, ExchangeRate))
        sql = _INTAKE_FINGERPRINT_SQL[connection.vendor] = "SELECT " + ", ".join(parts)
    return sql


def intake_reference() -> IntakeReference:
    """The live rule set, vocabulary and segment ids, in one query while none of them changed.

    Intake reads all three for every lead; they change only when ops publish, edit a segment,
    a synonym or an exchange rate, each of which writes a history row (django-simple-history)
    or a rule set version. So one statement reads the newest rule set version and the newest
    history ids (``_history_fingerprint_parts``), and the three are rebuilt only when that moved,
    or every INTAKE_REFERENCE_MAX_AGE_SECONDS. Per process, shared by its threads.
    """
    import time

    from routing.reference import vocabulary_load

    global _INTAKE_REFERENCE
    row = fetchone_prepared(_intake_fingerprint_sql())
    key = (connection.alias, connection.settings_dict["NAME"], settings.LEADOPS_BASE_CURRENCY, *row)
    clock = time.monotonic()
    cached = _INTAKE_REFERENCE
    if cached is not None and cached[0] == key and clock - cached[1] <= INTAKE_REFERENCE_MAX_AGE_SECONDS:
        return cached[2]
    reference = IntakeReference(
        config=config_live(), vocabulary=vocabulary_load(),
        segment_ids=frozenset(Segment.objects.values_list("id", flat=True)),
    )  # fmt: skip
    _INTAKE_REFERENCE = (key, clock, reference)
    return reference


def config_draft() -> ConfigSnapshot:
    return config_from_json(config_to_json(), version=-1)


# --- rule candidates ----------------------------------------------------------------------


class RuleIndex:
    """The rules a lead could match, found without evaluating every rule (built once per version).

    A rule's *keyed run* is its leading conditions that are ``equals``/``in`` on a text field
    with text values (``"product_line equals p01"``, then ``"state in [CA, NY]"``), up to the
    first condition that is not. Such a condition holds exactly when the lead's field, folded by
    ``engine.conditions.fold_text``, is one of the folded values (the engine's string equality).
    The first condition of the run picks the rule's bucket; the rest filter the bucket. A rule is
    left out only when every condition of its run before some condition ``k`` holds and ``k``
    fails on a present, non-blank text value: then ``k`` is the rule's first failing condition
    and it gives no warning (a plain mismatch, not a missing field or a wrong type), so the
    engine picks the same rule and names the same warnings with and without the index
    (tests/routing/test_rule_index.py). A rule with no keyed run is always a candidate.

    ``narrow`` returns the configuration with only the candidates, in the original order, so
    ``engine.select_rule`` picks exactly the rule it would pick from the full list, in time that
    does not grow with the rule count: at 1,000 rules over a (product, state) grid, the first
    condition alone left 25 candidates per lead, each evaluated twice (rule selection, warnings).
    """

    _MEMO_LIMIT = 4096

    def __init__(self, config: ConfigSnapshot) -> None:
        self.config = config
        ordered = sorted((r for r in config.rules if r.enabled), key=lambda r: (r.priority, r.id))
        self._position = {id(rule): index for index, rule in enumerate(ordered)}
        self._always: list[RuleSpec] = []
        self._by_field: dict[str, dict[str, list[RuleSpec]]] = defaultdict(lambda: defaultdict(list))
        # id(rule) -> the keyed run after its first condition: ((field, folded values), ...)
        self._rest: dict[int, tuple[tuple[str, frozenset[str]], ...]] = {}
        key_fields: dict[str, None] = {}
        for rule in ordered:
            run = self._keyed_run(rule)
            if not run:
                self._always.append(rule)
                continue
            (field, values), rest = run[0], run[1:]
            for value in values:
                self._by_field[field][value].append(rule)
            if rest:
                self._rest[id(rule)] = tuple((f, frozenset(v)) for f, v in rest)
            key_fields.update(dict.fromkeys(f for f, _ in run))
        self._first_fields = tuple(self._by_field)
        self._fields = tuple(key_fields)  # every field a keyed run reads: the memo key
        self._all_keyed = {field: [r for rules in by_value.values() for r in rules]
                           for field, by_value in self._by_field.items()}  # fmt: skip
        self._memo: dict[tuple, ConfigSnapshot] = {}

    @staticmethod
    def _key_condition(cond: Any) -> tuple[str, tuple[str, ...]] | None:
        """(field, folded values) when ``cond`` is ``equals``/``in`` on a text field with text
        values, else None."""
        from routing.engine.conditions import LEAD_FIELDS

        if LEAD_FIELDS.get(cond.field) != "str":
            return None
        if cond.op == Op.EQUALS and isinstance(cond.value, str):
            return cond.field, (fold_text(cond.value),)
        if (cond.op == Op.IN and isinstance(cond.value, (list, tuple)) and cond.value
                and all(isinstance(v, str) for v in cond.value)):  # fmt: skip
            return cond.field, tuple(dict.fromkeys(fold_text(v) for v in cond.value))
        return None

    @classmethod
    def _keyed_run(cls, rule: RuleSpec) -> list[tuple[str, tuple[str, ...]]]:
        run = []
        for cond in rule.conditions:
            key = cls._key_condition(cond)
            if key is None:
                break
            run.append(key)
        return run

    def narrow(self, fields: Mapping[str, Any]) -> ConfigSnapshot:
        """``config`` restricted to the rules that could match ``fields`` (routing fields)."""
        key: list[Any] | None = []
        for field in self._fields:
            value = fields.get(field)
            if value is None or (isinstance(value, str) and not value.strip()):
                # A missing field fails equals/in, but the engine names it in a warning for every
                # rule it tries: keep them all so live decisions warn exactly as the dry run does.
                key.append(_MISSING_KEY)
            elif isinstance(value, str):
                key.append(fold_text(value))
            else:
                key = None  # a number may equal a numeric string: fall back to every keyed rule
                break
        memo_key = tuple(key) if key is not None else None
        if memo_key is not None and memo_key in self._memo:
            return self._memo[memo_key]
        candidates = list(self._always)
        if memo_key is None:
            for field in self._first_fields:
                candidates.extend(self._all_keyed[field])
        else:
            lead = dict(zip(self._fields, memo_key))
            for field in self._first_fields:
                if lead[field] is _MISSING_KEY:
                    candidates.extend(self._all_keyed[field])  # the first condition fails, with a warning
                    continue
                for rule in self._by_field[field].get(lead[field], ()):
                    if self._rest_may_match(rule, lead):
                        candidates.append(rule)
        unique = {id(rule): rule for rule in candidates}
        narrowed = ConfigSnapshot(
            version=self.config.version, segments=self.config.segments,
            rules=tuple(sorted(unique.values(), key=lambda rule: self._position[id(rule)])),
        )  # fmt: skip
        if memo_key is not None:
            if len(self._memo) >= self._MEMO_LIMIT:
                self._memo.clear()
            self._memo[memo_key] = narrowed
        return narrowed

    def classify(self, facts: LeadFacts) -> tuple[engine.Classification, ConfigSnapshot]:
        """``engine.classify`` of ``facts`` with the rule picked among the candidates ``narrow``
        leaves (the same result: a rule left out cannot match), and those candidates, which the
        decision reads for its warnings. Used by intake (queue place) and routing alike."""
        classified = engine.classify(facts, self.config, candidates=self.narrow)
        return classified, self.narrow(classified.fields)  # memoised per text key: a look-up

    def _rest_may_match(self, rule: RuleSpec, lead: dict[str, Any]) -> bool:
        """False when a condition of the rule's keyed run after the first (which holds) fails on a
        present text value while every one before it holds; a missing value stops the check (that
        condition fails with a warning, so the rule stays a candidate)."""
        for field, values in self._rest.get(id(rule), ()):
            value = lead[field]
            if value is _MISSING_KEY:
                return True
            if value not in values:
                return False
        return True


_MISSING_KEY: Any = object()
_INDEX_CACHE: dict[int, RuleIndex] = {}


def rule_index(config: ConfigSnapshot) -> RuleIndex:
    """The candidate index of a published configuration, built once per version."""
    if config.version <= 0:
        return RuleIndex(config)  # unpublished tables can change at any time: never cached
    index = _INDEX_CACHE.get(config.version)
    if index is None or index.config is not config:
        index = RuleIndex(config)
        _INDEX_CACHE.clear()
        _INDEX_CACHE[config.version] = index
    return index


# --- leads ------------------------------------------------------------------------------


def to_decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return Decimal(0)


def lead_facts(lead: Lead | dict[str, Any], *, received_at: dt.datetime | None = None) -> LeadFacts:
    """The lead as the engine sees it. ``value`` is the value in the base currency
    (``Lead.value_base``, converted at intake; see routing.reference for the policy): None when
    the lead's currency had no exchange rate, and then the facts carry a ``no_exchange_rate``
    warning. ``lead`` is a Lead row or the output of ``validation.clean_lead``."""
    if isinstance(lead, Lead):
        fields = {name: getattr(lead, name) for name in LEAD_FACT_FIELDS}
        amount, value_base, currency = lead.value, lead.value_base, lead.currency
        lead_id, received = lead.id, lead.received_at
    else:
        fields = {name: lead.get(name, "") for name in LEAD_FACT_FIELDS}
        fields["attributes"] = lead.get("attributes") or {}
        amount, value_base = to_decimal(lead.get("value") or 0), lead.get("value_base")
        currency = lead.get("currency") or settings.LEADOPS_BASE_CURRENCY
        lead_id, received = None, received_at or dt.datetime.now(dt.UTC)
    base = settings.LEADOPS_BASE_CURRENCY
    warnings: tuple[DecisionWarning, ...] = ()
    if value_base is None and (currency == base or not amount):
        value_base = amount  # the base currency needs no rate; zero is zero in any currency
    if value_base is None:
        warnings = (DecisionWarning(
            kind="no_exchange_rate", field="value",
            message=(f"No exchange rate from {currency} to {base} when the lead arrived: its value ({amount} {currency}) "
                     f"was not converted, so value conditions and the high-value threshold do not apply to it."),
        ),)  # fmt: skip
    fields["value"] = value_base
    return LeadFacts(id=lead_id, received_at=received, fields=fields, warnings=warnings)


# --- reps and pools ---------------------------------------------------------------------


def _working_hours(raw: dict) -> dict[int, tuple[tuple[int, int], ...]]:
    from calendars.selectors import weekly_hours

    return weekly_hours(raw)


@functools.cache
def _company_days_off() -> PreparedQuery:
    """The company days off of some calendars: prepared once per connection (an open inbox reads
    its rep's on every new offer card, reps.views.OffersFeed)."""
    from calendars.models import CompanyDayOff

    return PreparedQuery(lambda calendar_ids: CompanyDayOff.objects.filter(pk_any(calendar_ids, field="calendar_id")),
                         standins={"calendar_ids": [-918_273_645]})  # fmt: skip


def _rep_calendars(reps: list[Rep], *, around: dt.date) -> dict[int, tuple[str, dict, dict[dt.date, str]]]:
    """rep id -> (hours zone, weekly hours JSON, closed dates) from the calendar each rep
    follows: their own, else their team's. Own hours win over the calendar's; a rep with
    neither is always working. One query (company days off) when any rep follows a calendar."""
    from calendars.models import CompanyDayOff
    from calendars.selectors import calendar_closed_dates

    followed = {rep.id: rep.calendar or (rep.team.calendar if rep.team_id and rep.team else None) for rep in reps}
    calendar_ids = {cal.id for cal in followed.values() if cal is not None}
    days_off: dict[int, list[CompanyDayOff]] = defaultdict(list)
    if calendar_ids:
        for row in _company_days_off().run(calendar_ids=sorted(calendar_ids)):
            days_off[row.calendar_id].append(row)
    years = range(around.year - 1, around.year + 3)
    closed_by_calendar = {
        cal.id: calendar_closed_dates(cal, years=years, days_off=days_off[cal.id])
        for cal in {c.id: c for c in followed.values() if c is not None}.values()
    }
    out = {}
    for rep in reps:
        cal = followed[rep.id]
        if rep.working_hours or cal is None:
            out[rep.id] = (rep.timezone, rep.working_hours, closed_by_calendar.get(cal.id, {}) if cal else {})
        else:
            out[rep.id] = (cal.timezone, cal.weekly_hours, closed_by_calendar[cal.id])
    return out


@functools.lru_cache(maxsize=1024)
def local_day_and_week(now: dt.datetime, tz_name: str) -> tuple[dt.date, str]:
    """The local date of ``now`` in ``tz_name`` (UTC when unknown) and its ISO week, "2026-W48".

    Cached: a batch asks for the same (instant, zone) once per rep in scope (~1,400 reps per
    batch at 10,000 reps / 1,000 rules), and the answer depends on nothing else."""
    try:
        tz = zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = dt.UTC
    local = now.astimezone(tz).date()
    iso = local.isocalendar()
    return local, f"{iso.year}-W{iso.week:02d}"


@dataclasses.dataclass(frozen=True)
class CapacityCounts:
    """A rep's live load: open offers and accepted leads now, new leads today and this ISO week
    (both in the rep's timezone)."""

    open: int
    today: int
    week: int


def capacity_counts(*, load: RepLoad | None, tz_name: str, now: dt.datetime) -> CapacityCounts:
    """The one reading of a rep's ``RepLoad`` row: routing's fetch, the capacity dashboard and the
    proofs use it. A daily or weekly counter left from an earlier local day or week counts 0."""
    if load is None:
        return CapacityCounts(open=0, today=0, week=0)
    day, week = local_day_and_week(now, tz_name)
    return CapacityCounts(
        open=load.open_count,
        today=load.daily_count if load.day == day else 0,
        week=load.weekly_count if load.week == week else 0,
    )
def _pool_calendars(pools: list[Pool]) -> dict[int, Any]:
    """calendar id -> engine calendar of these pools' calendars (holidays around today). One
    query each for calendars and days off, none when no pool has a calendar."""
    if not pools:
        return {}
    from calendars.models import BusinessCalendar
    from calendars.selectors import engine_calendar

    today = dt.datetime.now(dt.UTC).date()
    rows = BusinessCalendar.objects.filter(id__in={p.calendar_id for p in pools}).prefetch_related("days_off")
    return {row.id: engine_calendar(row, around=today) for row in rows}


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
    calendars = _pool_calendars([p for p in pools.values() if p.calendar_id])
    fairness: dict[int, dict[int, float]] = defaultdict(dict)
    if with_fairness:
        for pool_id, rep_id, credit in FairnessState.objects.filter(pool_id__in=pools).values_list("pool_id", "rep_id", "credit"):
            fairness[pool_id][rep_id] = credit
    return {
        pid: PoolSnapshot(
            id=pid, name=p.name, members=tuple(sorted(members[pid].items())),
            fairness=dict(fairness[pid]), manager_id=p.manager_id, calendar=calendars.get(p.calendar_id),
        )
        for pid, p in pools.items()
    }  # fmt: skip


def _id_in(ids: set[int]) -> Any:
    """The right-hand side of an ``__in`` over many ids. On PostgreSQL one array parameter
    (``IN (SELECT unnest(%s::bigint[]))``) instead of one placeholder per id: a directory fill at
    10,000 reps sent six queries with 10,000 placeholders each, which Django, psycopg's
    client-side binding and the server's parser all paid for per id (~150 us a rep in all)."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", [sorted(ids)])
    return ids


_TERRITORY_ORDER = ("territory__country", "territory__region", "territory__postal_prefix", "territory__name")


def rep_snapshots(
    rep_ids: Iterable[int], *, now: dt.datetime, loads: dict[int, RepLoad] | None = None, with_absences: bool = True,
    around: dt.date | None = None,
) -> dict[int, RepSnapshot]:
    """Reps with skills, licences, territories, absences, calendars and live load: seven
    queries at most. Holidays cover the years around ``around`` (default: ``now``'s date)."""
    ids = set(rep_ids)
    if not ids:
        return {}
    reps = list(Rep.objects.filter(id__in=_id_in(ids)).select_related("calendar", "team__calendar"))
    calendars = _rep_calendars(reps, around=around or now.date())
    # The reps' territories, in Territory's own order (what rep.territories.all() gives).
    territories: dict[int, list[TerritoryFact]] = defaultdict(list)
    links = Rep.territories.through.objects.filter(rep_id__in=_id_in(ids)).order_by(*_TERRITORY_ORDER)
    for rep_id, country, region, prefix, active in links.values_list(
        "rep_id", "territory__country", "territory__region", "territory__postal_prefix", "territory__active"
    ):
        if active:
            territories[rep_id].append(TerritoryFact(country=country, region=region, postal_prefix=prefix))
    skills: dict[int, dict[str, int]] = defaultdict(dict)
    for rep_id, kind, code, level in RepSkill.objects.filter(rep_id__in=_id_in(ids), skill__active=True).values_list(
        "rep_id", "skill__kind", "skill__code", "level"
    ):
        skills[rep_id][f"{kind}:{code}"] = level
    licences: dict[int, list[LicenceFact]] = defaultdict(list)
    for lic in Licence.objects.filter(rep_id__in=_id_in(ids)):
        licences[lic.rep_id].append(
            LicenceFact(jurisdiction=lic.jurisdiction.upper(), product_line=lic.product_line,
                        valid_from=lic.valid_from, valid_until=lic.valid_until)
        )  # fmt: skip
    absences: dict[int, list[Interval]] = defaultdict(list)
    absence_rows = Absence.objects.filter(rep_id__in=_id_in(ids), ends_at__gt=now, starts_at__lte=now + dt.timedelta(days=1))
    for ab in absence_rows if with_absences else ():
        absences[ab.rep_id].append(Interval(start=ab.starts_at, end=ab.ends_at))
    if loads is None:
        loads = {load.rep_id: load for load in RepLoad.objects.filter(rep_id__in=_id_in(ids))}
    result = {}
    for rep in reps:
        if with_absences and rep.away_until and rep.away_until > now:
            absences[rep.id].append(Interval(start=now - dt.timedelta(seconds=1), end=rep.away_until))
        counts = capacity_counts(load=loads.get(rep.id), tz_name=rep.timezone, now=now)
        hours_zone, hours, closed = calendars[rep.id]
        result[rep.id] = RepSnapshot(
            id=rep.id, name=rep.display_name, active=rep.active, tier=rep.tier, timezone=rep.timezone,
            working_hours=_working_hours(hours), skills=dict(skills[rep.id]),
            hours_timezone=hours_zone if hours_zone != rep.timezone else "", closed_dates=closed,
            licences=tuple(licences[rep.id]),
            territories=tuple(territories[rep.id]),
            absences=tuple(absences[rep.id]), max_open=rep.max_open, max_daily=rep.max_daily,
            max_weekly=rep.max_weekly,
            open_count=counts.open, daily_count=counts.today, weekly_count=counts.week,
            manager_id=rep.manager_id,
        )  # fmt: skip
    return result


# --- cached directory for routing -----------------------------------------------------------

# Check at least this often that the directory still matches the history tables as a whole
# (``directory_fingerprint(whole=True)``), and rebuild it if not: the one case the per-batch
# fingerprint could miss is a late commit (see FINGERPRINT_WINDOW).
DIRECTORY_MAX_AGE_SECONDS = 30.0
# Rebuild at least this often whatever the fingerprints say: holidays are computed for the years
# around the build date, and a write that bypassed the history (a data migration's ``.update()``)
# is picked up within this time.
DIRECTORY_MAX_LIFE_SECONDS = 3600.0
# History ids come from a sequence at insert time, so a change can commit after a later-numbered
# one. The fingerprint therefore counts the rows among the newest FINGERPRINT_WINDOW ids too: a
# late commit below the max changes the count. Missing it would need this many history rows
# written while that one transaction stayed open; the whole-table check every
# DIRECTORY_MAX_AGE_SECONDS catches even that.
FINGERPRINT_WINDOW = 256


def _directory_history_models() -> tuple[type, ...]:
    """The history-tracked models the directory is built from."""
    from calendars.models import BusinessCalendar, CompanyDayOff
    from reps.models import Skill, Team, Territory

    return (Rep, RepSkill, Licence, Absence, Pool, PoolMember, Skill, Team, Territory, BusinessCalendar, CompanyDayOff)


def _directory_fingerprint_sql(*, whole: bool = False) -> str:
    # Built once per backend: ``Model.history`` makes a new manager class on every access
    # (django-simple-history's descriptor), ~0.5 ms for the eleven tables, twice per batch.
    key = (connection.vendor, whole)
    sql = _FINGERPRINT_SQL.get(key)
    if sql is None:
        sql = _FINGERPRINT_SQL[key] = _build_fingerprint_sql(whole=whole)
    return sql


_FINGERPRINT_SQL: dict[tuple[str, bool], str] = {}


def _history_fingerprint_parts(models: Iterable[type]) -> list[str]:
    """Scalar subqueries that move whenever a row of ``models`` (history-tracked) is written:
    per model, the newest history id and how many of the newest FINGERPRINT_WINDOW ids lie
    within FINGERPRINT_WINDOW of it (a late commit below the newest changes that count)."""
    qn = connection.ops.quote_name
    parts = []
    for model in models:
        table = qn(model.history.model._meta.db_table)
        newest = f"(SELECT max(history_id) FROM {table})"
        # The ids within FINGERPRINT_WINDOW of the newest are among the newest FINGERPRINT_WINDOW
        # rows, which the primary key index reads backwards: a plain ``WHERE history_id > newest
        # - window`` was planned as a sequential scan (the bound is unknown at plan time), i.e.
        # a scan of every history table on every batch (~14 ms at 10,000 reps).
        newest_rows = f"SELECT history_id FROM {table} ORDER BY history_id DESC LIMIT {FINGERPRINT_WINDOW}"
        parts += [newest, f"(SELECT count(*) FROM ({newest_rows}) AS w WHERE w.history_id > {newest} - {FINGERPRINT_WINDOW})"]
    return parts


def _build_fingerprint_sql(*, whole: bool) -> str:
    qn = connection.ops.quote_name
    parts = _history_fingerprint_parts(_directory_history_models())
    through = qn(Rep.territories.through._meta.db_table)
    parts += [f"(SELECT count(*) FROM {through})", f"(SELECT max(id) FROM {through})"]
    if whole:
        for table in (qn(model.history.model._meta.db_table) for model in _directory_history_models()):
            parts += [f"(SELECT count(*) FROM {table})", f"(SELECT coalesce(sum(history_id), 0) FROM {table})"]
    return "SELECT " + ", ".join(parts)


class Directory:
    """Pools and reps as routing reads them, kept between batches while nothing changes.

    Every write to reps, skills, licences, absences, territories, pools and members goes through
    django-simple-history (the style forbids ``.update()`` on them), so the newest history ids
    (plus the size of the rep-territory link table, which has no history) fingerprint the
    directory in one query. Live state is never cached: loads come from the locked rows, fairness
    from the locked rows, ``away_until`` (not history-tracked) is read each batch, and absences
    are filtered by ``now`` each batch.
    """

    def __init__(self, fingerprint: tuple, built_at: float, *, whole: tuple = ()) -> None:
        self.fingerprint = fingerprint
        self.whole = whole  # the whole-table part of the fingerprint, read with ``fingerprint``
        self.built_at = built_at
        self.checked_at = built_at  # last time ``whole`` was found unchanged (routing_directory)
        self._pools: dict[int, PoolSnapshot | None] = {}
        self._reps: dict[int, RepSnapshot | None] = {}
        self._absences: dict[int, tuple[Interval, ...]] = {}
        # rep id -> (live inputs, snapshot built from them): the last live snapshot handed out,
        # reused while its inputs are equal (see ``reps``).
        self._live: dict[int, tuple[tuple, RepSnapshot]] = {}
        self._built_at_wall = dt.datetime.now(dt.UTC)
        self._lock = threading.Lock()  # worker threads share the directory

    def pools(self, pool_ids: Iterable[int]) -> dict[int, PoolSnapshot]:
        """Active pools with their effective members; fairness left empty (callers lock it)."""
        ids = set(pool_ids)
        with self._lock:
            if missing := ids - self._pools.keys():
                fetched = pool_snapshots(missing, with_fairness=False)
                for pid in missing:
                    self._pools[pid] = fetched.get(pid)
        return {pid: snap for pid in ids if (snap := self._pools[pid]) is not None}

    def reps(self, rep_ids: Iterable[int], *, now: dt.datetime, loads: dict[int, RepLoad]) -> dict[int, RepSnapshot]:
        """The same snapshots ``rep_snapshots`` builds, from cached static parts plus live state.

        A batch reads every rep its rules can reach (~1,400 at 10,000 reps / 1,000 rules) and
        most of them are as they were in the previous batch, so the snapshot last built for a
        rep is handed out again when its live inputs (active, absences now, open/daily/weekly
        counts) are equal: the same frozen value ``dataclasses.replace`` would build, without
        building it (that replace was ~20 us a rep, the largest cost growing with the rep count).
        """
        ids = set(rep_ids)
        with self._lock:
            if missing := ids - self._reps.keys():
                self._fetch(missing)
        unavailable = self._unavailable_now(ids, now=now)
        horizon = now + dt.timedelta(days=1)
        result = {}
        live_cache = self._live
        for rep_id in ids:
            static = self._reps[rep_id]
            if static is None:
                continue
            cached_absences = self._absences.get(rep_id, ())
            absences = [a for a in cached_absences if a.end > now and a.start <= horizon] if cached_absences else []
            active, until = unavailable.get(rep_id, (True, None))  # not listed: active, not away or absent
            if until is not None:
                absences.append(Interval(start=now - dt.timedelta(seconds=1), end=until))
            counts = capacity_counts(load=loads.get(rep_id), tz_name=static.timezone, now=now)
            live = (active, tuple(absences), counts.open, counts.today, counts.week)
            previous = live_cache.get(rep_id)
            if previous is not None and previous[0] == live:
                result[rep_id] = previous[1]
                continue
            snapshot = dataclasses.replace(
                static, active=active, absences=live[1],
                open_count=counts.open, daily_count=counts.today, weekly_count=counts.week,
            )  # fmt: skip
            live_cache[rep_id] = (live, snapshot)
            result[rep_id] = snapshot
        return result

    @staticmethod
    def _unavailable_now(ids: set[int], *, now: dt.datetime) -> dict[int, tuple[bool, dt.datetime | None]]:
        """Reps among ``ids`` that cannot take leads now, read live in one query (never cached):
        rep id -> (active, unavailable until: the later of away and an absence covering now).

        Routing calls this after locking the reps' capacity rows, and the availability services
        (reps.services) take that lock too, so a batch never offers to a rep it read as
        available after the rep became inactive, absent or away.
        """
        if not ids:
            return {}
        if connection.vendor == "postgresql":
            rows = _unavailable_rows_pg(ids, now=now)
        else:
            covering = Absence.objects.filter(rep_id=OuterRef("pk"), starts_at__lte=now, ends_at__gt=now)
            rows = (
                Rep.objects.filter(id__in=ids)
                .annotate(absent_until=Subquery(covering.order_by("-ends_at").values("ends_at")[:1]))
                .filter(Q(active=False) | Q(away_until__gt=now) | Q(absent_until__isnull=False))
                .values_list("id", "active", "away_until", "absent_until")
            )
        result = {}
        for rep_id, active, away_until, absent_until in rows:
            ends = [t for t in (away_until if away_until and away_until > now else None, absent_until) if t]
            result[rep_id] = (active, max(ends) if ends else None)
        return result

    def _fetch(self, ids: set[int]) -> None:
        # Built with the same code as rep_snapshots: no absences or load, away_until ignored.
        far_past = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        static = rep_snapshots(ids, now=far_past, loads={}, with_absences=False, around=self._built_at_wall.date())
        absences: dict[int, list[Interval]] = defaultdict(list)
        for ab in Absence.objects.filter(rep_id__in=_id_in(ids), ends_at__gt=self._built_at_wall).order_by("-starts_at"):
            absences[ab.rep_id].append(Interval(start=ab.starts_at, end=ab.ends_at))
        self._absences.update({rep_id: tuple(absences.get(rep_id, ())) for rep_id in ids})
        for rep_id in ids:
            self._reps[rep_id] = static.get(rep_id)


def _unavailable_rows_pg(ids: set[int], *, now: dt.datetime) -> list[tuple]:
    """``Directory._unavailable_now``'s query on PostgreSQL: the same rows, as (id, active,
    away_until, end of the latest absence covering now), from fixed SQL bound on the server. It
    runs twice a batch over every rep in scope (~500 at 500 reps / 50 rules, ~1,400 at 10,000 /
    1,000), where building it with the ORM and binding the ids on the client cost more than the
    server's work."""
    qn = connection.ops.quote_name
    rep, absence = qn(Rep._meta.db_table), qn(Absence._meta.db_table)
    sql = (
        f"WITH absent AS (SELECT rep_id, max(ends_at) AS until FROM {absence} "
        f"WHERE rep_id = ANY(%(ids)b::bigint[]) AND starts_at <= %(now)s AND ends_at > %(now)s GROUP BY rep_id) "
        f"SELECT r.id, r.active, r.away_until, absent.until FROM {rep} AS r LEFT JOIN absent ON absent.rep_id = r.id "
        f"WHERE r.id = ANY(%(ids)b::bigint[]) AND (NOT r.active OR r.away_until > %(now)s OR absent.until IS NOT NULL)"
    )
    with server_bound_cursor() as cursor:
        cursor.execute(sql, {"ids": sorted(ids), "now": now}, prepare=False)
        return cursor.fetchall()


def server_bound_cursor(using: Any = None) -> Any:
    """A psycopg cursor that sends parameters separately from the statement (server-side
    binding, psycopg's C dumpers) on the current connection and transaction of ``using`` (a
    Django connection; default: the default one). Django's cursor binds on the client (every
    array element quoted into the SQL text in Python: ~0.3 ms per decision in the round-2
    profile). Only for statements built here, where the SQL text is fixed; callers pass
    ``prepare=False``: a plan made for one batch's arrays is not kept for the next (see
    ``fetchone_prepared`` for the statements that are)."""
    db = using or connection
    db.ensure_connection()
    return psycopg.Cursor(db.connection)


_DIRECTORY: Directory | None = None


def directory_fingerprint() -> tuple:
    """What the directory was built from, in one query: moves whenever a rep, skill, licence,
    absence, territory, team, calendar, pool or membership is written (see ``Directory``)."""
    return (connection.alias, connection.settings_dict["NAME"], *fetchone_prepared(_directory_fingerprint_sql()))


def directory_fingerprint_whole() -> tuple[tuple, tuple]:
    """``(directory_fingerprint(), whole)`` from one statement: ``whole`` is the row count and
    the sum of ids of every history table the directory reads, which moves with any row added
    or removed, however late it commits. Scans those tables whole (a few ms at 10,000 reps), so
    it runs on a rebuild and every DIRECTORY_MAX_AGE_SECONDS, never per batch."""
    quick_size = 2 * len(_directory_history_models()) + 2  # see _build_fingerprint_sql
    with connection.cursor() as cursor:
        cursor.execute(_directory_fingerprint_sql(whole=True))
        row = cursor.fetchone()
    return (connection.alias, connection.settings_dict["NAME"], *row[:quick_size]), tuple(row[quick_size:])


def routing_directory() -> Directory:
    """The current directory: one fingerprint query per call, and a rebuild when anything
    changed. At least every DIRECTORY_MAX_AGE_SECONDS the whole history tables are checked too
    (``directory_fingerprint_whole``) and the directory is rebuilt only if they moved (or it is
    older than DIRECTORY_MAX_LIFE_SECONDS): the unconditional rebuild every 30 s that this
    replaces refetched every rep in use (10,000 at the bench's large size, ~3 s of one worker's
    time) for nothing."""
    import time

    global _DIRECTORY
    fingerprint = directory_fingerprint()
    current = _DIRECTORY
    clock = time.monotonic()
    if (current is not None and current.fingerprint == fingerprint
            and clock - current.built_at <= DIRECTORY_MAX_LIFE_SECONDS):  # fmt: skip
        if clock - current.checked_at <= DIRECTORY_MAX_AGE_SECONDS:
            return current
        fingerprint, whole = directory_fingerprint_whole()
        if fingerprint == current.fingerprint and whole == current.whole:
            current.checked_at = clock
            return current
    else:
        fingerprint, whole = directory_fingerprint_whole()
    current = _DIRECTORY = Directory(fingerprint, clock, whole=whole)
    return current
