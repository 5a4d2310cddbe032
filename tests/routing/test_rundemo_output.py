"""`make run` keeps its terminal readable (issue 15): every process logs to var/log/demo.log, the
logins are printed last, and the status line repeats them."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from routing.demo.data import DEMO_LOGINS
from routing.management.commands import rundemo


class _FakeProcess:
    started: list[dict] = []

    def __init__(self, cmd: list[str], **kwargs: object) -> None:
        self.cmd, self.kwargs, self.returncode = cmd, kwargs, None
        _FakeProcess.started.append({"cmd": cmd, **kwargs})

    def poll(self) -> None:
        return None

    def send_signal(self, sig: int) -> None:
        self.returncode = 0

    def wait(self, timeout: float | None = None) -> int:
        return 0


def test_rundemo_sends_process_output_to_a_log_file_and_prints_the_logins_last(monkeypatch, settings, tmp_path) -> None:  # noqa: ANN001
    settings.VAR_DIR = tmp_path
    _FakeProcess.started = []
    naps = iter([None])  # the start-up pause, then Ctrl-C in the supervising loop

    def sleep(_seconds: float) -> None:
        if next(naps, "stop") == "stop":
            raise KeyboardInterrupt

    monkeypatch.setattr(rundemo, "call_command", lambda *a, **k: None)
    monkeypatch.setattr(rundemo.subprocess, "Popen", _FakeProcess)
    monkeypatch.setattr(rundemo, "_kill_group", lambda proc: None)  # fakes have no process group
    monkeypatch.setattr(rundemo.time, "sleep", sleep)
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("rundemo", "--bind", "127.0.0.1:8999", stdout=out)

    names = {" ".join(p["cmd"]).split("manage.py ")[-1].split()[0] for p in _FakeProcess.started}
    assert {"qcluster", "sweeper", "streamleads", "simulatereps"} <= names
    assert all(p["stdout"] is not None and p["stdout"] is p["stderr"] for p in _FakeProcess.started)
    assert all(p["start_new_session"] for p in _FakeProcess.started)  # Ctrl-C reaches the supervisor alone
    assert _FakeProcess.started[0]["stdout"].name == str(tmp_path / "log" / "demo.log")
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    passwords = [password for _role, password in DEMO_LOGINS.values()]
    assert all(any(p in line for line in lines[-6:]) for p in passwords)  # the logins close the output


@pytest.mark.django_db
def test_the_status_line_counts_todays_leads_and_repeats_the_logins() -> None:
    from tests.reps.helpers import make_world, route_new_lead

    make_world()
    route_new_lead()
    line = rundemo.demo_status_line("http://127.0.0.1:8000")
    assert "today: 1 leads, 0 taken by reps, 1 offered now, 0 in holding" in line
    assert all(f"{u}/{p}" in line for u, (_r, p) in DEMO_LOGINS.items())
