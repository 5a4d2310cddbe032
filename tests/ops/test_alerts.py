"""Alerts: one incident per condition, one notice when it opens and one when it recovers, on
email and a real webhook receiver; concurrent evaluators cannot open it twice."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from django.core import mail
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from ops.models import Component, Incident
from ops.services import alerts_evaluate
from reps.notifications import SIGNATURE_HEADER, webhook_signature
from routing.models import Lead, Offer
from tests.factories import LeadFactory, RepFactory
from tests.ops.helpers import AlertReceiver, all_up, beat


@pytest.fixture
def receiver():  # noqa: ANN201
    server = AlertReceiver()
    yield server
    server.close()


def _alerting(receiver: AlertReceiver):  # noqa: ANN202
    return override_settings(LEADOPS_ALERT_EMAILS=["oncall@example.com"], LEADOPS_ALERT_WEBHOOK_URL=receiver.url,
                             LEADOPS_ALERT_WEBHOOK_SECRET="alert-secret")  # fmt: skip


@pytest.mark.django_db
def test_a_silent_sweeper_raises_one_alert_and_one_recovery_notice(receiver: AlertReceiver) -> None:
    start = timezone.now()
    all_up(at=start)
    with _alerting(receiver):
        assert alerts_evaluate(now=start)["opened"] == 0
        later = start + dt.timedelta(seconds=60)
        for component in (Component.WORKER, Component.SCHEDULER):
            beat(component, at=later)
        for tick in range(5):  # the sweeper stays silent while the others keep beating
            alerts_evaluate(now=later + dt.timedelta(seconds=tick))
        incident = Incident.objects.get()
        assert incident.key == "component_down:sweeper"
        assert incident.resolved_at is None and incident.open_notified_at is not None
        assert [m.subject for m in mail.outbox] == [mail.outbox[0].subject]
        assert "Escalations are not running" in mail.outbox[0].body
        assert mail.outbox[0].to == ["oncall@example.com"]
        assert [p["event"] for _, p in receiver.posts] == ["alert.opened"]
        headers, payload = receiver.posts[0]
        assert payload["key"] == "component_down:sweeper"

        back = later + dt.timedelta(seconds=30)
        all_up(at=back)
        for tick in range(3):
            alerts_evaluate(now=back + dt.timedelta(seconds=tick))
    incident.refresh_from_db()
    assert incident.resolved_at == back
    assert incident.notified_via == "email, webhook"
    assert len(mail.outbox) == 2 and mail.outbox[1].subject.startswith("[LeadOps] Recovered:")
    assert [p["event"] for _, p in receiver.posts] == ["alert.opened", "alert.resolved"]
    assert Incident.objects.count() == 1


@pytest.mark.django_db
def test_without_alert_channels_the_incident_says_nobody_was_told() -> None:
    from django.test import Client

    from reps.models import Role
    from tests.factories import user_with_role

    alerts_evaluate()
    assert {i.notified_via for i in Incident.objects.all()} == {""}
    client = Client()
    client.force_login(user_with_role(Role.OPS))
    html = client.get("/ops/system/").content.decode()
    assert html.count("no alert channel configured") == 3


@pytest.mark.django_db
def test_the_alert_webhook_is_signed_with_the_alert_secret(receiver: AlertReceiver) -> None:
    with _alerting(receiver):
        alerts_evaluate()  # nothing has ever beaten: three components down
    assert len(receiver.posts) == 3
    for headers, payload in receiver.posts:
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        assert headers[SIGNATURE_HEADER.lower()] == webhook_signature(body, "alert-secret")


@pytest.mark.django_db
def test_when_every_channel_fails_the_notice_is_retried_on_the_next_evaluation() -> None:
    dead = AlertReceiver(status=500)
    try:
        with override_settings(LEADOPS_ALERT_EMAILS=[], LEADOPS_ALERT_WEBHOOK_URL=dead.url):
            now = timezone.now()
            all_up(at=now)
            beat(Component.SWEEPER, at=now - dt.timedelta(minutes=5))
            alerts_evaluate(now=now)
            assert Incident.objects.get().open_notified_at is None  # released for a retry
            dead.status = 200
            alerts_evaluate(now=now + dt.timedelta(seconds=10))
    finally:
        dead.close()
    assert Incident.objects.get().open_notified_at is not None
    assert [p["event"] for _, p in dead.posts] == ["alert.opened", "alert.opened"]  # failed once, then sent


@pytest.mark.django_db
@override_settings(LEADOPS_ALERT_PENDING_AGE_SECONDS=300)
def test_the_oldest_pending_lead_past_the_threshold_opens_a_queue_age_incident() -> None:
    now = timezone.now()
    all_up(at=now)
    LeadFactory(received_at=now - dt.timedelta(seconds=299))
    alerts_evaluate(now=now)
    assert not Incident.objects.exists()
    LeadFactory(received_at=now - dt.timedelta(seconds=301))
    alerts_evaluate(now=now)
    incident = Incident.objects.get()
    assert incident.kind == Incident.Kind.QUEUE_AGE
    assert incident.detail["oldest_pending_age_seconds"] == 301.0
    Lead.objects.update(status=Lead.Status.HOLDING)  # holding leads are not the pending queue
    alerts_evaluate(now=now)
    incident.refresh_from_db()
    assert incident.resolved_at == now


@pytest.mark.django_db
@override_settings(LEADOPS_ALERT_SLA_MISSES=3, LEADOPS_ALERT_SLA_MISS_RATIO=0.5, LEADOPS_ALERT_SLA_WINDOW_MINUTES=15)
def test_sla_misses_spike_when_enough_offers_expire_and_they_are_a_large_share() -> None:
    now = timezone.now()
    all_up(at=now)
    rep = RepFactory()

    def offer(status: str, minutes_ago: float) -> None:
        at = now - dt.timedelta(minutes=minutes_ago)
        Offer.objects.create(lead=LeadFactory(received_at=at), rep=rep, status=status, offered_at=at - dt.timedelta(minutes=5),
                             deadline=at, decided_at=at)  # fmt: skip

    for _ in range(2):
        offer(Offer.Status.EXPIRED, 1)
    offer(Offer.Status.EXPIRED, 30)  # outside the window
    offer(Offer.Status.ACCEPTED, 2)
    alerts_evaluate(now=now)
    assert not Incident.objects.filter(kind=Incident.Kind.SLA_MISSES).exists()  # 2 misses: below 3
    offer(Offer.Status.EXPIRED, 1)
    alerts_evaluate(now=now)
    incident = Incident.objects.get(kind=Incident.Kind.SLA_MISSES)
    assert incident.detail == {"missed": 3, "decided": 4, "ratio": 0.75, "window_minutes": 15}
    for _ in range(3):  # accepted in time: the share of misses falls below one half
        offer(Offer.Status.ACCEPTED, 1)
    alerts_evaluate(now=now)
    incident.refresh_from_db()
    assert incident.resolved_at is not None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_evaluators_open_one_incident_and_send_one_notice(receiver: AlertReceiver) -> None:
    now = timezone.now()
    all_up(at=now)
    beat(Component.SWEEPER, at=now - dt.timedelta(minutes=5))
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            barrier.wait()
            alerts_evaluate(now=now)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    with _alerting(receiver):
        threads = [threading.Thread(target=evaluate) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert Incident.objects.filter(key="component_down:sweeper").count() == 1
    assert len(mail.outbox) == 1
    assert len(receiver.posts) == 1


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [("LEADOPS_ALERT_EMAILS", "oncall@example.com,not-an-address", "LEADOPS_ALERT_EMAILS: 'not-an-address'"),
     ("LEADOPS_ALERT_WEBHOOK_URL", "ftp://alerts.example.com/x", "LEADOPS_ALERT_WEBHOOK_URL='ftp://alerts.example.com/x'")],
)  # fmt: skip
def test_bad_alert_channels_are_refused_at_startup_naming_the_variable(tmp_path, variable: str, value: str, message: str) -> None:  # noqa: ANN001
    import subprocess
    import sys

    from django.conf import settings

    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "leadops.settings", "LEADOPS_VAR_DIR": str(tmp_path), variable: value}
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=settings.BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.django_db
def test_opscheck_evaluates_and_prints_each_process_and_open_alert() -> None:
    import io

    from django.core.management import call_command

    all_up(at=timezone.now())
    beat(Component.SWEEPER, at=timezone.now() - dt.timedelta(minutes=5))
    out = io.StringIO()
    call_command("opscheck", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["Sweeper          Down: silent", "Routing worker   Running", "Scheduler        Running"]
    assert lines[3].startswith("OPEN since ") and "Sweeper is down" in lines[3]
    assert lines[-1] == "opened 1, resolved 0, notices sent 0"


@pytest.mark.django_db
def test_the_sweeper_asks_a_routing_worker_to_beat(monkeypatch: pytest.MonkeyPatch) -> None:
    from django_q.conf import Conf
    from django_q.models import OrmQ

    from ops import services

    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(services, "_last_run", {})
    services.sweeper_tick(passes=1)
    assert [q.func() for q in OrmQ.objects.all()] == ["ops.tasks.worker_ping"]
    services.sweeper_tick(passes=2)  # at most once a minute
    assert OrmQ.objects.count() == 1


@pytest.mark.django_db
@override_settings(LEADOPS_ALERT_PENDING_AGE_SECONDS=300)
def test_a_lead_put_back_to_pending_waits_from_then_not_from_its_receipt() -> None:
    from ops.selectors import oldest_waiting_seconds

    now = timezone.now()
    all_up(at=now)
    rep = RepFactory()
    lead = LeadFactory(received_at=now - dt.timedelta(hours=2), status=Lead.Status.PENDING)
    Offer.objects.create(lead=lead, rep=rep, status=Offer.Status.EXPIRED, offered_at=now - dt.timedelta(minutes=10),
                         deadline=now - dt.timedelta(seconds=20), decided_at=now - dt.timedelta(seconds=20))  # fmt: skip
    assert oldest_waiting_seconds(now=now)[Lead.Status.PENDING] == 20.0
    alerts_evaluate(now=now)
    assert not Incident.objects.filter(kind=Incident.Kind.QUEUE_AGE).exists()
    all_up(at=now + dt.timedelta(seconds=290))
    assert alerts_evaluate(now=now + dt.timedelta(seconds=290))["opened"] == 1  # 310 s back in the queue
    assert Incident.objects.get().kind == Incident.Kind.QUEUE_AGE


@pytest.mark.django_db
def test_quarantined_leads_open_one_incident_until_none_is_left() -> None:
    now = timezone.now()
    all_up(at=now)
    lead = LeadFactory(received_at=now, status=Lead.Status.QUARANTINED, quarantined_at=now, quarantine_error="boom")
    LeadFactory(received_at=now, status=Lead.Status.QUARANTINED, quarantined_at=now - dt.timedelta(minutes=3))
    alerts_evaluate(now=now)
    alerts_evaluate(now=now)
    incident = Incident.objects.get()
    assert incident.kind == Incident.Kind.QUARANTINE and incident.detail == {"quarantined": 2}
    from ops.selectors import oldest_waiting_seconds

    assert oldest_waiting_seconds(now=now)[Lead.Status.QUARANTINED] == 180.0
    Lead.objects.filter(status=Lead.Status.QUARANTINED).exclude(id=lead.id).update(status=Lead.Status.PENDING)
    alerts_evaluate(now=now)
    assert Incident.objects.get().resolved_at is None
    Lead.objects.filter(id=lead.id).update(status=Lead.Status.PENDING)
    alerts_evaluate(now=now)
    assert Incident.objects.get().resolved_at == now
