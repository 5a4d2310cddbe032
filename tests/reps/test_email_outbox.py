"""Offer emails: header values made single-line, each message's failure its own, failures retried
with backoff, given up after N tries and shown to ops (issue 12, failing input 4); a routing
batch's emails cost a fixed number of queries and one mail connection (issue 16).

Leads come in through the real CSV importer and are routed by the real services; the only
stand-in is the mail server (tests/reps/mail_backends.py), which refuses chosen recipients or
counts connections. The batch tests make their offers directly: they are about the emails.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reps.models import OutboundEmail, Role
from reps.notifications import (
    email_queue, email_resend, emails_send_due, header_safe, offer_created_notify, offers_created_notify,
)  # fmt: skip
from reps.tasks import notify_offers_created
from routing.csv_import import lead_import_create, lead_import_process
from routing.models import Offer
from routing.services import leads_route_all_pending
from tests.factories import LeadFactory, RepFactory, user_with_role
from tests.reps.helpers import make_world, route_new_lead
from tests.reps.mail_backends import CountingBackend

pytestmark = pytest.mark.django_db

REFUSING = {"default": {"BACKEND": "tests.reps.mail_backends.RefusingBackend"}}
EVIL_COMPANY = 'Evil\nBcc: everyone@example.com'


def test_header_safe_folds_every_line_break_and_control_character() -> None:
    assert header_safe("Acme\r\nBcc: x@example.com\u2028Ltd\x00") == "Acme Bcc: x@example.com Ltd"
    assert header_safe("x" * 500, limit=10) == "x" * 10


def test_a_csv_company_with_a_quoted_newline_does_not_stop_the_batchs_emails(
    django_capture_on_commit_callbacks, tmp_path: Path
) -> None:
    make_world(pool_size=3)
    csv_text = (
        "source,external_id,first_name,company,intent\r\n"
        f'csv,bad,Eve,"{EVIL_COMPANY}",high\r\n'
        "csv,ok-1,Ann,Acme,high\r\ncsv,ok-2,Bob,Beta,high\r\n"
    )
    path = tmp_path / "leads.csv"
    path.write_bytes(csv_text.encode())
    job = lead_import_process(import_id=lead_import_create(path=path, file_name="leads.csv").id)
    assert job is not None and job.created + job.rejected == 3
    with django_capture_on_commit_callbacks(execute=True):
        leads_route_all_pending()
    offers = list(Offer.objects.filter(status=Offer.Status.OPEN).select_related("lead"))
    refused_rows = {e["line"] for e in job.errors}
    # Whether the importer keeps the company (then the header is cleaned) or refuses the row
    # naming the field, the two good leads are emailed and no header carries a line break.
    assert {o.lead.external_id for o in offers} >= {"ok-1", "ok-2"}
    assert not refused_rows or {e["field"] for e in job.errors} == {"company"}
    assert len(mail.outbox) == len(offers) == OutboundEmail.objects.filter(status=OutboundEmail.Status.SENT).count()
    for message in mail.outbox:
        assert "\n" not in message.subject and "\r" not in message.subject
        assert message.recipients() == message.to and len(message.to) == 1  # no injected Bcc
    if not refused_rows:
        bad = next(m for m in mail.outbox if "Evil" in m.subject)
        assert "Evil Bcc: everyone@example.com" in bad.subject


def test_a_newline_in_the_company_is_sent_on_one_header_line(django_capture_on_commit_callbacks) -> None:
    make_world()
    with django_capture_on_commit_callbacks(execute=True):
        route_new_lead(company="Acme\r\nX-Injected: yes")
    [message] = mail.outbox
    assert "X-Injected" not in message.message().keys()
    assert message.subject.endswith("(Acme X-Injected: yes)")


@override_settings(MAILERS=REFUSING, LEADOPS_EMAIL_MAX_ATTEMPTS=3)
def test_a_refused_message_is_retried_with_backoff_then_given_up_while_the_others_go(django_capture_on_commit_callbacks) -> None:
    world = make_world(pool_size=3)
    refused = RepFactory(user__email="refuse-me@example.com")
    from reps.models import PoolMember

    PoolMember.objects.create(pool=world.pool, rep=refused, weight=1)
    from routing import services

    services.rule_publish(note="with the refusing rep")
    t0 = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(4):
            route_new_lead(now=t0)
    t1 = timezone.now()  # the first send happened between t0 and t1
    rows = {e.to: e for e in OutboundEmail.objects.all()}
    assert len(rows) == 4
    assert len(mail.outbox) == 3 and all("refuse" not in m.to[0] for m in mail.outbox)
    bad = rows["refuse-me@example.com"]
    assert (bad.status, bad.attempts) == (OutboundEmail.Status.PENDING, 1)
    assert "SMTPRecipientsRefused" in bad.last_error
    first_retry = bad.next_attempt_at
    assert t0 + dt.timedelta(seconds=5) <= first_retry <= t1 + dt.timedelta(seconds=5)  # 5 s backoff after the first failure

    assert emails_send_due(now=first_retry) == 0
    bad.refresh_from_db()
    assert bad.attempts == 2 and bad.next_attempt_at - first_retry == dt.timedelta(seconds=10)  # doubled
    emails_send_due(now=bad.next_attempt_at)
    bad.refresh_from_db()
    assert (bad.status, bad.attempts) == (OutboundEmail.Status.FAILED, 3)
    assert emails_send_due(now=t0 + dt.timedelta(hours=3)) == 0  # given up: no more tries
    assert len(mail.outbox) == 3

    # Ops see it and send it again once the address is fixed.
    ops = Client()
    ops.force_login(user_with_role(Role.OPS))
    page = ops.get("/ops/security/outbox/")
    assert page.status_code == 200 and b"refuse-me@example.com" in page.content and b"Failed (gave up)" in page.content
    OutboundEmail.objects.filter(id=bad.id).update(to="fixed@example.com")
    with override_settings(MAILERS={"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}):
        response = ops.post(f"/ops/security/outbox/emails/{bad.id}/resend/")
        assert response.status_code == 302
        assert emails_send_due() == 1
    bad.refresh_from_db()
    assert bad.status == OutboundEmail.Status.SENT and mail.outbox[-1].to == ["fixed@example.com"]
    assert email_resend(email_id=bad.id) is False  # only a failed email can be resent


def test_running_the_email_task_twice_sends_each_offer_once(django_capture_on_commit_callbacks) -> None:
    make_world()
    with django_capture_on_commit_callbacks(execute=True):
        lead = route_new_lead()
    offer = lead.offers.get()
    assert notify_offers_created([offer.id, 999_999]) == 0  # already emailed; a missing offer is skipped
    assert len(mail.outbox) == 1


# --- a routing batch's offer emails (issue 16): fixed queries, one connection, same guarantees ---

COUNTING = {"default": {"BACKEND": "tests.reps.mail_backends.CountingBackend"}}


def _offers(count: int, *, via: str = "primary", email: str | None = None, company: str = "Acme") -> list[Offer]:
    """``count`` open offers, each to its own rep (``email``: the reps' address; default unique)."""
    now = timezone.now()
    return [
        Offer.objects.create(
            lead=LeadFactory(company=company), rep=RepFactory(**({} if email is None else {"user__email": email})),
            offered_at=now, deadline=now + dt.timedelta(minutes=30), via=via,
        )
        for _ in range(count)
    ]  # fmt: skip


@pytest.fixture
def counting_mailer() -> type[CountingBackend]:
    CountingBackend.made = CountingBackend.opened = 0
    CountingBackend.before_send = None
    with override_settings(MAILERS=COUNTING):
        yield CountingBackend
    CountingBackend.before_send = None


def test_a_batch_costs_the_same_queries_for_one_offer_as_for_twenty() -> None:
    one, twenty = _offers(1), _offers(20)
    with CaptureQueriesContext(connection) as for_one:
        assert notify_offers_created([one[0].id]) == 1
    with CaptureQueriesContext(connection) as for_twenty:
        assert notify_offers_created([o.id for o in twenty]) == 20
    # The offers (one SELECT), their emails stored and claimed (one INSERT), marked sent (one UPDATE).
    assert len(for_one) == len(for_twenty) == 3, [q["sql"][:80] for q in for_twenty]
    assert len(mail.outbox) == 21
    assert OutboundEmail.objects.filter(status=OutboundEmail.Status.SENT, attempts=1, sent_at__isnull=False).count() == 21


def test_the_single_offer_service_is_the_batch_with_one_id() -> None:
    [offer] = _offers(1)
    with CaptureQueriesContext(connection) as queries:
        assert offer_created_notify(offer_id=offer.id) == 1
    assert len(queries) == 3
    assert offer_created_notify(offer_id=offer.id) == 0
    assert len(mail.outbox) == 1


def test_a_batch_goes_through_one_mail_connection(counting_mailer: type[CountingBackend]) -> None:
    offers = _offers(20)
    assert notify_offers_created([o.id for o in offers]) == 20
    assert (counting_mailer.made, counting_mailer.opened) == (1, 1)
    assert len(mail.outbox) == 20


def test_running_the_batch_twice_or_overlapping_sends_each_email_once() -> None:
    offers = _offers(5)
    assert notify_offers_created([o.id for o in offers[:3]]) == 3
    assert notify_offers_created([o.id for o in offers] * 2) == 2  # only the two not yet emailed
    assert notify_offers_created([o.id for o in offers]) == 0
    assert sorted(m.to[0] for m in mail.outbox) == sorted(o.rep.user.email for o in offers)
    assert OutboundEmail.objects.count() == 5


def test_an_email_queued_by_an_earlier_run_is_left_to_the_sweep_not_sent_again() -> None:
    offers = _offers(3)
    now = timezone.now()
    email_queue(kind="offer_created", offer=offers[0], to="earlier@example.com", subject="s", body="b", now=now)
    assert notify_offers_created([o.id for o in offers]) == 2
    assert {m.to[0] for m in mail.outbox} == {offers[1].rep.user.email, offers[2].rep.user.email}
    earlier = OutboundEmail.objects.get(offer=offers[0])
    assert (earlier.status, earlier.attempts) == (OutboundEmail.Status.PENDING, 0)


def test_offers_no_longer_open_and_reps_without_email_get_no_email() -> None:
    open_offer, *closed = _offers(5)
    for offer, status in zip(closed, [Offer.Status.ACCEPTED, Offer.Status.DECLINED, Offer.Status.EXPIRED, Offer.Status.WITHDRAWN], strict=False):
        Offer.objects.filter(id=offer.id).update(status=status)
    [no_email] = _offers(1, email="")
    assert notify_offers_created([open_offer.id, no_email.id, *(o.id for o in closed), 999_999]) == 1
    assert [m.to for m in mail.outbox] == [[open_offer.rep.user.email]]
    assert list(OutboundEmail.objects.values_list("offer_id", flat=True)) == [open_offer.id]


def test_an_offer_that_reached_a_manager_is_announced_as_an_escalation() -> None:
    [escalated] = _offers(1, via="manager", company="Esc Co")
    [first] = _offers(1, company="First Co")
    assert notify_offers_created([escalated.id, first.id]) == 2
    by_to = {m.to[0]: m for m in mail.outbox}
    message = by_to[escalated.rep.user.email]
    assert message.subject.startswith("Escalation: a lead reached you as manager (") and "Esc Co" in message.subject
    assert message.body.startswith("Nobody in the pool took this lead in time, so it escalated to you.\n\n")
    assert by_to[first.rep.user.email].subject.startswith("New lead offered to you: ")
    assert "/inbox/" in message.body and "/inbox/" in by_to[first.rep.user.email].body


@override_settings(MAILERS=REFUSING)
def test_a_refused_message_in_a_batch_is_retried_alone_and_the_rest_are_sent() -> None:
    offers = _offers(3)
    [refused] = _offers(1, email="refuse-me@example.com")
    more = _offers(3)
    now = timezone.now()
    assert offers_created_notify(offer_ids=[o.id for o in [*offers, refused, *more]], now=now) == 6
    rows = {e.offer_id: e for e in OutboundEmail.objects.all()}
    bad = rows.pop(refused.id)
    assert (bad.status, bad.attempts, bad.next_attempt_at) == (OutboundEmail.Status.PENDING, 1, now + dt.timedelta(seconds=5))
    assert bad.last_error.startswith("SMTPRecipientsRefused")
    assert {(e.status, e.attempts, e.sent_at, e.last_error) for e in rows.values()} == {(OutboundEmail.Status.SENT, 1, now, "")}
    assert len(mail.outbox) == 6
    assert emails_send_due(now=now + dt.timedelta(seconds=5)) == 0  # the sweep retries only the refused one
    bad.refresh_from_db()
    assert bad.attempts == 2 and len(mail.outbox) == 6


@override_settings(LEADOPS_EMAIL_MAX_ATTEMPTS=1)
def test_a_message_with_a_bad_header_fails_alone_and_is_given_up_as_email_send_would(monkeypatch: pytest.MonkeyPatch) -> None:
    from reps import notifications

    offers = _offers(4)
    build = notifications._email_message

    def with_a_bad_header(email: OutboundEmail) -> EmailMessage:
        message = build(email)
        if email.offer_id == offers[1].id:
            message.subject = "Broken\nBcc: everyone@example.com"  # as if header_safe had been skipped
        return message

    monkeypatch.setattr(notifications, "_email_message", with_a_bad_header)
    now = timezone.now()
    assert offers_created_notify(offer_ids=[o.id for o in offers], now=now) == 3
    bad = OutboundEmail.objects.get(offer=offers[1])
    assert (bad.status, bad.attempts, bad.next_attempt_at) == (OutboundEmail.Status.FAILED, 1, now)
    assert bad.last_error  # the header error, as ops see it at /ops/security/outbox/
    assert OutboundEmail.objects.filter(status=OutboundEmail.Status.SENT).count() == 3 == len(mail.outbox)


def test_an_offer_whose_email_cannot_be_built_does_not_cost_the_others_theirs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from reps import notifications

    offers = _offers(3)
    build = notifications.offer_created_message

    def raising_for_the_second(offer: Offer) -> tuple[str, str]:
        if offer.id == offers[1].id:
            raise ValueError("a lead field that cannot be formatted")
        return build(offer)

    monkeypatch.setattr(notifications, "offer_created_message", raising_for_the_second)
    assert notify_offers_created([o.id for o in offers]) == 2
    assert sorted(OutboundEmail.objects.values_list("offer_id", flat=True)) == [offers[0].id, offers[2].id]
    assert f"could not prepare the email for offer {offers[1].id}" in caplog.text


def test_the_retry_sweep_cannot_send_a_row_the_batch_has_claimed(counting_mailer: type[CountingBackend]) -> None:
    offers = _offers(5)
    swept = []
    counting_mailer.before_send = lambda message: swept.append(emails_send_due())  # the sweeper, mid-batch
    assert notify_offers_created([o.id for o in offers]) == 5
    assert swept == [0] * 5
    assert sorted(m.to[0] for m in mail.outbox) == sorted(o.rep.user.email for o in offers)  # each once


def test_rows_not_tried_within_half_the_lease_are_left_to_the_sweep(
    monkeypatch: pytest.MonkeyPatch, counting_mailer: type[CountingBackend]
) -> None:
    import time

    from reps import notifications

    monkeypatch.setattr(notifications, "EMAIL_LEASE", dt.timedelta(seconds=1))
    counting_mailer.before_send = lambda message: time.sleep(0.6)  # a slow server: past half the lease
    offers = _offers(4)
    now = timezone.now()
    assert offers_created_notify(offer_ids=[o.id for o in offers], now=now) == 1
    rows = list(OutboundEmail.objects.order_by("id"))
    assert [e.status for e in rows] == [OutboundEmail.Status.SENT] + [OutboundEmail.Status.PENDING] * 3
    assert {(e.attempts, e.next_attempt_at) for e in rows[1:]} == {(0, now)}  # released, due at once
    counting_mailer.before_send = None
    assert emails_send_due(now=now) == 3
    assert sorted(m.to[0] for m in mail.outbox) == sorted(o.rep.user.email for o in offers)


@override_settings(MAILERS={"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                                        "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 1}}})  # fmt: skip
def test_no_mail_server_is_one_failed_attempt_on_each_row() -> None:
    offers = _offers(3)
    now = timezone.now()
    assert offers_created_notify(offer_ids=[o.id for o in offers], now=now) == 0
    rows = OutboundEmail.objects.all()
    assert {(e.status, e.attempts, e.next_attempt_at) for e in rows} == {(OutboundEmail.Status.PENDING, 1, now + dt.timedelta(seconds=5))}
    assert all("ConnectionRefusedError" in e.last_error for e in rows)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_four_workers_and_the_sweep_at_once_send_each_offer_email_once() -> None:
    import random
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    offers = _offers(30)
    ids = [o.id for o in offers]
    barrier = threading.Barrier(5)

    def worker(seed: int) -> int:
        try:
            barrier.wait()
            if seed == 4:
                return sum(emails_send_due() for _ in range(20))
            return notify_offers_created(random.Random(seed).sample(ids, len(ids)))
        finally:
            connections.close_all()

    with ThreadPoolExecutor(5) as pool:
        sent = list(pool.map(worker, range(5)))
    assert sum(sent) == 30
    assert sorted(m.to[0] for m in mail.outbox) == sorted(o.rep.user.email for o in offers)
    assert OutboundEmail.objects.filter(status=OutboundEmail.Status.SENT).count() == 30
