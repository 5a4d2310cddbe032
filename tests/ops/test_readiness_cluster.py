"""Readiness against a real PostgreSQL server that stops and starts: a throwaway cluster on its
own port (initdb + pg_ctl from the Debian packages), so the shared server is never touched.

gunicorn and a sweeper run against it; /health/ready answers 200, then 503 naming the database
while the server is stopped (liveness still answers), then 200 again once it is back."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    if not found:
        pytest.fail("pg_ctl not found under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    return found[0].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(args: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres OS user when we are root."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class Cluster:
    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="leadops-readiness-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(_as_postgres([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                                     "--no-sync", "-E", "UTF8"]), check=True, capture_output=True, timeout=180)  # fmt: skip

    def pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        subprocess.run(_as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"),
                                     "-o", options, "-w", "-t", "120", *args]), check=True, capture_output=True, timeout=180)  # fmt: skip

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(_as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]),
                           capture_output=True, timeout=120)  # fmt: skip
        shutil.rmtree(self.dir, ignore_errors=True)


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except (urllib.error.URLError, OSError, ValueError):
        return 0, {}


def _wait_for(url: str, predicate, timeout: float = 120.0) -> tuple[int, dict]:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    result = (0, {})
    while time.monotonic() < deadline:
        result = _get(url)
        if predicate(*result):
            return result
        time.sleep(0.5)
    return result


def test_readiness_fails_while_postgresql_is_stopped_and_recovers_after() -> None:
    cluster = Cluster()
    procs: list[subprocess.Popen] = []
    try:
        cluster.pg_ctl("start")
        subprocess.run([str(cluster.bin / "createdb"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "leadops"],
                       check=True, capture_output=True, timeout=60)  # fmt: skip
        web_port = _free_port()
        env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{cluster.port}/leadops",
               "DJANGO_SETTINGS_MODULE": "leadops.settings", "LEADOPS_Q_SYNC": "0", "LEADOPS_DB_CONNECT_TIMEOUT": "3",
               "LEADOPS_SWEEP_INTERVAL": "1", "LEADOPS_LOG_LEVEL": "WARNING"}  # fmt: skip
        migrated = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=600)  # fmt: skip
        assert migrated.returncode == 0, migrated.stderr
        procs.append(subprocess.Popen([sys.executable, "-m", "gunicorn", "leadops.wsgi", "--bind", f"127.0.0.1:{web_port}",
                                       "--workers", "1", "--threads", "2", "--log-level", "warning"],
                                      cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        procs.append(subprocess.Popen([sys.executable, "manage.py", "sweeper"], cwd=ROOT, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        ready = f"http://127.0.0.1:{web_port}/health/ready"
        live = f"http://127.0.0.1:{web_port}/health/live"

        status, body = _wait_for(ready, lambda s, b: s == 200)
        assert status == 200, body
        assert all(check["ok"] for check in body["checks"].values())

        cluster.pg_ctl("-m", "fast", "stop")
        status, body = _wait_for(ready, lambda s, b: s == 503)
        assert status == 503
        assert body["status"] == "failing"
        assert body["checks"]["database"]["ok"] is False
        assert "OperationalError" in body["checks"]["database"]["detail"]
        assert body["checks"]["sweeper"]["detail"] == "not checked: database unreachable"
        assert _get(live) == (200, {"status": "ok"})  # the process still answers: do not restart it

        cluster.pg_ctl("start")
        status, body = _wait_for(ready, lambda s, b: s == 200)
        assert status == 200, body
        assert body["checks"]["database"]["ok"] and body["checks"]["sweeper"]["ok"]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        cluster.destroy()
