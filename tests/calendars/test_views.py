"""The calendars page and the calendar editor of the ops console."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from calendars.models import BusinessCalendar, CompanyDayOff
from calendars.selectors import upcoming_holidays
from reps.models import Role
from tests.calendars.helpers import us_calendar
from tests.factories import user_with_role

pytestmark = pytest.mark.django_db


def _client(role: Role) -> Client:
    client = Client()
    client.force_login(user_with_role(role))
    return client


def test_next_holidays_mix_public_holidays_and_company_days_off() -> None:
    calendar = us_calendar(days_off=(dt.date(2026, 11, 27),))
    CompanyDayOff.objects.filter(calendar=calendar).update(name="Day after Thanksgiving")
    assert upcoming_holidays(calendar, today=dt.date(2026, 11, 20), count=3) == [
        (dt.date(2026, 11, 26), "Thanksgiving Day"),
        (dt.date(2026, 11, 27), "Day after Thanksgiving"),
        (dt.date(2026, 12, 25), "Christmas Day"),
    ]


def test_the_calendars_page_lists_hours_open_state_and_next_holidays() -> None:
    calendar = us_calendar()
    tomorrow = timezone.now().astimezone(dt.UTC).date() + dt.timedelta(days=1)
    CompanyDayOff.objects.create(calendar=calendar, date=tomorrow, name="Offsite")
    response = _client(Role.MANAGER).get("/calendars/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-calendar="New York office"' in html and "America/New_York" in html
    assert "Offsite" in html and "Mon</th><td>09:00–17:00" in html
    assert ("Open now" in html) or ("Closed now" in html and "opens" in html)
    assert "(America/New York)" in html  # times name their zone


def test_reps_cannot_open_the_calendars_page() -> None:
    assert _client(Role.REP).get("/calendars/").status_code == 403


def test_ops_create_a_calendar_with_the_hours_grid_and_days_off() -> None:
    response = _client(Role.OPS).post("/ops/calendars/new/", {
        "name": "Berlin office", "timezone": "Europe/Berlin", "holiday_country": "de", "holiday_subdivision": "be",
        "working_hours_0": "", **{f"weekly_hours_{i}": "" for i in range(28)},
        "weekly_hours_0": "08:00", "weekly_hours_1": "16:00",
        "companydayoff-TOTAL_FORMS": "1", "companydayoff-INITIAL_FORMS": "0",
        "companydayoff-0-date": "2026-12-24", "companydayoff-0-name": "Christmas Eve",
    })  # fmt: skip
    assert response.status_code == 302
    calendar = BusinessCalendar.objects.get(name="Berlin office")
    assert calendar.weekly_hours == {"mon": [["08:00", "16:00"]]}
    assert (calendar.holiday_country, calendar.holiday_subdivision) == ("DE", "BE")
    assert list(calendar.days_off.values_list("name", flat=True)) == ["Christmas Eve"]


@pytest.mark.parametrize(("extra", "named"), [
    ({"holiday_country": "XX"}, "No public holidays known for &#x27;XX&#x27;"),
    ({"holiday_country": "US", "holiday_subdivision": "ZZ"}, "is not a subdivision of US"),
    ({"holiday_country": "", "holiday_subdivision": "NY"}, "Choose a country before a subdivision"),
    ({"timezone": "Mars/Base"}, "Select a valid choice"),
    ({"weekly_hours_0": "25:00", "weekly_hours_1": "17:00"}, "give both times as HH:MM"),
])  # fmt: skip
def test_the_calendar_form_names_bad_fields(extra: dict, named: str) -> None:
    data = {"name": "Bad", "timezone": "UTC", "companydayoff-TOTAL_FORMS": "0", "companydayoff-INITIAL_FORMS": "0",
            **extra}  # fmt: skip
    response = _client(Role.OPS).post("/ops/calendars/new/", data)
    assert response.status_code == 200
    assert named in response.content.decode()
    assert not BusinessCalendar.objects.exists()


def test_the_segment_form_sets_the_sla_clock_and_needs_a_calendar_for_the_segment_clock() -> None:
    from routing.models import Segment

    client = _client(Role.OPS)
    base = {"slug": "inbound", "name": "Inbound", "sla_minutes": "240", "accept_fraction": "0.6", "priority": "1",
            "order": "1", "action": "save"}  # fmt: skip
    response = client.post("/ops/segments/new/", {**base, "sla_clock": "segment"})
    assert response.status_code == 200 and "Choose the calendar" in response.content.decode()
    assert not Segment.objects.exists()
    calendar = us_calendar()
    assert client.post("/ops/segments/new/", {**base, "sla_clock": "segment", "calendar": str(calendar.id)}).status_code == 302
    assert Segment.objects.values_list("sla_clock", "calendar_id").get() == ("segment", calendar.id)
    page = client.get("/ops/segments/new/").content.decode()
    assert "Business time (the offered rep&#x27;s working hours)" in page  # the clock choices speak words
    listing = client.get("/ops/segments/").content.decode()
    assert "Business time (the segment&#x27;s calendar)" in listing  # the list says which clock
