"""Sales Ops open the System page and see every background process running, then one down with
what that means; the Dashboards home page carries the same warning."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from ops.models import Component, Heartbeat
from reps.models import Role
from tests.conftest import login
from tests.factories import user_with_role
from tests.ops.helpers import all_up

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ops_see_every_component_up_then_the_sweeper_down(live_server, page) -> None:  # noqa: ANN001
    user_with_role(Role.OPS, username="olga")
    all_up(at=timezone.now() + dt.timedelta(minutes=5))  # fresh for the whole test, however slow the machine
    login(page, live_server, "olga")
    page.click("nav >> text=System")
    page.wait_for_url("**/ops/system/")
    cards = page.locator("#components article")
    assert cards.count() == 3
    for component in ("sweeper", "worker", "scheduler"):
        assert page.locator(f"#component-{component} h3 .badge").inner_text() == "Running"
    assert page.locator("#ops-banner").count() == 0

    Heartbeat.objects.filter(component=Component.SWEEPER).update(beat_at=timezone.now() - dt.timedelta(minutes=3))
    page.reload()
    assert page.locator("#component-sweeper h3 .badge").inner_text() == "Down: silent"
    assert page.locator("#component-worker h3 .badge").inner_text() == "Running"
    assert page.locator("#component-scheduler h3 .badge").inner_text() == "Running"
    banner = page.locator("#ops-banner")
    assert banner.is_visible()
    assert "Escalations are not running" in banner.inner_text()
    assert "Start the sweeper again (manage.py sweeper)" in page.locator("#component-sweeper").inner_text()

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/dash/")
    assert "Escalations are not running" in page.locator("#ops-banner").inner_text()
    page.click("#ops-banner >> text=System page")
    page.wait_for_url("**/ops/system/")
    # Nothing runs off the side of a phone screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
