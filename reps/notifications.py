"""Tell people and systems about assignment changes: emails to reps and managers, signed webhooks.

Routing services hand every batch of changes to ``webhooks_record`` inside their transaction
(durable ``WebhookDelivery`` rows) and to ``on_routing_events`` after it commits (registered
with ``routing.services.listen`` in ``RepsConfig.ready``). Nothing here may break routing:
emails and HTTP go through django-q2 tasks, and the sweeper retries due webhooks with
exponential backoff until they are delivered or give up.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from routing.models import Offer, WebhookDelivery

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-LeadOps-Signature"
# Events after which the lead is pending again and should be routed without waiting for a sweep.


def _setting(name: str, default: float) -> float:
    return getattr(settings, name, default)


def max_attempts() -> int:
    return int(_setting("LEADOPS_WEBHOOK_MAX_ATTEMPTS", 8))


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next try after ``attempts`` failures: base * 2^(n-1), capped at one hour."""
    base = float(_setting("LEADOPS_WEBHOOK_BACKOFF_SECONDS", 5))
    return dt.timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 3600))


# --- the listeners ------------------------------------------------------------------------


def webhooks_record(events: list[tuple[str, dict[str, Any]]]) -> None:
    """Inside the routing transaction: one durable delivery row per event, written atomically
    with the change, so a crash right after the commit cannot lose a webhook."""
    if not settings.LEADOPS_WEBHOOK_URL:
        return
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(event=event[:50], payload={**payload, "occurred_at": now.isoformat()}, next_attempt_at=now)
         for event, payload in events]
    )  # fmt: skip


def on_routing_events(events: list[tuple[str, dict[str, Any]]]) -> None:
    """After the commit: one task for the batch's offer emails and one to send its webhooks
    (a task per offer cost the routing worker ~2 ms per decision)."""
    offer_ids = [payload["offer_id"] for event, payload in events if event == "offer.created" and payload.get("offer_id")]
    if offer_ids:
        _enqueue("reps.tasks.notify_offers_created", offer_ids)
    if settings.LEADOPS_WEBHOOK_URL:
        _enqueue("reps.tasks.webhooks_deliver")


def _enqueue(func: str, *args: Any) -> None:
    from django_q.tasks import async_task

    try:
        async_task(func, *args, group="notify", q_options={"ack_failure": True})
    except Exception:  # the queue being down must not break routing; webhooks are retried by the sweeper
        log.exception("could not enqueue %s", func)


# --- email --------------------------------------------------------------------------------


def offer_created_notify(*, offer_id: int) -> int:
    """Email the rep about a new offer; if the offer reached them as manager, say it is an escalation.

    Returns the number of emails sent.
    """
    offer = Offer.objects.select_related("lead", "lead__segment", "rep__user").filter(id=offer_id).first()
    if offer is None or offer.status != Offer.Status.OPEN or not offer.rep.user.email:
        return 0
    lead = offer.lead
    deadline = timezone.localtime(offer.deadline).strftime("%H:%M %Z")
    facts = f"{lead} · {lead.currency} {lead.value} · {lead.segment or 'no segment'} · {lead.source}"
    if offer.via == "manager":
        subject = f"Escalation: a lead reached you as manager ({lead})"
        body = (
            f"Nobody in the pool took this lead in time, so it escalated to you.\n\n{facts}\n"
            f"Accept before {deadline}: {settings.LEADOPS_SITE_URL}/inbox/\n"
        )
    else:
        subject = f"New lead offered to you: {lead}"
        body = f"{facts}\nAccept before {deadline}: {settings.LEADOPS_SITE_URL}/inbox/\n"
    return send_mail(subject, body, None, [offer.rep.user.email], fail_silently=False)


# --- webhooks -----------------------------------------------------------------------------


def webhook_queue(*, event: str, payload: dict[str, Any], now: dt.datetime | None = None) -> WebhookDelivery | None:
    """Store one outbound webhook outside a routing batch (nothing when no URL is configured)."""
    if not settings.LEADOPS_WEBHOOK_URL:
        return None
    now = now or timezone.now()
    return WebhookDelivery.objects.create(
        event=event[:50], payload={**payload, "occurred_at": now.isoformat()}, next_attempt_at=now
    )


def webhook_body(delivery: WebhookDelivery) -> bytes:
    data = {"id": delivery.id, "event": delivery.event, "data": delivery.payload}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()


def webhook_signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (configured URL)
        if not 200 <= response.status < 300:
            raise urllib.error.HTTPError(url, response.status, "unexpected status", response.headers, None)


def _claim(delivery_id: int, now: dt.datetime, lease: dt.timedelta) -> bool:
    """Take a due delivery for ourselves: a conditional update, so two senders never both win."""
    return bool(
        WebhookDelivery.objects.filter(
            id=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        ).update(next_attempt_at=now + lease)
    )


def webhook_deliver(*, delivery_id: int, now: dt.datetime | None = None) -> str:
    """Try one due delivery once. Returns its status afterwards ('' when it was not due)."""
    now = now or timezone.now()
    timeout = float(_setting("LEADOPS_WEBHOOK_TIMEOUT", 3))
    if not _claim(delivery_id, now, dt.timedelta(seconds=timeout + 30)):
        return ""
    delivery = WebhookDelivery.objects.get(id=delivery_id)
    body = webhook_body(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "LeadOps-Webhook/1",
        "X-LeadOps-Event": delivery.event,
        "X-LeadOps-Delivery": str(delivery.id),
        SIGNATURE_HEADER: webhook_signature(body, settings.LEADOPS_WEBHOOK_SECRET or ""),
    }
    attempts = delivery.attempts + 1
    try:
        _post(settings.LEADOPS_WEBHOOK_URL, body, headers, timeout)
    except (OSError, ValueError) as exc:  # URLError/HTTPError/timeouts are OSErrors
        error = str(exc)[:300]
        if attempts >= max_attempts():
            status, next_at = WebhookDelivery.Status.FAILED, now
            log.error("webhook %s gave up after %s attempts: %s", delivery.id, attempts, error,
                      extra={"event": "webhook.failed", "delivery_id": delivery.id, "webhook_event": delivery.event,
                             "attempts": attempts, "gave_up": True})  # fmt: skip
        else:
            status, next_at = WebhookDelivery.Status.PENDING, now + backoff(attempts)
            log.warning("webhook %s attempt %s failed (%s); next at %s", delivery.id, attempts, error, next_at,
                        extra={"event": "webhook.failed", "delivery_id": delivery.id, "webhook_event": delivery.event,
                               "attempts": attempts, "gave_up": False})  # fmt: skip
        WebhookDelivery.objects.filter(id=delivery.id).update(
            attempts=attempts, status=status, next_attempt_at=next_at, last_error=error
        )
        return status
    WebhookDelivery.objects.filter(id=delivery.id).update(
        attempts=attempts, status=WebhookDelivery.Status.DELIVERED, last_error=""
    )
    return WebhookDelivery.Status.DELIVERED


def webhooks_deliver_due(*, now: dt.datetime | None = None, limit: int = 50, budget_seconds: float = 2.0) -> int:
    """Deliver due webhooks, oldest first, within a time budget so a slow CRM cannot hold up
    the sweeper's escalations. Returns how many were delivered."""
    if not settings.LEADOPS_WEBHOOK_URL:
        return 0
    now = now or timezone.now()
    started = time.monotonic()
    due = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
    delivered = 0
    for delivery_id in due.order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit]:
        if time.monotonic() - started > budget_seconds:
            break
        if webhook_deliver(delivery_id=delivery_id, now=now) == WebhookDelivery.Status.DELIVERED:
            delivered += 1
    return delivered
