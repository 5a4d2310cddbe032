"""Reads: calendars as the engine's ``BusinessCalendar``, their holidays, and the next ones."""

from __future__ import annotations

import datetime as dt
import functools
import threading
from dataclasses import dataclass
import time
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from calendars.models import BusinessCalendar, CompanyDayOff
from routing.engine import business_time as bt
from routing.prepared import PreparedQuery, pk_any

if TYPE_CHECKING:
    from reps.models import Rep

# Calendars change rarely; routing reads them through this cache (cleared by the calendar
# services, and rebuilt at least this often so another process's edits show up).
CACHE_MAX_AGE_SECONDS = 30.0
_cache: dict[tuple[int, int], tuple[float, bt.BusinessCalendar | None]] = {}
_cache_lock = threading.Lock()


@lru_cache(maxsize=1024)
def public_holidays(country: str, subdivision: str, year: int) -> tuple[tuple[dt.date, str], ...]:
    """Public holidays of ``country`` (ISO 3166-1 alpha-2) and optional ``subdivision`` in
    ``year``, from the ``holidays`` library (python-holidays.readthedocs.io); an unknown
    country or subdivision has none rather than failing routing."""
    import holidays

    if not country:
        return ()
    supported = holidays.list_supported_countries()
    if country not in supported:
        return ()
    subdiv = next((s for s in supported[country] if s.upper() == subdivision.upper()), None) if subdivision else None
    if subdivision and subdiv is None:
        return ()
    try:
        found = holidays.country_holidays(country, subdiv=subdiv, years=[year])
    except (NotImplementedError, KeyError, ValueError):
        return ()
    return tuple(sorted(found.items()))


def _years(around: dt.date) -> range:
    return range(around.year - 1, around.year + 3)


def calendar_closed_dates(calendar: BusinessCalendar, *, years: Iterable[int], days_off: Iterable[CompanyDayOff] | None = None) -> dict[dt.date, str]:
    """Date -> name of every public holiday and company day off of ``calendar`` in ``years``."""
    closed: dict[dt.date, str] = {}
    for year in years:
        closed.update(public_holidays(calendar.holiday_country, calendar.holiday_subdivision, year))
    rows = days_off if days_off is not None else calendar.days_off.all()
    for day in rows:
        closed[day.date] = day.name
    return closed


def weekly_hours(raw: object) -> dict[int, tuple[tuple[int, int], ...]]:
    """``{"mon": [["09:00", "17:00"]], "fri": [["22:00", "06:00"]]}`` -> ``{0: ((540, 1020),),
    4: ((1320, 1800),)}``: an end at or before the start runs past midnight. Bad entries are
    dropped (the model validator rejects them on the way in)."""
    from reps.models import WEEKDAYS

    def minutes(hhmm: str) -> int:
        hours, mins = hhmm.split(":")
        return int(hours) * 60 + int(mins)

    out: dict[int, tuple[tuple[int, int], ...]] = {}
    if not isinstance(raw, dict):
        return out
    for day, ranges in raw.items():
        if day not in WEEKDAYS or not isinstance(ranges, list):
            continue
        shifts = []
        for pair in ranges:
            try:
                start, end = minutes(pair[0]), minutes(pair[1])
            except (TypeError, ValueError, IndexError, AttributeError):
                continue
            shifts.append((start, end if end > start else end + bt.MINUTES_PER_DAY))
        out[WEEKDAYS.index(day)] = tuple(shifts)
    return out


def engine_calendar(calendar: BusinessCalendar, *, around: dt.date) -> bt.BusinessCalendar:
    """``calendar`` as the engine reads it, with holidays for the years around ``around``."""
    closed = calendar_closed_dates(calendar, years=_years(around))
    return bt.BusinessCalendar(
        timezone=calendar.timezone, weekly=weekly_hours(calendar.weekly_hours),
        closed_dates=frozenset(closed), holiday_names=closed,
    )  # fmt: skip


def calendar_cached(calendar_id: int | None, *, around: dt.date) -> bt.BusinessCalendar | None:
    """The engine calendar of ``calendar_id`` (None when missing), cached for routing."""
    if calendar_id is None:
        return None
    clock = time.monotonic()
    key = (calendar_id, around.year)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and clock - hit[0] <= CACHE_MAX_AGE_SECONDS:
        return hit[1]
    row = BusinessCalendar.objects.filter(id=calendar_id).prefetch_related("days_off").first()
    result = engine_calendar(row, around=around) if row is not None else None
    with _cache_lock:
        _cache[key] = (clock, result)
    return result


def calendar_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def upcoming_holidays(calendar: BusinessCalendar, *, today: dt.date, count: int = 10) -> list[tuple[dt.date, str]]:
    """The next ``count`` closed dates (public holidays and company days off) from ``today``."""
    closed = calendar_closed_dates(calendar, years=range(today.year, today.year + 2))
    return sorted((day, name) for day, name in closed.items() if day >= today)[:count]


@functools.cache
def _absences_between() -> PreparedQuery:
    """Absences of some reps overlapping ``[start, end)``, in start order: prepared once per
    connection (an open inbox reads its rep's on every new offer card)."""
    from reps.models import Absence

    standin = dt.datetime(1901, 2, 3, 4, 5, 6, 789_012, tzinfo=dt.UTC)
    return PreparedQuery(
        lambda rep_ids, start, end: Absence.objects.filter(pk_any(rep_ids, field="rep_id"), starts_at__lt=end, ends_at__gt=start)
        .order_by("starts_at", "id").only("id", "rep_id", "starts_at", "ends_at"),
        standins={"rep_ids": [-918_273_646], "start": standin, "end": standin + dt.timedelta(microseconds=1)},
    )  # fmt: skip


def rep_calendars(rep_ids: Iterable[int], *, start: dt.datetime, end: dt.datetime,
                  reps: Iterable[Rep] | None = None) -> dict[int, bt.BusinessCalendar]:  # fmt: skip
    """rep id -> the rep's working time over ``[start, end)`` as the engine reads it: hours (or
    the calendar's they follow), holidays, and every absence overlapping the window (unlike
    routing, which only sees absences that have not ended). Three queries; two when ``reps``
    gives these reps already read with ``calendar`` and ``team__calendar`` (an inbox has its rep)."""
    from reps.models import Rep
    from routing.snapshots import _rep_calendars, _working_hours

    ids = set(rep_ids)
    if not ids:
        return {}
    given = [rep for rep in reps or () if rep.id in ids]
    if {rep.id for rep in given} != ids:
        given = list(Rep.objects.filter(id__in=ids).select_related("calendar", "team__calendar").order_by())
    reps = given
    resolved = _rep_calendars(reps, around=start.date())
    closures: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {rep_id: [] for rep_id in ids}
    for absence in _absences_between().run(rep_ids=sorted(ids), start=start, end=end):
        closures[absence.rep_id].append((absence.starts_at, absence.ends_at))
    out = {}
    for rep in reps:
        zone_name, hours, closed = resolved[rep.id]
        out[rep.id] = bt.BusinessCalendar(
            timezone=zone_name, weekly=_working_hours(hours), closed_dates=frozenset(closed),
            closures=tuple(closures[rep.id]), holiday_names=closed,
        )  # fmt: skip
    return out


WEEKDAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def hours_summary(weekly_hours: object) -> list[tuple[str, str]]:
    """``[("Mon", "09:00–12:00, 13:00–17:00"), ...]`` for the days with hours, in week order;
    ``[]`` means always open."""
    from reps.models import WEEKDAYS

    if not isinstance(weekly_hours, dict):
        return []
    out = []
    for day, label in zip(WEEKDAYS, WEEKDAY_LABELS, strict=True):
        ranges = weekly_hours.get(day) or []
        shifts = [f"{a}–{b}" + (" (next day)" if b <= a else "") for a, b in ranges if isinstance(a, str) and isinstance(b, str)]
        out.append((label, ", ".join(shifts) if shifts else "closed"))
    return out


def calendar_overview(*, now: dt.datetime, holidays_shown: int = 5) -> list[dict]:
    """Every calendar with its hours, open-now flag, next opening and next holidays. Two queries."""
    rows = []
    for calendar in BusinessCalendar.objects.prefetch_related("days_off", "segments", "teams", "reps"):
        local_today = now.astimezone(bt.zone(calendar.timezone)).date()
        engine = engine_calendar(calendar, around=local_today)
        is_open = bt.is_open(engine, now)
        rows.append({
            "calendar": calendar, "hours": hours_summary(calendar.weekly_hours), "open": is_open,
            "next_open": None if is_open else bt.next_open(engine, now),
            "closes": bt.next_close(engine, now) if is_open else None,
            "holidays": upcoming_holidays(calendar, today=local_today, count=holidays_shown),
            "used_by": [*(f"segment {s.name}" for s in calendar.segments.all()),
                        *(f"team {t.name}" for t in calendar.teams.all()),
                        *(f"rep {r.display_name}" for r in calendar.reps.all())],
        })  # fmt: skip
    return rows


@dataclass
class OfferClock:
    """What an inbox countdown needs: business seconds left, and when the clock runs."""

    seconds_left: int
    running: bool  # False: paused now (outside working hours, holiday, absence)
    resumes_at: dt.datetime | None  # when a paused clock runs again
    schedule: list[tuple[str, str]] | None  # open stretches until the deadline (UTC ISO); None = wall-clock
    clock_label: str


def offer_clocks(offers: list, *, rep_id: int, now: dt.datetime, rep: Rep | None = None) -> dict[int, OfferClock]:
    """offer id -> its countdown on its segment's SLA clock (``routing.engine.sla``).

    ``offers`` are Offer rows with ``lead__segment`` loaded. At most two queries (the rep's
    calendar), none when every offer counts wall-clock time; one when ``rep`` is the rep read
    with ``calendar`` and ``team__calendar`` (``reps.access.get_rep_for_user``).
    """
    from routing.engine.sla import SLA_CLOCK_LABELS, SlaClock, clock_of, sla_calendar

    clocks = {offer.id: clock_of(offer.lead.segment.sla_clock if offer.lead.segment_id else SlaClock.CALENDAR)
              for offer in offers}  # fmt: skip
    latest = max((offer.deadline for offer in offers), default=now)
    on_rep_clock = SlaClock.REP in clocks.values()
    rep_calendar = rep_calendars({rep_id}, start=now, end=latest, reps=[rep] if rep else None).get(rep_id) if on_rep_clock else None
    out = {}
    for offer in offers:
        clock = clocks[offer.id]
        segment = offer.lead.segment if offer.lead.segment_id else None
        calendar = sla_calendar(
            clock, rep_calendar=rep_calendar,
            segment_calendar=calendar_cached(segment.calendar_id, around=now.date()) if segment and segment.calendar_id else None,
        )  # fmt: skip
        if calendar is None or offer.deadline <= now:
            left = max(0, int((offer.deadline - now).total_seconds()))
            out[offer.id] = OfferClock(left, True, None, None, SLA_CLOCK_LABELS[SlaClock.CALENDAR])
            continue
        stretches = bt.open_intervals(calendar, now, offer.deadline)
        left = int(sum((b - a).total_seconds() for a, b in stretches))
        running = bool(stretches) and stretches[0][0] <= now
        resumes = None if running or not stretches else stretches[0][0]
        schedule = [(a.isoformat().replace("+00:00", "Z"), b.isoformat().replace("+00:00", "Z")) for a, b in stretches]
        out[offer.id] = OfferClock(left, running, resumes, schedule, SLA_CLOCK_LABELS[clock])
    return out
