"""Outbound webhooks: signed per Standard Webhooks, retried with exponential backoff, given up
(dead-lettered) after N attempts, never following a redirect; ops can redeliver.

A real HTTP server runs in a thread; nothing in our database or queue is mocked. Signatures are
checked with the ``standardwebhooks`` library, as a receiver would.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings
from django.utils import timezone

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from reps.notifications import webhook_queue, webhook_redeliver, webhooks_deliver_due
from routing.models import WebhookDelivery
from tests.reps.helpers import make_world, route_new_lead

pytestmark = pytest.mark.django_db

SECRET = "whsec_" + base64.b64encode(b"a receiver's shared secret, 32b!").decode()


class Receiver:
    def __init__(self) -> None:
        self.statuses: list[int] = []  # responses to give, in order; then 200
        self.location = ""  # sent with a 3xx status
        self.requests: list[tuple[Message, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.headers, body))  # case-insensitive
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if 300 <= status < 400 and receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802 (a followed redirect would arrive as a GET)
                receiver.requests.append((self.headers, b""))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def _serve(rec: Receiver) -> None:
    threading.Thread(target=rec.server.serve_forever, daemon=True).start()


def _stop(rec: Receiver) -> None:
    rec.server.shutdown()
    rec.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    _serve(rec)
    with override_settings(
        LEADOPS_WEBHOOK_URL=rec.url, LEADOPS_WEBHOOK_SECRET=SECRET,
        LEADOPS_WEBHOOK_MAX_ATTEMPTS=3, LEADOPS_WEBHOOK_BACKOFF_SECONDS=5,
    ):  # fmt: skip
        yield rec
    _stop(rec)


def _valid(headers: Message, body: bytes) -> bool:
    """What a receiver does with the Standard Webhooks library: verify id, timestamp and signature."""
    try:
        Webhook(SECRET).verify(body, dict(headers.items()))
    except WebhookVerificationError:
        return False
    return True


def test_an_assignment_is_posted_at_once_with_a_valid_signature(receiver: Receiver, django_capture_on_commit_callbacks) -> None:
    world = make_world()
    with django_capture_on_commit_callbacks(execute=True):
        lead = route_new_lead()
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    assert _valid(headers, body)
    assert not _valid(headers, body + b" ")
    data = json.loads(body)
    assert data["event"] == "offer.created"
    assert (data["data"]["lead_id"], data["data"]["rep_id"]) == (lead.id, world.primary.id)
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.DELIVERED


def test_a_failed_delivery_is_retried_with_exponential_backoff(receiver: Receiver) -> None:
    t0 = timezone.now()
    receiver.statuses = [500, 503]
    delivery = webhook_queue(event="offer.accepted", payload={"lead_id": 1}, now=t0)

    assert webhooks_deliver_due(now=t0) == 0
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.next_attempt_at) == (1, t0 + dt.timedelta(seconds=5))
    assert webhooks_deliver_due(now=t0 + dt.timedelta(seconds=4)) == 0
    assert len(receiver.requests) == 1  # not due yet: no request

    assert webhooks_deliver_due(now=t0 + dt.timedelta(seconds=5)) == 0
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.next_attempt_at) == (2, t0 + dt.timedelta(seconds=15))

    assert webhooks_deliver_due(now=t0 + dt.timedelta(seconds=15)) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.DELIVERED, 3)
    bodies = {body for _, body in receiver.requests}
    assert len(receiver.requests) == 3 and len(bodies) == 1  # the same signed body each time
    assert all(_valid(h, b) for h, b in receiver.requests)


def test_it_gives_up_after_the_maximum_attempts(receiver: Receiver) -> None:
    t0 = timezone.now()
    receiver.statuses = [500] * 10
    delivery = webhook_queue(event="lead.converted", payload={"lead_id": 2}, now=t0)
    for seconds in (0, 5, 15, 35, 75):
        webhooks_deliver_due(now=t0 + dt.timedelta(seconds=seconds))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.FAILED, 3)
    assert "500" in delivery.last_error
    assert len(receiver.requests) == 3


def test_an_unreachable_endpoint_counts_as_a_failed_attempt(receiver: Receiver) -> None:
    t0 = timezone.now()
    delivery = webhook_queue(event="lead.holding", payload={"lead_id": 3}, now=t0)
    with override_settings(LEADOPS_WEBHOOK_URL="http://127.0.0.1:9/closed"):
        assert webhooks_deliver_due(now=t0) == 0
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.PENDING, 1)


@override_settings(LEADOPS_WEBHOOK_URL="")
def test_without_a_webhook_url_nothing_is_queued(django_capture_on_commit_callbacks) -> None:
    make_world()
    with django_capture_on_commit_callbacks(execute=True):
        route_new_lead()
    assert WebhookDelivery.objects.count() == 0


def test_the_delivery_row_is_written_in_the_routing_transaction(receiver: Receiver) -> None:
    """No on-commit callbacks run here (as if the process died right after the commit): the
    durable row is there anyway, and the sweeper's pass delivers it."""
    make_world()
    lead = route_new_lead()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.event, delivery.payload["lead_id"], delivery.status) == ("offer.created", lead.id, "pending")
    assert receiver.requests == []
    assert webhooks_deliver_due() == 1
    assert len(receiver.requests) == 1


def test_one_batch_makes_one_email_task_for_all_its_offers(django_capture_on_commit_callbacks) -> None:
    from django.core import mail

    from routing.services import leads_route_all_pending
    from tests.factories import LeadFactory

    world = make_world(pool_size=3)
    for _ in range(3):
        LeadFactory(intent="high")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        leads_route_all_pending()
    assert len(callbacks) <= 2  # the batch's listeners fire once, not once per offer
    assert sorted(len(m.to) for m in mail.outbox) == [1, 1, 1]
    assert world.primary.user.email in {m.to[0] for m in mail.outbox}


def test_a_delivery_verifies_with_the_standard_webhooks_library_and_names_its_parts(receiver: Receiver) -> None:
    t0 = timezone.now()
    delivery = webhook_queue(event="offer.accepted", payload={"lead_id": 7}, now=t0)
    assert webhooks_deliver_due(now=t0) == 1
    headers, body = receiver.requests[0]
    assert headers["webhook-id"] == f"msg_leadops_{delivery.id}"
    assert headers["webhook-timestamp"] == str(int(t0.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(SECRET).verify(body, dict(headers.items()))["data"]["lead_id"] == 7
    tampered = {**dict(headers.items()), "webhook-id": "msg_other"}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, tampered)  # the id is signed: a receiver's de-duplication key cannot be swapped


def test_a_replayed_delivery_is_refused_by_the_receiver(receiver: Receiver) -> None:
    """The timestamp is signed; Standard Webhooks receivers refuse one more than 5 minutes old."""
    t0 = timezone.now() - dt.timedelta(minutes=10)  # as if captured ten minutes ago and replayed now
    webhook_queue(event="offer.accepted", payload={"lead_id": 8}, now=t0)
    webhooks_deliver_due(now=t0)
    headers, body = receiver.requests[0]
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(body, dict(headers.items()))


def test_a_redirect_is_not_followed_and_counts_as_a_failure(receiver: Receiver) -> None:
    elsewhere = Receiver()
    _serve(elsewhere)
    try:
        t0 = timezone.now()
        receiver.statuses, receiver.location = [302], elsewhere.url
        delivery = webhook_queue(event="offer.accepted", payload={"lead_id": 9}, now=t0)
        assert webhooks_deliver_due(now=t0) == 0
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.PENDING, 1)
        assert "302" in delivery.last_error and delivery.delivered_at is None
        assert elsewhere.requests == []  # nothing reached the other host, as GET or POST
    finally:
        _stop(elsewhere)


def test_redirects_until_the_last_attempt_dead_letter_it_and_ops_can_redeliver(receiver: Receiver) -> None:
    t0 = timezone.now() - dt.timedelta(minutes=1)
    receiver.statuses, receiver.location = [301, 307, 308], "http://evil.example/"
    delivery = webhook_queue(event="lead.converted", payload={"lead_id": 10}, now=t0)
    for seconds in (0, 5, 15):
        webhooks_deliver_due(now=t0 + dt.timedelta(seconds=seconds))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.FAILED, 3)
    assert webhooks_deliver_due(now=t0 + dt.timedelta(hours=2)) == 0  # dead-lettered: no more tries

    assert webhook_redeliver(delivery_id=delivery.id) is True
    assert webhook_redeliver(delivery_id=delivery.id) is False  # only a failed delivery can be redelivered
    assert webhooks_deliver_due() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.DELIVERED, 1)
    assert _valid(*receiver.requests[-1])
