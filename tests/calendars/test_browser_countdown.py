"""Chromium: a rep's countdown runs in working hours, visibly pauses outside them, and resumes.

Time is driven, not waited for: the rep works two shifts a day built around the real "now"
(until 3 minutes from now, then again an hour later), the server renders the open stretches
until the deadline, and Playwright's clock moves the page's time forward.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from reps.models import WEEKDAYS
from routing import services
from routing.models import Offer
from tests.calendars.helpers import make_world, new_lead
from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
MINUTE_MS = 60_000


def _hhmm(moment: dt.datetime) -> str:
    return f"{moment:%H:%M}"


def test_the_countdown_pauses_outside_working_hours_and_resumes(live_server, page) -> None:  # noqa: ANN001
    now = timezone.now().astimezone(dt.UTC).replace(second=0, microsecond=0)
    first_end = now + dt.timedelta(minutes=3)
    second_start = first_end + dt.timedelta(hours=1)
    shifts = [[_hhmm(now - dt.timedelta(hours=1)), _hhmm(first_end)],
              [_hhmm(second_start), _hhmm(second_start + dt.timedelta(hours=4))]]  # fmt: skip
    world = make_world(working_hours=dict.fromkeys(WEEKDAYS, shifts), requirements={})
    world.rep.timezone = "UTC"
    world.rep.save()
    lead = new_lead(at=timezone.now())
    services.leads_route_all_pending(now=timezone.now())
    offer = Offer.objects.get(lead=lead)
    # 144 working minutes: what is left of the first shift, the rest after the break.
    assert second_start < offer.deadline <= second_start + dt.timedelta(minutes=144)

    page.clock.install(time=timezone.now())
    login(page, live_server, world.rep.user.username)
    page.goto(f"{live_server.url}/inbox/")
    countdown = page.locator(f"#offer-{offer.id} .countdown")
    page.locator(f"#offer-{offer.id} .countdown[data-running=yes]").wait_for()
    running_left = int(countdown.get_attribute("data-left"))
    assert 140 * 60 <= running_left <= 144 * 60
    assert "paused" not in countdown.inner_text()

    page.clock.fast_forward(5 * MINUTE_MS)  # past the end of the first shift
    page.locator(f"#offer-{offer.id} .countdown[data-running=no]").wait_for()
    assert "paused until" in countdown.inner_text() and "UTC" in countdown.inner_text()
    paused_left = int(countdown.get_attribute("data-left"))
    assert paused_left < running_left

    page.clock.fast_forward(20 * MINUTE_MS)  # still on the break: the clock does not move
    page.wait_for_function(
        "el => el.dataset.left !== undefined && el.dataset.running === 'no'", arg=countdown.element_handle()
    )
    assert int(countdown.get_attribute("data-left")) == paused_left

    page.clock.fast_forward(45 * MINUTE_MS)  # the second shift has begun
    page.locator(f"#offer-{offer.id} .countdown[data-running=yes]").wait_for()
    resumed_left = int(countdown.get_attribute("data-left"))
    assert resumed_left < paused_left
    assert "paused" not in countdown.inner_text()
    page.clock.fast_forward(10 * MINUTE_MS)
    page.wait_for_function(f"el => parseInt(el.dataset.left, 10) <= {resumed_left - 10 * 60}", arg=countdown.element_handle())
