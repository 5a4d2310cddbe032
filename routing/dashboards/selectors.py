"""Reads behind the manager dashboards. Each selector runs a fixed number of queries.

Benchmark entry points: ``equity_table(pool_id=, start=, end=)`` and ``decisions_page(filters)``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterator

from django.conf import settings
from django.db import connection
from django.db.models import Aggregate, Case, Count, DurationField, F, Min, Q, Sum, When
from django.utils import timezone

from reps.models import Absence, FairnessState, Pool, Rep, RepLoad
from reps.scope import EVERYTHING, Visibility
from reps.selectors import away_is_until_back
from routing.dashboards.models import EquityDaily
from routing import labels
from routing.engine.sla import SLA_CLOCK_LABELS, SlaClock, clock_of, minutes_between, sla_calendar
from routing.engine.types import StepKind, Strategy
from routing.models import Decision, DeliveryMode, Lead, Offer, Segment
from routing.labels import account_match_text
from routing.snapshots import capacity_counts, config_live, pool_snapshots

WINDOWS = {"today": 1, "7d": 7, "30d": 30}


def window_dates(*, window: str, start: dt.date | None = None, end: dt.date | None = None,
                 today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """Inclusive UTC day range of a named window (or the custom start/end)."""
    today = today or timezone.now().astimezone(dt.UTC).date()
    if window == "custom" and start and end:
        return (start, end) if start <= end else (end, start)
    days = WINDOWS.get(window, 7)
    return today - dt.timedelta(days=days - 1), today


# --- equity -----------------------------------------------------------------------------------


@dataclass
class EquityRow:
    rep_id: int
    name: str
    weight: int
    target_share: float
    assigned: int = 0
    assigned_value: Decimal = Decimal(0)
    expected: float = 0.0
    expected_value: float = 0.0
    actual_share: float = 0.0
    expected_share: float = 0.0
    value_share: float = 0.0
    expected_value_share: float = 0.0
    drift: bool = False
    value_drift: bool = False
    owed: float | None = None  # the engine's live account: leads owed now (negative = ahead)
    direct: int = 0  # offered as the account's owner or the earlier lead's holder, outside the rotation

    @property
    def deviation(self) -> float:
        """Leads received minus leads expected."""
        return self.assigned - self.expected

    @property
    def deviation_pct(self) -> float | None:
        """Deviation relative to the expectation, in percent."""
        return 100.0 * self.deviation / self.expected if self.expected else None

    @property
    def share_gap(self) -> float:
        """Actual minus expected share, in percentage points."""
        return 100.0 * (self.actual_share - self.expected_share)

    @property
    def value_deviation(self) -> float:
        return float(self.assigned_value) - self.expected_value

    @property
    def value_deviation_pct(self) -> float | None:
        return 100.0 * self.value_deviation / self.expected_value if self.expected_value else None

    @property
    def value_share_gap(self) -> float:
        return 100.0 * (self.value_share - self.expected_value_share)


@dataclass
class EquityTable:
    pool_id: int
    start: dt.date
    end: dt.date
    tolerance: float
    rows: list[EquityRow] = field(default_factory=list)
    total: int = 0
    total_value: Decimal = Decimal(0)
    strategies: frozenset[str] = frozenset()
    min_leads: int = 0

    @property
    def judged(self) -> bool:
        """Whether this pool's shares are judged against the eligibility-adjusted share."""
        return judged_by_share(self.strategies)

    @property
    def strategy_labels(self) -> list[str]:
        return [_strategy_words(s) for s in sorted(self.strategies)]

    @property
    def drifting(self) -> list[EquityRow]:
        return [r for r in self.rows if r.drift or r.value_drift]


def _strategy_words(strategy: str) -> str:
    return labels.strategy_label(strategy).lower()


# A gap this small is the rotation's rhythm, never drift. It is not the engine's proven bound,
# which grows with the pool ((n - 1) / 2 leads, routing.engine.fairness.drift_bound; no rule can
# promise 1.5 for 7 or more reps): in everyday patterns reps stay within about one lead, and the
# drift flag also needs the share gap and the minimum number of leads, so a flag means a pool
# that is really off (docs/architecture.md, "What can be promised").
FAIRNESS_SLACK_LEADS = 1.5


def judged_by_share(strategies: frozenset[str]) -> bool:
    """Pools whose rules all use weighted fair (or that no published rule reaches any more) are
    judged by share; capacity-balanced and best-match pools aim at something else."""
    return strategies <= {Strategy.WEIGHTED_FAIR.value}


def pool_strategies() -> dict[int, frozenset[str]]:
    """Pool id -> the strategies of the published rules that pick in it (their own pool and any
    fallback pool). One query (the published rule set, cached per version)."""
    found: dict[int, set[str]] = defaultdict(set)
    for rule in config_live().rules:
        if not rule.enabled:
            continue
        strategy = str(getattr(rule.strategy, "value", rule.strategy))
        found[rule.pool_id].add(strategy)
        for step in rule.fallback:
            if step.kind == StepKind.POOL and step.target_id:
                found[step.target_id].add(strategy)
    return {pool_id: frozenset(strategies) for pool_id, strategies in found.items()}


def _shares(rows: list[EquityRow], tolerance: float, *, judged: bool = True, min_leads: int = 0) -> tuple[int, Decimal]:
    """Fill the shares and flag drift.

    A rep drifts by count when the pool is judged by share, has at least ``min_leads`` leads in
    the window, the rep's share is more than ``tolerance`` from its expected share and it is more
    than ``FAIRNESS_SLACK_LEADS`` leads from its expected count. Drift by value is judged in
    the same pools with the same minimum number of leads.
    """
    total = sum(r.assigned for r in rows)
    total_expected = sum(r.expected for r in rows)
    total_value = sum((r.assigned_value for r in rows), Decimal(0))
    total_expected_value = sum(r.expected_value for r in rows)
    for r in rows:
        r.actual_share = r.assigned / total if total else 0.0
        r.expected_share = r.expected / total_expected if total_expected else 0.0
        r.value_share = float(r.assigned_value / total_value) if total_value else 0.0
        r.expected_value_share = r.expected_value / total_expected_value if total_expected_value else 0.0
        enough = total > 0 and total >= min_leads
        # Tiny float residue must not flag a rep: compare with a small epsilon.
        r.drift = (judged and enough and abs(r.actual_share - r.expected_share) > tolerance + 1e-9
                   and abs(r.deviation) > FAIRNESS_SLACK_LEADS + 1e-9)  # fmt: skip
        r.value_drift = judged and enough and total_value > 0 and abs(r.value_share - r.expected_value_share) > tolerance + 1e-9
    return total, total_value


def equity_table(
    *, pool_id: int, start: dt.date, end: dt.date, tolerance: float | None = None, min_leads: int | None = None,
    visible: Visibility = EVERYTHING,
) -> EquityTable:
    """Per rep of a pool over [start, end] (UTC days): assigned, target, expected, deviation,
    and what the engine counts the rep as owed now (``owed``, in leads).

    ``expected`` sums ``routing.engine.fairness.shares`` over the window's decisions, the same
    figure the engine's account accrues: over a window that starts with the pool, ``expected -
    assigned`` is ``owed``. Reads the EquityDaily rollup (callers run ``equity_rollup`` first for
    the tail), the pool's effective members, the live credits and the reps' names: a fixed
    number of queries whatever the volume. Rows are sorted by the size of the share gap.
    Shares are computed over the whole pool; ``visible`` (reps.scope) then keeps only the rows
    of reps the viewer may see, so a manager sees their team's shares of the real pool.
    """
    tolerance = settings.LEADOPS_EQUITY_TOLERANCE if tolerance is None else tolerance
    min_leads = settings.LEADOPS_DRIFT_MIN_LEADS if min_leads is None else min_leads
    sums = {
        row["rep_id"]: row
        for row in EquityDaily.objects.filter(pool_id=pool_id, day__gte=start, day__lte=end)
        .values("rep_id")
        .annotate(a=Sum("assigned"), av=Sum("assigned_value"), e=Sum("expected"), ev=Sum("expected_value"),
                  d=Sum("direct"))
    }
    snapshot = pool_snapshots([pool_id], with_fairness=False).get(pool_id)
    weights = dict(snapshot.members) if snapshot else {}
    total_weight = sum(weights.values())
    names = dict(Rep.objects.filter(id__in=set(weights) | set(sums)).values_list("id", "display_name"))
    owed = dict(FairnessState.objects.filter(pool_id=pool_id, rep_id__in=weights).values_list("rep_id", "credit"))
    rows = []
    for rep_id in set(weights) | set(sums):
        s = sums.get(rep_id, {})
        weight = weights.get(rep_id, 0)
        rows.append(EquityRow(
            rep_id=rep_id, name=names.get(rep_id, f"Rep #{rep_id}"), weight=weight,
            target_share=weight / total_weight if total_weight else 0.0,
            assigned=s.get("a") or 0, assigned_value=Decimal(s.get("av") or 0),
            expected=float(s.get("e") or 0.0), expected_value=float(s.get("ev") or 0.0),
            owed=owed.get(rep_id, 0.0) if rep_id in weights else None, direct=s.get("d") or 0,
        ))  # fmt: skip
    table = EquityTable(pool_id=pool_id, start=start, end=end, tolerance=tolerance,
                        strategies=pool_strategies().get(pool_id, frozenset()), min_leads=min_leads)  # fmt: skip
    table.total, table.total_value = _shares(rows, tolerance, judged=table.judged, min_leads=min_leads)
    table.rows = sorted((r for r in rows if visible.sees_rep(r.rep_id)),
                        key=lambda r: (-abs(r.actual_share - r.expected_share), r.name))  # fmt: skip
    return table


def equity_series(*, pool_id: int, start: dt.date, end: dt.date, rep_ids: list[int]) -> dict[int, list[tuple[dt.date, float | None]]]:
    """Per rep and day: leads received minus leads expected; None on a day without a row (the
    pool neither sent the rep a lead nor expected one: nothing to plot). One query."""
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    found: dict[int, dict[dt.date, float]] = defaultdict(dict)
    if rep_ids:
        for rep_id, day, assigned, expected in EquityDaily.objects.filter(
            pool_id=pool_id, day__gte=start, day__lte=end, rep_id__in=rep_ids
        ).values_list("rep_id", "day", "assigned", "expected"):
            found[rep_id][day] = assigned - expected
    return {rep_id: [(d, found[rep_id].get(d)) for d in days] for rep_id in rep_ids}


@dataclass
class DriftAlert:
    pool_id: int
    pool_name: str
    row: EquityRow


@dataclass
class PoolNote:
    """A pool not judged by share, reported for what its strategy optimises instead."""

    pool_id: int
    pool_name: str
    strategies: list[str]  # labels
    leads: int  # offers in the window
    busiest: str = ""  # best match: the rep with the largest share of the window's leads
    busiest_share: float = 0.0
    load_low: float | None = None  # capacity balanced: lowest and highest open load now
    load_high: float | None = None  # (open leads / cap; uncapped reps against the largest cap)


def drift_alerts(
    *, start: dt.date, end: dt.date, tolerance: float | None = None, min_leads: int | None = None,
    visible: Visibility = EVERYTHING,
) -> list[DriftAlert]:
    """Reps of weighted-fair pools whose share of offers drifts from the eligibility-adjusted
    share (see ``_shares``: judged only once the pool has ``LEADOPS_DRIFT_MIN_LEADS`` leads in
    the window and the rep is more than 1.5 leads off). Three queries.

    Capacity-balanced and best-match pools are not judged by share, by count or by value: see
    ``strategy_notes``. Reps who received nothing and were never eligible cannot drift.
    """
    tolerance = settings.LEADOPS_EQUITY_TOLERANCE if tolerance is None else tolerance
    min_leads = settings.LEADOPS_DRIFT_MIN_LEADS if min_leads is None else min_leads
    strategies = pool_strategies()
    alerts = []
    for pool_id, (name, rows) in _window_rows(start=start, end=end).items():
        _shares(rows, tolerance, judged=judged_by_share(strategies.get(pool_id, frozenset())), min_leads=min_leads)
        alerts += [DriftAlert(pool_id, name, r) for r in rows if (r.drift or r.value_drift) and visible.sees_rep(r.rep_id)]
    return sorted(alerts, key=lambda a: -abs(a.row.share_gap))


def _window_rows(*, start: dt.date, end: dt.date) -> dict[int, tuple[str, list[EquityRow]]]:
    """Pool id -> (pool name, per-rep rollup sums over the window). Two queries."""
    by_pool: dict[int, list[EquityRow]] = defaultdict(list)
    for row in (
        EquityDaily.objects.filter(day__gte=start, day__lte=end)
        .values("pool_id", "rep_id", "rep__display_name")
        .annotate(a=Sum("assigned"), av=Sum("assigned_value"), e=Sum("expected"), ev=Sum("expected_value"),
                  d=Sum("direct"))
    ):
        by_pool[row["pool_id"]].append(EquityRow(
            rep_id=row["rep_id"], name=row["rep__display_name"], weight=0, target_share=0.0,
            assigned=row["a"] or 0, assigned_value=Decimal(row["av"] or 0),
            expected=float(row["e"] or 0), expected_value=float(row["ev"] or 0),
        ))  # fmt: skip
    names = dict(Pool.objects.filter(id__in=by_pool).values_list("id", "name"))
    return {pool_id: (names.get(pool_id, f"Pool #{pool_id}"), rows) for pool_id, rows in by_pool.items()}


def strategy_notes(*, start: dt.date, end: dt.date) -> list[PoolNote]:
    """Pools run by capacity balanced or best match, with what those strategies optimise:
    best match, who took the largest share of the window's leads (shares follow skill, not
    weight); capacity balanced, the lowest and highest open load of the pool's active members
    now (the engine gives each lead to the least-loaded eligible rep). A fixed number of queries.
    """
    strategies = {pid: s for pid, s in pool_strategies().items() if not judged_by_share(s)}
    if not strategies:
        return []
    window = _window_rows(start=start, end=end)
    pools = pool_snapshots(strategies, with_fairness=False)
    balanced = {pid for pid, s in strategies.items() if Strategy.CAPACITY_BALANCED.value in s and pid in pools}
    member_ids = {rep_id for pid in balanced for rep_id, _ in pools[pid].members}
    reps = {r["id"]: r for r in Rep.objects.filter(id__in=member_ids, active=True).values("id", "max_open")}
    loads = dict(RepLoad.objects.filter(rep_id__in=reps).values_list("rep_id", "open_count"))
    notes = []
    for pool_id in sorted(strategies, key=lambda pid: pools[pid].name if pid in pools else ""):
        if pool_id not in pools:
            continue
        name, rows = window.get(pool_id, (pools[pool_id].name, []))
        leads = sum(r.assigned for r in rows)
        note = PoolNote(pool_id, pools[pool_id].name, [_strategy_words(s) for s in sorted(strategies[pool_id])], leads)
        if leads:
            top = max(rows, key=lambda r: (r.assigned, r.name))
            note.busiest, note.busiest_share = top.name, top.assigned / leads
        if pool_id in balanced:
            members = [reps[rep_id] for rep_id, _ in pools[pool_id].members if rep_id in reps]
            notional = max((r["max_open"] for r in members if r["max_open"]), default=1)
            fractions = [loads.get(r["id"], 0) / (r["max_open"] or notional) for r in members]
            if fractions:
                note.load_low, note.load_high = min(fractions), max(fractions)
        notes.append(note)
    return notes


# --- holding, capacity, SLA ---------------------------------------------------------------------


def holding_summary(*, visible: Visibility = EVERYTHING) -> dict[str, Any]:
    """Leads in the holding pool (for a manager: those once offered to their team)."""
    holding = visible.leads(Lead.objects.filter(status=Lead.Status.HOLDING))
    agg = holding.aggregate(size=Count("id"), oldest=Min("received_at"))
    oldest = None
    if agg["oldest"] is not None:
        oldest = holding.filter(received_at=agg["oldest"]).values("id", "received_at").first()
    return {"size": agg["size"], "oldest": oldest}


@dataclass
class CapacityRow:
    rep_id: int
    name: str
    active: bool
    open_count: int
    max_open: int | None
    today: int
    max_daily: int | None
    week: int
    max_weekly: int | None
    away: bool
    away_until: dt.datetime | None

    @property
    def away_until_back(self) -> bool:
        return away_is_until_back(self.away_until)

    @property
    def at_cap(self) -> bool:
        return (
            (self.max_open is not None and self.open_count >= self.max_open)
            or (self.max_daily is not None and self.today >= self.max_daily)
            or (self.max_weekly is not None and self.week >= self.max_weekly)
        )


def capacity_now(*, now: dt.datetime | None = None, pool_id: int | None = None,
                 visible: Visibility = EVERYTHING) -> list[CapacityRow]:
    """Every rep's live load against caps, today's count and away status. Two queries."""
    now = now or timezone.now()
    reps = visible.reps(Rep.objects.select_related("load").order_by("display_name"))
    if pool_id:
        reps = reps.filter(pool_memberships__pool_id=pool_id)
    absent: dict[int, dt.datetime] = {}
    for rep_id, ends_at in Absence.objects.filter(starts_at__lte=now, ends_at__gt=now).values_list("rep_id", "ends_at"):
        absent[rep_id] = max(ends_at, absent.get(rep_id, ends_at))
    rows = []
    for rep in reps:
        counts = capacity_counts(load=getattr(rep, "load", None), tz_name=rep.timezone, now=now)
        until = max([t for t in (rep.away_until if rep.away_until and rep.away_until > now else None, absent.get(rep.id)) if t],
                    default=None)  # fmt: skip
        rows.append(CapacityRow(
            rep_id=rep.id, name=rep.display_name, active=rep.active,
            open_count=counts.open, max_open=rep.max_open, today=counts.today, max_daily=rep.max_daily,
            week=counts.week, max_weekly=rep.max_weekly,
            away=until is not None, away_until=until,
        ))  # fmt: skip
    return rows


def _percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile, the same definition as PostgreSQL's percentile_cont."""
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


class PercentileCont(Aggregate):
    """PostgreSQL ``percentile_cont(p) WITHIN GROUP (ORDER BY expr)``."""

    function = "percentile_cont"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_filter = False

    def __init__(self, expression: Any, percentile: float, **extra: Any) -> None:
        super().__init__(expression, percentile=float(percentile), **extra)


@dataclass
class SlaRow:
    key: Any
    label: str
    offered: int = 0
    accepted_in_time: int = 0
    escalated: int = 0
    expired: int = 0
    declined: int = 0
    median_seconds: float | None = None
    p90_seconds: float | None = None
    clock: str = ""  # which time the times to accept are counted in (routing.engine.sla)
    assigned: int = 0  # offers made in assign mode (the SLA stops at the first touch)
    touched: int = 0  # accepted offers whose lead has a first touch
    touch_median_seconds: float | None = None  # offer made -> first touch, wall-clock
    touch_p90_seconds: float | None = None


SLA_GROUPS = {
    "segment": ("lead__segment_id", "lead__segment__name"),
    "pool": ("decision__pool_id", "decision__pool__name"),
    "rep": ("rep_id", "rep__display_name"),
}


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def sla_outcomes(*, start: dt.datetime, end: dt.datetime, by: str = "segment",
                 visible: Visibility = EVERYTHING) -> list[SlaRow]:
    """Offers made in [start, end) grouped by segment, pool or rep: one grouped query on
    PostgreSQL (percentiles in SQL); SQLite adds one query for the accept times.

    Escalated: an offer that was itself an escalation (step > 0) or that expired unanswered.
    Accepted in time: accepted no later than its deadline. Times to accept are in seconds.
    """
    key, label = SLA_GROUPS.get(by, SLA_GROUPS["segment"])
    offers = visible.offers(Offer.objects.filter(offered_at__gte=start, offered_at__lt=end))
    accepted = Q(status=Offer.Status.ACCEPTED)
    annotations: dict[str, Any] = {
        "offered": Count("id"),
        "in_time": Count("id", filter=accepted & Q(decided_at__lte=F("deadline"))),
        "escalated": Count("id", filter=Q(step__gt=0) | Q(status=Offer.Status.EXPIRED)),
        "expired": Count("id", filter=Q(status=Offer.Status.EXPIRED)),
        "declined": Count("id", filter=Q(status=Offer.Status.DECLINED)),
        "assigned": Count("id", filter=Q(mode=DeliveryMode.ASSIGN)),
    }
    postgres = connection.vendor == "postgresql"
    if postgres:
        wait = Case(When(accepted & Q(decided_at__isnull=False), then=F("decided_at") - F("offered_at")),
                    output_field=DurationField())  # fmt: skip
        annotations["p50"] = PercentileCont(wait, 0.5, output_field=DurationField())
        annotations["p90"] = PercentileCont(wait, 0.9, output_field=DurationField())
    rows = {
        r["k"]: SlaRow(
            key=r["k"], label=r["name"] or "(none)", offered=r["offered"], accepted_in_time=r["in_time"],
            escalated=r["escalated"], expired=r["expired"], declined=r["declined"],
            median_seconds=_seconds(r.get("p50")), p90_seconds=_seconds(r.get("p90")), assigned=r["assigned"],
        )
        for r in offers.values(k=F(key), name=F(label)).annotate(**annotations).order_by()
    }  # fmt: skip
    business = sla_business_waits(offers=offers.filter(accepted, decided_at__isnull=False), key=key, start=start, end=end)
    if business is not None:
        waits, clocks = business
        for k, row in rows.items():
            values = waits.get(k, [])
            row.median_seconds, row.p90_seconds = _percentile(values, 0.5), _percentile(values, 0.9)
            row.clock = clocks.get(k, "")
    elif not postgres:
        waits = defaultdict(list)
        for k, offered_at, decided_at in offers.filter(accepted, decided_at__isnull=False).values_list(key, "offered_at", "decided_at"):
            waits[k].append((decided_at - offered_at).total_seconds())
        for k, values in waits.items():
            rows[k].median_seconds, rows[k].p90_seconds = _percentile(values, 0.5), _percentile(values, 0.9)
    for row in rows.values():
        row.clock = row.clock or SLA_CLOCK_LABELS[SlaClock.CALENDAR]
    _first_touch_times(rows, offers=offers.filter(accepted, lead__first_touch_at__isnull=False), key=key)
    return sorted(rows.values(), key=lambda r: r.label)


def _first_touch_times(rows: dict[Any, SlaRow], *, offers: Any, key: str) -> None:
    """Time to first touch per group: from the offer (in assign mode, the assignment) to the
    lead's first touch, wall-clock seconds; median and p90. One query."""
    times: dict[Any, list[float]] = defaultdict(list)
    for k, offered_at, touched_at in offers.values_list(key, "offered_at", "lead__first_touch_at"):
        times[k].append(max(0.0, (touched_at - offered_at).total_seconds()))
    for k, values in times.items():
        if k in rows:
            row = rows[k]
            row.touched = len(values)
            row.touch_median_seconds, row.touch_p90_seconds = _percentile(values, 0.5), _percentile(values, 0.9)


def sla_business_waits(
    *, offers: Any, key: str, start: dt.datetime, end: dt.datetime
) -> tuple[dict[Any, list[float]], dict[Any, str]] | None:
    """Times to accept (seconds) per group, each offer counted on its segment's SLA clock
    (``routing.engine.sla``), and each group's clock label; None when every offer's clock is
    plain wall-clock time (then the SQL percentiles stand). Three to five queries.

    "Business time" of the rep's clock is the offered rep's working time over the window
    (hours, holidays, absences); of the segment clock, the segment's calendar.
    """
    from calendars.selectors import calendar_cached, rep_calendars

    segments = {sid: (clock_of(clock), cal) for sid, clock, cal in Segment.objects.values_list("id", "sla_clock", "calendar_id")}
    rows = list(offers.values_list(key, "lead__segment_id", "rep_id", "offered_at", "decided_at"))
    horizon_end = max([end, *(r[4] for r in rows)]) if rows else end
    reps = rep_calendars({r[2] for r in rows if segments.get(r[1], (None,))[0] == SlaClock.REP},
                         start=start, end=horizon_end)  # fmt: skip
    if not any(cal.weekly or cal.closed_dates or cal.closures for cal in reps.values()) and not any(
        clock == SlaClock.SEGMENT and cal for clock, cal in segments.values()
    ):
        return None  # nobody has hours, holidays or absences: business time is wall-clock time
    waits: dict[Any, list[float]] = defaultdict(list)
    labels: dict[Any, set[str]] = defaultdict(set)
    for k, segment_id, rep_id, offered_at, decided_at in rows:
        clock, calendar_id = segments.get(segment_id, (SlaClock.CALENDAR, None))
        calendar = sla_calendar(
            clock, segment_calendar=calendar_cached(calendar_id, around=offered_at.date()) if calendar_id else None,
            rep_calendar=reps.get(rep_id),
        )  # fmt: skip
        waits[k].append(minutes_between(calendar, offered_at, decided_at) * 60)
        labels[k].add(SLA_CLOCK_LABELS[clock])
    for k, seg_clock in segments.items():
        if key == "lead__segment_id":
            labels[k] = {SLA_CLOCK_LABELS[seg_clock[0]]}
    clocks = {k: " / ".join(sorted(v)) for k, v in labels.items()}
    return waits, clocks


def sla_summary(*, start: dt.datetime, end: dt.datetime, visible: Visibility = EVERYTHING) -> dict[str, int]:
    """Totals for the home page, one aggregate query."""
    return visible.offers(Offer.objects.filter(offered_at__gte=start, offered_at__lt=end)).aggregate(
        offered=Count("id"),
        accepted_in_time=Count("id", filter=Q(status=Offer.Status.ACCEPTED, decided_at__lte=F("deadline"))),
        expired=Count("id", filter=Q(status=Offer.Status.EXPIRED)),
        declined=Count("id", filter=Q(status=Offer.Status.DECLINED)),
        escalated=Count("id", filter=Q(step__gt=0) | Q(status=Offer.Status.EXPIRED)),
        open=Count("id", filter=Q(status=Offer.Status.OPEN)),
    )


# --- decision explorer ------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionFilters:
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    pool_id: int | None = None
    rule_id: int | None = None
    rep_id: int | None = None
    outcome: str = ""
    segment_id: int | None = None
    lead_id: int | None = None
    visible: Visibility = EVERYTHING  # a manager's explorer holds only leads offered to their team


EXPLORER_FIELDS = (
    "id", "created_at", "kind", "lead_id", "lead__first_name", "lead__last_name", "lead__company", "lead__value",
    "rule_id", "rule__name", "rule_history_id", "ruleset_version", "pool_id", "pool__name", "segment_id",
    "segment__name", "outcome", "step", "chosen_rep_id", "chosen_rep__display_name", "summary",
)  # fmt: skip


def decisions_filtered(filters: DecisionFilters):  # noqa: ANN201
    qs = filters.visible.leads(Decision.objects.all(), "lead_id")
    if filters.start:
        qs = qs.filter(created_at__gte=filters.start)
    if filters.end:
        qs = qs.filter(created_at__lt=filters.end)
    if filters.pool_id:
        qs = qs.filter(pool_id=filters.pool_id)
    if filters.rule_id:
        qs = qs.filter(rule_id=filters.rule_id)
    if filters.rep_id:
        qs = qs.filter(chosen_rep_id=filters.rep_id)
    if filters.outcome:
        qs = qs.filter(outcome=filters.outcome)
    if filters.segment_id:
        qs = qs.filter(segment_id=filters.segment_id)
    if filters.lead_id:
        qs = qs.filter(lead_id=filters.lead_id)
    return qs.order_by("-created_at", "-id")


@dataclass
class DecisionPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(row: dict[str, Any]) -> str:
    return f"{row['created_at'].isoformat()}~{row['id']}"


def decode_cursor(raw: str) -> tuple[dt.datetime, int] | None:
    try:
        stamp, ident = raw.rsplit("~", 1)
        moment = dt.datetime.fromisoformat(stamp.replace(" ", "+"))
        # In UTC, as encoded: PostgreSQL refuses offsets past 15:59 and 0001-01-01+01:00 has no UTC date.
        return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC), int(ident)
    except (ValueError, AttributeError, OverflowError):
        return None


def decisions_page(filters: DecisionFilters, *, cursor: str = "", limit: int = 50) -> DecisionPage:
    """One page of decisions, newest first, by keyset on (created_at, id): one query, never OFFSET.

    Never loads ``detail``/``inputs`` (the big JSON); the lead page shows those.
    """
    qs = decisions_filtered(filters)
    after = decode_cursor(cursor) if cursor else None
    if after:
        stamp, ident = after
        # A range on the indexed column plus a tie-break, rather than an OR the planner cannot seek on.
        qs = qs.filter(created_at__lte=stamp).exclude(created_at=stamp, id__gte=ident)
    rows = list(qs.values(*EXPLORER_FIELDS)[: limit + 1])
    more = len(rows) > limit
    rows = [_explorer_row(row, filters.visible) for row in rows[:limit]]
    return DecisionPage(rows=rows, next_cursor=encode_cursor(rows[-1]) if more and rows else None)


# The decisions CSV: (header, how a row gives the cell). Headers in words, codes in words
# (routing/labels.py), and the reps each step skipped with their reasons.
EXPORT_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("Decision id", lambda r: r["id"]),
    ("When (UTC)", lambda r: r["created_at"].astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")),
    ("Kind", lambda r: labels.decision_kind_label(r["kind"])),
    ("Lead id", lambda r: r["lead_id"]),
    ("First name", lambda r: r["lead__first_name"]),
    ("Last name", lambda r: r["lead__last_name"]),
    ("Company", lambda r: r["lead__company"]),
    ("Value", lambda r: r["lead__value"]),
    ("Rule id", lambda r: r["rule_id"]),
    ("Rule", lambda r: r["rule__name"]),
    ("Rule version", lambda r: r.get("rule_version") or ""),
    ("Published version", lambda r: r["ruleset_version"] or "draft"),
    ("Pool id", lambda r: r["pool_id"]),
    ("Pool", lambda r: r["pool__name"]),
    ("Segment", lambda r: r["segment__name"]),
    ("Outcome", lambda r: labels.outcome_label(r["outcome"])),
    ("Via", lambda r: labels.step_label(r["step"]) if r["step"] else ""),
    ("Rep id", lambda r: r["chosen_rep_id"]),
    ("Rep", lambda r: r["chosen_rep__display_name"]),
    ("Why", lambda r: r["summary"]),
    ("Reps skipped and why", lambda r: r.get("skipped", "")),
)
EXPORT_HEADER = tuple(header for header, _ in EXPORT_COLUMNS)


def _skipped_text(detail: Any, visible: Visibility) -> str:
    """"Ana Ruiz: no valid licence; Ben Okafor: outside working hours, at daily cap" over every
    step of a decision (a rep outside the viewer's team keeps its place, not its name or reasons)."""
    parts = []
    for step in (detail or {}).get("steps") or ():
        for c in step.get("candidates") or ():
            if c.get("eligible"):
                continue
            if not visible.sees_rep(c.get("rep_id")):
                parts.append(f"{OTHER_TEAM}: skipped")
                continue
            parts.append(f"{c.get('name')}: {', '.join(labels.reasons_text(c.get('reasons'))) or 'not eligible'}")
    return "; ".join(parts)


def decisions_export(filters: DecisionFilters) -> Iterator[tuple]:
    """Rows for the CSV export (``EXPORT_HEADER``), streamed from a server-side cursor. Two
    queries: the rules' version numbers, then the decisions with their detail."""
    from routing.console.selectors import rule_version_numbers
    from routing.models import Rule

    versions = rule_version_numbers(Rule.objects.values_list("id", flat=True))
    rows = decisions_filtered(filters).values(*EXPLORER_FIELDS, "detail").iterator(chunk_size=500)

    def row_of(raw: dict[str, Any]) -> tuple:
        row = _explorer_row(raw, filters.visible)
        row = {**row, "rule_version": versions.get(row["rule_history_id"]), "skipped": _skipped_text(raw["detail"], filters.visible)}
        return tuple(cell(row) for _, cell in EXPORT_COLUMNS)

    return (row_of(raw) for raw in rows)


OTHER_TEAM = "A rep outside your team"


def _explorer_row(row: dict[str, Any], visible: Visibility) -> dict[str, Any]:
    """A lead offered to the viewer's team may later have gone to another team's rep: that rep's
    name (also written into the summary) is not the viewer's to see."""
    if visible.sees_rep(row["chosen_rep_id"]) or row["chosen_rep_id"] is None:
        return row
    return {**row, "chosen_rep__display_name": OTHER_TEAM, "summary": f"Offered to {OTHER_TEAM.lower()}."}


# --- lead timeline ------------------------------------------------------------------------------


@dataclass
class TimelineEvent:
    at: dt.datetime
    kind: str  # received / decision / offer / offer_result
    decision: dict[str, Any] | None = None
    offer: Offer | None = None
    text: str = ""


def _candidates(step: dict[str, Any]) -> list[dict[str, Any]]:
    """Eligible first; each with its skip reasons in words and whether it was the pick."""
    chosen = step.get("chosen_rep_id")
    out = [
        {**c, "chosen": c.get("rep_id") == chosen and chosen is not None,
         "reason_text": labels.reasons_text(c.get("reasons"))}
        for c in step.get("candidates") or ()
    ]  # fmt: skip
    return sorted(out, key=lambda c: (not c["chosen"], not c.get("eligible"), c.get("name") or ""))


def _same_wait(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a["outcome"] == b["outcome"] == "holding" and a["summary"] == b["summary"]
            and a["rule_id"] == b["rule_id"] and a["ruleset_version"] == b["ruleset_version"])  # fmt: skip


def quarantined_leads(*, limit: int = 50) -> tuple[int, list[Lead]]:
    """Leads set aside because routing them raised, newest first, for the ops home page."""
    qs = Lead.objects.filter(status=Lead.Status.QUARANTINED)
    return qs.count(), list(qs.order_by("-quarantined_at", "-id")[:limit])


def _redacted(candidate: dict[str, Any]) -> dict[str, Any]:
    return {"rep_id": None, "name": OTHER_TEAM, "eligible": candidate.get("eligible"), "chosen": candidate.get("chosen"),
            "reasons": [], "reason_text": [], "weight": None, "score": None}


def _decision_rule_checks(decisions: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Decision id -> each rule of the published version that decided it, in evaluation order,
    and why it did or did not take the lead (``labels.rule_check_rows``), re-checked against the
    lead's fields as the decision recorded them (``Decision.inputs``). One query for every version.

    Decisions on the unpublished tables (no version) or with unreadable snapshots get none.
    """
    from routing.engine.qualify import rule_checks
    from routing.models import RuleSet
    from routing.snapshots import config_from_json

    versions = {d["ruleset_version"] for d in decisions if d["ruleset_version"]}
    configs = {}
    for version, snapshot in RuleSet.objects.filter(version__in=versions).values_list("version", "snapshot"):
        try:
            configs[version] = config_from_json(snapshot, version=version)
        except Exception:  # noqa: BLE001 - an old snapshot the schema no longer reads: show the rest
            continue
    found = {}
    for d in decisions:
        config = configs.get(d["ruleset_version"])
        if config is None or not isinstance(d.get("inputs"), dict):
            continue
        segment = next((s for s in config.segments if s.id == d["segment_id"]), None)
        fields = {**d["inputs"], "segment": segment.slug if segment is not None else None}
        found[d["id"]] = labels.rule_check_rows(rule_checks(fields, config))
    return found


def lead_timeline(*, lead_id: int, visible: Visibility = EVERYTHING) -> tuple[Lead, list[TimelineEvent]] | None:
    """A lead with every decision (full engine detail) and every offer, oldest first. Four queries.

    None when the lead does not exist or is not visible (reps.scope). For a manager, reps outside
    their team keep their place in the story but not their name, skip reasons or decline notes.
    """
    lead = visible.leads(Lead.objects.select_related("segment", "owner", "account", "duplicate_of")).filter(id=lead_id).first()
    if lead is None:
        return None
    # Leads linked to this one as its duplicates (both pages show the link).
    lead.duplicate_ids = list(Lead.objects.filter(duplicate_of_id=lead_id).order_by("received_at", "id")
                              .values_list("id", flat=True)[:50])  # fmt: skip
    decisions = list(
        Decision.objects.filter(lead_id=lead_id)
        .order_by("created_at", "id")
        .values("id", "created_at", "kind", "rule_id", "rule__name", "rule_history_id", "ruleset_version",
                "pool_id", "pool__name", "segment_id", "segment__name", "outcome", "step", "chosen_rep_id",
                "chosen_rep__display_name", "summary", "detail", "duration_us", "inputs")
    )  # fmt: skip
    checks = _decision_rule_checks(decisions)
    from routing.console.selectors import rule_version_numbers

    rule_versions = rule_version_numbers({d["rule_id"] for d in decisions if d["rule_id"]}) if decisions else {}
    offers = list(Offer.objects.filter(lead_id=lead_id).select_related("rep").order_by("offered_at", "id"))
    pool_ids = {s.get("pool_id") for d in decisions for s in (d["detail"] or {}).get("steps") or () if s.get("pool_id")}
    pool_names = dict(Pool.objects.filter(id__in=pool_ids).values_list("id", "name")) if pool_ids else {}
    events = [TimelineEvent(at=lead.received_at, kind="received", text="Lead received")]
    for d in decisions:
        detail = d["detail"] or {}
        strategy = (detail.get("rule") or {}).get("strategy") if isinstance(detail.get("rule"), dict) else None
        d["strategy"] = strategy
        d["steps"] = []
        for s in detail.get("steps") or ():
            candidates = [c if visible.sees_rep(c.get("rep_id")) else _redacted(c) for c in _candidates(s)]
            d["steps"].append({**s, "pool_name": pool_names.get(s.get("pool_id"), ""), "candidates": candidates,
                               "tie": labels.tie_note(strategy, candidates, s.get("chosen_rep_id"))})  # fmt: skip
        d.update(_explorer_row(d, visible))
        d["high_value"] = detail.get("high_value")
        d["rule_checks"] = checks.get(d["id"], [])
        d["rule_version"] = rule_versions.get(d["rule_history_id"])
        d["warnings"] = [w for w in detail.get("warnings") or () if isinstance(w, dict)]
        d["repeats"], d["last_repeat_at"] = 0, None
        previous = next((e for e in reversed(events) if e.kind == "decision"), None)
        if previous is not None and _same_wait(previous.decision, d):
            # Repeated identical waits (rows from before retries stopped recording them): one line.
            previous.decision["repeats"] += 1
            previous.decision["last_repeat_at"] = d["created_at"]
            continue
        events.append(TimelineEvent(at=d["created_at"], kind="decision", decision=d))
    for offer in offers:
        if not visible.sees_rep(offer.rep_id):
            offer.rep.display_name, offer.decline_note = OTHER_TEAM, ""
        events.append(TimelineEvent(at=offer.offered_at, kind="offer", offer=offer))
        if offer.decided_at:
            events.append(TimelineEvent(at=offer.decided_at, kind="offer_result", offer=offer))
    matched = next((d for d in reversed(decisions) if isinstance(d.get("detail"), dict) and d["detail"].get("account")), None)
    lead.match_text = account_match_text(matched["detail"]["account"]) if matched else ""
    last = next((e.decision for e in reversed(events) if e.kind == "decision"), None)
    if last is not None and lead.status == Lead.Status.HOLDING and last["outcome"] == "holding" and lead.hold_attempts > 1:
        # Retries with the same outcome write no decision; the lead row counts them.
        last["repeats"] += lead.hold_attempts - 1
        last["last_repeat_at"] = lead.last_tried_at
    if lead.owner is not None and not visible.sees_rep(lead.owner_id):
        lead.owner.display_name = OTHER_TEAM
    order = {"received": 0, "decision": 1, "offer": 2, "offer_result": 3}
    events.sort(key=lambda e: (e.at, order[e.kind]))
    return lead, events
