"""A one-rep routing world for calendar tests: New York, Monday to Friday 09:00-17:00."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from calendars.models import BusinessCalendar, CompanyDayOff
from reps.models import Pool, Rep
from routing import services
from routing.models import Lead, Rule, Segment
from tests.factories import LeadFactory, PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, SegmentFactory

NY = ZoneInfo("America/New_York")
WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=NY)


@dataclass
class World:
    segment: Segment
    rule: Rule
    pool: Pool
    rep: Rep


def make_world(
    *, sla_clock: str = "rep", calendar: BusinessCalendar | None = None, working_hours: dict | None = None,
    rep_calendar: BusinessCalendar | None = None, requirements: dict | None = None,
) -> World:  # fmt: skip
    """Segment "inbound" (SLA 240 min, deadline at 60 %), one rule requiring working hours, one
    rep in New York working Monday to Friday 09:00-17:00, fallback: holding."""
    segment = SegmentFactory(slug="inbound", name="Inbound", sla_minutes=240, accept_fraction=0.6,
                             sla_clock=sla_clock, calendar=calendar)  # fmt: skip
    rep = RepFactory(display_name="Nina New York", timezone="America/New_York",
                     working_hours=WEEKDAYS_9_TO_5 if working_hours is None else working_hours,
                     calendar=rep_calendar)  # fmt: skip
    pool = PoolFactory(name="Inbound pool")
    PoolMemberFactory(pool=pool, rep=rep)
    rule = RuleFactory(name="Inbound, working hours only", pool=pool,
                       requirements=requirements if requirements is not None else {"working_hours": True},
                       fallback=[{"kind": "holding"}])  # fmt: skip
    services.rule_publish(note="calendar test world")
    return World(segment=segment, rule=rule, pool=pool, rep=rep)


def us_calendar(*, name: str = "New York office", days_off: tuple[dt.date, ...] = ()) -> BusinessCalendar:
    calendar = BusinessCalendar.objects.create(
        name=name, timezone="America/New_York", weekly_hours=WEEKDAYS_9_TO_5,
        holiday_country="US", holiday_subdivision="NY",
    )  # fmt: skip
    for day in days_off:
        CompanyDayOff.objects.create(calendar=calendar, date=day, name="Company day off")
    return calendar


def new_lead(*, at: dt.datetime, **fields: object) -> Lead:
    return LeadFactory(received_at=at, **fields)


def route(at: dt.datetime) -> None:
    services.leads_route_all_pending(now=at)
