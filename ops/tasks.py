"""django-q2 tasks for operations."""

from __future__ import annotations

from ops.models import Component


def cluster_heartbeat() -> dict[str, int]:
    """Every minute from the ``leadops-heartbeat`` schedule. Its enqueue was the scheduler's
    heartbeat and its run is a worker's; it also evaluates alerts, so a dead sweeper is noticed
    even though the sweeper is the other evaluator."""
    from ops.services import alerts_evaluate, heartbeat_record

    heartbeat_record(component=Component.WORKER, force=True)
    return alerts_evaluate()


def worker_ping() -> bool:
    """A routing worker answering the sweeper's ping."""
    from ops.services import heartbeat_record

    return heartbeat_record(component=Component.WORKER, force=True)
