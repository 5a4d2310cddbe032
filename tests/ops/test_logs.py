"""Structured logs: one JSON object per line per event with the ids that matter; plain text for
development; expected 403s without tracebacks; emails as one line without the body."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from contextlib import contextmanager
from typing import Iterator

import pytest
from django.conf import settings
from django.core.mail.message import EmailMessage
from django.test import Client, override_settings
from django.utils import timezone

from ops.logs import ExpectedForbiddenFilter, PlainFormatter, json_formatter
from ops.mail import OneLineConsoleBackend
from reps.models import Role
from routing.models import Offer, WebhookDelivery
from routing.services import leads_route_all_pending, offers_expire_due
from tests.factories import LeadFactory, user_with_role
from tests.reps.helpers import make_world


@contextmanager
def captured(*loggers: str, formatter: logging.Formatter | None = None) -> Iterator[io.StringIO]:
    """Attach a handler configured like production's console handler (JSON + the 403 filter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter or json_formatter())
    handler.addFilter(ExpectedForbiddenFilter())
    saved = []
    for name in loggers:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)


def _events(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]  # every line is one JSON object


@pytest.mark.django_db
def test_a_routing_batch_and_an_escalation_are_one_json_line_each_with_their_ids(django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    now = timezone.now()
    make_world()
    lead = LeadFactory(intent="high", received_at=now)
    with captured("routing.services", "leadops.events") as stream:
        with django_capture_on_commit_callbacks(execute=True):
            leads_route_all_pending(now=now)
        offer = Offer.objects.get(lead=lead)
        later = offer.deadline + timezone.timedelta(seconds=1)
        with django_capture_on_commit_callbacks(execute=True):
            offers_expire_due(now=later)
            leads_route_all_pending(now=later)
    events = _events(stream)
    batches = [e for e in events if e.get("event") == "routing.batch"]
    assert batches[0]["lead_ids"] == [lead.id] and batches[0]["offered"] == 1 and batches[0]["level"] == "INFO"
    assert batches[0]["logger"] == "leadops.events"
    assert batches[1]["escalations"] == 1
    escalation = next(e for e in events if e.get("event") == "lead.escalated")
    assert escalation["lead_id"] == lead.id and escalation["rep_id"] is not None
    assert escalation["logger"] == "leadops.events" and "time" in escalation
    expired = next(e for e in events if e.get("event") == "offer.expired")
    assert expired["offer_id"] == offer.id


@pytest.mark.django_db
@override_settings(LEADOPS_WEBHOOK_URL="http://127.0.0.1:1/hook", LEADOPS_WEBHOOK_SECRET="s")
def test_a_webhook_failure_is_one_json_line_with_the_delivery() -> None:
    from reps.notifications import webhook_deliver

    delivery = WebhookDelivery.objects.create(event="offer.created", payload={"lead_id": 1}, next_attempt_at=timezone.now())
    with captured("reps.notifications") as stream:
        webhook_deliver(delivery_id=delivery.id)
    (event,) = _events(stream)
    assert event["event"] == "webhook.failed"
    assert event["delivery_id"] == delivery.id and event["attempts"] == 1 and event["gave_up"] is False
    assert event["level"] == "WARNING"


@pytest.mark.django_db
def test_an_expected_403_is_one_line_without_a_traceback() -> None:
    client = Client()
    client.force_login(user_with_role(Role.REP))
    with captured("django.request") as stream:
        assert client.get("/ops/system/").status_code == 403
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["message"].startswith("Forbidden (Permission denied): /ops/system/")
    assert "exc_info" not in record and "Traceback" not in lines[0]


@pytest.mark.django_db
def test_readiness_polls_do_not_log_their_503() -> None:
    with captured("django.request") as stream:
        assert Client().get("/health/ready").status_code == 503  # no sweeper has ever beaten
    assert stream.getvalue() == ""


def test_plain_text_puts_the_event_fields_after_the_message() -> None:
    stream_record = logging.LogRecord("leadops.events", logging.INFO, __file__, 1, "escalation: lead %s", (7,), None)
    stream_record.event, stream_record.lead_id = "lead.escalated", 7
    line = PlainFormatter("%(levelname)s %(name)s %(message)s").format(stream_record)
    assert line == "INFO leadops.events escalation: lead 7 event=lead.escalated lead_id=7"


def test_development_email_is_one_line_without_the_body() -> None:
    with captured("leadops.mail", formatter=PlainFormatter("%(message)s")) as stream:
        backend = OneLineConsoleBackend()
        sent = backend.send_messages([EmailMessage("New lead offered to you", "SECRET BODY " * 50, None, ["pat@example.com"])])
    assert sent == 1
    assert stream.getvalue().splitlines() == [
        "email to pat@example.com: New lead offered to you event=email.sent to=['pat@example.com'] subject=New lead offered to you"
    ]
    assert "SECRET BODY" not in stream.getvalue()


@pytest.mark.parametrize(("value", "formatter"), [("json", "json"), ("plain", "plain")])
def test_the_log_format_is_switched_by_one_setting(tmp_path, value: str, formatter: str) -> None:  # noqa: ANN001
    result = _settings(tmp_path, value, "print(settings.LOGGING['handlers']['console']['formatter'])")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == formatter


def test_an_unknown_log_format_is_refused_at_startup(tmp_path) -> None:  # noqa: ANN001
    result = _settings(tmp_path, "yaml", "pass")
    assert result.returncode != 0 and "LEADOPS_LOG_FORMAT='yaml'" in result.stderr


def _settings(tmp_path, log_format: str, code: str) -> subprocess.CompletedProcess:  # noqa: ANN001
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "leadops.settings", "LEADOPS_VAR_DIR": str(tmp_path),
           "LEADOPS_LOG_FORMAT": log_format}  # fmt: skip
    script = f"import django; django.setup(); from django.conf import settings; {code}"
    return subprocess.run([sys.executable, "-c", script], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
