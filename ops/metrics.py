"""Prometheus metrics.

Two kinds, because LeadOps runs as several processes (gunicorn workers, qcluster workers, one or
more sweepers) that share nothing but the database:

- **Derived from the database at scrape time** (``DatabaseCollector``): decisions by outcome and
  kind, intake-to-offer latency, waiting leads and the oldest one's age, offers, SLA met/missed by
  segment, webhook deliveries, failed tasks, component heartbeats, open incidents. Every scrape of
  any web process gives the same, whole-system answer, and a restart loses nothing. Counters come
  from append-only rows (decisions, offers), so they only grow.
- **Per process** (``RequestMetricsMiddleware``): HTTP requests by method/status and their duration by
  view. With several gunicorn workers set PROMETHEUS_MULTIPROC_DIR (prometheus-client's
  multiprocess mode) so a scrape sums all workers; otherwise a scrape sees only the worker it hit.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

# Intake-to-offer buckets, seconds: routing is sub-second when the worker is up; the recovery
# sweep (30 s) and the holding pool (minutes) show up in the upper buckets.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)

REQUESTS = Counter("leadops_http_requests", "HTTP requests answered, by method and status code", ["method", "status"])
REQUEST_SECONDS = Histogram(
    "leadops_http_request_duration_seconds", "Time to answer an HTTP request, by view", ["view"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)  # fmt: skip


class RequestMetricsMiddleware:
    """Counts requests and times them by view. Works in both modes (Django docs, "Asynchronous
    support" in middleware): under ASGI a sync-only middleware first in the chain made every
    request hop event loop -> thread -> event loop -> thread (asgiref's SyncToAsync, AsyncToSync
    and CurrentThreadExecutor), about a quarter of a web worker's CPU in the round-6 load profile."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        started = time.perf_counter()
        response = self.get_response(request)
        _observe(request, response, started)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = await self.get_response(request)
        _observe(request, response, started)
        return response


def _observe(request: HttpRequest, response: HttpResponse, started: float) -> None:
    match = getattr(request, "resolver_match", None)
    view = match.view_name if match else "unmatched"  # route names only: bounded label values
    REQUEST_SECONDS.labels(view=view).observe(time.perf_counter() - started)
    REQUESTS.labels(
        method=request.method if request.method in _METHODS else "other", status=str(response.status_code)
    ).inc()


_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


class DatabaseCollector(Collector):
    """Whole-system metrics read from the database when scraped (about ten aggregate queries)."""

    def __init__(self, *, now: dt.datetime | None = None) -> None:
        self.now = now

    def collect(self) -> Iterator[Any]:
        from django_q.models import Failure

        from ops.models import Incident
        from ops.selectors import component_statuses, oldest_waiting_seconds
        from routing.models import Decision, Lead, Offer, Segment, WebhookDelivery

        now = self.now or timezone.now()

        totals = decision_totals(now=now)
        decisions = CounterMetricFamily(
            "leadops_decisions", "Routing decisions recorded, by outcome and kind", labels=["outcome", "kind"]
        )
        for (outcome, kind), n in sorted(totals.by_outcome_kind.items()):
            decisions.add_metric([outcome, kind], n)
        yield decisions
        escalated = sum(n for (_, kind), n in totals.by_outcome_kind.items() if kind == Decision.Kind.ESCALATION)

        latency = HistogramMetricFamily(
            "leadops_routing_latency_seconds", "Intake to offer: lead received to the decision that offered it"
        )
        buckets = [(_bucket_label(b), n) for b, n in zip(LATENCY_BUCKETS, totals.latency_le, strict=True)]
        latency.add_metric([], [*buckets, ("+Inf", totals.latency_count)], sum_value=max(totals.latency_seconds, 0.0))
        yield latency

        leads = GaugeMetricFamily("leadops_leads", "Leads by status now", labels=["status"])
        counts = {r["status"]: r["n"] for r in Lead.objects.values("status").annotate(n=Count("id")).order_by()}
        for status in Lead.Status.values:
            leads.add_metric([status], counts.get(status, 0))
        yield leads

        depth = GaugeMetricFamily(
            "leadops_queue_depth",
            "Leads waiting, by queue (pending routing, holding pool, quarantined)",
            labels=["queue"],
        )
        oldest = GaugeMetricFamily(
            "leadops_queue_oldest_age_seconds",
            "How long the oldest lead of each queue has waited in it: pending since received or put back, "
            "holding since received, quarantined since quarantined (0 when empty)",
            labels=["queue"],
        )
        for queue, seconds in oldest_waiting_seconds(now=now).items():
            depth.add_metric([queue], counts.get(queue, 0))
            oldest.add_metric([queue], seconds)
        yield depth
        yield oldest

        # Offers change status (open -> accepted, expired, ...): by status it is a gauge; the
        # number ever made only grows, so it is the counter.
        offers = GaugeMetricFamily("leadops_offers", "Offers by current status", labels=["status"])
        offer_counts = {r["status"]: r["n"] for r in Offer.objects.values("status").annotate(n=Count("id")).order_by()}
        for status in Offer.Status.values:
            offers.add_metric([status], offer_counts.get(status, 0))
        yield offers
        made = CounterMetricFamily("leadops_offers_made", "Offers made to reps (every step of every lead)")
        made.add_metric([], sum(offer_counts.values()))
        yield made
        due = Offer.objects.filter(status=Offer.Status.OPEN).aggregate(
            overdue=Count("id", filter=Q(deadline__lte=now)),
            soon=Count("id", filter=Q(deadline__gt=now, deadline__lte=now + dt.timedelta(minutes=5))),
        )
        expiring = GaugeMetricFamily(
            "leadops_offers_expiring",
            "Open offers by deadline: overdue (the sweeper has not escalated them yet) or within 5 minutes",
            labels=["when"],
        )
        expiring.add_metric(["overdue"], due["overdue"])
        expiring.add_metric(["within_5m"], due["soon"])
        yield expiring
        escalations = CounterMetricFamily(
            "leadops_escalations",
            "Escalation decisions (a lead moved on after an offer expired, was declined or withdrawn)",
        )
        escalations.add_metric([], escalated)
        yield escalations

        sla = CounterMetricFamily(
            "leadops_sla_offers",
            "Offers decided against their SLA deadline, by segment: met = accepted in time, missed = expired unanswered",
            labels=["segment", "result"],
        )
        # Only offers that reached a verdict, grouped by the lead's segment id (one join), then
        # named from the small segment table.
        rows = (
            Offer.objects.filter(status__in=[Offer.Status.ACCEPTED, Offer.Status.EXPIRED])
            .values(segment_id=F("lead__segment_id"))
            .annotate(
                met=Count("id", filter=Q(status=Offer.Status.ACCEPTED, decided_at__lte=F("deadline"))),
                missed=Count("id", filter=Q(status=Offer.Status.EXPIRED)),
            )
            .order_by()
        )
        slugs = dict(Segment.objects.values_list("id", "slug"))
        for row in rows:
            slug = slugs.get(row["segment_id"], "none")
            sla.add_metric([slug, "met"], row["met"])
            sla.add_metric([slug, "missed"], row["missed"])
        yield sla

        webhooks = GaugeMetricFamily(
            "leadops_webhook_deliveries",
            "CRM webhook deliveries by status (failed = gave up); retrying = pending after a failed attempt",
            labels=["status"],
        )
        hooks = WebhookDelivery.objects.aggregate(
            pending=Count("id", filter=Q(status=WebhookDelivery.Status.PENDING, attempts=0)),
            retrying=Count("id", filter=Q(status=WebhookDelivery.Status.PENDING, attempts__gt=0)),
            delivered=Count("id", filter=Q(status=WebhookDelivery.Status.DELIVERED)),
            failed=Count("id", filter=Q(status=WebhookDelivery.Status.FAILED)),
        )
        for status, n in hooks.items():
            webhooks.add_metric([status], n)
        yield webhooks

        failures = GaugeMetricFamily(
            "leadops_task_failures",
            "Failed queue tasks django-q2 keeps (its save limit), by task: reps.tasks.notify_offers_created = offer emails that could not be sent",
            labels=["func"],
        )
        for row in Failure.objects.values("func").annotate(n=Count("id")).order_by():
            failures.add_metric([row["func"]], row["n"])
        yield failures

        up = GaugeMetricFamily(
            "leadops_component_up", "1 when a process of the component beat recently enough", labels=["component"]
        )
        silent = GaugeMetricFamily(
            "leadops_component_heartbeat_age_seconds",
            "Seconds since the component's freshest heartbeat (-1 when never seen)",
            labels=["component"],
        )
        for status in component_statuses(now=now):
            up.add_metric([status.component], 1 if status.up else 0)
            silent.add_metric([status.component], status.silent_seconds if status.silent_seconds is not None else -1)
        yield up
        yield silent

        incidents = GaugeMetricFamily("leadops_incidents_open", "Open alert incidents, by kind", labels=["kind"])
        open_counts = {
            r["kind"]: r["n"]
            for r in Incident.objects.filter(resolved_at__isnull=True).values("kind").annotate(n=Count("id")).order_by()
        }
        for kind in Incident.Kind.values:
            incidents.add_metric([kind], open_counts.get(kind, 0))
        yield incidents



@dataclass
class DecisionTotals:
    """Running sums over decision rows: counts by (outcome, kind) and the intake-to-offer histogram."""

    by_outcome_kind: dict[tuple[str, str], int] = field(default_factory=dict)
    latency_le: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    latency_count: int = 0
    latency_seconds: float = 0.0

    def plus(self, other: DecisionTotals) -> DecisionTotals:
        keys = self.by_outcome_kind.keys() | other.by_outcome_kind.keys()
        return DecisionTotals(
            by_outcome_kind={k: self.by_outcome_kind.get(k, 0) + other.by_outcome_kind.get(k, 0) for k in keys},
            latency_le=[a + b for a, b in zip(self.latency_le, other.latency_le, strict=True)],
            latency_count=self.latency_count + other.latency_count,
            latency_seconds=self.latency_seconds + other.latency_seconds,
        )


def _aggregate_decisions(qs: Any) -> DecisionTotals:
    """Two aggregate queries over ``qs``. Latency counts only route and holding-retry decisions
    that made an offer (escalations are not intake latency)."""
    from routing.models import Decision

    by_kind = {(r["outcome"], r["kind"]): r["n"] for r in qs.values("outcome", "kind").annotate(n=Count("id")).order_by()}
    latency = ExpressionWrapper(F("created_at") - F("lead__received_at"), output_field=DurationField())
    offered = qs.filter(outcome="offer", kind__in=[Decision.Kind.ROUTE, Decision.Kind.RETRY]).annotate(latency=latency)
    buckets = {f"le{i}": Count("id", filter=Q(latency__lte=dt.timedelta(seconds=b))) for i, b in enumerate(LATENCY_BUCKETS)}
    result = offered.aggregate(total=Count("id"), seconds=Sum("latency"), **buckets)
    seconds = result["seconds"]
    if isinstance(seconds, dt.timedelta):
        seconds = seconds.total_seconds()
    elif seconds is not None:  # SQLite returns microseconds
        seconds = float(seconds) / 1_000_000
    return DecisionTotals(
        by_outcome_kind=by_kind, latency_le=[result[f"le{i}"] for i in range(len(LATENCY_BUCKETS))],
        latency_count=result["total"], latency_seconds=seconds or 0.0,
    )  # fmt: skip


# Decisions are append-only and a lead's receipt time never changes, so the sums over decisions up
# to some id never change either: each process keeps them and a scrape only aggregates newer rows.
# Rows join the frozen part once older than SETTLE, so a routing transaction still open when a
# scrape runs (its id taken, its row not yet visible) is not skipped for ever.
SETTLE = dt.timedelta(seconds=60)
_frozen_lock = threading.Lock()
_frozen: dict[str, Any] = {"watermark": 0, "totals": DecisionTotals()}


def decision_totals_reset() -> None:
    with _frozen_lock:
        _frozen.update(watermark=0, totals=DecisionTotals())


def decision_totals(*, now: dt.datetime) -> DecisionTotals:
    """Whole-history decision sums: cached frozen part plus the newer tail (a few indexed queries
    per scrape once warm). The cache starts over if its watermark row is gone (a restored or
    rewound database)."""
    from django.db.models import Max

    from routing.models import Decision

    with _frozen_lock:
        watermark, frozen = _frozen["watermark"], _frozen["totals"]
        if watermark and not Decision.objects.filter(id=watermark).exists():
            watermark, frozen = 0, DecisionTotals()
        settled = Decision.objects.filter(id__gt=watermark, created_at__lt=now - SETTLE).aggregate(top=Max("id"))["top"]
        if settled:
            frozen = frozen.plus(_aggregate_decisions(Decision.objects.filter(id__gt=watermark, id__lte=settled)))
            watermark = settled
        _frozen.update(watermark=watermark, totals=frozen)
    return frozen.plus(_aggregate_decisions(Decision.objects.filter(id__gt=watermark)))


def _bucket_label(bound: float) -> str:
    return repr(float(bound))


def exposition(*, now: dt.datetime | None = None) -> bytes:
    """The text exposition: this process's (or all processes', in multiprocess mode) request
    metrics and the default process collectors, then the database-derived metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        process_registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(process_registry)
    else:
        from prometheus_client import REGISTRY as process_registry
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector(now=now))
    return generate_latest(process_registry) + generate_latest(database)
