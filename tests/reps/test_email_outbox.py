"""Offer emails: header values made single-line, each message sent on its own, failures retried
with backoff, given up after N tries and shown to ops (issue 12, failing input 4).

Leads come in through the real CSV importer and are routed by the real services; the only
stand-in is the mail server (tests/reps/mail_backends.py), which refuses chosen recipients.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.core import mail
from django.test import Client, override_settings
from django.utils import timezone

from reps.models import OutboundEmail, Role
from reps.notifications import email_resend, emails_send_due, header_safe
from routing.csv_import import lead_import_create, lead_import_process
from routing.models import Offer
from routing.services import leads_route_all_pending
from tests.factories import RepFactory, user_with_role
from tests.reps.helpers import make_world, route_new_lead

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
    from reps.tasks import notify_offers_created

    make_world()
    with django_capture_on_commit_callbacks(execute=True):
        lead = route_new_lead()
    offer = lead.offers.get()
    assert notify_offers_created([offer.id, 999_999]) == 0  # already emailed; a missing offer is skipped
    assert len(mail.outbox) == 1
