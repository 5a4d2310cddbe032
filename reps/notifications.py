"""Tell people and systems about assignment changes: emails to reps and managers, signed webhooks.

Routing services hand every batch of changes to ``webhooks_record`` inside their transaction
(durable ``WebhookDelivery`` rows) and to ``on_routing_events`` after it commits (registered
with ``routing.services.listen`` in ``RepsConfig.ready``). Nothing here may break routing:
emails and HTTP go through django-q2 tasks, and the sweeper retries due webhooks and emails with
exponential backoff until they are delivered or give up (then ops see them at /ops/security/outbox/
and can send them again).

Each email is an ``OutboundEmail`` row and is sent on its own: one bad message (a header that
cannot be encoded, a refused recipient) is recorded on that row and never stops the others.
Webhooks follow the Standard Webhooks specification (https://www.standardwebhooks.com/):
``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">``, signed with the ``standardwebhooks`` library, so receivers verify with
``standardwebhooks.Webhook(secret).verify(body, headers)`` and refuse replays older than 5 minutes.
Redirects are never followed: a 3xx is a failed attempt.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import time
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from reps.models import OutboundEmail
from routing.models import Offer, WebhookDelivery

log = logging.getLogger(__name__)


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


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def header_safe(value: object, *, limit: int = 200) -> str:
    """A single-line header value: CR, LF and other control characters become one space, and
    the result is cut to ``limit`` characters. A lead's company may hold a quoted newline from a
    CSV; in a Subject that is a header-injection attempt (Django refuses it with BadHeaderError)."""
    return _CONTROL.sub(" ", str(value)).strip()[:limit]


def offer_created_notify(*, offer_id: int, now: dt.datetime | None = None) -> int:
    """Email the rep about a new offer; if the offer reached them as manager, say it is an escalation.

    The email is stored first (one per offer, so running this twice sends once), then sent.
    Returns the number of emails sent now (0 or 1); a failed send stays pending for a retry.
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
    email = email_queue(kind="offer_created", offer=offer, to=offer.rep.user.email, subject=subject, body=body, now=now)
    if email is None:  # already queued by an earlier run of this task
        return 0
    return int(email_send(email_id=email.id, now=now) == OutboundEmail.Status.SENT)


def email_queue(*, kind: str, to: str, subject: str, body: str, offer: Offer | None = None,
                now: dt.datetime | None = None) -> OutboundEmail | None:
    """Store one email to send (header values made single-line). None when this offer already
    has an email of this kind. Raises nothing for bad content: sending reports that on the row."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            return OutboundEmail.objects.create(
                kind=header_safe(kind, limit=40), offer=offer, to=header_safe(to, limit=254),
                subject=header_safe(subject, limit=300), body=body, next_attempt_at=now,
            )  # fmt: skip
    except IntegrityError:  # the per-offer unique constraint: this task ran before
        return None


def _claim_email(email_id: int, now: dt.datetime, lease: dt.timedelta) -> bool:
    return bool(
        OutboundEmail.objects.filter(id=email_id, status=OutboundEmail.Status.PENDING, next_attempt_at__lte=now)
        .update(next_attempt_at=now + lease)
    )


def email_send(*, email_id: int, now: dt.datetime | None = None) -> str:
    """Try one due email once. Returns its status afterwards ('' when it was not due).

    Any exception from building or sending the message counts as a failed attempt on this row
    only: retried after ``backoff(attempts)``, given up (FAILED, shown to ops) after
    LEADOPS_EMAIL_MAX_ATTEMPTS tries (default 6)."""
    now = now or timezone.now()
    if not _claim_email(email_id, now, dt.timedelta(seconds=60)):
        return ""
    email = OutboundEmail.objects.get(id=email_id)
    attempts = email.attempts + 1
    try:
        EmailMessage(subject=header_safe(email.subject, limit=300), body=email.body, to=[header_safe(email.to, limit=254)]).send()
    except Exception as exc:  # noqa: BLE001 (quarantine: whatever went wrong, it is this email's alone)
        error = f"{type(exc).__name__}: {exc}"[:300]
        give_up = attempts >= int(_setting("LEADOPS_EMAIL_MAX_ATTEMPTS", 6))
        status = OutboundEmail.Status.FAILED if give_up else OutboundEmail.Status.PENDING
        next_at = now if give_up else now + backoff(attempts)
        log.warning("email %s attempt %s failed (%s)%s", email.id, attempts, error, "; giving up" if give_up else "")
        OutboundEmail.objects.filter(id=email.id).update(attempts=attempts, status=status, next_attempt_at=next_at, last_error=error)
        return status
    OutboundEmail.objects.filter(id=email.id).update(attempts=attempts, status=OutboundEmail.Status.SENT, sent_at=now, last_error="")
    return OutboundEmail.Status.SENT


def emails_send_due(*, now: dt.datetime | None = None, limit: int = 50, budget_seconds: float = 2.0) -> int:
    """Send due emails (first tries and retries), oldest first, within a time budget. Returns how many were sent."""
    now = now or timezone.now()
    started = time.monotonic()
    due = OutboundEmail.objects.filter(status=OutboundEmail.Status.PENDING, next_attempt_at__lte=now)
    sent = 0
    for email_id in due.order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit]:
        if time.monotonic() - started > budget_seconds:
            break
        if email_send(email_id=email_id, now=now) == OutboundEmail.Status.SENT:
            sent += 1
    return sent


def email_resend(*, email_id: int, now: dt.datetime | None = None) -> bool:
    """Ops asked to send a failed email again: back to pending with a fresh attempt count.
    Returns False when it was not in the failed state."""
    now = now or timezone.now()
    return bool(OutboundEmail.objects.filter(id=email_id, status=OutboundEmail.Status.FAILED).update(
        status=OutboundEmail.Status.PENDING, attempts=0, next_attempt_at=now, last_error=""
    ))  # fmt: skip


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


# The ops alert webhook (ops/services.py) keeps its plain HMAC header: alert receivers (chat
# incoming-webhook bridges) check that, not Standard Webhooks. CRM webhooks use webhook_headers.
SIGNATURE_HEADER = "X-LeadOps-Signature"


def webhook_signature(body: bytes, secret: str) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``, the alert webhook's signature."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_signer(secret: str) -> Webhook:
    """A Standard Webhooks signer for LEADOPS_WEBHOOK_SECRET. A ``whsec_<base64>`` secret (the
    specification's format, what its libraries expect) is decoded; any other string is used as
    raw UTF-8 key bytes (receivers then pass ``secret.encode()`` to ``Webhook``)."""
    return Webhook(secret if secret.startswith("whsec_") else secret.encode())


def webhook_headers(delivery: WebhookDelivery, body: bytes, *, secret: str, now: dt.datetime) -> dict[str, str]:
    """Standard Webhooks headers for one attempt: the id is stable across retries, the timestamp
    is the attempt's (receivers refuse ones more than 5 minutes off, which stops replays)."""
    now = now.astimezone(dt.UTC)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "LeadOps-Webhook/2",
        "X-LeadOps-Event": delivery.event,
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(int(now.timestamp())),
    }
    if secret:
        headers["webhook-signature"] = webhook_signer(secret).sign(
            msg_id=delivery.message_id, timestamp=now, data=body.decode()
        )
    return headers


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is answered as an error: following it would send the signed body elsewhere (or
    turn it into a GET to any host) and mark the delivery done."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201, PLR0913
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def http_open_no_redirects(request: urllib.request.Request, *, timeout: float):  # noqa: ANN201
    """urlopen for outbound webhooks (CRM and alerts): a 3xx raises HTTPError instead of being followed."""
    return _OPENER.open(request, timeout=timeout)  # noqa: S310 (configured URL)


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with _OPENER.open(request, timeout=timeout) as response:  # noqa: S310 (configured URL)
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
    attempts = delivery.attempts + 1
    try:
        headers = webhook_headers(delivery, body, secret=settings.LEADOPS_WEBHOOK_SECRET or "", now=now)
        _post(settings.LEADOPS_WEBHOOK_URL, body, headers, timeout)
    except Exception as exc:  # noqa: BLE001 (URLError/HTTPError/timeouts are OSErrors; anything else is this row's too)
        error = f"{exc} ({type(exc).__name__})"[:300]
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
        attempts=attempts, status=WebhookDelivery.Status.DELIVERED, last_error="", delivered_at=now
    )
    return WebhookDelivery.Status.DELIVERED


def webhook_redeliver(*, delivery_id: int, now: dt.datetime | None = None) -> bool:
    """Ops asked to deliver a dead-lettered webhook again: back to pending, attempts from zero,
    due now (the sweeper or the next wake-up sends it). False when it was not in the failed state."""
    now = now or timezone.now()
    return bool(WebhookDelivery.objects.filter(id=delivery_id, status=WebhookDelivery.Status.FAILED).update(
        status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=now, last_error=""
    ))  # fmt: skip


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
