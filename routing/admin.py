"""Django admin for superusers. Leads, offers and decisions are read-only here: they change only
through routing services, so the audit trail stays whole."""

from __future__ import annotations

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from reps.admin import ReadOnlyAdmin
from routing.models import ApiToken, Decision, ExchangeRate, Lead, LeadImport, LeadSynonym, Offer, Rule, RuleSet, Segment


@admin.register(Segment)
class SegmentAdmin(SimpleHistoryAdmin):
    list_display = ["name", "slug", "sla_minutes", "accept_fraction", "order", "is_default"]


@admin.register(Rule)
class RuleAdmin(SimpleHistoryAdmin):
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


@admin.register(LeadImport)
class LeadImportAdmin(ReadOnlyAdmin):
    list_display = ["id", "file_name", "status", "rows_total", "rows_done", "created", "already_present", "rejected", "created_at"]
    list_filter = ["status"]
