"""Reads and writes behind the ops security pages: login lockouts (django-axes), the outbox of
emails and webhooks. Tokens live in routing/services_tokens.py, sending in reps/notifications.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.db.models import Max, Sum
from django.utils import timezone

from reps.models import OutboundEmail
from routing.models import WebhookDelivery


@dataclass(frozen=True)
class FailedLogins:
    kind: str  # "account" or "address"
    key: str  # the username or the client address
    failures: int
    last_at: dt.datetime
    locked: bool


def failed_logins_recent(*, now: dt.datetime | None = None) -> list[FailedLogins]:
    """Accounts and client addresses with failed logins inside the cool-off window, locked ones
    first. Two grouped queries over django-axes' AccessAttempt rows."""
    now = now or timezone.now()
    recent = AccessAttempt.objects.filter(attempt_time__gte=now - settings.AXES_COOLOFF_TIME)
    limit = settings.AXES_FAILURE_LIMIT
    rows = []
    for kind, column in (("account", "username"), ("address", "ip_address")):
        grouped = recent.exclude(**{f"{column}__isnull": True}).values(column).annotate(
            failures=Sum("failures_since_start"), last_at=Max("attempt_time")
        )
        rows += [
            FailedLogins(kind=kind, key=g[column], failures=g["failures"], last_at=g["last_at"],
                         locked=g["failures"] >= limit)
            for g in grouped
        ]  # fmt: skip
    return sorted(rows, key=lambda r: (not r.locked, -r.failures, r.key))


def login_unlock(*, username: str = "", ip_address: str = "") -> int:
    """Clear the failed-login record of one account or one client address (what
    ``manage.py axes_reset_username`` / ``axes_reset_ip`` do). Returns how many rows went."""
    if username:
        return axes_reset(username=username)
    if ip_address:
        return axes_reset(ip=ip_address)
    return 0


def outbox_emails(*, limit: int = 100) -> list[OutboundEmail]:
    """Emails not (yet) sent: failed ones first, then pending, newest first."""
    rows = OutboundEmail.objects.exclude(status=OutboundEmail.Status.SENT).order_by("status", "-created_at", "-id")
    return list(rows[:limit])


def outbox_webhooks(*, limit: int = 100) -> list[WebhookDelivery]:
    """Webhook deliveries not (yet) delivered: dead-lettered first, then pending, newest first."""
    rows = WebhookDelivery.objects.exclude(status=WebhookDelivery.Status.DELIVERED).order_by("status", "-created_at", "-id")
    return list(rows[:limit])
