"""Routing wake-ups are coalesced: leads arriving together queue one task (routing.tasks)."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone

from routing import services, tasks
from routing.models import Lead, RouterWake
from routing.validation import clean_lead

pytestmark = pytest.mark.django_db


def _intake(n: int) -> None:
    services.lead_intake(data=clean_lead({"source": "web", "external_id": f"w{n}", "email": f"w{n}@example.com"}))


@pytest.fixture
def queued(monkeypatch):  # noqa: ANN001, ANN201
    """Record the wake-up tasks queued instead of running them."""
    calls: list[str] = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *a, **k: calls.append(func))
    return calls


def test_leads_arriving_together_queue_one_wake_up(queued, django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            _intake(n)
    assert queued == ["routing.tasks.route_pending"]
    assert Lead.objects.count() == 3


def test_a_started_wake_up_lets_the_next_lead_queue_another(queued, django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    with django_capture_on_commit_callbacks(execute=True):
        _intake(1)
    with mock.patch.object(services, "leads_route_all_pending", return_value=0):
        tasks.route_pending()  # clears the mark before it selects leads
    with django_capture_on_commit_callbacks(execute=True):
        _intake(2)
        _intake(3)
    assert queued == ["routing.tasks.route_pending"] * 2


def test_a_lost_wake_up_is_replaced_once_stale(queued, django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    RouterWake.objects.create(name="route", queued_at=timezone.now() - dt.timedelta(seconds=tasks.WAKE_STALE_SECONDS + 1))
    with django_capture_on_commit_callbacks(execute=True):
        _intake(1)
        _intake(2)
    assert queued == ["routing.tasks.route_pending"]


def test_a_wake_up_the_broker_refused_does_not_block_the_next(monkeypatch, django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    calls: list[str] = []

    def refuse_first(func, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        calls.append(func)
        if len(calls) == 1:
            raise ConnectionError("broker down")

    monkeypatch.setattr("django_q.tasks.async_task", refuse_first)
    with django_capture_on_commit_callbacks(execute=True):
        _intake(1)
    with django_capture_on_commit_callbacks(execute=True):
        _intake(2)
    assert len(calls) == 2
    assert RouterWake.objects.get(name="route").queued_at is not None


def test_while_a_wake_up_is_queued_a_lead_only_reads_the_mark(queued) -> None:  # noqa: ANN001
    """The upsert locks the mark's row even when it changes nothing; a queued mark is only read."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert tasks._wake_claim("route") is True  # no mark yet: this call sets it
    with CaptureQueriesContext(connection) as ctx:
        assert tasks._wake_claim("route") is False
    assert [q["sql"].split()[0] for q in ctx.captured_queries] == ["SELECT"]
    RouterWake.objects.filter(name="route").update(queued_at=None)  # its task started
    assert tasks._wake_claim("route") is True
    assert RouterWake.objects.get(name="route").queued_at is not None
