"""Routing worker processes: each calls ``leads_route_pending`` in a loop, like the queue's
``route_pending`` task does, and reports per-batch timings. Forked, so they inherit the bench
process's settings (and its database name)."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

from django.db import InterfaceError, OperationalError, connections

_CTX = mp.get_context("fork")


def _loop(batch: int, results: mp.Queue | None, stop_when_idle: bool, idle_exit_seconds: float) -> None:
    from routing.services import leads_route_pending

    connections.close_all()
    timings: list[tuple[int, float]] = []
    idle_since: float | None = None
    while True:
        started = time.perf_counter()
        try:
            routed = leads_route_pending(limit=batch)
        except (OperationalError, InterfaceError):
            # The database went away (restart, failover): drop the connection and try again,
            # as a queue worker would on its next task.
            connections.close_all()
            time.sleep(0.2)
            continue
        if routed:
            timings.append((routed, time.perf_counter() - started))
            idle_since = None
            continue
        if not stop_when_idle:
            time.sleep(0.01)
            continue
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since >= idle_exit_seconds:
            break
        time.sleep(0.02)
    if results is not None:
        results.put(timings)
    connections.close_all()


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


def route_with_processes(workers: int, *, batch: int = 50, idle_exit_seconds: float = 0.3) -> RunResult:
    """Route every pending lead with ``workers`` processes; wall time from start to the last exit."""
    connections.close_all()  # never share a socket with the children
    results: mp.Queue = _CTX.Queue()
    procs = [_CTX.Process(target=_loop, args=(batch, results, True, idle_exit_seconds)) for _ in range(workers)]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    timings: list[tuple[int, float]] = []
    for _ in procs:
        timings.extend(results.get())
    for proc in procs:
        proc.join()
    # Idle polling at the end is not routing time.
    seconds = time.perf_counter() - started - idle_exit_seconds
    return RunResult(
        workers=workers, seconds=seconds, routed=sum(n for n, _ in timings),
        batch_seconds_per_lead=[s / n for n, s in timings],
    )  # fmt: skip


def route_with_faults(workers: int, *, pending: callable, batch: int = 50, kill_every: tuple[float, float] = (0.3, 1.5),
                      max_kills: int | None = None, restart_postgres_after: float | None = None,
                      seed: int = 3, timeout: float = 3600) -> RunResult:  # fmt: skip
    """Route with ``workers`` processes while SIGKILLing a random one now and then (and
    respawning it), optionally restarting PostgreSQL once; returns when ``pending()`` is 0."""
    connections.close_all()
    rng = random.Random(seed)
    procs = [_CTX.Process(target=_loop, args=(batch, None, False, 0.0)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    kills = restarts = 0
    started = time.perf_counter()
    next_kill = started + rng.uniform(*kill_every)
    restarter: threading.Thread | None = None
    try:
        while True:
            now = time.perf_counter()
            if now - started > timeout:
                raise TimeoutError("fault run did not finish")
            if restart_postgres_after is not None and restarter is None and now - started >= restart_postgres_after:
                restarter = threading.Thread(target=restart_postgres, daemon=True)
                restarter.start()
                restarts += 1
            if (max_kills is None or kills < max_kills) and now >= next_kill:
                index = rng.randrange(workers)
                os.kill(procs[index].pid, signal.SIGKILL)
                procs[index].join()
                kills += 1
                procs[index] = _CTX.Process(target=_loop, args=(batch, None, False, 0.0))
                procs[index].start()
                next_kill = now + rng.uniform(*kill_every)
            try:
                remaining = pending()
            except (OperationalError, InterfaceError):
                connections.close_all()
                remaining = -1
            finally:
                connections.close_all()
            if remaining == 0 and (restarter is None or not restarter.is_alive()):
                break
            time.sleep(0.1)
    finally:
        for proc in procs:
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
            proc.join()
        if restarter is not None:
            restarter.join(timeout=120)
    return RunResult(workers=workers, seconds=time.perf_counter() - started, routed=0, kills=kills, restarts=restarts)


def restart_postgres() -> None:
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"], check=True,
                   capture_output=True, timeout=120)  # fmt: skip
