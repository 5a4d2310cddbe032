"""SLA clocks: which calendar a deadline counts on."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from routing.engine import business_time as bt
from routing.engine.sla import SlaClock, clock_of, minutes_between, offer_deadline

NY = ZoneInfo("America/New_York")
NINE_TO_FIVE = bt.BusinessCalendar(timezone="America/New_York", weekly={d: ((540, 1020),) for d in range(5)})
FRIDAY = dt.datetime(2026, 11, 27, 16, 50, tzinfo=NY)


@pytest.mark.parametrize(("clock", "segment_calendar", "rep_calendar", "expected"), [
    (SlaClock.REP, None, NINE_TO_FIVE, dt.datetime(2026, 11, 30, 11, 14, tzinfo=NY)),
    (SlaClock.REP, NINE_TO_FIVE, None, dt.datetime(2026, 11, 27, 19, 14, tzinfo=NY)),  # rep without calendar
    (SlaClock.SEGMENT, NINE_TO_FIVE, None, dt.datetime(2026, 11, 30, 11, 14, tzinfo=NY)),
    (SlaClock.CALENDAR, NINE_TO_FIVE, NINE_TO_FIVE, dt.datetime(2026, 11, 27, 19, 14, tzinfo=NY)),
    (SlaClock.REP, None, bt.BusinessCalendar(), dt.datetime(2026, 11, 27, 19, 14, tzinfo=NY)),  # no hours: always
])  # fmt: skip
def test_the_deadline_counts_on_the_segment_clock(clock, segment_calendar, rep_calendar, expected) -> None:  # noqa: ANN001
    assert offer_deadline(sla_minutes=240, accept_fraction=0.6, clock=clock, segment_calendar=segment_calendar,
                          rep_calendar=rep_calendar, now=FRIDAY) == expected  # fmt: skip


def test_no_segment_means_sixty_wall_clock_minutes_and_unknown_clocks_are_the_rep_clock() -> None:
    assert offer_deadline(sla_minutes=None, accept_fraction=None, clock="calendar", segment_calendar=None,
                          rep_calendar=None, now=FRIDAY) == FRIDAY + dt.timedelta(minutes=60)  # fmt: skip
    assert clock_of("lunar") == SlaClock.REP and clock_of("segment") == SlaClock.SEGMENT


def test_a_calendar_that_never_opens_falls_back_to_wall_clock_time() -> None:
    closed = bt.BusinessCalendar(weekly={0: ((5, 5),)})
    assert offer_deadline(sla_minutes=100, accept_fraction=1.0, clock="rep", segment_calendar=None,
                          rep_calendar=closed, now=FRIDAY) == FRIDAY + dt.timedelta(minutes=100)  # fmt: skip


def test_minutes_between_on_each_clock() -> None:
    monday = dt.datetime(2026, 11, 30, 9, 20, tzinfo=NY)
    assert minutes_between(NINE_TO_FIVE, FRIDAY, monday) == 30
    assert minutes_between(None, FRIDAY, monday) == 64 * 60 + 30
