"""A real `manage.py sweeper` process: it beats, a SIGKILL shows it as down within its interval
plus the margin and raises exactly one alert (email + webhook); a new sweeper resolves it with
one recovery notice; a clean SIGTERM marks it as stopped."""

from __future__ import annotations

import datetime as dt
import email
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core import mail
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from ops.components import SPECS
from ops.models import Component, Heartbeat, Incident
from ops.selectors import component_statuses
from ops.services import alerts_evaluate
from tests.ops.helpers import AlertReceiver, beat

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def _env(receiver: AlertReceiver, mail_dir: Path) -> dict[str, str]:
    """The sweeper gets the same alert channels as this test process (as every process would in
    production): emails land in files in ``mail_dir``, webhooks at the same receiver."""
    db = connection.settings_dict
    url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "leadops.settings", "LEADOPS_Q_SYNC": "1",
            "LEADOPS_SWEEP_INTERVAL": "1", "LEADOPS_HEARTBEAT_EVERY_SECONDS": "2", "LEADOPS_HEARTBEAT_MARGIN_SECONDS": "10",
            "LEADOPS_ALERT_EMAILS": "oncall@example.com", "LEADOPS_ALERT_WEBHOOK_URL": receiver.url,
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "DJANGO_EMAIL_FILE_PATH": str(mail_dir)}  # fmt: skip


def _start_sweeper(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "sweeper"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _subjects(mail_dir: Path) -> list[str]:
    """Every alert email sent by any process: this one's outbox and the sweepers' mail files."""
    sent = [m.subject for m in mail.outbox]
    for path in sorted(mail_dir.glob("*")):
        for raw in path.read_text().split("\n" + "-" * 79 + "\n"):
            if raw.strip():
                sent.append(" ".join(str(email.message_from_string(raw)["Subject"]).split()))
    return sent


def _wait(predicate, *, timeout: float, every: float = 0.5, also=lambda: None) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        also()
        if predicate():
            return True
        time.sleep(every)
    return False


def _keep_cluster_up() -> None:
    """No qcluster runs here: keep the worker and scheduler fresh so the sweeper is the only
    component that can go down."""
    for component in (Component.WORKER, Component.SCHEDULER):
        beat(component, at=timezone.now())


@override_settings(LEADOPS_SWEEP_INTERVAL=1.0, LEADOPS_HEARTBEAT_EVERY_SECONDS=2.0, LEADOPS_HEARTBEAT_MARGIN_SECONDS=10.0)
def test_a_killed_sweeper_is_down_within_its_interval_plus_margin_and_alerts_once(tmp_path: Path) -> None:
    receiver = AlertReceiver()
    env = _env(receiver, tmp_path)
    proc = _start_sweeper(env)
    replacement: subprocess.Popen | None = None
    instance = f"{socket.gethostname()}:{proc.pid}"
    try:
        with override_settings(LEADOPS_ALERT_EMAILS=["oncall@example.com"], LEADOPS_ALERT_WEBHOOK_URL=receiver.url):
            assert _wait(lambda: Heartbeat.objects.filter(component="sweeper", instance=instance).exists(),
                         timeout=120, also=_keep_cluster_up), proc.stderr  # fmt: skip
            # Let it beat a few times, then kill it without a chance to say goodbye.
            first = Heartbeat.objects.get(instance=instance).beat_at
            assert _wait(lambda: Heartbeat.objects.get(instance=instance).beat_at > first, timeout=60)
            assert next(s for s in component_statuses() if s.component == "sweeper").up
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)

            assert _wait(lambda: Incident.objects.filter(key="component_down:sweeper").exists(),
                         timeout=120, also=lambda: (_keep_cluster_up(), alerts_evaluate()))  # fmt: skip
            last_beat = Heartbeat.objects.get(instance=instance).beat_at
            incident = Incident.objects.get(key="component_down:sweeper")
            down_after = SPECS["sweeper"].down_after_seconds
            assert down_after == 12.0
            # Down exactly once silent for longer than interval + margin, and not before:
            statuses = {s: next(c for c in component_statuses(now=last_beat + dt.timedelta(seconds=s)) if c.component == "sweeper")
                        for s in (down_after - 0.5, down_after + 0.5)}  # fmt: skip
            assert statuses[down_after - 0.5].up and not statuses[down_after + 0.5].up
            # ...and the polling monitor noticed it then (generous slack for a loaded machine).
            silence = (incident.opened_at - last_beat).total_seconds()
            assert down_after < silence < down_after + 30, silence
            print(f"sweeper SIGKILLed; reported down after {silence:.1f} s of silence (limit {down_after:g} s)")

            for _ in range(5):  # later evaluations do not repeat the alert
                _keep_cluster_up()
                alerts_evaluate()
            assert Incident.objects.count() == 1
            assert len(_subjects(tmp_path)) == 1 and "Escalations are not running" in mail.outbox[0].body
            assert [p["event"] for _, p in receiver.posts] == ["alert.opened"]

            replacement = _start_sweeper(env)
            assert _wait(lambda: Incident.objects.get(id=incident.id).resolved_at is not None,
                         timeout=120, also=lambda: (_keep_cluster_up(), alerts_evaluate()))  # fmt: skip
            assert _wait(lambda: len(receiver.posts) == 2, timeout=30)  # the notice follows the resolve
            for _ in range(3):
                alerts_evaluate()
            subjects = _subjects(tmp_path)
            assert len(subjects) == 2 and subjects[1].startswith("[LeadOps] Recovered:"), subjects
            assert [p["event"] for _, p in receiver.posts] == ["alert.opened", "alert.resolved"]

            replacement.send_signal(signal.SIGTERM)
            assert replacement.wait(timeout=60) == 0
            stopped = Heartbeat.objects.get(instance=f"{socket.gethostname()}:{replacement.pid}")
            assert stopped.stopped_at is not None
    finally:
        for p in (proc, replacement):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        receiver.close()
