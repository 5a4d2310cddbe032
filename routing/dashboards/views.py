"""Manager dashboards: equity, SLA, capacity, decision explorer, lead timeline, replay."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.contrib import messages
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from leadops.exports import csv_response
from ops.selectors import components_down
from reps.access import has_role, manager_required, ops_required
from reps.models import Pool, Rep, Role
from reps.scope import visibility_for
from routing.dashboards import charts, selectors, services
from routing.dashboards.forms import DecisionFilterForm, EquityForm, ReplayForm, SlaForm
from routing.dashboards.models import ReplayJob
from routing.models import Rule, Segment


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


@require_GET
@manager_required
def home(request: HtmxHttpRequest) -> HttpResponse:
    services.equity_rollup()
    start, end = selectors.window_dates(window="7d")
    today = _day_start(end)
    visible = visibility_for(request.user)
    notes = selectors.strategy_notes(start=start, end=end)
    if not visible.everything:  # the busiest rep of a pool may be on another team
        for note in notes:
            note.busiest = ""
    context = {
        "alerts": selectors.drift_alerts(start=start, end=end, visible=visible)[:20],
        "notes": notes,
        "tolerance_pct": 100 * settings.LEADOPS_EQUITY_TOLERANCE,
        "min_leads": settings.LEADOPS_DRIFT_MIN_LEADS,
        "holding": selectors.holding_summary(visible=visible),
        "sla": selectors.sla_summary(start=today, end=today + dt.timedelta(days=1), visible=visible),
        # Quarantined leads are ops' to retry, and were never offered to anyone's team.
        "quarantine": selectors.quarantined_leads(limit=20) if visible.everything else (0, []),
        "components_down": components_down(),
    }
    return render(request, "dashboards/home.html", context)


def _equity_context(request: HttpRequest) -> tuple[EquityForm, dict[str, Any]]:
    form = EquityForm(request.GET or None)
    pools = list(Pool.objects.filter(active=True).values_list("id", "name"))
    context: dict[str, Any] = {"form": form, "pools": pools, "table": None}
    valid = form.is_valid() if request.GET else True
    data = form.cleaned_data if request.GET and valid else {"window": "7d"}
    pool_id = data["pool"].id if data.get("pool") else (pools[0][0] if pools else None)
    if not valid or pool_id is None:
        return form, context
    start, end = selectors.window_dates(window=data["window"], start=data.get("start"), end=data.get("end"))
    context.update(pool_id=pool_id, window=data["window"], start=start, end=end)
    context["table"] = selectors.equity_table(pool_id=pool_id, start=start, end=end, visible=visibility_for(request.user))
    return form, context


@require_GET
@manager_required
@vary_on_headers("HX-Request")
def equity(request: HtmxHttpRequest) -> HttpResponse:
    services.equity_rollup()  # fold the tail since the last scheduled rollup
    form, context = _equity_context(request)
    table = context["table"]
    if table is not None:
        context["rows"] = table.rows[:200]
        context["bars"] = charts.share_bars(table.rows)
        top = [r for r in table.rows if r.assigned or r.expected][:5]
        series = selectors.equity_series(pool_id=table.pool_id, start=table.start, end=table.end, rep_ids=[r.rep_id for r in top])
        context["lines"] = charts.deviation_lines({r.name: series[r.rep_id] for r in top})
        context["query"] = request.GET.urlencode()
    template = "dashboards/equity.html" + ("#equity-panel" if request.htmx else "")
    return render(request, template, context)


@require_GET
@manager_required
def equity_export(request: HtmxHttpRequest) -> HttpResponse:
    services.equity_rollup()
    form, context = _equity_context(request)
    table = context["table"]
    if request.GET and not form.is_valid():
        return HttpResponse(f"Invalid filter: {form.errors.as_text()}", status=400, content_type="text/plain")
    header = ["rep_id", "rep", "weight", "target_share", "assigned", "actual_share", "expected", "expected_share",
              "deviation_leads", "deviation_pct", "assigned_value", "value_share", "expected_value",
              "expected_value_share", "value_deviation", "drift", "value_drift", "owed_now", "owner_and_follow_ups"]  # fmt: skip
    rows = (
        [r.rep_id, r.name, r.weight, f"{r.target_share:.4f}", r.assigned, f"{r.actual_share:.4f}", f"{r.expected:.3f}",
         f"{r.expected_share:.4f}", f"{r.deviation:.3f}", "" if r.deviation_pct is None else f"{r.deviation_pct:.1f}",
         r.assigned_value, f"{r.value_share:.4f}", f"{r.expected_value:.2f}", f"{r.expected_value_share:.4f}",
         f"{r.value_deviation:.2f}", int(r.drift), int(r.value_drift), "" if r.owed is None else f"{r.owed:.3f}",
         r.direct]
        for r in (table.rows if table else ())
    )  # fmt: skip
    name = f"equity-pool{table.pool_id}-{table.start}-{table.end}.csv" if table else "equity.csv"
    return csv_response(header, rows, name)


@require_GET
@manager_required
def sla(request: HtmxHttpRequest) -> HttpResponse:
    form = SlaForm(request.GET or None)
    context: dict[str, Any] = {"form": form, "rows": None}
    if not request.GET or form.is_valid():
        data = form.cleaned_data if request.GET else {"window": "7d", "by": "segment"}
        start, end = selectors.window_dates(window=data["window"], start=data.get("start"), end=data.get("end"))
        by = data.get("by") or "segment"
        context.update(by=by, start=start, end=end)
        context["rows"] = selectors.sla_outcomes(start=_day_start(start), end=_day_start(end) + dt.timedelta(days=1), by=by,
                                                 visible=visibility_for(request.user))  # fmt: skip
    return render(request, "dashboards/sla.html", context)


@require_GET
@manager_required
def capacity(request: HtmxHttpRequest) -> HttpResponse:
    visible = visibility_for(request.user)
    context = {"rows": selectors.capacity_now(visible=visible), "holding": selectors.holding_summary(visible=visible)}
    return render(request, "dashboards/capacity.html", context)


def _decision_filters(form: DecisionFilterForm, request: HttpRequest) -> selectors.DecisionFilters:
    d = form.cleaned_data
    return selectors.DecisionFilters(
        visible=visibility_for(request.user),
        start=_day_start(d["start"]) if d.get("start") else None,
        end=_day_start(d["end"]) + dt.timedelta(days=1) if d.get("end") else None,
        pool_id=d.get("pool"), rule_id=d.get("rule"), rep_id=d.get("rep"), outcome=d.get("outcome") or "",
        segment_id=d.get("segment"), lead_id=d.get("lead"),
    )  # fmt: skip


@require_GET
@manager_required
@vary_on_headers("HX-Request")
def decisions(request: HtmxHttpRequest) -> HttpResponse:
    form = DecisionFilterForm(request.GET)
    context: dict[str, Any] = {"form": form, "page": None}
    if form.is_valid():
        context["page"] = selectors.decisions_page(_decision_filters(form, request), cursor=form.cleaned_data.get("cursor") or "")
        params = request.GET.copy()
        params.pop("cursor", None)
        context["query"] = params.urlencode()
    if request.htmx:
        return render(request, "dashboards/decisions.html#decision-table", context)
    sources = {
        "pool": Pool.objects.values_list("id", "name"),
        "rule": Rule.objects.values_list("id", "name"),
        "rep": visibility_for(request.user).reps(Rep.objects.all()).values_list("id", "display_name"),
        "segment": Segment.objects.values_list("id", "name"),
    }
    context["options"] = [
        (name, [(pk, label, str(pk) == request.GET.get(name, "")) for pk, label in qs]) for name, qs in sources.items()
    ]
    return render(request, "dashboards/decisions.html", context)


@require_GET
@manager_required
def decisions_export(request: HtmxHttpRequest) -> HttpResponse:
    form = DecisionFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponse(f"Invalid filter: {form.errors.as_text()}", status=400, content_type="text/plain")
    rows = selectors.decisions_export(_decision_filters(form, request))
    return csv_response(selectors.EXPORT_HEADER, rows, "decisions.csv")


@require_GET
@manager_required
def lead_timeline(request: HtmxHttpRequest, lead_id: int) -> HttpResponse:
    found = selectors.lead_timeline(lead_id=lead_id, visible=visibility_for(request.user))
    if found is None:
        raise Http404("No such lead")
    lead, events = found
    can_retry = has_role(request.user, Role.OPS)
    return render(request, "dashboards/lead.html", {"lead": lead, "events": events, "can_retry": can_retry})


@require_POST
@ops_required
def lead_quarantine_retry(request: HtmxHttpRequest, lead_id: int) -> HttpResponse:
    """Ops: route a quarantined lead again now (``routing.services.lead_quarantine_retry``)."""
    from routing.services import OfferError, lead_quarantine_retry

    try:
        lead_quarantine_retry(lead_id=lead_id, by=request.user)
    except OfferError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "The lead is back in the queue and will be routed again now.")
    return redirect("dashboards:lead", lead_id=lead_id)


@require_http_methods(["GET", "POST"])
@manager_required
def replay(request: HtmxHttpRequest) -> HttpResponse:
    form = ReplayForm(request.POST if request.method == "POST" else None)  # an empty POST still shows errors
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        job = services.replay_create(start=d["start"], end=d["end"], pool_id=d["pool"].id if d["pool"] else None, user=request.user)
        return redirect("dashboards:replay_detail", job_id=job.id)
    jobs = ReplayJob.objects.select_related("pool")[:20]
    return render(request, "dashboards/replay.html", {"form": form, "jobs": jobs})


@require_GET
@manager_required
@vary_on_headers("HX-Request")
def replay_detail(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(ReplayJob.objects.select_related("pool"), id=job_id)
    result = dict(job.result or {})
    visible = visibility_for(request.user)
    if result.get("reps"):  # the pool's whole projection, but only the viewer's team by name
        result["reps"] = [r for r in result["reps"] if visible.sees_rep(r.get("rep_id"))]
    if result.get("changes") and not visible.everything:  # only moves that touch the viewer's team, others unnamed
        result["changes"] = [
            {**c, **({} if visible.sees_rep(c.get("actual_rep_id")) or not c.get("actual_rep_id") else {"actual": selectors.OTHER_TEAM}),
             **({} if visible.sees_rep(c.get("projected_rep_id")) or not c.get("projected_rep_id") else {"projected": selectors.OTHER_TEAM}),
             **({} if all(visible.sees_rep(r) for r in (c.get("actual_rep_id"), c.get("projected_rep_id")) if r) else {"why": ""})}
            for c in result["changes"]
            if any(visible.sees_rep(r) for r in (c.get("actual_rep_id"), c.get("projected_rep_id")) if r)
        ]  # fmt: skip
    context = {"job": job, "result": result, "running": job.status in (ReplayJob.Status.QUEUED, ReplayJob.Status.RUNNING)}
    if job.status == ReplayJob.Status.DONE:
        context["chart"] = charts.projected_bars(
            [(r["name"], r["actual_share"], r["projected_share"]) for r in result.get("reps", ())]
        )
    template = "dashboards/replay_detail.html" + ("#replay-progress" if request.htmx else "")
    return render(request, template, context)
