"""SLA clocks: how an offer's deadline and a lead's SLA are counted. Pure (no ORM, no clock).

A segment's ``sla_clock`` says which time its SLA minutes are:

* ``calendar``: wall-clock minutes, nights and weekends included;
* ``segment``: open minutes of the segment's business calendar;
* ``rep`` (the default): open minutes of the offered rep's working time (their hours or the
  calendar they follow, their holidays, their known absences). A rep without any schedule is
  always open, so for them this is wall-clock time.

The offer deadline is ``sla_minutes * accept_fraction`` of that time after the offer is made:
a lead offered on Friday 16:50 to a rep who works 09:00-17:00, with a 240-minute SLA and the
deadline at 60 %, is due 144 working minutes later, on Monday at 11:14.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Final

from routing.engine import business_time as bt

DEFAULT_WINDOW_MINUTES: Final = 60.0  # a lead with no segment


class SlaClock(StrEnum):
    CALENDAR = "calendar"
    SEGMENT = "segment"
    REP = "rep"


class DeliveryMode(StrEnum):
    """How a segment's leads reach a rep, and so what stops their SLA clock.

    ``offer``: the rep accepts or declines; the clock stops at the accept. ``assign``: the rep
    owns the lead at once; the clock stops at their first touch (a call or email logged in the
    CRM, or the inbox). Either way the deadline is the one above, and a miss moves the lead down
    the same escalation chain."""

    OFFER = "offer"
    ASSIGN = "assign"


DELIVERY_MODE_LABELS: Final[dict[DeliveryMode, str]] = {
    DeliveryMode.OFFER: "Offer: the rep accepts or declines; the SLA stops at the accept",
    DeliveryMode.ASSIGN: "Assign: the rep owns it at once; the SLA stops at the first touch",
}


SLA_CLOCK_LABELS: Final[dict[SlaClock, str]] = {
    SlaClock.CALENDAR: "Calendar time (nights and weekends count)",
    SlaClock.SEGMENT: "Business time (the segment's calendar)",
    SlaClock.REP: "Business time (the offered rep's working hours)",
}


def clock_of(value: object) -> SlaClock:
    """The SlaClock named by ``value``; unknown or blank values are the default, ``rep``."""
    try:
        return SlaClock(str(value))
    except ValueError:
        return SlaClock.REP


def sla_calendar(
    clock: SlaClock | str, *, segment_calendar: bt.BusinessCalendar | None, rep_calendar: bt.BusinessCalendar | None
) -> bt.BusinessCalendar | None:
    """The calendar a clock counts on; None means wall-clock time (``calendar`` mode, or a
    business mode whose calendar is missing)."""
    match clock_of(clock):
        case SlaClock.SEGMENT:
            return segment_calendar
        case SlaClock.REP:
            return rep_calendar
    return None


def add_minutes(calendar: bt.BusinessCalendar | None, start: dt.datetime, minutes: float) -> dt.datetime:
    """``start`` plus ``minutes`` of the clock's time. A calendar that never opens within the
    search horizon counts wall-clock time rather than producing no deadline at all."""
    if calendar is None or not (calendar.weekly or calendar.closed_dates or calendar.closures):
        return bt.aware(start) + dt.timedelta(minutes=minutes)  # no schedule: always open
    try:
        return bt.add_business_minutes(calendar, start, minutes)
    except bt.NeverOpenError:
        return bt.aware(start) + dt.timedelta(minutes=minutes)


def minutes_between(calendar: bt.BusinessCalendar | None, start: dt.datetime, end: dt.datetime) -> float:
    """Minutes of the clock's time in ``[start, end)``."""
    if calendar is None or not (calendar.weekly or calendar.closed_dates or calendar.closures):
        return (bt.aware(end) - bt.aware(start)).total_seconds() / 60
    return bt.business_minutes_between(calendar, start, end)


def offer_window_minutes(sla_minutes: int | None, accept_fraction: float | None) -> float:
    if not sla_minutes:
        return DEFAULT_WINDOW_MINUTES
    return sla_minutes * (accept_fraction if accept_fraction else 1.0)


def offer_deadline(
    *, sla_minutes: int | None, accept_fraction: float | None, clock: SlaClock | str,
    segment_calendar: bt.BusinessCalendar | None, rep_calendar: bt.BusinessCalendar | None, now: dt.datetime,
) -> dt.datetime:  # fmt: skip
    """When an offer made at ``now`` expires: ``sla_minutes * accept_fraction`` minutes of the
    segment's clock (60 wall-clock minutes for a lead with no segment)."""
    calendar = sla_calendar(clock, segment_calendar=segment_calendar, rep_calendar=rep_calendar)
    return add_minutes(calendar, now, offer_window_minutes(sla_minutes, accept_fraction))
