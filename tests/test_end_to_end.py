"""The real pipeline: a lead posted to the API is routed by a separate `qcluster` worker process
(django-q2 ORM broker on PostgreSQL) and its decision is visible through the GET endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from routing.models import Lead
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, make_token

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parent.parent


def _worker_env() -> dict[str, str]:
    db = connection.settings_dict
    url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "LEADOPS_Q_SYNC": "0", "DJANGO_SETTINGS_MODULE": "leadops.settings",
            "LEADOPS_Q_WORKERS": "1", "LEADOPS_RECOVERY_AFTER_SECONDS": "2"}  # fmt: skip


def _wait_for(predicate, timeout: float = 60.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _process(command: str):  # noqa: ANN202
    proc = subprocess.Popen([sys.executable, "manage.py", command], cwd=ROOT, env=_worker_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def worker():  # noqa: ANN201
    yield from _process("qcluster")


@pytest.fixture
def sweeper():  # noqa: ANN201
    yield from _process("sweeper")


def _routing_setup() -> int:
    rep = RepFactory(display_name="Worker Wendy")
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=rep)
    RuleFactory(pool=pool, name="All leads")
    return rep.id


def test_a_posted_lead_is_routed_by_the_worker_process(worker, monkeypatch) -> None:  # noqa: ANN001
    from django_q.conf import Conf

    # Tests run tasks inline; here this process must only enqueue, so nothing but the worker
    # process can route the lead (no sweeper runs in this test).
    monkeypatch.setattr(Conf, "SYNC", False)
    rep_id = _routing_setup()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {make_token(scopes=('intake', 'read'))}"}
    client = Client()
    body = {"source": "web", "external_id": "e2e-1", "value": 1200, "country": "US"}
    created = client.post("/api/v1/leads", data=json.dumps(body), content_type="application/json", **headers)
    assert created.status_code == 201
    lead_id = created.json()["id"]
    assert _wait_for(lambda: Lead.objects.get(id=lead_id).status == Lead.Status.OFFERED), worker.stderr
    detail = client.get(f"/api/v1/leads/{lead_id}", **headers).json()
    assert detail["owner"]["id"] == rep_id
    assert detail["decision"]["rule_id"] is not None
    assert "Worker Wendy" in detail["decision"]["summary"]


def test_a_lead_whose_task_was_lost_is_routed_by_the_sweeper_process(sweeper) -> None:  # noqa: ANN001
    rep_id = _routing_setup()
    # Stored without any wake-up task, as if the broker lost it.
    lead = Lead.objects.create(source="web", external_id="lost-1", received_at="2026-01-01T00:00:00Z")
    assert _wait_for(lambda: Lead.objects.get(id=lead.id).status == Lead.Status.OFFERED)
    assert Lead.objects.get(id=lead.id).owner_id == rep_id


def test_an_unanswered_offer_escalates_by_itself_with_only_the_sweeper_running(sweeper) -> None:  # noqa: ANN001
    """No clock injection: a 3-second offer window (1-minute SLA x 0.05) passes for real and the
    sweeper process moves the lead to the backup. How long after the deadline it fired is
    printed (benchmarks measure speed; this test only checks that it happens by itself)."""
    from routing.models import Decision, Offer
    from routing.services import leads_route_all_pending
    from tests.factories import SegmentFactory

    SegmentFactory(slug="hot", sla_minutes=1, accept_fraction=0.05, is_default=True)
    primary, backup = RepFactory(display_name="Primary"), RepFactory(display_name="Backup")
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=primary)
    RuleFactory(pool=pool, reroute_on_escalation=False,
                fallback=[{"kind": "backup", "target_id": backup.id}, {"kind": "holding"}])  # fmt: skip
    lead = Lead.objects.create(source="web", external_id="sla-1", received_at=time_now())
    leads_route_all_pending()
    first = Offer.objects.get(lead=lead)
    assert first.rep == primary
    assert _wait_for(lambda: Offer.objects.filter(lead=lead, rep=backup, status=Offer.Status.OPEN).exists())
    first.refresh_from_db()
    assert first.status == Offer.Status.EXPIRED
    escalation = Decision.objects.filter(lead=lead, kind=Decision.Kind.ESCALATION).get()
    assert escalation.chosen_rep == backup and escalation.step == "backup"
    print(f"escalated {(escalation.created_at - first.deadline).total_seconds():.2f} s after the deadline")


def time_now():  # noqa: ANN201
    from django.utils import timezone

    return timezone.now()
