"""/metrics: parses with prometheus_client's text parser, moves when leads are routed, and is
closed to other networks unless the bearer token is given."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from routing.models import Lead
from routing.services import leads_route_all_pending
from tests.factories import LeadFactory
from tests.ops.helpers import all_up
from tests.reps.helpers import make_world

pytestmark = pytest.mark.django_db


def _scrape(client: Client | None = None, **headers: str) -> dict[str, dict[tuple, float]]:
    response = (client or Client()).get("/metrics", REMOTE_ADDR="127.0.0.1", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def test_metrics_move_when_leads_are_routed() -> None:
    now = timezone.now()
    make_world(pool_size=2)
    all_up(at=now)
    for i in range(3):
        LeadFactory(intent="high", received_at=now - dt.timedelta(seconds=2 + i))
    before = _scrape()
    assert _value(before, "leadops_queue_depth", queue="pending") == 3
    assert _value(before, "leadops_queue_oldest_age_seconds", queue="pending") >= 4
    assert _value(before, "leadops_component_up", component="sweeper") == 1
    assert _value(before, "leadops_decisions_total", outcome="offer", kind="route") == 0

    leads_route_all_pending(now=now)

    after = _scrape()
    assert _value(after, "leadops_decisions_total", outcome="offer", kind="route") == 3
    assert _value(after, "leadops_queue_depth", queue="pending") == 0
    assert _value(after, "leadops_queue_oldest_age_seconds", queue="pending") == 0
    assert _value(after, "leadops_leads", status="offered") == 3
    assert _value(after, "leadops_offers", status="open") == 3
    assert _value(after, "leadops_offers_made_total") == 3
    # Intake to offer: received 2, 3 and 4 s before the routing batch.
    assert _value(after, "leadops_routing_latency_seconds_count") == 3
    assert _value(after, "leadops_routing_latency_seconds_bucket", le="1.0") == 0
    assert _value(after, "leadops_routing_latency_seconds_bucket", le="2.5") == 1
    assert _value(after, "leadops_routing_latency_seconds_bucket", le="5.0") == 3
    assert _value(after, "leadops_routing_latency_seconds_bucket", le="+Inf") == 3
    assert _value(after, "leadops_routing_latency_seconds_sum") == pytest.approx(9.0, abs=0.01)
    assert _value(after, "leadops_offers_expiring", when="within_5m") == 3  # 5-minute SLA x 0.6


def test_sla_met_and_missed_are_counted_by_segment() -> None:
    from routing.models import Offer
    from routing.services import offer_accept, offers_expire_due

    now = timezone.now()
    world = make_world(pool_size=2)
    for _ in range(2):
        LeadFactory(intent="high", received_at=now)
    leads_route_all_pending(now=now)
    first, second = Offer.objects.order_by("id")
    offer_accept(offer_id=first.id, rep=first.rep, now=now + dt.timedelta(seconds=30))
    later = second.deadline + dt.timedelta(seconds=1)
    offers_expire_due(now=later)
    leads_route_all_pending(now=later)  # the escalation (the wake-up fires on commit, not in a test transaction)
    samples = _scrape()
    assert _value(samples, "leadops_sla_offers_total", segment=world.segment.slug, result="met") == 1
    assert _value(samples, "leadops_sla_offers_total", segment=world.segment.slug, result="missed") == 1
    assert _value(samples, "leadops_offers", status="expired") == 1
    assert _value(samples, "leadops_offers_made_total") == 3  # two first offers and the escalation's
    assert _value(samples, "leadops_decisions_total", outcome="offer", kind="escalation") == 1
    assert _value(samples, "leadops_escalations_total") == 1


def test_django_request_metrics_count_answered_requests() -> None:
    client = Client()
    before = _value(_scrape(client), "leadops_http_requests_total", method="GET", status="200")
    client.get("/health/live")
    after = _scrape(client)
    assert _value(after, "leadops_http_requests_total", method="GET", status="200") == before + 2  # the scrape + live
    assert _value(after, "leadops_http_request_duration_seconds_count", view="ops:live") >= 1


def test_metrics_are_refused_to_other_networks_without_the_token() -> None:
    response = Client().get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert b"leadops_" not in response.content


@override_settings(LEADOPS_METRICS_TOKEN="scrape-token-123")
def test_the_bearer_token_opens_metrics_from_anywhere_and_a_wrong_one_does_not() -> None:
    client = Client()
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-token-123").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403


def test_a_bad_allowed_networks_setting_is_refused_at_startup(tmp_path) -> None:  # noqa: ANN001
    import subprocess
    import sys

    from django.conf import settings

    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "leadops.settings", "LEADOPS_VAR_DIR": str(tmp_path),
           "LEADOPS_METRICS_ALLOWED_NETWORKS": "10.0.0.0/8,not-a-network"}  # fmt: skip
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=settings.BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode != 0
    assert "LEADOPS_METRICS_ALLOWED_NETWORKS" in result.stderr and "not-a-network" in result.stderr


def test_waiting_leads_only_count_pending_and_holding() -> None:
    now = timezone.now()
    LeadFactory(received_at=now - dt.timedelta(minutes=10), status=Lead.Status.HOLDING)
    samples = _scrape()
    assert _value(samples, "leadops_queue_depth", queue="holding") == 1
    assert _value(samples, "leadops_queue_oldest_age_seconds", queue="holding") >= 600
    assert _value(samples, "leadops_queue_depth", queue="pending") == 0


def test_settled_decisions_are_summed_once_and_newer_ones_on_every_scrape() -> None:
    from ops import metrics

    now = timezone.now()
    make_world(pool_size=2)
    LeadFactory(intent="high", received_at=now - dt.timedelta(minutes=10))
    leads_route_all_pending(now=now - dt.timedelta(minutes=5))  # settled: older than a minute
    first = metrics.decision_totals(now=now)
    assert first.by_outcome_kind == {("offer", "route"): 1}
    assert metrics._frozen["watermark"] > 0
    LeadFactory(intent="high", received_at=now - dt.timedelta(seconds=1))
    leads_route_all_pending(now=now)  # not settled yet: read from the tail on every scrape
    second = metrics.decision_totals(now=now)
    assert second.by_outcome_kind == {("offer", "route"): 2}
    assert second.latency_count == 2 and second.latency_seconds == pytest.approx(301.0)
    later = metrics.decision_totals(now=now + dt.timedelta(minutes=2))  # now both are frozen
    assert later == second


def test_the_cached_sums_start_over_when_the_database_was_restored_or_rewound() -> None:
    from ops import metrics

    make_world()
    LeadFactory(intent="high", received_at=timezone.now())
    leads_route_all_pending()
    metrics._frozen.update(watermark=10**12, totals=metrics.DecisionTotals(by_outcome_kind={("offer", "route"): 999}))
    assert metrics.decision_totals(now=timezone.now()).by_outcome_kind == {("offer", "route"): 1}


def test_quarantined_leads_are_a_queue_in_the_metrics() -> None:
    now = timezone.now()
    LeadFactory(received_at=now - dt.timedelta(hours=1), status=Lead.Status.QUARANTINED, quarantined_at=now - dt.timedelta(minutes=2))
    samples = _scrape()
    assert _value(samples, "leadops_queue_depth", queue="quarantined") == 1
    assert 120 <= _value(samples, "leadops_queue_oldest_age_seconds", queue="quarantined") < 180
    assert _value(samples, "leadops_leads", status="quarantined") == 1
