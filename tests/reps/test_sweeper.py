"""The sweeper loop: escalates due offers within a pass, survives DB errors, stops on SIGTERM."""

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
from django.db import OperationalError
from django.utils import timezone
from django_q.models import Schedule

from reps.management.commands import sweeper
from routing.models import Offer
from tests.reps.helpers import make_world, open_offer, route_new_lead

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_one_pass_escalates_a_due_offer_to_the_backup() -> None:
    world = make_world()
    lead = route_new_lead()
    offer = open_offer(lead)
    Offer.objects.filter(id=offer.id).update(deadline=timezone.now() - dt.timedelta(seconds=1))
    call_command("sweeper", passes=1, interval=0)
    offer.refresh_from_db()
    lead.refresh_from_db()
    assert offer.status == Offer.Status.EXPIRED
    assert lead.owner == world.backup


@pytest.mark.django_db(transaction=True)
def test_a_database_error_in_a_pass_is_logged_and_the_loop_goes_on(monkeypatch: pytest.MonkeyPatch, caplog) -> None:  # noqa: ANN001
    import routing.tasks

    def broken(**kwargs: object) -> dict:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(routing.tasks, "sweep", broken)
    assert sweeper.run_pass(release_holding=False) is None
    assert "sweep pass failed" in caplog.text
    monkeypatch.undo()
    assert sweeper.run_pass(release_holding=False) is not None


@pytest.mark.django_db
def test_setup_schedules_is_idempotent() -> None:
    call_command("setup_schedules")
    call_command("setup_schedules")
    schedule = Schedule.objects.get(name="leadops-sweep")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == ("routing.tasks.sweep", Schedule.MINUTES, 1)


@pytest.mark.slow
def test_the_sweeper_process_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "leadops.settings", "LEADOPS_SQLITE_PATH": str(tmp_path / "empty.sqlite3"),
           "LEADOPS_VAR_DIR": str(tmp_path), "LEADOPS_SWEEP_INTERVAL": "0.2", "LEADOPS_LOG_LEVEL": "INFO"}  # fmt: skip
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "sweeper"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 90  # generous: a loaded CI machine starts Django slowly
        # An unmigrated database makes every step of every pass fail: each step is logged on its
        # own and the loop keeps going regardless.
        output = ""
        while time.monotonic() < deadline and output.count("sweep step expired failed") < 2:
            output += proc.stdout.readline()
        assert output.count("sweep step expired failed") >= 2
        assert output.count("sweep step released failed") >= 1
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "sweeper stopped" in rest
