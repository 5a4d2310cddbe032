"""Business-time arithmetic against a minute-stepping reference, over DST switches and year ends.

``LEADOPS_BUSINESS_TIME_EXAMPLES`` sets hypothesis' ``max_examples`` per property (CI default 60;
the long run reported on the branch used 3000).
"""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from routing.engine.business_time import (
    BusinessCalendar,
    NeverOpenError,
    add_business_minutes,
    business_minutes_between,
    closed_reason,
    is_open,
    next_close,
    next_open,
    open_intervals,
)

EXAMPLES = int(os.environ.get("LEADOPS_BUSINESS_TIME_EXAMPLES", "60"))
PROPS = settings(max_examples=EXAMPLES, deadline=None, database=None)
MINUTE = dt.timedelta(minutes=1)
UTC = dt.UTC
NY = ZoneInfo("America/New_York")
NINE_TO_FIVE = {day: ((540, 1020),) for day in range(5)}

# --- the reference: one minute at a time ------------------------------------------------------


def ref_is_open(cal: BusinessCalendar, instant: dt.datetime) -> bool:
    """The module docstring's rule, read literally."""
    if any(a <= instant < b for a, b in cal.closures):
        return False
    wall = instant.astimezone(ZoneInfo(cal.timezone)).replace(tzinfo=None)
    weekly = cal.weekly or {d: ((0, 1440),) for d in range(7)}
    for day in (wall.date(), wall.date() - dt.timedelta(days=1)):
        if day in cal.closed_dates:
            continue
        midnight = dt.datetime.combine(day, dt.time())
        for start, end in weekly.get(day.weekday(), ()):
            if midnight + dt.timedelta(minutes=start) <= wall < midnight + dt.timedelta(minutes=end):
                return True
    return False


def ref_between(cal: BusinessCalendar, a: dt.datetime, b: dt.datetime) -> int:
    count, t = 0, a
    while t < b:
        count += ref_is_open(cal, t)
        t += MINUTE
    return count


def ref_add(cal: BusinessCalendar, start: dt.datetime, minutes: int, *, limit_days: int = 12) -> dt.datetime | None:
    """None when the reference would have to step further than ``limit_days``."""
    if minutes == 0:
        return start
    t, count, stop = start, 0, start + dt.timedelta(days=limit_days)
    while t < stop:
        if ref_is_open(cal, t):
            count += 1
            if count == minutes:
                return t + MINUTE
        t += MINUTE
    return None


# --- generators -----------------------------------------------------------------------------

ZONES = [
    "America/New_York", "America/Los_Angeles", "Europe/Berlin", "Europe/London", "UTC",
    "Australia/Sydney", "Australia/Lord_Howe",  # a 30-minute DST shift
    "America/St_Johns", "Asia/Kolkata", "Asia/Kathmandu", "Pacific/Chatham",
]  # fmt: skip
# Daylight-saving switches (US, EU, UK, Australia incl. Lord Howe's 30 minutes, Newfoundland,
# Chatham) and year ends, each with the zone it happens in, in UTC.
SWITCHES = [
    ("America/New_York", dt.datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
    ("America/New_York", dt.datetime(2026, 11, 1, 6, 0, tzinfo=UTC)),
    ("America/Los_Angeles", dt.datetime(2025, 3, 9, 10, 0, tzinfo=UTC)),
    ("America/Los_Angeles", dt.datetime(2027, 11, 7, 9, 0, tzinfo=UTC)),
    ("Europe/Berlin", dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
    ("Europe/Berlin", dt.datetime(2026, 10, 25, 1, 0, tzinfo=UTC)),
    ("Europe/London", dt.datetime(2027, 10, 31, 1, 0, tzinfo=UTC)),
    ("Australia/Sydney", dt.datetime(2026, 4, 4, 16, 0, tzinfo=UTC)),
    ("Australia/Lord_Howe", dt.datetime(2026, 4, 4, 15, 0, tzinfo=UTC)),
    ("America/St_Johns", dt.datetime(2026, 3, 8, 5, 30, tzinfo=UTC)),
    ("Pacific/Chatham", dt.datetime(2026, 9, 26, 14, 0, tzinfo=UTC)),
    ("America/New_York", dt.datetime(2027, 1, 1, 5, 0, tzinfo=UTC)),
    ("Europe/Berlin", dt.datetime(2026, 12, 31, 23, 0, tzinfo=UTC)),
    ("Asia/Kathmandu", dt.datetime(2024, 12, 31, 18, 15, tzinfo=UTC)),
]  # fmt: skip

# Shift starts favour the awkward wall times: midnight, 01:30 (repeated on fall-back nights),
# 02:30 (missing on spring-forward nights) and late evening, plus any minute.
shift_start = st.one_of(st.sampled_from([0, 60, 90, 120, 150, 165, 180, 540, 1320, 1410, 1439]), st.integers(0, 1439))
shift = st.tuples(shift_start, st.one_of(st.sampled_from([1, 30, 60, 90, 480, 600, 1440]), st.integers(1, 1440))).map(
    lambda pair: (pair[0], pair[0] + pair[1])
)
weekly = st.one_of(
    st.just({}),
    st.just(NINE_TO_FIVE),
    st.dictionaries(st.integers(0, 6), st.lists(shift, min_size=1, max_size=2).map(tuple), min_size=1),
    # the same shifts every day, so the switch day always has some
    st.lists(shift, min_size=1, max_size=2).map(lambda shifts: dict.fromkeys(range(7), tuple(shifts))),
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[BusinessCalendar, dt.datetime]:
    """A calendar and a start: mostly within a day and a half of a switch in the same zone."""
    if draw(st.integers(0, 4)):
        tz, switch = draw(st.sampled_from(SWITCHES))
        start = switch + dt.timedelta(minutes=draw(st.integers(-36 * 60, 36 * 60)))
    else:
        tz = draw(st.sampled_from(ZONES))
        start = dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=draw(st.integers(0, 6 * 366 * 1440)))
    local_day = start.astimezone(ZoneInfo(tz)).date()
    closed = draw(st.frozensets(st.integers(-2, 6).map(lambda n: local_day + dt.timedelta(days=n)), max_size=3))
    closures = []
    for _ in range(draw(st.integers(0, 2))):
        begin = start + dt.timedelta(minutes=draw(st.integers(-1440, 5 * 1440)))
        closures.append((begin, begin + dt.timedelta(minutes=draw(st.integers(1, 600)))))
    cal = BusinessCalendar(timezone=tz, weekly=draw(weekly), closed_dates=closed, closures=tuple(closures))
    return cal, start


# --- properties -----------------------------------------------------------------------------


@PROPS
@given(case=cases(), seconds=st.integers(0, 59))
def test_is_open_agrees_with_the_reference(case: tuple[BusinessCalendar, dt.datetime], seconds: int) -> None:
    cal, start = case
    for step in range(0, 4 * 1440, 97):  # a sweep over four days, odd stride
        instant = start + dt.timedelta(minutes=step, seconds=seconds)
        assert is_open(cal, instant) == ref_is_open(cal, instant - dt.timedelta(seconds=seconds)), instant


@PROPS
@given(case=cases(), cuts=st.lists(st.tuples(st.integers(0, 3 * 1440), st.integers(0, 3 * 1440)), min_size=1, max_size=8))
def test_minutes_between_agrees_with_the_reference(
    case: tuple[BusinessCalendar, dt.datetime], cuts: list[tuple[int, int]]
) -> None:
    cal, start = case
    flags = [ref_is_open(cal, start + k * MINUTE) for k in range(3 * 1440)]
    prefix = [0]
    for flag in flags:
        prefix.append(prefix[-1] + flag)
    for a, b in cuts:
        expected = prefix[max(a, b)] - prefix[min(a, b)]
        sign = 1 if b >= a else -1
        assert business_minutes_between(cal, start + a * MINUTE, start + b * MINUTE) == sign * expected, (a, b)
    # The open stretches themselves, minute for minute.
    opened = [False] * len(flags)
    for x, y in open_intervals(cal, start, start + len(flags) * MINUTE):
        for k in range(int((x - start) / MINUTE), int((y - start) / MINUTE)):
            opened[k] = True
    assert opened == flags


@PROPS
@given(case=cases(), minutes=st.integers(0, 900))
def test_add_agrees_with_the_reference(case: tuple[BusinessCalendar, dt.datetime], minutes: int) -> None:
    cal, start = case
    expected = ref_add(cal, start, minutes)
    assume(expected is not None)
    assert add_business_minutes(cal, start, minutes) == expected


@PROPS
@given(case=cases(), first=st.integers(0, 600), second=st.integers(0, 600))
def test_add_is_additive_and_monotonic(case: tuple[BusinessCalendar, dt.datetime], first: int, second: int) -> None:
    cal, start = case
    try:
        whole = add_business_minutes(cal, start, first + second)
    except NeverOpenError:
        assume(False)
    part = add_business_minutes(cal, start, first)
    assert add_business_minutes(cal, part, second) == whole
    assert start <= part <= whole
    assert business_minutes_between(cal, start, whole) == first + second
    later_start = start + dt.timedelta(minutes=second)
    assert add_business_minutes(cal, later_start, first) >= part


@PROPS
@given(case=cases(), a=st.integers(0, 3000), b=st.integers(0, 3000))
def test_between_is_additive_and_bounded(case: tuple[BusinessCalendar, dt.datetime], a: int, b: int) -> None:
    cal, start = case
    middle, end = start + dt.timedelta(minutes=min(a, b)), start + dt.timedelta(minutes=max(a, b))
    total = business_minutes_between(cal, start, end)
    assert total == business_minutes_between(cal, start, middle) + business_minutes_between(cal, middle, end)
    assert 0 <= total <= (end - start).total_seconds() / 60


@PROPS
@given(case=cases())
def test_next_open_and_next_close_bracket_the_open_stretch(case: tuple[BusinessCalendar, dt.datetime]) -> None:
    cal, start = case
    opening = next_open(cal, start)
    assume(opening is not None and opening - start <= dt.timedelta(days=10))
    assert is_open(cal, opening)
    assert ref_between(cal, start, opening) == 0  # nothing open before it
    if opening > start:
        assert not is_open(cal, opening - MINUTE)
    closing = next_close(cal, opening)
    if closing is not None:
        assert closing > opening and not is_open(cal, closing)
        assert is_open(cal, closing - MINUTE)
    assert next_close(cal, start) is None or is_open(cal, start)


# --- hand-computed cases ----------------------------------------------------------------------


def test_the_issue_friday_lead_gets_a_monday_deadline() -> None:
    """Mon-Fri 09:00-17:00 New York; 240 min SLA at 60 % = 144 working minutes from Fri 16:50:
    10 minutes on Friday and 134 on Monday, so Monday 11:14."""
    cal = BusinessCalendar(timezone="America/New_York", weekly=NINE_TO_FIVE)
    arrived = dt.datetime(2026, 11, 27, 16, 50, tzinfo=NY)
    assert add_business_minutes(cal, arrived, 240 * 0.6) == dt.datetime(2026, 11, 30, 11, 14, tzinfo=NY)
    assert add_business_minutes(cal, arrived, 10) == dt.datetime(2026, 11, 27, 17, 0, tzinfo=NY)


def test_a_night_shift_across_midnight_and_the_us_fall_back() -> None:
    """22:00-06:00 on Saturday 31 Oct 2026 in New York lasts 9 hours: 01:00-02:00 happens twice."""
    cal = BusinessCalendar(timezone="America/New_York", weekly={5: ((1320, 1800),)})
    start = dt.datetime(2026, 10, 31, 22, 0, tzinfo=NY)
    end = dt.datetime(2026, 11, 1, 6, 0, tzinfo=NY)
    assert business_minutes_between(cal, start - dt.timedelta(hours=5), end + dt.timedelta(hours=5)) == 9 * 60
    assert open_intervals(cal, start, end + dt.timedelta(days=1)) == [(start.astimezone(UTC), end.astimezone(UTC))]


def test_a_shift_starting_in_the_spring_forward_gap_opens_at_the_switch() -> None:
    """02:30-04:00 on 8 Mar 2026 in New York: 02:00-03:00 does not exist, so 03:00-04:00 EDT."""
    cal = BusinessCalendar(timezone="America/New_York", weekly={6: ((150, 240),)})
    day = dt.datetime(2026, 3, 8, tzinfo=UTC)
    assert open_intervals(cal, day, day + dt.timedelta(days=1)) == [
        (dt.datetime(2026, 3, 8, 7, 0, tzinfo=UTC), dt.datetime(2026, 3, 8, 8, 0, tzinfo=UTC))
    ]


def test_a_holiday_cancels_the_night_shift_that_starts_on_it_not_the_one_that_ends_on_it() -> None:
    cal = BusinessCalendar(timezone="Europe/Berlin", weekly={d: ((1320, 1800),) for d in range(7)},
                           closed_dates=frozenset({dt.date(2026, 12, 31)}))  # fmt: skip
    berlin = ZoneInfo("Europe/Berlin")
    assert is_open(cal, dt.datetime(2026, 12, 31, 3, 0, tzinfo=berlin))  # Dec 30's shift
    assert not is_open(cal, dt.datetime(2026, 12, 31, 23, 0, tzinfo=berlin))
    assert not is_open(cal, dt.datetime(2027, 1, 1, 3, 0, tzinfo=berlin))
    assert closed_reason(cal, dt.datetime(2026, 12, 31, 23, 0, tzinfo=berlin)) == "holiday"
    assert closed_reason(cal, dt.datetime(2026, 12, 31, 12, 0, tzinfo=berlin)) == "hours"


def test_a_two_hour_appointment_pauses_the_clock() -> None:
    monday_ten = dt.datetime(2026, 11, 30, 10, 0, tzinfo=NY)
    cal = BusinessCalendar(timezone="America/New_York", weekly=NINE_TO_FIVE,
                           closures=((monday_ten, monday_ten + dt.timedelta(hours=2)),))  # fmt: skip
    nine = monday_ten - dt.timedelta(hours=1)
    assert add_business_minutes(cal, nine, 90) == dt.datetime(2026, 11, 30, 12, 30, tzinfo=NY)
    assert closed_reason(cal, monday_ten) == "closure"
    assert next_open(cal, monday_ten) == monday_ten + dt.timedelta(hours=2)


def test_a_calendar_that_never_opens_says_so() -> None:
    cal = BusinessCalendar(timezone="UTC", weekly={0: ((0, 0),)})  # a malformed shift: no time
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    assert next_open(cal, start) is None
    with pytest.raises(NeverOpenError):
        add_business_minutes(cal, start, 1)
    with pytest.raises(ValueError):
        add_business_minutes(cal, start, -1)


def test_an_unknown_zone_is_utc_and_an_empty_week_is_always_open() -> None:
    cal = BusinessCalendar(timezone="Not/AZone")
    start = dt.datetime(2026, 6, 1, 3, 7, tzinfo=UTC)
    assert add_business_minutes(cal, start, 90) == start + dt.timedelta(minutes=90)


@pytest.mark.parametrize("tz,switch", SWITCHES, ids=[f"{tz}-{moment:%Y%m%d}" for tz, moment in SWITCHES])
@pytest.mark.parametrize("shifts", [((0, 1440),), ((90, 180), (150, 300)), ((165, 255), (1320, 1830))],
                         ids=["all-day", "small-hours", "night"])  # fmt: skip
def test_every_switch_minute_by_minute(tz: str, switch: dt.datetime, shifts: tuple[tuple[int, int], ...]) -> None:
    """Deterministic sweep: shifts at the awkward wall times, around every switch and year end."""
    cal = BusinessCalendar(timezone=tz, weekly=dict.fromkeys(range(7), shifts))
    start = switch - dt.timedelta(hours=30)
    flags = [ref_is_open(cal, start + k * MINUTE) for k in range(60 * 60)]
    opened = [False] * len(flags)
    for x, y in open_intervals(cal, start, start + len(flags) * MINUTE):
        assert (x - start) % MINUTE == dt.timedelta(0) and (y - start) % MINUTE == dt.timedelta(0)
        for k in range((x - start) // MINUTE, (y - start) // MINUTE):
            opened[k] = True
    assert opened == flags
    assert business_minutes_between(cal, start, start + len(flags) * MINUTE) == sum(flags)
