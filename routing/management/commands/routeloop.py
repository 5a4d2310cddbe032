"""`manage.py routeloop`: route pending leads in a loop, like the queue's `route_pending` task.

The worker process of `manage.py bench` and of the fault-injection proof. They start it as a
fresh process (never a fork of a multi-threaded parent) and talk to it over stdin/stdout:

- with ``--wait-for-go`` it prints ``ready`` once Django is loaded and the database connected,
  then waits for a line on stdin, so start-up is not counted as routing time;
- with ``--until-idle S`` it exits after S seconds with nothing pending and prints
  ``timings <json>``: one ``[leads, seconds]`` pair per routed batch.

Without ``--until-idle`` it runs until killed (the fault run SIGKILLs it mid-batch).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError, connection, connections


class Command(BaseCommand):
    help = "Route pending leads in a loop (bench and fault-injection worker)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--batch", type=int, default=50, help="leads per transaction (default 50)")
        parser.add_argument("--until-idle", type=float, default=None, metavar="SECONDS",
                            help="exit after this long with nothing pending, printing per-batch timings")  # fmt: skip
        parser.add_argument("--wait-for-go", action="store_true", help="print 'ready', then wait for a line on stdin")

    def handle(self, *args: Any, batch: int, until_idle: float | None, wait_for_go: bool, **options: Any) -> None:
        from routing.services import leads_route_pending, routing_warm

        if wait_for_go:
            self._connect()
            # A long-running worker has its configuration and rep directory cached; so does this
            # one before it says ready (the bench times routing, not the first cache fill).
            routing_warm()
            sys.stdout.write("ready\n")
            sys.stdout.flush()
            sys.stdin.readline()
        timings: list[tuple[int, float]] = []
        idle_since: float | None = None
        while True:
            started = time.perf_counter()
            try:
                routed = leads_route_pending(limit=batch)
            except (OperationalError, InterfaceError):
                # The database went away (restart, failover): drop the connection and try
                # again, as a queue worker would on its next task.
                connections.close_all()
                time.sleep(0.2)
                continue
            if routed:
                timings.append((routed, time.perf_counter() - started))
                idle_since = None
                continue
            if until_idle is None:
                time.sleep(0.01)
                continue
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= until_idle:
                break
            time.sleep(0.02)
        connections.close_all()
        sys.stdout.write("timings " + json.dumps(timings) + "\n")
        sys.stdout.flush()

    def _connect(self, timeout: float = 120.0) -> None:
        """Connect before saying ready; the server may be restarting (fault run)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                connection.ensure_connection()
                return
            except OperationalError:
                if time.monotonic() > deadline:
                    raise
                connections.close_all()
                time.sleep(0.2)
