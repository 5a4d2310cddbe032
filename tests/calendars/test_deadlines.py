"""Offer deadlines on the segment's SLA clock, and offers that expire while the rep is off duty."""

from __future__ import annotations

import datetime as dt

import pytest

from routing import services
from routing.models import Decision, Lead, Offer
from tests.calendars.helpers import make_world, new_lead, ny, route, us_calendar
from tests.factories import AbsenceFactory, RepFactory

pytestmark = pytest.mark.django_db


def test_the_issue_friday_16_50_lead_is_due_monday_11_14() -> None:
    """Issue 13's failing input: New York rep, Mon-Fri 09:00-17:00; rule requires working
    hours; SLA 240 min, deadline at 60 %; lead on Friday 27 Nov 2026 at 16:50. 144 working
    minutes = 10 on Friday + 134 on Monday: Monday 30 Nov at 11:14 (was Friday 19:14)."""
    world = make_world()
    lead = new_lead(at=ny(2026, 11, 27, 16, 50))
    route(ny(2026, 11, 27, 16, 50))
    offer = Offer.objects.get(lead=lead)
    assert offer.rep_id == world.rep.id
    assert offer.deadline == ny(2026, 11, 30, 11, 14)
    # Nothing expires over the weekend; on Monday just after 11:14 it does, and counts.
    assert services.offers_expire_due(now=ny(2026, 11, 28, 12, 0)) == 0
    assert services.offers_expire_due(now=ny(2026, 11, 30, 11, 15)) == 1
    offer.refresh_from_db()
    assert offer.status == Offer.Status.EXPIRED and offer.expired_off_duty is False


def test_an_offer_that_expires_off_duty_does_not_count_as_the_rep_passing() -> None:
    """On wall-clock time the same lead is due Friday 19:14, after the rep went home. That
    expiry is not the rep passing on it: on Monday the lead goes back to them."""
    world = make_world(sla_clock="calendar")
    lead = new_lead(at=ny(2026, 11, 27, 16, 50))
    route(ny(2026, 11, 27, 16, 50))
    offer = Offer.objects.get(lead=lead)
    assert offer.deadline == ny(2026, 11, 27, 19, 14)
    assert services.offers_expire_due(now=ny(2026, 11, 27, 19, 15)) == 1
    offer.refresh_from_db()
    assert offer.expired_off_duty is True
    route(ny(2026, 11, 27, 19, 15))
    lead.refresh_from_db()
    assert lead.status == Lead.Status.HOLDING  # nobody on duty on a Friday evening
    services.holding_release(now=ny(2026, 11, 30, 9, 0))
    lead.refresh_from_db()
    assert lead.status == Lead.Status.OFFERED and lead.owner_id == world.rep.id
    second = lead.offers.get(status=Offer.Status.OPEN)
    assert second.deadline == ny(2026, 11, 30, 11, 24)  # calendar time: 144 minutes


def test_an_offer_that_expires_on_duty_still_counts_as_passing() -> None:
    make_world(sla_clock="calendar")
    lead = new_lead(at=ny(2026, 11, 30, 10, 0))
    route(ny(2026, 11, 30, 10, 0))
    assert services.offers_expire_due(now=ny(2026, 11, 30, 12, 25)) == 1
    assert Offer.objects.get(lead=lead).expired_off_duty is False
    route(ny(2026, 11, 30, 12, 25))
    lead.refresh_from_db()
    assert lead.status == Lead.Status.HOLDING
    latest = Decision.objects.filter(lead=lead).order_by("-id").first()
    assert "already_declined" in str(latest.detail)


def test_a_segment_calendar_clock_skips_thanksgiving_and_a_company_day_off() -> None:
    """Segment calendar: New York 09:00-17:00, US/NY holidays (Thanksgiving, Thu 26 Nov 2026)
    and a company day off on Friday 27 Nov. A lead on Wednesday at 16:00 has 60 minutes that
    day; the other 84 are on Monday: 10:24."""
    calendar = us_calendar(days_off=(dt.date(2026, 11, 27),))
    make_world(sla_clock="segment", calendar=calendar, working_hours={}, requirements={})
    lead = new_lead(at=ny(2026, 11, 25, 16, 0))
    route(ny(2026, 11, 25, 16, 0))
    assert Offer.objects.get(lead=lead).deadline == ny(2026, 11, 30, 10, 24)


def test_a_rep_following_a_calendar_is_off_on_its_public_holidays() -> None:
    calendar = us_calendar()
    make_world(working_hours={}, rep_calendar=calendar)
    lead = new_lead(at=ny(2026, 11, 26, 10, 0))  # Thanksgiving
    route(ny(2026, 11, 26, 10, 0))
    lead.refresh_from_db()
    assert lead.status == Lead.Status.HOLDING
    decision = Decision.objects.get(lead=lead)
    reasons = decision.detail["steps"][0]["candidates"][0]["reasons"]
    assert reasons == ["public_holiday"]
    services.holding_release(now=ny(2026, 11, 27, 9, 0))  # the day after: back at work
    lead.refresh_from_db()
    assert lead.status == Lead.Status.OFFERED
    assert lead.offers.get().deadline == ny(2026, 11, 27, 11, 24)


def test_a_two_hour_appointment_pauses_the_rep_clock() -> None:
    """Monday 7 Jan 2030 (in the future: routing only loads absences that have not ended)."""
    world = make_world()
    AbsenceFactory(rep=world.rep, starts_at=ny(2030, 1, 7, 10, 0), ends_at=ny(2030, 1, 7, 12, 0))
    lead = new_lead(at=ny(2030, 1, 7, 9, 0))
    route(ny(2030, 1, 7, 9, 0))
    # 60 minutes before the appointment, 84 after it.
    assert Offer.objects.get(lead=lead).deadline == ny(2030, 1, 7, 13, 24)
    other = new_lead(at=ny(2030, 1, 7, 10, 30))
    route(ny(2030, 1, 7, 10, 30))
    other.refresh_from_db()
    assert other.status == Lead.Status.HOLDING  # absent during the appointment


def test_no_rep_gets_an_offer_that_expires_before_their_next_working_minute() -> None:
    """Wall-clock SLA, a rule that does not ask for working hours: at Friday 18:00 the offer
    would be due at 20:24, before the rep is back on Monday; the lead waits for Monday."""
    world = make_world(sla_clock="calendar", requirements={})
    lead = new_lead(at=ny(2026, 11, 27, 18, 0))
    route(ny(2026, 11, 27, 18, 0))
    lead.refresh_from_db()
    assert lead.status == Lead.Status.HOLDING
    decision = Decision.objects.get(lead=lead)
    assert decision.detail["steps"][0]["candidates"][0]["reasons"] == ["expires_off_duty"]
    services.holding_release(now=ny(2026, 11, 30, 9, 0))
    lead.refresh_from_db()
    assert lead.status == Lead.Status.OFFERED and lead.owner_id == world.rep.id


def test_config_export_and_import_carry_the_segment_clock() -> None:
    from routing import config_io

    calendar = us_calendar()
    world = make_world(sla_clock="segment", calendar=calendar, requirements={})
    world.pool.calendar = calendar
    world.pool.save()
    doc = config_io.config_export()
    assert doc["segments"][0]["sla_clock"] == "segment" and doc["segments"][0]["calendar"] == "New York office"
    assert doc["pools"][0]["calendar"] == "New York office"
    result = config_io.config_import(doc)
    assert result.changes == []  # the round trip is exact
    bad = {**doc, "segments": [{**doc["segments"][0], "sla_clock": "lunar", "calendar": "Nowhere"}],
           "pools": [{**doc["pools"][0], "calendar": 7}]}  # fmt: skip
    with pytest.raises(config_io.ConfigImportError) as caught:
        config_io.config_import(bad)
    errors = str(caught.value.errors)
    assert "segments[0].sla_clock" in errors and "segments[0].calendar" in errors and "pools[0].calendar" in errors
    unpinned = {**doc, "pools": [{**doc["pools"][0], "calendar": None}]}
    config_io.config_import(unpinned)
    world.pool.refresh_from_db()
    assert world.pool.calendar is None


def test_a_closed_pool_sends_the_lead_to_the_after_hours_pool() -> None:
    """Day pool on the New York office calendar; the rule's fallback is an after-hours pool.
    Saturday: the day pool is closed (its rep has no hours of their own), the after-hours rep
    takes the lead. Thanksgiving: closed as a public holiday. Monday 10:00: the day pool."""
    from tests.factories import PoolFactory, PoolMemberFactory, RepFactory

    office = us_calendar()
    world = make_world(working_hours={})
    world.pool.calendar = office
    world.pool.save()
    night = RepFactory(display_name="Owl", timezone="America/New_York")
    after_hours = PoolFactory(name="After hours")
    PoolMemberFactory(pool=after_hours, rep=night)
    world.rule.fallback = [{"kind": "pool", "target_id": after_hours.id}, {"kind": "holding"}]
    world.rule.save()
    services.rule_publish(note="after hours")

    for at, who, reason in (
        (ny(2026, 11, 28, 11, 0), night, "outside_working_hours"),
        (ny(2026, 11, 26, 11, 0), night, "public_holiday"),
        (ny(2026, 11, 30, 10, 0), world.rep, None),
    ):
        lead = new_lead(at=at)
        route(at)
        lead.refresh_from_db()
        assert lead.owner_id == who.id, at
        first = Decision.objects.get(lead=lead).detail["steps"][0]["candidates"][0]["reasons"]
        assert first == ([reason] if reason else []), at


def test_the_lead_timeline_shows_the_clock_and_an_off_duty_expiry() -> None:
    from django.test import Client

    from reps.models import Role
    from tests.factories import user_with_role

    make_world(sla_clock="calendar")
    lead = new_lead(at=ny(2026, 11, 27, 16, 50))
    route(ny(2026, 11, 27, 16, 50))
    services.offers_expire_due(now=ny(2026, 11, 27, 19, 15))
    client = Client()
    client.force_login(user_with_role(Role.OPS))  # sees every team (a manager sees only their own: reps.scope)
    html = client.get(f"/dash/leads/{lead.id}/").content.decode()
    assert "Calendar time (nights and weekends count)" in html
    assert "while off duty (not counted as passing on the lead)" in html


def test_a_held_lead_is_offered_when_the_shift_begins_not_after_its_backoff(
    monkeypatch, django_capture_on_commit_callbacks  # noqa: ANN001
) -> None:
    """Holding until the next opening: the sweep notices a rep's shift began (time passing, no
    event) and makes the leads they can take due at once, whatever their backoff says."""
    from django.utils import timezone

    from reps.models import WEEKDAYS
    from routing.tasks import sweep

    monkeypatch.setattr(services, "_LAST_SEEN", {})
    now = timezone.now()
    shift_start = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
    hours = [[f"{shift_start:%H:%M}", f"{shift_start + dt.timedelta(hours=2):%H:%M}"]]
    world = make_world(working_hours=dict.fromkeys(WEEKDAYS, hours))
    world.rep.timezone = "UTC"
    world.rep.save()
    before = shift_start - dt.timedelta(seconds=1)
    lead = new_lead(at=before)
    route(before)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.HOLDING  # the shift had not begun
    Lead.objects.filter(id=lead.id).update(next_retry_at=now + dt.timedelta(minutes=30))  # backed off
    services._LAST_SEEN.update(at=before, fingerprint=services.routing_directory().fingerprint)
    with django_capture_on_commit_callbacks(execute=True):
        result = sweep()
    lead.refresh_from_db()
    assert result["woken"] == 1
    assert lead.status == Lead.Status.OFFERED and lead.owner_id == world.rep.id
    assert services.reps_back_on_duty(since=shift_start, now=now) == set()  # no new opening since


def test_the_inbox_rep_read_with_its_calendars_gives_the_same_clock_with_one_read_less(django_assert_num_queries) -> None:
    """calendars.selectors.rep_calendars: the inbox passes the rep it read (with ``calendar`` and
    ``team__calendar``); the working time must be what the rep's own read gives, Thanksgiving and
    an absence included."""
    from calendars.selectors import rep_calendars
    from reps.access import get_rep_for_user

    world = make_world(working_hours={}, rep_calendar=us_calendar(days_off=(dt.date(2026, 11, 27),)))
    AbsenceFactory(rep=world.rep, starts_at=ny(2026, 11, 30, 10, 0), ends_at=ny(2026, 11, 30, 12, 0))
    start, end = ny(2026, 11, 25, 0, 0), ny(2026, 12, 2, 0, 0)
    with django_assert_num_queries(3):  # the rep with its calendars, company days off, absences
        read_here = rep_calendars({world.rep.id}, start=start, end=end)[world.rep.id]
    rep = get_rep_for_user(world.rep.user)
    with django_assert_num_queries(2):  # company days off, absences
        given = rep_calendars({world.rep.id}, start=start, end=end, reps=[rep])[world.rep.id]
    assert given == read_here
    assert dt.date(2026, 11, 26) in given.closed_dates and dt.date(2026, 11, 27) in given.closed_dates
    assert len(given.closures) == 1
    # a rep list that does not cover the ids asked for is not trusted: the reps are read
    other = RepFactory(working_hours={}, team=None)
    with django_assert_num_queries(3):  # the reps with their calendars, company days off, absences
        both = rep_calendars({world.rep.id, other.id}, start=start, end=end, reps=[rep])
    assert set(both) == {world.rep.id, other.id}
