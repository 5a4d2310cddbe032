"""Reads for operations: component status from heartbeats, alert conditions, readiness checks."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from django.conf import settings
from django.db import connections
from django.db.models import Count, Min, Q
from django.utils import timezone

from ops.components import SPECS, ComponentSpec
from ops.models import Component, Heartbeat, Incident
from routing.models import Lead, Offer

# Rows older than this are history; the System page and status ignore them.
INSTANCE_MEMORY = dt.timedelta(days=1)


@dataclass(frozen=True)
class InstanceStatus:
    instance: str
    started_at: dt.datetime
    beat_at: dt.datetime
    stopped_at: dt.datetime | None
    up: bool


@dataclass(frozen=True)
class ComponentStatus:
    spec: ComponentSpec
    up: bool
    last_beat_at: dt.datetime | None
    silent_seconds: float | None  # since the freshest heartbeat; None when never seen
    instances: list[InstanceStatus] = field(default_factory=list)

    @property
    def component(self) -> str:
        return self.spec.component.value

    @property
    def state_label(self) -> str:
        if self.up:
            return "Running"
        if self.last_beat_at is None:
            return "Down: never reported"
        if self.instances and all(i.stopped_at for i in self.instances):
            return "Down: stopped"
        return "Down: silent"


def component_statuses(*, now: dt.datetime | None = None) -> list[ComponentStatus]:
    """Every component's status from its heartbeats (one query).

    A component is up when at least one of its processes beat within ``down_after_seconds``
    (its beat interval plus LEADOPS_HEARTBEAT_MARGIN_SECONDS) and has not stopped.
    """
    now = now or timezone.now()
    rows: dict[str, list[Heartbeat]] = {c.value: [] for c in Component}
    for beat in Heartbeat.objects.filter(beat_at__gte=now - INSTANCE_MEMORY).order_by("-beat_at"):
        rows.setdefault(beat.component, []).append(beat)
    statuses = []
    for component in Component:
        spec = SPECS[component.value]
        fresh_after = now - dt.timedelta(seconds=spec.down_after_seconds)
        instances = [
            InstanceStatus(instance=b.instance, started_at=b.started_at, beat_at=b.beat_at, stopped_at=b.stopped_at,
                           up=b.stopped_at is None and b.beat_at >= fresh_after)
            for b in rows[component.value]
        ]  # fmt: skip
        last = instances[0].beat_at if instances else None
        statuses.append(ComponentStatus(
            spec=spec, up=any(i.up for i in instances), last_beat_at=last,
            silent_seconds=(now - last).total_seconds() if last else None, instances=instances,
        ))  # fmt: skip
    return statuses


def components_down(*, now: dt.datetime | None = None) -> list[ComponentStatus]:
    return [s for s in component_statuses(now=now) if not s.up]


# --- alert conditions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    key: str
    kind: str
    firing: bool
    summary: str
    action: str
    detail: dict[str, Any]


WAITING_QUEUES = (Lead.Status.PENDING, Lead.Status.HOLDING, Lead.Status.QUARANTINED)


def oldest_waiting_seconds(*, now: dt.datetime) -> dict[str, float]:
    """Seconds the oldest lead of each waiting queue has been in it (0.0 when empty), three queries:

    - pending: since it became pending: received, or put back when its last offer was declined,
      expired or withdrawn (a lead escalating after an hour is not an hour-old pending lead);
    - holding: since it was received (holding leads wait for capacity; their age is what counts);
    - quarantined: since it was quarantined.
    """
    from django.db.models import OuterRef, Subquery
    from django.db.models.functions import Coalesce, Greatest

    last_decided = Subquery(
        Offer.objects.filter(lead=OuterRef("pk"), decided_at__isnull=False).order_by("-decided_at").values("decided_at")[:1]
    )
    since = {
        Lead.Status.PENDING: Lead.objects.filter(status=Lead.Status.PENDING)
        .annotate(since=Greatest("received_at", Coalesce(last_decided, "received_at")))
        .aggregate(first=Min("since"))["first"],
        Lead.Status.HOLDING: Lead.objects.filter(status=Lead.Status.HOLDING).aggregate(first=Min("received_at"))["first"],
        Lead.Status.QUARANTINED: Lead.objects.filter(status=Lead.Status.QUARANTINED)
        .aggregate(first=Min(Coalesce("quarantined_at", "received_at")))["first"],
    }
    return {status.value: max((now - first).total_seconds(), 0.0) if first else 0.0 for status, first in since.items()}


def alert_conditions(*, now: dt.datetime | None = None) -> list[Condition]:
    """Every alert condition with whether it fires now (a handful of queries).

    - component_down:<component>: the component's heartbeat is older than its limit;
    - queue_age: the oldest *pending* lead has waited longer than LEADOPS_ALERT_PENDING_AGE_SECONDS
      (holding leads wait legitimately when nobody can take them; they are in the metrics);
    - sla_misses: in the last LEADOPS_ALERT_SLA_WINDOW_MINUTES, at least LEADOPS_ALERT_SLA_MISSES
      offers expired unanswered and they are at least LEADOPS_ALERT_SLA_MISS_RATIO of the offers
      decided in that window (same meaning of met/missed as the SLA dashboard);
    - quarantine: at least one lead is quarantined (routing raised on it).
    """
    now = now or timezone.now()
    conditions = []
    for status in component_statuses(now=now):
        silent = "has never reported" if status.silent_seconds is None else f"silent for {int(status.silent_seconds)} s"
        conditions.append(Condition(
            key=f"component_down:{status.component}", kind=Incident.Kind.COMPONENT_DOWN, firing=not status.up,
            summary=f"{status.spec.label} is down ({silent}). {status.spec.down_means}",
            action=status.spec.action,
            detail={"component": status.component, "last_beat_at": status.last_beat_at.isoformat() if status.last_beat_at else None,
                    "down_after_seconds": status.spec.down_after_seconds},
        ))  # fmt: skip
    age = oldest_waiting_seconds(now=now)[Lead.Status.PENDING]
    limit = settings.LEADOPS_ALERT_PENDING_AGE_SECONDS
    conditions.append(Condition(
        key="queue_age", kind=Incident.Kind.QUEUE_AGE, firing=age > limit,
        summary=f"The oldest lead waiting to be routed has waited {int(age)} s (alert above {limit} s): "
        "leads are not reaching reps.",
        action="Check the System page: is the routing worker or the sweeper down? Then check the logs "
        "for 'routing batch' errors (docs/operations.md, 'Waiting lead too old').",
        detail={"oldest_pending_age_seconds": round(age, 1), "threshold_seconds": limit},
    ))  # fmt: skip
    window = dt.timedelta(minutes=settings.LEADOPS_ALERT_SLA_WINDOW_MINUTES)
    counts = Offer.objects.filter(decided_at__gte=now - window, decided_at__lte=now).aggregate(
        missed=Count("id", filter=Q(status=Offer.Status.EXPIRED)),
        decided=Count("id", filter=~Q(status=Offer.Status.OPEN)),
    )
    missed, decided = counts["missed"], counts["decided"]
    ratio = missed / decided if decided else 0.0
    spiking = missed >= settings.LEADOPS_ALERT_SLA_MISSES and ratio >= settings.LEADOPS_ALERT_SLA_MISS_RATIO
    conditions.append(Condition(
        key="sla_misses", kind=Incident.Kind.SLA_MISSES, firing=spiking,
        summary=f"{missed} of {decided} offers decided in the last {window.seconds // 60} min expired unanswered "
        f"({ratio:.0%}): reps are missing their SLA.",
        action="Open Dashboards > SLA and Capacity: are reps away or at their cap? (docs/operations.md, 'SLA misses').",
        detail={"missed": missed, "decided": decided, "ratio": round(ratio, 3),
                "window_minutes": settings.LEADOPS_ALERT_SLA_WINDOW_MINUTES},
    ))  # fmt: skip
    count = Lead.objects.filter(status=Lead.Status.QUARANTINED).count()
    conditions.append(Condition(
        key="quarantine", kind=Incident.Kind.QUARANTINE, firing=count > 0,
        summary=f"{count} lead{'s' if count != 1 else ''} quarantined: routing failed on them and they wait for a person.",
        action="Dashboards home lists them with their error: fix the cause (rules, bad data) and route them again "
        "(docs/operations.md, 'Alerts').",
        detail={"quarantined": count},
    ))  # fmt: skip
    return conditions


def incidents_open() -> list[Incident]:
    return list(Incident.objects.filter(resolved_at__isnull=True).order_by("opened_at"))


def incidents_recent(*, limit: int = 20) -> list[Incident]:
    return list(Incident.objects.order_by("-opened_at", "-id")[:limit])


# --- readiness -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str
    ms: float


READINESS_CHECKS = ("database", "migrations", "queue", "sweeper")
_MIGRATION_LEAVES: list[tuple[str, str]] = []


def _migration_leaves() -> list[tuple[str, str]]:
    """The newest migration of each app on disk, read once per process (the code does not
    change under a running process; a deploy restarts it)."""
    if not _MIGRATION_LEAVES:
        from django.db.migrations.loader import MigrationLoader

        loader = MigrationLoader(None, ignore_no_migrations=True, load=True)
        _MIGRATION_LEAVES.extend(sorted(loader.graph.leaf_nodes()))
    return _MIGRATION_LEAVES


def _timed(fn: Callable[[], str]) -> Check:
    started = time.perf_counter()
    try:
        detail = fn()
        ok = True
    except Exception as exc:  # noqa: BLE001 (a readiness check reports any failure as not ready)
        detail, ok = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:200], False
    return Check(ok=ok, detail=detail, ms=round((time.perf_counter() - started) * 1000, 1))


def readiness(*, now: dt.datetime | None = None) -> dict[str, Check]:
    """The readiness checks, each with its own result (a few cheap queries):

    database: ``SELECT 1``; migrations: the newest migration of every app is recorded as applied;
    queue: django-q2's broker answers (queue size); sweeper: a sweeper heartbeat is fresh.
    When the database fails, the checks that need it are reported as failed without trying.
    """
    connection = connections["default"]
    checks: dict[str, Check] = {}

    def database() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "reachable"

    checks["database"] = _timed(database)
    if not checks["database"].ok:
        _close_quietly(connection)
        skipped = Check(ok=False, detail="not checked: database unreachable", ms=0.0)
        return {**checks, "migrations": skipped, "queue": skipped, "sweeper": skipped}

    def migrations() -> str:
        from django.db.migrations.recorder import MigrationRecorder

        leaves = _migration_leaves()
        applied = set(
            MigrationRecorder(connection).migration_qs.filter(name__in={n for _, n in leaves}).values_list("app", "name")
        )
        missing = [f"{app}.{name}" for app, name in leaves if (app, name) not in applied]
        if missing:
            raise RuntimeError(f"{len(missing)} not applied, e.g. {', '.join(missing[:3])}")
        return f"{len(leaves)} apps up to date"

    def queue() -> str:
        from django_q.brokers import get_broker

        broker = get_broker()
        size = broker.queue_size()
        return f"reachable ({broker.info()}), {size} task{'s' if size != 1 else ''} queued"

    def sweeper() -> str:
        status = next(s for s in component_statuses(now=now) if s.component == Component.SWEEPER)
        if not status.up:
            silent = "never reported" if status.silent_seconds is None else f"silent for {int(status.silent_seconds)} s"
            raise RuntimeError(f"sweeper {silent} (limit {status.spec.down_after_seconds:g} s)")
        return f"last heartbeat {status.silent_seconds:.1f} s ago"

    checks["migrations"] = _timed(migrations)
    checks["queue"] = _timed(queue)
    checks["sweeper"] = _timed(sweeper)
    return checks


def _close_quietly(connection: Any) -> None:
    if connection.in_atomic_block:
        return
    try:
        connection.close()
    except Exception:  # noqa: BLE001 (the connection is already broken)
        pass
