"""Component status from heartbeats: up within beat interval + margin, down after, stopped vs silent."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from ops.components import SPECS
from ops.models import Component, Heartbeat
from ops.selectors import component_statuses
from ops.services import heartbeat_record, heartbeat_stopped, process_instance
from reps.models import Role
from tests.factories import user_with_role
from tests.ops.helpers import all_up, beat

pytestmark = pytest.mark.django_db


def _status(component: Component, now: dt.datetime):  # noqa: ANN202
    return next(s for s in component_statuses(now=now) if s.component == component)


@override_settings(LEADOPS_SWEEP_INTERVAL=1.0, LEADOPS_HEARTBEAT_EVERY_SECONDS=2.0, LEADOPS_HEARTBEAT_MARGIN_SECONDS=10.0)
def test_the_sweeper_is_down_once_silent_for_longer_than_its_interval_plus_the_margin() -> None:
    last = timezone.now()
    beat(Component.SWEEPER, at=last)
    assert SPECS["sweeper"].down_after_seconds == 12.0  # beats every max(1 s, 2 s), plus 10 s margin
    assert _status(Component.SWEEPER, last + dt.timedelta(seconds=11.9)).up
    down = _status(Component.SWEEPER, last + dt.timedelta(seconds=12.1))
    assert not down.up
    assert down.state_label == "Down: silent"
    assert round(down.silent_seconds, 1) == 12.1


def test_a_component_never_seen_is_down_and_says_so() -> None:
    status = _status(Component.WORKER, timezone.now())
    assert not status.up
    assert status.last_beat_at is None
    assert status.state_label == "Down: never reported"


def test_one_live_instance_keeps_a_component_up_while_another_is_silent() -> None:
    now = timezone.now()
    beat(Component.WORKER, at=now - dt.timedelta(minutes=10), instance="host-a:1")
    beat(Component.WORKER, at=now - dt.timedelta(seconds=5), instance="host-b:2")
    status = _status(Component.WORKER, now)
    assert status.up
    assert [i.up for i in status.instances] == [True, False]


def test_a_cleanly_stopped_process_is_down_at_once_and_shown_as_stopped() -> None:
    heartbeat_record(component=Component.SWEEPER, force=True)
    heartbeat_stopped(component=Component.SWEEPER)
    status = _status(Component.SWEEPER, timezone.now())
    assert not status.up
    assert status.state_label == "Down: stopped"


def test_heartbeats_are_one_row_per_process_and_throttled() -> None:
    assert heartbeat_record(component=Component.SWEEPER, force=True) is True
    assert heartbeat_record(component=Component.SWEEPER) is False  # within LEADOPS_HEARTBEAT_EVERY_SECONDS
    assert heartbeat_record(component=Component.SWEEPER, force=True) is True
    rows = list(Heartbeat.objects.filter(component=Component.SWEEPER))
    assert [r.instance for r in rows] == [process_instance()]
    assert rows[0].beat_at >= rows[0].started_at


def test_ops_see_every_component_on_the_system_page_and_what_a_down_one_means() -> None:
    now = timezone.now()
    all_up(at=now)
    Heartbeat.objects.filter(component=Component.SCHEDULER).update(beat_at=now - dt.timedelta(minutes=10))
    client = Client()
    client.force_login(user_with_role(Role.OPS))
    response = client.get("/ops/system/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('data-up="true"') == 2
    assert 'class="card drift" id="component-scheduler" data-up="false"' in html
    assert SPECS["scheduler"].down_means in html


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REP])
def test_the_system_page_is_for_sales_ops_only(role: Role) -> None:
    client = Client()
    client.force_login(user_with_role(role))
    assert client.get("/ops/system/").status_code == 403


def test_anonymous_visitors_are_sent_to_login_from_the_system_page() -> None:
    response = Client().get("/ops/system/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("role", [Role.MANAGER, Role.OPS])
def test_the_home_page_of_managers_and_ops_warns_when_the_sweeper_is_down(role: Role) -> None:
    now = timezone.now()
    all_up(at=now)
    client = Client()
    client.force_login(user_with_role(role))
    assert 'id="ops-banner"' not in client.get("/dash/").content.decode()
    Heartbeat.objects.filter(component=Component.SWEEPER).update(beat_at=now - dt.timedelta(minutes=5))
    html = client.get("/dash/").content.decode()
    assert 'id="ops-banner"' in html
    assert "Escalations are not running" in html
    assert ('href="/ops/system/"' in html.split('id="ops-banner"')[1]) is (role == Role.OPS)
