"""Routing worker processes for the bench and the fault-injection proof.

Each worker is a fresh ``manage.py routeloop`` process (``leads_route_pending`` in a loop, like
the queue's ``route_pending`` task), never a fork: the parent may be multi-threaded (pytest,
the PostgreSQL restarter), and a forked child of a threaded process can deadlock on a lock
another thread held. Workers find the database through ``DATABASE_URL``, built from this
process's connection settings, so under pytest they use the test database.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, connections

READY_TIMEOUT = 120.0


def worker_env() -> dict[str, str]:
    """The environment of a worker: this process's database (by URL), real settings, and
    tasks queued in the ORM broker (as production does) instead of run inline."""
    db = connection.settings_dict
    auth = quote(db.get("USER") or "postgres")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    url = f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{quote(db['NAME'])}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "leadops.settings", "LEADOPS_Q_SYNC": "0"}
    env.pop("REDIS_URL", None)
    return env


class Worker:
    """One ``manage.py routeloop`` process. Start it, wait until it is ready, let it go."""

    def __init__(self, *, batch: int, until_idle: float | None, env: dict[str, str]) -> None:
        args = [sys.executable, str(settings.BASE_DIR / "manage.py"), "routeloop", "--batch", str(batch), "--wait-for-go"]
        if until_idle is not None:
            args += ["--until-idle", str(until_idle)]
        self.stderr = tempfile.TemporaryFile()
        # Unbuffered pipes, so select() on stdout sees exactly what the child wrote.
        self.proc = subprocess.Popen(args, env=env, cwd=settings.BASE_DIR, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, bufsize=0)  # fmt: skip
        self.killed = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        line = b""
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"routing worker {self.pid} not ready after {timeout} s: {self.error_output()}")
            readable, _, _ = select.select([self.proc.stdout], [], [], left)
            if readable:
                chunk = self.proc.stdout.read(1)
                if not chunk:
                    raise RuntimeError(f"routing worker {self.pid} exited before it was ready: {self.error_output()}")
                line += chunk
        if line.strip() != b"ready":
            raise RuntimeError(f"routing worker {self.pid} said {line!r} instead of 'ready'")

    def go(self) -> None:
        self.proc.stdin.write(b"go\n")

    def timings(self, timeout: float) -> list[tuple[int, float]]:
        """Wait for an ``--until-idle`` worker to finish; its per-batch (leads, seconds)."""
        out, _ = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0:
            raise RuntimeError(f"routing worker {self.pid} failed ({self.proc.returncode}): {self.error_output()}")
        for line in out.decode().splitlines():
            if line.startswith("timings "):
                return [(int(n), float(s)) for n, s in json.loads(line[len("timings "):])]
        raise RuntimeError(f"routing worker {self.pid} printed no timings: {out[-500:]!r}")

    def exited_by_itself(self) -> bool:
        return not self.killed and self.proc.poll() is not None

    def kill(self) -> None:
        """SIGKILL and reap. Safe to call twice."""
        if self.proc.poll() is None:
            self.killed = True
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self.stderr.close()

    def error_output(self) -> str:
        try:
            self.stderr.seek(0)
            return self.stderr.read()[-2000:].decode(errors="replace")
        except ValueError:  # already closed
            return ""


def _start(count: int, *, batch: int, until_idle: float | None, env_extra: dict[str, str] | None = None) -> list[Worker]:
    connections.close_all()  # the workers open their own connections; none is shared
    env = {**worker_env(), **(env_extra or {})}
    workers: list[Worker] = []
    try:
        for _ in range(count):
            workers.append(Worker(batch=batch, until_idle=until_idle, env=env))
        for worker in workers:
            worker.wait_ready()
    except BaseException:
        for worker in workers:
            worker.kill()
        raise
    return workers


@dataclass
class RunResult:
    workers: int
    seconds: float
    routed: int
    batch_seconds_per_lead: list[float] = field(default_factory=list)
    kills: int = 0
    restarts: int = 0

    @property
    def per_second(self) -> float:
        return self.routed / self.seconds if self.seconds else 0.0


def route_with_processes(workers: int, *, batch: int = 50, idle_exit_seconds: float = 0.3,
                         timeout: float = 3600, env_extra: dict[str, str] | None = None) -> RunResult:  # fmt: skip
    """Route every pending lead with ``workers`` processes; wall time from the go signal (every
    worker loaded and connected) to the last exit, less the final idle wait. ``env_extra``:
    settings for the workers (e.g. LEADOPS_BENCH_THINK_MS)."""
    procs = _start(workers, batch=batch, until_idle=idle_exit_seconds, env_extra=env_extra)
    timings: list[tuple[int, float]] = []
    try:
        started = time.perf_counter()
        for proc in procs:
            proc.go()
        for proc in procs:
            timings.extend(proc.timings(timeout=timeout))
        seconds = time.perf_counter() - started - idle_exit_seconds
    finally:
        for proc in procs:
            proc.kill()
    return RunResult(
        workers=workers, seconds=seconds, routed=sum(n for n, _ in timings),
        batch_seconds_per_lead=[s / n for n, s in timings],
    )  # fmt: skip


def route_during(workers: int, *, work: Callable[[], None], pending: Callable[[], int], batch: int = 50,
                 timeout: float = 3600) -> tuple[float, float]:  # fmt: skip
    """Run ``work()`` in this process while ``workers`` routing processes route what it leaves
    pending, as a running system's workers route a CSV import chunk by chunk while it is read.
    Returns (seconds until ``work`` returned, seconds until ``pending()`` was 0 afterwards),
    both from the go signal (every worker loaded, connected and its caches warm)."""
    procs = _start(workers, batch=batch, until_idle=None)
    try:
        started = time.perf_counter()
        for proc in procs:
            proc.go()
        work()
        worked = time.perf_counter() - started
        while True:
            for proc in procs:
                if proc.exited_by_itself():
                    raise RuntimeError(f"routing worker {proc.pid} exited by itself: {proc.error_output()}")
            if pending() == 0:
                break
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"leads still pending after {timeout} s")
            time.sleep(0.05)
        return worked, time.perf_counter() - started
    finally:
        for proc in procs:
            proc.kill()


def route_with_faults(workers: int, *, pending: Callable[[], int], batch: int = 50,
                      kill_every: tuple[float, float] = (0.3, 1.5), max_kills: int | None = None,
                      restart_postgres_after: float | None = None, seed: int = 3, timeout: float = 3600) -> RunResult:  # fmt: skip
    """Route with ``workers`` processes while SIGKILLing a random one now and then (and
    starting a fresh one), optionally restarting PostgreSQL once; returns when ``pending()`` is 0.
    Only workers already routing are killed, so every kill lands in the routing loop."""
    rng = random.Random(seed)
    procs = _start(workers, batch=batch, until_idle=None)
    kills = restarts = 0
    restarter: threading.Thread | None = None
    try:
        for proc in procs:
            proc.go()
        started = time.perf_counter()
        next_kill = started + rng.uniform(*kill_every)
        while True:
            now = time.perf_counter()
            if now - started > timeout:
                raise TimeoutError("fault run did not finish")
            for proc in procs:
                if proc.exited_by_itself():
                    raise RuntimeError(f"routing worker {proc.pid} exited by itself: {proc.error_output()}")
            if restart_postgres_after is not None and restarter is None and now - started >= restart_postgres_after:
                restarter = threading.Thread(target=restart_postgres, daemon=True)
                restarter.start()
                restarts += 1
            if (max_kills is None or kills < max_kills) and now >= next_kill:
                index = rng.randrange(workers)
                procs[index].kill()
                kills += 1
                fresh = Worker(batch=batch, until_idle=None, env=worker_env())
                procs[index] = fresh
                fresh.wait_ready()
                fresh.go()
                next_kill = time.perf_counter() + rng.uniform(*kill_every)
            try:
                remaining = pending()
            except (OperationalError, InterfaceError):
                remaining = -1
            finally:
                connections.close_all()
            if remaining == 0 and (restarter is None or not restarter.is_alive()):
                break
            time.sleep(0.1)
    finally:
        for proc in procs:
            proc.kill()
        if restarter is not None:
            restarter.join(timeout=120)
    return RunResult(workers=workers, seconds=time.perf_counter() - started, routed=0, kills=kills, restarts=restarts)


def restart_postgres() -> None:
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"], check=True,
                   capture_output=True, timeout=120)  # fmt: skip
