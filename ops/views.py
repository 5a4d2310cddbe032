"""Health endpoints for load balancers, the metrics endpoint for Prometheus, the ops System page."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ops import selectors
from ops.metrics import exposition
from reps.access import ops_required


@never_cache
@require_GET
def live(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No database: a database outage must not get every web
    process restarted."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when every check passes, 503 otherwise; the body names each check.

    ``?skip=sweeper`` leaves checks out of the verdict (still reported): a load balancer that
    should keep taking leads while only the sweeper is down uses it (docs/operations.md).
    """
    skip = {name.strip() for value in request.GET.getlist("skip") for name in value.split(",") if name.strip()}
    errors = {param: ["Unknown parameter: only 'skip' is accepted."] for param in request.GET if param != "skip"}
    if unknown := sorted(skip - set(selectors.READINESS_CHECKS)):
        errors["skip"] = [f"Unknown check {', '.join(unknown)}; choose from {', '.join(selectors.READINESS_CHECKS)}."]
    if errors:
        return JsonResponse({"status": "bad request", "errors": errors}, status=400)
    checks = selectors.readiness()
    ok = all(c.ok for name, c in checks.items() if name not in skip)
    # Failure details name hosts and ports: only for monitoring (token or allowed network).
    trusted = _metrics_allowed(request)
    body = {"status": "ok" if ok else "failing",
            "checks": {name: {"ok": c.ok, "detail": c.detail if c.ok or trusted else "failed", "ms": c.ms,
                              **({"skipped": True} if name in skip else {})}
                       for name, c in checks.items()}}  # fmt: skip
    return JsonResponse(body, status=200 if ok else 503)


def _metrics_allowed(request: HttpRequest) -> bool:
    token = settings.LEADOPS_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip().encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.LEADOPS_METRICS_ALLOWED_NETWORKS)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format. Allowed with ``Authorization: Bearer $LEADOPS_METRICS_TOKEN`` or
    from an address in LEADOPS_METRICS_ALLOWED_NETWORKS (default: loopback only)."""
    if not _metrics_allowed(request):
        return HttpResponse("Metrics need the bearer token or an allowed network.\n", status=403, content_type="text/plain")
    return HttpResponse(exposition(), content_type="text/plain; version=0.0.4; charset=utf-8")


@require_GET
@ops_required
def system(request: HttpRequest) -> HttpResponse:
    statuses = selectors.component_statuses()
    context = {
        "statuses": statuses,
        "down": [s for s in statuses if not s.up],
        "open_incidents": selectors.incidents_open(),
        "recent_incidents": selectors.incidents_recent(limit=20),
    }
    return render(request, "ops/system.html", context)
