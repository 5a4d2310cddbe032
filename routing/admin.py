"""Django admin for superusers. Leads, offers and decisions are read-only here: they change only
through routing services, so the audit trail stays whole."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from simple_history.admin import SimpleHistoryAdmin

from reps.admin import ReadOnlyAdmin
from routing.console import selectors
from routing.console import services as console_services
from routing.console.forms import StorableJSONFormField
from routing.engine import schema
from routing.models import (
    ApiToken, Decision, ExchangeRate, ImportMapping, Lead, LeadImport, LeadSynonym, Offer, Rule, RuleSet, Segment,
)  # fmt: skip


def _place(form: forms.ModelForm, problems: list[tuple[str, str]], aliases: dict[str, str]) -> None:
    for path, message in problems:
        head = path.split(".")[0].split("[")[0]
        name = aliases.get(head, head)
        form.add_error(name if name in form.fields else None, f"{path}: {message}")


class SegmentAdminForm(forms.ModelForm):
    """The admin's segment form checks the engine schema, like the console and the importer."""

    class Meta:
        model = Segment
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors:
            names = ("slug", "name", "sla_minutes", "accept_fraction", "priority", "order", "conditions", "is_default",
                     "sla_clock", "mode")  # fmt: skip
            values = {n: data.get(n) for n in names if n in data}
            if "calendar" in data:
                values["calendar_id"] = data["calendar"].pk if data["calendar"] else None
            _segment, problems = schema.validate(schema.SegmentStored, values)
            _place(self, problems, {"calendar_id": "calendar"})
        return data


class RuleAdminForm(forms.ModelForm):
    """The admin's rule form (raw JSON boxes) runs the rule editor's check (``selectors.rule_check``)."""

    class Meta:
        model = Rule
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors:
            threshold = data.get("value_threshold")
            stored = {name: data.get(name) for name in console_services.RULE_FIELDS if name != "pool_id"}
            stored.update(pool_id=data["pool"].pk, value_threshold=str(threshold) if threshold is not None else None)
            for name in ("conditions", "fallback", "relaxation"):
                stored[name] = stored[name] if stored[name] is not None else []
            stored["requirements"] = stored["requirements"] if stored["requirements"] is not None else {}
            _rule, problems = selectors.rule_check(stored)
            _place(self, problems, {"pool_id": "pool"})
        return data


JSON_BOXES = {models.JSONField: {"form_class": StorableJSONFormField}}


@admin.register(Segment)
class SegmentAdmin(SimpleHistoryAdmin):
    form = SegmentAdminForm
    formfield_overrides = JSON_BOXES
    list_display = ["name", "slug", "sla_minutes", "accept_fraction", "order", "is_default"]


@admin.register(Rule)
class RuleAdmin(SimpleHistoryAdmin):
    form = RuleAdminForm
    formfield_overrides = JSON_BOXES
    list_display = ["name", "priority", "enabled", "pool", "strategy", "archived"]
    list_filter = ["enabled", "strategy", "archived"]


@admin.register(RuleSet)
class RuleSetAdmin(ReadOnlyAdmin):
    list_display = ["version", "published_at", "published_by", "note"]


@admin.register(Lead)
class LeadAdmin(ReadOnlyAdmin):
    list_display = ["id", "source", "external_id", "status", "owner", "segment", "value", "high_value", "received_at"]
    list_filter = ["status", "high_value", "segment"]
    search_fields = ["external_id", "email", "company"]


@admin.register(Offer)
class OfferAdmin(ReadOnlyAdmin):
    list_display = ["id", "lead", "rep", "status", "step", "via", "offered_at", "deadline"]
    list_filter = ["status", "via"]


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ["id", "lead", "kind", "outcome", "step", "chosen_rep", "ruleset_version", "created_at"]
    list_filter = ["kind", "outcome"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "created_at", "revoked_at", "last_used_at"]
    readonly_fields = ["prefix", "digest", "created_at", "last_used_at"]

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        return False  # tokens are created with `manage.py createapitoken` so the secret is shown once


@admin.register(ExchangeRate)
class ExchangeRateAdmin(SimpleHistoryAdmin):
    list_display = ["currency", "rate", "as_of", "note"]
    list_filter = ["currency"]


@admin.register(LeadSynonym)
class LeadSynonymAdmin(SimpleHistoryAdmin):
    list_display = ["field", "alias", "value"]
    list_filter = ["field"]
    search_fields = ["alias", "value"]


@admin.register(ImportMapping)
class ImportMappingAdmin(SimpleHistoryAdmin):
    list_display = ["name", "source", "currency", "updated_at"]
    search_fields = ["name"]


@admin.register(LeadImport)
class LeadImportAdmin(ReadOnlyAdmin):
    list_display = ["id", "file_name", "status", "rows_total", "rows_done", "created", "already_present", "rejected", "created_at"]
    list_filter = ["status"]
