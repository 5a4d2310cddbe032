"""A real `manage.py qcluster`: its scheduler beats when it enqueues the heartbeat schedule, a
worker beats when it runs it, and that run evaluates the alerts (here: no sweeper is running)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule

from ops.components import HEARTBEAT_SCHEDULE
from ops.models import Component, Heartbeat, Incident
from ops.selectors import component_statuses

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def test_the_cluster_records_scheduler_and_worker_heartbeats_and_evaluates_alerts() -> None:
    call_command("setup_schedules")
    Schedule.objects.filter(name=HEARTBEAT_SCHEDULE).update(next_run=timezone.now() - dt.timedelta(minutes=1))
    Schedule.objects.exclude(name=HEARTBEAT_SCHEDULE).delete()  # only the heartbeat, to keep the test small
    db = connection.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "leadops.settings", "LEADOPS_Q_SYNC": "0", "LEADOPS_Q_WORKERS": "1",
           "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"}  # fmt: skip
    cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 180  # the scheduler first wakes ~30 s after start
        while time.monotonic() < deadline:
            seen = set(Heartbeat.objects.values_list("component", flat=True))
            if {Component.SCHEDULER, Component.WORKER} <= seen and Incident.objects.exists():
                break
            time.sleep(0.5)
        statuses = {s.component: s for s in component_statuses()}
        assert statuses["scheduler"].up, cluster.stderr
        assert statuses["worker"].up
        assert not statuses["sweeper"].up
        # The worker that ran the heartbeat schedule evaluated the alerts: the sweeper is down.
        assert list(Incident.objects.values_list("key", flat=True)) == ["component_down:sweeper"]
    finally:
        cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(timeout=60)
        except subprocess.TimeoutExpired:
            cluster.kill()
            cluster.wait()
