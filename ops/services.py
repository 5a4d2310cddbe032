"""Writes for operations: heartbeats, incidents and their notices.

Heartbeats are written by the processes themselves (the sweeper after each pass, django-q2
workers when they start a task, the django-q2 scheduler when it enqueues the heartbeat
schedule). Alerts are evaluated by the sweeper every LEADOPS_ALERT_EVERY_SECONDS and by the
every-minute heartbeat schedule, so either one notices the other's death; both may run at once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import time
import urllib.request
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from ops.components import HEARTBEAT_SCHEDULE
from ops.models import Component, Heartbeat, Incident
from ops.selectors import INSTANCE_MEMORY, alert_conditions

log = logging.getLogger("leadops.ops")

# Per process: when this process last wrote each heartbeat or ran each periodic job (monotonic s).
_last_run: dict[str, float] = {}


def _due(name: str, every: float) -> bool:
    now = time.monotonic()
    if now - _last_run.get(name, float("-inf")) < every:
        return False
    _last_run[name] = now
    return True


def process_instance() -> str:
    """``host:pid`` of the calling process (read on every call: django-q2 workers are forked)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


def heartbeat_record(*, component: Component | str, now: dt.datetime | None = None, force: bool = False) -> bool:
    """Record that this process of ``component`` is alive.

    Writes at most once per LEADOPS_HEARTBEAT_EVERY_SECONDS per process unless ``force``; one
    upsert on (component, instance). Returns whether it wrote. Raises database errors.
    """
    component = Component(component)
    instance = process_instance()
    if not force and not _due(f"beat:{component}:{instance}", settings.LEADOPS_HEARTBEAT_EVERY_SECONDS):
        return False
    now = now or timezone.now()
    with transaction.atomic():  # a savepoint when called inside someone else's transaction
        Heartbeat.objects.bulk_create(
            [Heartbeat(component=component, instance=instance, started_at=now, beat_at=now, stopped_at=None)],
            update_conflicts=True, unique_fields=["component", "instance"], update_fields=["beat_at", "stopped_at"],
        )  # fmt: skip
    if force:
        _last_run[f"beat:{component}:{instance}"] = time.monotonic()
    return True


def heartbeat_stopped(*, component: Component | str, now: dt.datetime | None = None) -> None:
    """A process stopping cleanly says so, so the System page can tell 'stopped' from 'crashed'."""
    Heartbeat.objects.filter(component=Component(component), instance=process_instance()).update(
        stopped_at=now or timezone.now()
    )


def heartbeats_prune(*, now: dt.datetime | None = None) -> int:
    """Forget processes silent for longer than a day (each restart adds a row)."""
    now = now or timezone.now()
    deleted, _ = Heartbeat.objects.filter(beat_at__lt=now - INSTANCE_MEMORY).delete()
    return deleted


# --- django-q2 signal receivers ----------------------------------------------------------------


def _sync_mode() -> bool:
    from django_q.conf import Conf

    return bool(Conf.SYNC)  # tasks run inline in the caller: that is not a worker or scheduler


def on_task_execute(sender: Any, func: Any = None, task: dict | None = None, **kwargs: Any) -> None:
    """django-q2 ``pre_execute`` (in a worker process): the worker is alive."""
    if _sync_mode():
        return
    try:
        heartbeat_record(component=Component.WORKER)
    except Exception:  # a heartbeat must never fail a task
        log.warning("could not record the worker heartbeat", exc_info=True)


def on_task_enqueue(sender: Any, task: dict | None = None, **kwargs: Any) -> None:
    """django-q2 ``pre_enqueue``: when the heartbeat schedule is enqueued, it is the scheduler
    (inside its own transaction, hence the savepoint in heartbeat_record)."""
    if _sync_mode() or not task or task.get("group") != HEARTBEAT_SCHEDULE:
        return
    try:
        heartbeat_record(component=Component.SCHEDULER, force=True)
    except Exception:  # a heartbeat must never break the scheduler
        log.warning("could not record the scheduler heartbeat", exc_info=True)


def worker_ping_enqueue() -> None:
    """Ask a routing worker to beat even when no leads arrive (the sweeper calls this about once a
    minute; the heartbeat schedule is the other source)."""
    from django_q.tasks import async_task

    async_task("ops.tasks.worker_ping", group="ops-ping", q_options={"ack_failure": True})


def sweeper_tick(*, passes: int) -> None:
    """After each sweeper pass: heartbeat, and on their own clocks a worker ping and an alert
    evaluation. Never raises: the sweeper's escalations come first."""
    try:
        heartbeat_record(component=Component.SWEEPER)
        if _due("worker-ping", 60.0) and not _sync_mode():
            worker_ping_enqueue()
        if _due("alerts", settings.LEADOPS_ALERT_EVERY_SECONDS):
            alerts_evaluate()
    except Exception as exc:  # one line: during a database outage this repeats every pass
        log.warning("operations tick failed (%s: %s); the sweeper goes on", type(exc).__name__, str(exc).strip()[:200])


# --- incidents ------------------------------------------------------------------------------------


def alerts_evaluate(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Open an incident for each firing condition that has none, resolve open ones that cleared,
    then send the notices not yet sent. Safe to run concurrently: an incident key has at most one
    open row (partial unique constraint) and each notice is claimed by a conditional UPDATE.

    Returns counts: ``opened``, ``resolved``, ``notices`` (sent).
    """
    now = now or timezone.now()
    conditions = alert_conditions(now=now)
    open_by_key = {i.key: i for i in Incident.objects.filter(resolved_at__isnull=True)}
    opened = resolved = 0
    for condition in conditions:
        incident = open_by_key.get(condition.key)
        if condition.firing and incident is None:
            try:
                with transaction.atomic():
                    incident = Incident.objects.create(
                        key=condition.key, kind=condition.kind, summary=condition.summary[:300],
                        action=condition.action[:300], detail=condition.detail, opened_at=now,
                    )  # fmt: skip
            except IntegrityError:  # another evaluator opened it a moment ago
                continue
            opened += 1
            log.warning("alert opened: %s", incident.summary,
                        extra={"event": "alert.opened", "incident_id": incident.id, "key": incident.key})  # fmt: skip
        elif not condition.firing and incident is not None:
            if Incident.objects.filter(id=incident.id, resolved_at__isnull=True).update(resolved_at=now):
                resolved += 1
                log.info("alert resolved: %s", incident.key,
                         extra={"event": "alert.resolved", "incident_id": incident.id, "key": incident.key})  # fmt: skip
    notices = _notices_send(now=now)
    heartbeats_prune(now=now)
    return {"opened": opened, "resolved": resolved, "notices": notices}


def _claim(incident_id: int, field: str, now: dt.datetime) -> bool:
    return bool(Incident.objects.filter(id=incident_id, **{f"{field}__isnull": True}).update(**{field: now}))


def _notices_send(*, now: dt.datetime) -> int:
    sent = 0
    for incident in Incident.objects.filter(open_notified_at__isnull=True).order_by("id"):
        if _claim(incident.id, "open_notified_at", now):
            sent += _notify(incident, recovered=False)
    due_recovery = Incident.objects.filter(
        resolved_at__isnull=False, resolved_notified_at__isnull=True, open_notified_at__isnull=False
    ).order_by("id")
    for incident in due_recovery:
        if _claim(incident.id, "resolved_notified_at", now):
            sent += _notify(incident, recovered=True)
    return sent


def _notify(incident: Incident, *, recovered: bool) -> int:
    """Send one notice on every configured channel. If every configured channel fails, the claim
    is released so the next evaluation tries again; a channel that worked is not repeated."""
    subject, body, payload = _notice(incident, recovered=recovered)
    channels = {"email": bool(settings.LEADOPS_ALERT_EMAILS), "webhook": bool(settings.LEADOPS_ALERT_WEBHOOK_URL)}
    failures = 0
    if channels["email"]:
        try:
            send_mail(subject, body, None, settings.LEADOPS_ALERT_EMAILS, fail_silently=False)
        except Exception as exc:  # noqa: BLE001 (SMTP errors are many kinds)
            failures += 1
            _log_delivery_failure(incident, "email", exc)
    if channels["webhook"]:
        try:
            _post_alert(payload)
        except Exception as exc:  # noqa: BLE001 (URLError, HTTPError, timeouts, bad URL)
            failures += 1
            _log_delivery_failure(incident, "webhook", exc)
    configured = sum(channels.values())
    if configured and failures == configured:
        field = "resolved_notified_at" if recovered else "open_notified_at"
        Incident.objects.filter(id=incident.id).update(**{field: None})
        return 0
    if not recovered:
        Incident.objects.filter(id=incident.id).update(notified_via=", ".join(c for c, on in channels.items() if on))
    return configured - failures


def _log_delivery_failure(incident: Incident, channel: str, exc: Exception) -> None:
    log.error("alert %s could not be sent by %s: %s", incident.key, channel, exc,
              extra={"event": "alert.delivery_failed", "incident_id": incident.id, "channel": channel})  # fmt: skip


def _notice(incident: Incident, *, recovered: bool) -> tuple[str, str, dict[str, Any]]:
    url = f"{settings.LEADOPS_SITE_URL}/ops/system/"
    if recovered:
        lasted = int((incident.resolved_at - incident.opened_at).total_seconds())
        subject = f"[LeadOps] Recovered: {incident.get_kind_display()} ({incident.key}) after {lasted} s"
        body = (f"Recovered at {incident.resolved_at.isoformat()} after {lasted} s.\n\n"
                f"The problem was: {incident.summary}\n\nSystem page: {url}\n")  # fmt: skip
    else:
        subject = f"[LeadOps] {incident.get_kind_display()}: {incident.summary[:120]}"
        body = (f"{incident.summary}\n\nWhat to do: {incident.action}\n\nSince {incident.opened_at.isoformat()}. "
                f"You will get one notice when it recovers.\nSystem page: {url}\n")  # fmt: skip
    payload = {
        "event": "alert.resolved" if recovered else "alert.opened", "text": subject,
        "incident_id": incident.id, "key": incident.key, "kind": incident.kind, "summary": incident.summary,
        "action": incident.action, "detail": incident.detail, "opened_at": incident.opened_at.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None, "url": url,
    }  # fmt: skip
    return subject, body, payload


def _post_alert(payload: dict[str, Any]) -> None:
    from reps.notifications import SIGNATURE_HEADER, http_open_no_redirects, webhook_signature

    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "LeadOps-Alert/1", "X-LeadOps-Event": payload["event"],
               SIGNATURE_HEADER: webhook_signature(body, settings.LEADOPS_ALERT_WEBHOOK_SECRET or "")}  # fmt: skip
    request = urllib.request.Request(settings.LEADOPS_ALERT_WEBHOOK_URL, data=body, headers=headers, method="POST")
    with http_open_no_redirects(request, timeout=5) as response:  # a 3xx is a failure, never followed
        if not 200 <= response.status < 300:
            raise OSError(f"alert webhook answered {response.status}")
