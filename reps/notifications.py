"""Tell people and systems about assignment changes: emails to reps and managers, signed webhooks.

Routing services hand every batch of changes to ``webhooks_record`` inside their transaction
(durable ``WebhookDelivery`` rows) and to ``on_routing_events`` after it commits (registered
with ``routing.services.listen`` in ``RepsConfig.ready``). Nothing here may break routing:
emails and HTTP go through django-q2 tasks, and the sweeper retries due webhooks and emails with
exponential backoff until they are delivered or give up (then ops see them at /ops/security/outbox/
and can send them again).

Each email is an ``OutboundEmail`` row with its own outcome: one bad message (a header that
cannot be encoded, a refused recipient) is recorded on that row and never stops the others. A
routing batch's offer emails are stored with one INSERT, claimed as they are stored, sent over
one mail connection and marked sent with one UPDATE (``offers_created_notify``).
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
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, mailers
from django.core.mail.backends.base import BaseEmailBackend
from django.db import IntegrityError, connection, transaction
from django.db.models import F
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


EMAIL_LEASE = dt.timedelta(seconds=60)
"""How long a claimed email is its claimer's alone to send: ``next_attempt_at`` is moved this far
ahead, so the retry sweep (which takes only due rows) cannot send it meanwhile."""


def offer_created_message(offer: Offer) -> tuple[str, str]:
    """Subject and body of the email telling ``offer.rep`` about ``offer`` (an Offer with ``lead``
    and ``lead.segment`` loaded); escalation wording when the offer reached them as manager.
    Raises whatever the lead's fields raise when formatted (the caller quarantines the offer)."""
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
    return subject, body


def offer_created_notify(*, offer_id: int, now: dt.datetime | None = None) -> int:
    """Email the rep about one new offer: ``offers_created_notify`` with one id (same guarantees).
    Returns the number of emails sent now (0 or 1)."""
    return offers_created_notify(offer_ids=[offer_id], now=now)


def offers_created_notify(*, offer_ids: Iterable[int], now: dt.datetime | None = None) -> int:
    """Email each rep about their new offer (``offer_ids``: a routing batch's Offer ids; missing
    ids are skipped), with a fixed number of queries for the batch, not per offer.

    1. Fetch the offers still open, with lead, segment and the rep's user (one query). An offer
       no longer open, or whose rep has no email address, gets no email.
    2. Build each subject and body (``offer_created_message``). An offer that raises here is
       logged and skipped; the others go on.
    3. Store the emails with one ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` (per 500 rows,
       ``_emails_insert_new``). The per-offer unique constraint decides: an offer that already
       has its email (this task ran before, or runs now elsewhere) gets no row back and is not
       sent again. The rows are stored claimed (``next_attempt_at = now + EMAIL_LEASE``), so
       only this run sends them and the retry sweep cannot take them meanwhile.
    4. Send them over one mail connection (``_emails_deliver``), each message on its own: one
       that raises (a bad header, a refused recipient) fails alone. Sending stops once half the
       lease is spent, so no row is sent after its claim could have passed to the sweep.
    5. Record the outcomes (``_emails_record``): sent rows in one UPDATE; a failed row gets a
       failed attempt exactly as ``email_send`` records one (backoff, FAILED after
       LEADOPS_EMAIL_MAX_ATTEMPTS); rows not tried are made due at once for the sweep.

    ``now``: aware datetime (default: the current time). Returns the number of emails sent now.
    Raises DatabaseError if a query fails: nothing is sent when step 1 or 3 fails; if step 5
    fails, the claimed rows stay pending and the sweep sends them once the lease runs out (again,
    for those already sent: at least once, as ``email_send`` is for one email).
    """
    now = now or timezone.now()
    started = time.monotonic()
    ids = sorted(set(offer_ids))
    if not ids:
        return 0
    offers = Offer.objects.select_related("lead", "lead__segment", "rep__user").filter(id__in=ids).order_by("id")
    emails = []
    for offer in offers:
        if offer.status != Offer.Status.OPEN or not offer.rep.user.email:
            continue
        try:
            subject, body = offer_created_message(offer)
        except Exception:  # quarantine: one bad offer must not cost the others their emails
            log.exception("could not prepare the email for offer %s", offer.id)
            continue
        emails.append(OutboundEmail(
            kind="offer_created", offer_id=offer.id, to=header_safe(offer.rep.user.email, limit=254),
            subject=header_safe(subject, limit=300), body=body, next_attempt_at=now + EMAIL_LEASE,
        ))  # fmt: skip
    claimed = _emails_insert_new(emails)
    if not claimed:
        return 0
    sent, failed, untried = _emails_deliver(claimed, stop_at=started + EMAIL_LEASE.total_seconds() / 2)
    _emails_record(claimed, sent=sent, failed=failed, untried=untried, now=now)
    return len(sent)


def _emails_insert_new(emails: list[OutboundEmail]) -> list[OutboundEmail]:
    """INSERT ``emails`` (unsaved, each with an offer), skipping any whose offer already has an
    email of that kind; returns the ones inserted, ids set, in id order.

    One ``INSERT ... VALUES ... ON CONFLICT DO NOTHING RETURNING id, offer_id, kind`` per 500
    rows, on PostgreSQL and on SQLite (3.35+ reads RETURNING; Django 6.1 needs 3.37): the
    statement that lets the unique constraint refuse a row is the one that says which rows are
    new, so an email is ours exactly when the database inserted it. ``bulk_create(...,
    ignore_conflicts=True)`` sets no ids, and a read-back afterwards cannot tell this run's rows
    from ones an earlier or concurrent run stored for the same offers (same kind, same moment):
    it would take one more statement to claim them, and a window for the sweep between the two.
    Raises DatabaseError."""
    if not emails:
        return []
    meta = OutboundEmail._meta
    fields = [f for f in meta.concrete_fields if f is not meta.pk]
    qn = connection.ops.quote_name
    names = ", ".join(qn(f.column) for f in fields)
    returning = ", ".join(qn(meta.get_field(name).column) for name in ("id", "offer", "kind"))
    by_key = {(email.offer_id, email.kind): email for email in emails}
    inserted = []
    size = max(1, min(500, connection.ops.bulk_batch_size(fields, emails)))
    with connection.cursor() as cursor:
        for start in range(0, len(emails), size):
            chunk = emails[start:start + size]
            rows = [[f.get_db_prep_save(f.pre_save(email, add=True), connection) for f in fields] for email in chunk]
            values = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {qn(meta.db_table)} ({names}) VALUES {values} ON CONFLICT DO NOTHING RETURNING {returning}",
                [value for row in rows for value in row],
            )
            for email_id, offer_id, kind in cursor.fetchall():
                email = by_key[(offer_id, kind)]
                email.id = email_id
                email._state.adding, email._state.db = False, connection.alias
                inserted.append(email)
    return sorted(inserted, key=lambda email: email.id)


def _email_message(email: OutboundEmail) -> EmailMessage:
    return EmailMessage(subject=header_safe(email.subject, limit=300), body=email.body, to=[header_safe(email.to, limit=254)])


def _emails_deliver(
    emails: list[OutboundEmail], *, stop_at: float
) -> tuple[list[OutboundEmail], dict[int, Exception], list[OutboundEmail]]:
    """Send ``emails`` (claimed rows) in order over one connection of the default mailer, none
    started after ``stop_at`` (a ``time.monotonic()`` value). Returns (sent, {email id: what its
    send raised}, not tried). A message that raises is that message's failure only; the
    connection is then opened afresh, in case the server dropped the session."""
    sent: list[OutboundEmail] = []
    failed: dict[int, Exception] = {}
    mailer = mailers.default
    try:
        mailer.open()
    except Exception as exc:  # noqa: BLE001 (no server: every message fails this attempt, each on its row)
        return [], dict.fromkeys((email.id for email in emails), exc), []
    try:
        for index, email in enumerate(emails):
            if time.monotonic() > stop_at:
                return sent, failed, emails[index:]
            try:
                mailer.send_messages([_email_message(email)])
            except Exception as exc:  # noqa: BLE001 (quarantine: whatever went wrong, it is this email's alone)
                failed[email.id] = exc
                _mailer_reopen(mailer)
            else:
                sent.append(email)
    finally:
        _mailer_close(mailer)
    return sent, failed, []


def _mailer_reopen(mailer: BaseEmailBackend) -> None:
    _mailer_close(mailer)
    try:
        mailer.open()
    except Exception:  # noqa: BLE001 (the next message's send opens again and records its own failure)
        log.warning("could not reopen the mail connection", exc_info=True)


def _mailer_close(mailer: BaseEmailBackend) -> None:
    try:
        mailer.close()
    except Exception:  # noqa: BLE001 (QUIT refused: the messages were already accepted)
        log.warning("could not close the mail connection", exc_info=True)


def _emails_record(
    emails: list[OutboundEmail], *, sent: list[OutboundEmail], failed: dict[int, Exception],
    untried: list[OutboundEmail], now: dt.datetime,
) -> None:  # fmt: skip
    """Write what ``_emails_deliver`` reported on the claimed rows: one UPDATE for the sent ones,
    one per distinct failure outcome (usually one: the same error, the same next try), one to
    make the untried due now."""
    if sent:
        OutboundEmail.objects.filter(id__in=[email.id for email in sent]).update(
            attempts=F("attempts") + 1, status=OutboundEmail.Status.SENT, sent_at=now, last_error=""
        )
    outcomes: dict[tuple[int, str, dt.datetime, str], list[int]] = defaultdict(list)
    for email in emails:
        if email.id in failed:
            attempts = email.attempts + 1
            outcomes[(attempts, *_failed_attempt(email.id, attempts, failed[email.id], now))].append(email.id)
    for (attempts, status, next_at, error), ids in outcomes.items():
        OutboundEmail.objects.filter(id__in=ids).update(attempts=attempts, status=status, next_attempt_at=next_at, last_error=error)
    if untried:
        OutboundEmail.objects.filter(id__in=[email.id for email in untried]).update(next_attempt_at=now)


def _failed_attempt(email_id: int, attempts: int, exc: Exception, now: dt.datetime) -> tuple[str, dt.datetime, str]:
    """(status, next_attempt_at, last_error) after failed attempt number ``attempts``: retried
    after ``backoff(attempts)``, FAILED once LEADOPS_EMAIL_MAX_ATTEMPTS (default 6) are spent."""
    error = f"{type(exc).__name__}: {exc}"[:300]
    give_up = attempts >= int(_setting("LEADOPS_EMAIL_MAX_ATTEMPTS", 6))
    status = OutboundEmail.Status.FAILED if give_up else OutboundEmail.Status.PENDING
    next_at = now if give_up else now + backoff(attempts)
    log.warning("email %s attempt %s failed (%s)%s", email_id, attempts, error, "; giving up" if give_up else "")
    return status, next_at, error


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
    if not _claim_email(email_id, now, EMAIL_LEASE):
        return ""
    email = OutboundEmail.objects.get(id=email_id)
    attempts = email.attempts + 1
    try:
        _email_message(email).send()
    except Exception as exc:  # noqa: BLE001 (quarantine: whatever went wrong, it is this email's alone)
        status, next_at, error = _failed_attempt(email.id, attempts, exc, now)
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
