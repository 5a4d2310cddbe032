"""Playwright drives Chromium through the team page: a manager cancels an upcoming absence and ends a
current one early; the rep sees the change in their inbox."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from reps.models import Absence, Role
from tests.conftest import login
from tests.factories import AbsenceFactory
from tests.reps.helpers import make_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_cancels_an_upcoming_absence_and_ends_a_current_one(live_server, browser) -> None:  # noqa: ANN001
    world = make_world()
    world.manager.user.groups.add(Group.objects.get_or_create(name=Role.MANAGER.value)[0])
    now = timezone.now()
    upcoming = AbsenceFactory(rep=world.primary, starts_at=now + dt.timedelta(days=2), ends_at=now + dt.timedelta(days=4), note="conference")
    current = AbsenceFactory(rep=world.backup, starts_at=now - dt.timedelta(hours=2), ends_at=now + dt.timedelta(days=1), reason="illness")
    manager_ctx, rep_ctx = browser.new_context(), browser.new_context()
    csp_errors: list[str] = []
    try:
        manager, rep = manager_ctx.new_page(), rep_ctx.new_page()
        for pg in (manager, rep):
            pg.set_default_timeout(15_000)
            pg.on("console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
        # The rep sees the absence their manager scheduled.
        login(rep, live_server, world.primary.user.username)
        rep.goto(f"{live_server.url}/inbox/")
        rep.locator(f"#my-absence-{upcoming.id}", has_text="conference").wait_for()

        login(manager, live_server, world.manager.user.username)
        manager.goto(f"{live_server.url}/team/")
        dialogs: list[str] = []
        manager.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))

        row = manager.locator(f"#absence-{upcoming.id}")
        row.get_by_role("button", name="Cancel").click()
        row.wait_for(state="detached")
        manager.get_by_role("status").filter(has_text="Absence for Primary Pat cancelled.").wait_for()
        assert not Absence.objects.filter(id=upcoming.id).exists()

        manager.locator(f"#team-rep-{world.backup.id}", has_text="Absent (illness)").wait_for()
        manager.locator(f"#absence-{current.id}").get_by_role("button", name="End now").click()
        manager.locator(f"#absence-{current.id}").wait_for(state="detached")
        manager.locator(f"#team-rep-{world.backup.id}", has_text="Available").wait_for()
        current.refresh_from_db()
        assert current.ends_at <= timezone.now()
        assert len(dialogs) == 2 and "Cancel this absence for Primary Pat?" in dialogs[0]

        rep.reload()
        rep.get_by_text("You are available for new offers.").wait_for()
        assert rep.locator(f"#my-absence-{upcoming.id}").count() == 0
    finally:
        manager_ctx.close()
        rep_ctx.close()
    assert csp_errors == []
