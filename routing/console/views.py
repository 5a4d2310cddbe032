"""The ops console: build, test and version routing rules (Sales Ops only)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from calendars.forms import CalendarForm, CompanyDayOffFormSet
from calendars.models import BusinessCalendar
from reps.access import manager_required, ops_required
from reps.models import Pool, Rep, Skill, Territory
from routing import labels
from routing import services as routing_services
from routing.config_io import ConfigImportError, config_export, config_import, config_validate
from routing.console import forms, selectors, services
from routing.models import Rule, RuleSet, Segment
from routing.reference import vocabulary_load
from routing.validation import LeadInputError, clean_lead


class HtmxHttpRequest(HttpRequest):  # typing only: django-htmx adds ``htmx`` to every request
    htmx: HtmxDetails


# --- rules ----------------------------------------------------------------------------------


def _rule_table(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "console/rules.html#rule-table", {"rules": selectors.rule_list_checked()})


@ops_required
@vary_on_headers("HX-Request")
def rule_list(request: HtmxHttpRequest) -> HttpResponse:
    if request.htmx:
        return _rule_table(request)
    context = {"rules": selectors.rule_list_checked(), "draft_changed": selectors.draft_differs_from_live(),
               "live": RuleSet.objects.order_by("-version").first()}  # fmt: skip
    return render(request, "console/rules.html", context)


@ops_required
@require_POST
def rule_move(request: HtmxHttpRequest, pk: int, direction: str) -> HttpResponse:
    if direction not in ("up", "down"):
        raise Http404
    services.rule_move(rule=get_object_or_404(Rule, pk=pk, archived=False), direction=direction)
    return _rule_table(request) if request.htmx else redirect("console:rules")


@ops_required
@require_POST
def rule_toggle(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=pk, archived=False)
    services.rule_set_enabled(rule=rule, enabled=not rule.enabled)
    return _rule_table(request) if request.htmx else redirect("console:rules")


@ops_required
@require_POST
def rule_archive(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    services.rule_archive(rule=get_object_or_404(Rule, pk=pk, archived=False))
    messages.success(request, "Rule removed from the draft (kept in history).")
    return _rule_table(request) if request.htmx else redirect("console:rules")


@ops_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def rule_edit(request: HtmxHttpRequest, pk: int | None = None) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=pk) if pk else None
    editor = forms.RuleEditor(rule=rule, data=request.POST if request.method == "POST" else None)
    template = "console/rule_form.html"
    if request.method == "POST":
        action = request.POST.get("action", "save")
        if action != "save":
            editor.act(action)  # a builder button: re-render with the rows changed, no errors yet
        elif editor.is_valid():
            saved = services.rule_save(rule=rule, values=editor.values)
            messages.success(request, f"Rule '{saved.name}' saved to the draft. Publish to make it live.")
            url = reverse("console:rules")
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    if request.htmx:
        template += "#rule-form"
    return render(request, template, editor.context())


# --- rule versions --------------------------------------------------------------------------


@manager_required  # read-only for managers, so "which rule version decided this?" is answerable
def rule_history(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=pk)
    versions = selectors.rule_history(rule)
    if not versions:
        raise Http404("This rule has no history")
    by_id = {v.history_id: v for v in versions}

    def pick(name: str, default: Any) -> Any:
        return by_id.get(forms.digits_to_id(request.GET.get(name, "")), default)

    version = pick("version", versions[0])
    position = versions.index(version)
    against = pick("against", versions[position + 1] if position + 1 < len(versions) else None)
    numbers = selectors.rule_version_numbers([rule.pk])
    for v in versions:
        v.number = numbers.get(v.history_id, v.history_id)
        v.change_label = labels.history_type_label(v.history_type, v.history_change_reason)
    context = {
        "rule": rule, "versions": versions, "version": version, "against": against,
        "changes": selectors.rule_version_diff(version, against) if against is not version else [],
        "history_types": selectors.HISTORY_TYPES,
    }  # fmt: skip
    return render(request, "console/rule_history.html", context)


@ops_required
@require_POST
def rule_restore(request: HtmxHttpRequest, pk: int, history_id: int) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=pk)
    if not rule.history.filter(history_id=history_id).exists():
        raise Http404
    try:
        services.rule_restore_version(rule=rule, history_id=history_id)
    except ValidationError as exc:
        messages.error(request, f"Cannot restore this version: {'; '.join(exc.messages)}")
        return redirect(f"{reverse('console:rule_history', args=[pk])}?version={history_id}")
    messages.success(request, "Earlier version restored as the newest draft version (recorded as a restore). "
                              "Publish to make it live.")
    return redirect("console:rule_history", pk=pk)


@ops_required
@require_http_methods(["GET", "POST"])
def versions(request: HtmxHttpRequest) -> HttpResponse:
    form = forms.PublishForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            ruleset = services.ruleset_publish(user=request.user, note=form.cleaned_data["note"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Published version {ruleset.version}. Routing uses it now.")
        return redirect("console:versions")
    diff = selectors.draft_diff()
    context = {"form": form, "rulesets": selectors.ruleset_list(), "draft_changed": not diff["empty"], "diff": diff,
               "nothing_published": diff["live_version"] is None}  # fmt: skip
    return render(request, "console/versions.html", context)


@ops_required
@require_POST
def version_restore(request: HtmxHttpRequest, version: int) -> HttpResponse:
    ruleset = get_object_or_404(RuleSet, version=version)
    try:
        new = services.ruleset_restore(ruleset=ruleset, user=request.user)
    except ValidationError as exc:
        messages.error(request, f"Cannot restore version {version}: {'; '.join(exc.messages)}")
        return redirect("console:versions")
    messages.success(request, f"Version {version} restored and published as version {new.version}.")
    return redirect("console:versions")


# --- test a lead ----------------------------------------------------------------------------


@ops_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def test_lead(request: HtmxHttpRequest) -> HttpResponse:
    form = forms.TestLeadForm(request.POST or None, recent=selectors.recent_lead_choices())
    result, error, checks = None, None, []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        lead = data["lead_json"]
        if lead is None and data["recent_lead"]:
            lead = selectors.lead_as_data(data["recent_lead"])
        typed = lead is None
        if typed:
            lead = form.lead_fields()
        try:
            cleaned = clean_lead({"source": "console", "external_id": "dry-run", **lead}, vocabulary=vocabulary_load())
        except LeadInputError as exc:  # the same normaliser as the API and CSV import
            if typed:  # each problem on the field it belongs to
                for name, messages in exc.errors.items():
                    form.add_error(name if name in form.fields else None, messages)
            else:
                error = "This lead cannot be routed: " + "; ".join(
                    f"{name}: {' '.join(messages)}" for name, messages in exc.errors.items())
        else:
            decision = routing_services.lead_dry_run(data=cleaned, draft=data["mode"] == "draft")
            result = selectors.dry_run_explanation(decision)
            checks = selectors.dry_run_rule_checks(data=cleaned, draft=data["mode"] == "draft")
    template = "console/test_lead.html"
    if request.htmx:
        template += "#test-result"
    return render(request, template, {"form": form, "result": result, "error": error, "checks": checks})


# --- import / export ------------------------------------------------------------------------


@ops_required
def config_download(request: HtmxHttpRequest) -> HttpResponse:
    response = JsonResponse(config_export(), json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = 'attachment; filename="leadops-config.json"'
    return response


@ops_required
@require_http_methods(["GET", "POST"])
def config_page(request: HtmxHttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"form": forms.ConfigUploadForm()}
    if request.method == "POST" and "confirm" in request.POST:
        confirm = forms.ConfigConfirmForm(request.POST)
        try:
            if not confirm.is_valid():
                raise ConfigImportError([f"payload: {m}" for m in confirm.errors["payload"]])
            result = config_import(confirm.cleaned_data["payload"], user=request.user)
        except ConfigImportError as exc:
            context["errors"] = exc.errors
        else:
            messages.success(request, f"Configuration imported: {result.summary} Publish to make rule changes live.")
            return redirect("console:config")
    elif request.method == "POST":
        form = forms.ConfigUploadForm(request.POST, request.FILES)
        context["form"] = form
        if form.is_valid():
            data = form.cleaned_data["file"]
            try:
                result = config_import(data, dry_run=True)
            except ConfigImportError as exc:
                context["errors"] = exc.errors
            else:
                context["changes"] = result.changes
                context["payload"] = json.dumps(config_validate(data)[0])
    return render(request, "console/config.html", context)


# --- everything a rule refers to -------------------------------------------------------------


@dataclass(frozen=True)
class Entity:
    title: str
    singular: str
    model: type
    form: type
    queryset: Callable[[], Any]
    search: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (label, attribute)
    formsets: tuple[tuple[str, Any], ...] = field(default=())
    can_deactivate: bool = True
    drafted: bool = False  # saved to the draft and published with the rules (segments), else live at once


ENTITIES: dict[str, Entity] = {
    "pools": Entity("Pools", "pool", Pool, forms.PoolForm,
                    lambda: selectors.ENTITY_QUERYSETS["pools"]().annotate(member_count=Count("members")),
                    ("name", "description"),
                    (("Name", "name"), ("Members", "member_count"), ("Dynamic skill", "dynamic_skill"),
                     ("Dynamic team", "dynamic_team"), ("Manager", "manager"), ("Active", "active")),
                    (("Members and weights", forms.PoolMemberFormSet),)),  # fmt: skip
    "reps": Entity("Reps", "rep", Rep, forms.RepForm, selectors.ENTITY_QUERYSETS["reps"],
                   ("display_name", "user__username", "user__email", "team__name"),
                   (("Name", "display_name"), ("Username", "user.username"), ("Tier", "get_tier_display"),
                    ("Team", "team"), ("Manager", "manager"), ("Timezone", "timezone"),
                    ("Open leads cap", "max_open"), ("Daily cap", "max_daily"), ("Active", "active")),
                   (("Skills", forms.RepSkillFormSet), ("Licences", forms.LicenceFormSet),
                    ("Absences", forms.AbsenceFormSet))),  # fmt: skip
    "segments": Entity("Segments", "segment", Segment, forms.SegmentForm, selectors.ENTITY_QUERYSETS["segments"],
                       ("slug", "name"),
                       (("Order", "order"), ("Name", "name"), ("Slug", "slug"), ("SLA (min)", "sla_minutes"),
                        ("Share of SLA to accept", "accept_fraction"), ("SLA clock", "get_sla_clock_display"),
                        ("Delivery", "get_mode_display"),
                        ("Priority", "priority"), ("Default", "is_default")),
                       can_deactivate=False, drafted=True),  # fmt: skip
    "territories": Entity("Territories", "territory", Territory, forms.TerritoryForm,
                          selectors.ENTITY_QUERYSETS["territories"], ("name", "country", "region", "postal_prefix"),
                          (("Name", "name"), ("Parent", "parent"), ("Country", "country"), ("Region", "region"),
                           ("Postal prefix", "postal_prefix"), ("Active", "active"))),  # fmt: skip
    "calendars": Entity("Calendars", "calendar", BusinessCalendar, CalendarForm,
                        lambda: BusinessCalendar.objects.all(), ("name", "timezone", "holiday_country"),
                        (("Name", "name"), ("Timezone", "timezone"), ("Holidays of", "holiday_country"),
                         ("State or region", "holiday_subdivision")),
                        (("Company days off", CompanyDayOffFormSet),), can_deactivate=False),  # fmt: skip
    "skills": Entity("Skills", "skill", Skill, forms.SkillForm, selectors.ENTITY_QUERYSETS["skills"],
                     ("code", "name", "kind"),
                     (("Kind", "get_kind_display"), ("Code", "code"), ("Name", "name"), ("Active", "active"))),  # fmt: skip
}


def _entity(kind: str) -> Entity:
    entity = ENTITIES.get(kind)
    if entity is None:
        raise Http404
    return entity


def _cell(obj: Any, attribute: str) -> Any:
    value: Any = obj
    for part in attribute.split("."):
        value = getattr(value, part, None)
        if callable(value):
            value = value()
    return value


@ops_required
@vary_on_headers("HX-Request")
def object_list(request: HtmxHttpRequest, kind: str) -> HttpResponse:
    entity = _entity(kind)
    search = forms.ObjectSearchForm(request.GET)
    if not search.is_valid():
        return HttpResponse(f"Invalid search: {search.errors.as_text()}", status=400, content_type="text/plain")
    query = search.cleaned_data["q"]
    objects = selectors.object_search(entity.queryset(), entity.search, query)
    if kind == "pools":
        objects = selectors.pools_with_member_counts(objects)
    rows = [{"obj": obj, "cells": [_cell(obj, attr) for _, attr in entity.columns]} for obj in objects]
    context = {"entity": entity, "kind": kind, "rows": rows, "q": query, "kinds": ENTITIES}
    template = "console/objects.html"
    if request.htmx:
        template += "#object-table"
    return render(request, template, context)


@ops_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def object_edit(request: HtmxHttpRequest, kind: str, pk: int | None = None) -> HttpResponse:
    entity = _entity(kind)
    obj = get_object_or_404(entity.model, pk=pk) if pk else entity.model()
    data = request.POST if request.method == "POST" else None
    form = entity.form(data, instance=obj)
    action = request.POST.get("action", "save") if data is not None else ""
    if action.startswith("add_row:"):
        data = forms.formset_add_row(data, prefix=action.split(":", 1)[1])
        form = entity.form(data, instance=obj)
    formsets = [(label, cls(data, instance=obj, prefix=cls.model.__name__.lower())) for label, cls in entity.formsets]
    conditions = forms.ConditionRows(getattr(obj, "conditions", None), data) if kind == "segments" else None
    if action.startswith("add_row:"):
        forms.quiet(form, [fs for _, fs in formsets])  # another row, not a save: no errors yet
    elif request.method == "POST":
        if conditions is not None and action != "save":
            conditions.act(action)
        else:
            cleaned_conditions = conditions.clean() if conditions is not None else None
            valid = form.is_valid() & all([fs.is_valid() for _, fs in formsets])
            if valid and not (conditions and conditions.errors):
                if cleaned_conditions is not None:
                    form.instance.conditions = cleaned_conditions
                sets = [fs for _, fs in formsets]
                if kind == "reps" and not pk:
                    saved = services.rep_create(form=form, formsets=sets)
                else:
                    saved = services.config_object_save(form=form, formsets=sets)
                    if kind == "reps":
                        services.rep_update_email(rep=saved, email=form.cleaned_data.get("email") or "")
                messages.success(request, f"{entity.singular.capitalize()} '{saved}' saved.")
                url = reverse("console:objects", args=[kind])
                return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    if kind == "pools" and obj.pk:
        extra_context = {"current_members": selectors.pool_current_members(obj)}
    else:
        extra_context = {}
    context = {"entity": entity, "kind": kind, "obj": obj, "form": form, "formsets": formsets, "kinds": ENTITIES,
               "condition_rows": conditions.render() if conditions is not None else None, **forms.builder_choices(),
               **extra_context}  # fmt: skip
    template = "console/object_form.html"
    if request.htmx:
        template += "#object-form"
    return render(request, template, context)


@ops_required
@require_POST
def object_deactivate(request: HtmxHttpRequest, kind: str, pk: int) -> HttpResponse:
    entity = _entity(kind)
    if not entity.can_deactivate:
        raise Http404
    obj = get_object_or_404(entity.model, pk=pk)
    services.object_deactivate(obj=obj)
    messages.success(request, f"{entity.singular.capitalize()} '{obj}' deactivated.")
    if request.htmx:
        return object_list(request, kind)
    return redirect("console:objects", kind=kind)
