"""Business-time arithmetic: when a calendar is open, and clocks that only run while it is.

Pure: no ORM, no settings, no clock. Every instant is an aware ``datetime`` (naive ones are read
as UTC); every duration is in minutes (``float``; whole minutes in, whole minutes out when the
inputs sit on whole minutes and the zone's offsets are whole minutes, as every zone's are today).

The definition every function below agrees with (and the property tests check against a
minute-stepping reference in ``tests/routing/engine/test_business_time.py``):

    An instant is *open* when its local wall-clock time (in ``calendar.timezone``) lies inside a
    shift of some local day ``d`` (``d`` + start <= wall < ``d`` + end), ``d`` is not a closed
    date (public holiday or company day off), and the instant is inside no closure (an absence).

* A shift is ``(start_minute, end_minute)`` after that day's local midnight, ``0 <= start <
  end <= 2880``: an end past 1440 spans midnight into the next day (22:00-06:00 is
  ``(1320, 1800)``). A shift belongs to the day it starts on, so a holiday cancels the night
  shift that starts on it and not the one that ends on it.
* Wall-clock, not elapsed time: 09:00-17:00 is 8 hours on most days; a shift over a daylight
  saving switch is an hour shorter or longer; a shift start that does not exist that day (02:30
  on the spring-forward night) opens at the switch; a wall time that happens twice (01:30 on the
  fall-back night) is open both times.
* An empty weekly schedule means "no schedule": open every minute of every day (holidays and
  closures still apply), the rule reps have followed since before calendars existed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

UTC: Final = dt.UTC
MINUTES_PER_DAY: Final = 1440
MAX_SHIFT_END: Final = 2 * MINUTES_PER_DAY
# How far ahead a search for open time goes before it decides the calendar never opens.
SEARCH_HORIZON_DAYS: Final = 400
_WINDOW: Final = dt.timedelta(days=14)
_OFFSET_PROBE: Final = dt.timedelta(hours=12)
_TICK: Final = dt.timedelta(microseconds=1)

Shift = tuple[int, int]
WeeklyHours = Mapping[int, tuple[Shift, ...]]  # weekday (0 = Monday) -> shifts
ALWAYS: Final[dict[int, tuple[Shift, ...]]] = {day: ((0, MINUTES_PER_DAY),) for day in range(7)}


class NeverOpenError(ValueError):
    """The calendar has no open minute within ``SEARCH_HORIZON_DAYS`` of the start."""


@dataclass(frozen=True)
class BusinessCalendar:
    """When someone can act: a zone, weekly shifts, closed dates and closed intervals.

    ``timezone``: IANA name; blank or unknown is UTC (routing must never fail on a bad zone).
    ``weekly``: weekday (0 = Monday) -> shifts; string keys "0".."6" are accepted; empty = always.
    ``closed_dates``: local dates with no shift starting on them (public holidays, company days).
    ``closures``: aware ``(start, end)`` intervals, end exclusive, with nothing open (absences,
    a two-hour appointment).
    ``holiday_names``: optional date -> name, for explanations only.
    """

    timezone: str = "UTC"
    weekly: WeeklyHours = field(default_factory=dict)
    closed_dates: frozenset[dt.date] = frozenset()
    closures: tuple[tuple[dt.datetime, dt.datetime], ...] = ()
    holiday_names: Mapping[dt.date, str] = field(default_factory=dict)


@lru_cache(maxsize=512)
def zone(name: str) -> dt.tzinfo:
    """The named ZoneInfo; UTC when the name is blank, unknown or malformed."""
    if not isinstance(name, str) or not name.strip():
        return UTC
    try:
        return ZoneInfo(name.strip())
    except Exception:  # ZoneInfoNotFoundError, ValueError on "../x", OSError on odd paths
        return UTC


def aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _shifts(weekly: WeeklyHours, weekday: int) -> tuple[Shift, ...]:
    ranges = weekly.get(weekday)
    if ranges is None:
        ranges = weekly.get(str(weekday), ())  # type: ignore[call-overload]
    good = []
    for pair in ranges or ():
        try:
            start, end = int(pair[0]), int(pair[1])
        except (TypeError, ValueError, IndexError):
            continue  # a malformed shift is no working time, not a crash
        if 0 <= start < end <= MAX_SHIFT_END:
            good.append((start, end))
    return tuple(good)


def _weekly(calendar: BusinessCalendar) -> WeeklyHours:
    return calendar.weekly if calendar.weekly else ALWAYS


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    return aware(moment).astimezone(UTC).replace(tzinfo=None)


def _offset(tz: dt.tzinfo, naive_utc: dt.datetime) -> dt.timedelta:
    return naive_utc.replace(tzinfo=UTC).astimezone(tz).utcoffset() or dt.timedelta(0)


def _offset_pieces(tz: dt.tzinfo, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime, dt.timedelta]]:
    """``[start, end)`` (naive UTC) cut where the zone's UTC offset changes: (from, to, offset).

    Offsets are probed every 12 hours and a change is located to the microsecond by bisection;
    no zone has changed its offset twice within 12 hours since the 1940s (the property tests
    cover 2024-2030).
    """
    pieces = []
    cursor, offset = start, _offset(tz, start)
    probe = start
    while probe < end:
        nxt = min(probe + _OFFSET_PROBE, end)
        # offset(probe) is the current one; look at nxt itself, or at the last microsecond
        # of the range, so a switch exactly on a probe is found in the window before it.
        span = (nxt - probe) // _TICK if nxt < end else (nxt - probe) // _TICK - 1
        if span > 0 and _offset(tz, probe + span * _TICK) != offset:
            low, high = 0, span  # offset(probe + low) is the current one, offset(probe + high) not
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(tz, probe + middle * _TICK) == offset:
                    low = middle
                else:
                    high = middle
            high = probe + high * _TICK
            pieces.append((cursor, high, offset))
            cursor, offset = high, _offset(tz, high)
        probe = nxt
    pieces.append((cursor, end, offset))
    return [piece for piece in pieces if piece[0] < piece[1]]


def _wall_shifts(calendar: BusinessCalendar, first: dt.date, last: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """Shifts starting on local days ``first``..``last`` as merged naive wall-clock intervals."""
    weekly = _weekly(calendar)
    out: list[tuple[dt.datetime, dt.datetime]] = []
    day = first
    while day <= last:
        if day not in calendar.closed_dates:
            midnight = dt.datetime.combine(day, dt.time.min)
            for start, end in _shifts(weekly, day.weekday()):
                out.append((midnight + dt.timedelta(minutes=start), midnight + dt.timedelta(minutes=end)))
        day += dt.timedelta(days=1)
    return _merge(out)


def _merge(intervals: Iterable[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for start, end in sorted(intervals):
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _subtract(intervals: list[tuple[dt.datetime, dt.datetime]], holes: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    if not holes:
        return intervals
    out = []
    for start, end in intervals:
        pieces = [(start, end)]
        for hole_start, hole_end in holes:
            next_pieces = []
            for a, b in pieces:
                if hole_end <= a or hole_start >= b:
                    next_pieces.append((a, b))
                    continue
                if a < hole_start:
                    next_pieces.append((a, hole_start))
                if hole_end < b:
                    next_pieces.append((hole_end, b))
            pieces = next_pieces
        out.extend(pieces)
    return out


def _open_naive(calendar: BusinessCalendar, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """Open intervals within naive-UTC ``[start, end)``, sorted and merged, naive UTC."""
    if start >= end:
        return []
    tz = zone(calendar.timezone)
    found: list[tuple[dt.datetime, dt.datetime]] = []
    for piece_start, piece_end, offset in _offset_pieces(tz, start, end):
        wall_start, wall_end = piece_start + offset, piece_end + offset
        # A shift may start up to a day before the wall date it covers.
        for shift_start, shift_end in _wall_shifts(calendar, wall_start.date() - dt.timedelta(days=1), wall_end.date()):
            a, b = max(shift_start, wall_start), min(shift_end, wall_end)
            if a < b:
                found.append((a - offset, b - offset))
    holes = _merge((_naive_utc(a), _naive_utc(b)) for a, b in calendar.closures)
    return _merge(_subtract(_merge(found), holes))


def open_intervals(calendar: BusinessCalendar, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """The open stretches of ``[start, end)`` as aware UTC ``(from, to)`` pairs, sorted, merged."""
    return [(a.replace(tzinfo=UTC), b.replace(tzinfo=UTC))
            for a, b in _open_naive(calendar, _naive_utc(start), _naive_utc(end))]  # fmt: skip


def is_open(calendar: BusinessCalendar, instant: dt.datetime) -> bool:
    """Whether ``instant`` is open: the module docstring's rule read directly off the local
    wall clock (constant time; routing asks this for every candidate)."""
    moment = aware(instant)
    if calendar.closures and any(aware(a) <= moment < aware(b) for a, b in calendar.closures):
        return False
    wall = moment.astimezone(zone(calendar.timezone))
    seconds = (wall.hour * 60 + wall.minute) * 60 + wall.second + wall.microsecond / 1_000_000
    weekly = _weekly(calendar)
    today = wall.date()
    for back, day in ((0, today), (1, today - dt.timedelta(days=1))):
        if day in calendar.closed_dates:
            continue
        at = seconds + back * MINUTES_PER_DAY * 60  # seconds since that day's midnight, wall clock
        for start, end in _shifts(weekly, day.weekday()):
            if start * 60 <= at < end * 60:
                return True
    return False


def closed_reason(calendar: BusinessCalendar, instant: dt.datetime) -> str | None:
    """Why ``instant`` is closed: ``"closure"``, ``"holiday"``, ``"hours"``; None when open.

    "holiday" means the instant would be inside a shift were it not for a closed date.
    """
    if is_open(calendar, instant):
        return None
    moment = aware(instant)
    if any(aware(a) <= moment < aware(b) for a, b in calendar.closures):
        return "closure"
    without_holidays = BusinessCalendar(timezone=calendar.timezone, weekly=calendar.weekly)
    return "holiday" if is_open(without_holidays, instant) else "hours"


def _scan(calendar: BusinessCalendar, start: dt.datetime) -> Iterable[tuple[dt.datetime, dt.datetime]]:
    """Open intervals from ``start`` on (naive UTC), window by window, up to the horizon."""
    cursor = start
    limit = start + dt.timedelta(days=SEARCH_HORIZON_DAYS)
    carry: tuple[dt.datetime, dt.datetime] | None = None
    window = dt.timedelta(hours=12)  # most answers are near: start small, then widen
    while cursor < limit:
        window_end = min(cursor + window, limit)
        window = min(window * 2, _WINDOW)
        for a, b in _open_naive(calendar, cursor, window_end):
            if carry is not None:
                if a == carry[1]:  # the same stretch, cut by the window edge
                    carry = (carry[0], b)
                    continue
                yield carry
            carry = (a, b)
        cursor = window_end
    if carry is not None:
        yield carry


def next_open(calendar: BusinessCalendar, instant: dt.datetime) -> dt.datetime | None:
    """``instant`` when open, else the first open instant after it (aware UTC).

    None when nothing opens within ``SEARCH_HORIZON_DAYS`` (an empty calendar, all days closed).
    """
    for a, _b in _scan(calendar, _naive_utc(instant)):
        return a.replace(tzinfo=UTC)
    return None


def next_close(calendar: BusinessCalendar, instant: dt.datetime) -> dt.datetime | None:
    """The end of the open stretch containing ``instant`` (aware UTC); None when closed now or
    when the calendar stays open past the search horizon."""
    moment = _naive_utc(instant)
    for a, b in _scan(calendar, moment):
        if a > moment:
            return None
        limit = moment + dt.timedelta(days=SEARCH_HORIZON_DAYS)
        return b.replace(tzinfo=UTC) if b < limit else None
    return None


def business_minutes_between(calendar: BusinessCalendar, start: dt.datetime, end: dt.datetime) -> float:
    """Open minutes in ``[start, end)``; negative when ``end`` is before ``start``."""
    a, b = _naive_utc(start), _naive_utc(end)
    if b < a:
        return -business_minutes_between(calendar, end, start)
    total = dt.timedelta(0)
    cursor = a
    while cursor < b:
        window_end = min(cursor + _WINDOW * 4, b)
        for x, y in _open_naive(calendar, cursor, window_end):
            total += y - x
        cursor = window_end
    return total.total_seconds() / 60


def add_business_minutes(calendar: BusinessCalendar, start: dt.datetime, minutes: float) -> dt.datetime:
    """The earliest instant ``t >= start`` with ``minutes`` open minutes in ``[start, t)``.

    ``minutes`` >= 0 (0 returns ``start``). The result is the end of the last minute counted,
    so Friday 16:50 plus 10 minutes on a 09:00-17:00 calendar is Friday 17:00, and plus 144 is
    Monday 11:14. Raises ``ValueError`` for negative minutes and ``NeverOpenError`` when the
    calendar does not provide them within ``SEARCH_HORIZON_DAYS`` of open time search.
    """
    if minutes < 0:
        raise ValueError("minutes must be >= 0")
    begin = aware(start)
    if minutes == 0:
        return begin
    remaining = dt.timedelta(minutes=minutes)
    cursor = _naive_utc(begin)
    while True:
        progressed = False
        for a, b in _scan(calendar, cursor):
            progressed = True
            if b - a >= remaining:
                return (a + remaining).replace(tzinfo=UTC)
            remaining -= b - a
            cursor = b
        if not progressed:
            raise NeverOpenError(f"{calendar.timezone} calendar never opens within {SEARCH_HORIZON_DAYS} days")


def schedule(calendar: BusinessCalendar, start: dt.datetime, end: dt.datetime) -> list[tuple[str, str]]:
    """Open intervals of ``[start, end)`` as ISO 8601 UTC strings, for pages and scripts."""
    return [(a.isoformat().replace("+00:00", "Z"), b.isoformat().replace("+00:00", "Z"))
            for a, b in open_intervals(calendar, start, end)]  # fmt: skip
