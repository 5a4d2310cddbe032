"""The escalation clock: `manage.py sweeper` runs routing's sweep every LEADOPS_SWEEP_INTERVAL seconds.

django-q2's scheduler ticks only every ~30 s, so this loop is what makes an escalation fire within
seconds of an offer's deadline. Run one or several (they are safe together: offers are taken with
SKIP LOCKED); the every-minute django-q2 schedule (`manage.py setup_schedules`) is the backup.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections, connection

from ops.models import Component
from ops.services import heartbeat_stopped, sweeper_tick

log = logging.getLogger("reps.sweeper")


class Command(BaseCommand):
    help = "Expire due offers (escalate), recover stale leads, age out, retry holding and deliver webhooks, in a loop."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--interval", type=float, default=None, help="Seconds between passes")
        parser.add_argument("--passes", type=int, default=0, help="Stop after N passes (0 = run until SIGTERM)")

    def handle(self, *args: Any, **options: Any) -> None:
        interval = options["interval"] if options["interval"] is not None else settings.LEADOPS_SWEEP_INTERVAL
        # A plain flag, not threading.Event: Event.set() from a signal handler deadlocks when
        # the signal lands while the main thread holds the Event's lock inside Event.wait().
        stop: list[int] = []

        def request_stop(signum: int, _frame: object) -> None:
            stop.append(signum)

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, request_stop)
        log.info("sweeper started: every %ss", interval)
        passes = 0
        while not stop:
            passes += 1
            run_pass()
            sweeper_tick(passes=passes)  # heartbeat, worker ping, alerts (ops); never raises
            if options["passes"] and passes >= options["passes"]:
                break
            _sleep_unless_stopped(interval, stop)
        if stop:
            log.info("sweeper got signal %s; stopping", stop[0])
        _mark_stopped()
        log.info("sweeper stopped after %s passes", passes)


def _mark_stopped() -> None:
    try:
        heartbeat_stopped(component=Component.SWEEPER)
    except DatabaseError:
        log.warning("could not mark the sweeper's heartbeat as stopped")


def _sleep_unless_stopped(seconds: float, stop: list[int]) -> None:
    deadline = time.monotonic() + seconds
    while not stop and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.05))


def run_pass(**_ignored: object) -> dict[str, int] | None:
    """One sweep (``routing.tasks.sweep``, the pass the django-q2 schedule runs too); a database
    error that escapes it is logged and the next pass starts on a fresh connection."""
    from routing.tasks import sweep

    if not connection.in_atomic_block:  # (only ever false under a test's transaction)
        close_old_connections()  # drop a broken or over-age connection before the pass
    try:
        result = sweep()
    except DatabaseError:
        log.exception("sweep pass failed; reconnecting and continuing")
        _reset_connections()
        return None
    if result.get("failed"):
        _reset_connections()  # a step failed: maybe the connection broke; start the next pass clean
    if any(result.values()):
        log.info("sweep %s", result)
    return result


def _reset_connections() -> None:
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block:  # never close a connection under someone's transaction
            continue
        try:
            conn.close()
        except DatabaseError:
            pass
