"""Django admin for superusers. Day-to-day configuration lives in the ops console (/ops/)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from simple_history.admin import SimpleHistoryAdmin

from reps import services
from reps.models import Absence, Licence, Pool, PoolMember, Rep, RepLoad, RepSkill, Skill, Team, Territory


class RepSkillInline(admin.TabularInline):
    model = RepSkill
    extra = 0


class LicenceInline(admin.TabularInline):
    model = Licence
    extra = 0


class PoolMemberInline(admin.TabularInline):
    model = PoolMember
    extra = 0
    raw_id_fields = ["rep"]


class RepAdminForm(forms.ModelForm):
    """The console's checks on a rep's login and manager (no cycles, no ops login), in the admin too."""

    class Meta:
        model = Rep
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        from routing.console.forms import manager_cycle_error, rep_login_error

        data = super().clean()
        changed = "user" in self.changed_data and "user" not in self.errors
        if changed and (error := rep_login_error(data.get("user"), rep_id=self.instance.pk)):
            self.add_error("user", error)
        if "manager" not in self.errors and (error := manager_cycle_error(rep_id=self.instance.pk, manager=data.get("manager"))):
            self.add_error("manager", error)
        return data


def _json_boxes() -> dict:
    from routing.console.forms import StorableJSONFormField

    return {models.JSONField: {"form_class": StorableJSONFormField}}


@admin.register(Rep)
class RepAdmin(SimpleHistoryAdmin):
    form = RepAdminForm
    formfield_overrides = _json_boxes()
    list_display = ["display_name", "tier", "team", "active", "max_open", "max_daily", "timezone"]
    list_filter = ["active", "tier", "team"]
    search_fields = ["display_name", "user__username", "user__email"]
    raw_id_fields = ["user", "manager"]
    filter_horizontal = ["territories"]
    inlines = [RepSkillInline, LicenceInline]
    actions = ["deactivate", "reactivate"]

    def save_model(self, request, obj: Rep, form, change: bool) -> None:  # noqa: ANN001
        # Availability changes (Active, caps, away) have effects: reps.services performs them.
        services.rep_save(rep=obj, by=request.user)

    @admin.action(description="Deactivate selected reps (their open offers move on)")
    def deactivate(self, request, queryset) -> None:  # noqa: ANN001
        for rep in queryset.filter(active=True):
            services.rep_set_active(rep=rep, active=False, by=request.user)

    @admin.action(description="Reactivate selected reps")
    def reactivate(self, request, queryset) -> None:  # noqa: ANN001
        for rep in queryset.filter(active=False):
            services.rep_set_active(rep=rep, active=True, by=request.user)


@admin.register(Pool)
class PoolAdmin(SimpleHistoryAdmin):
    list_display = ["name", "active", "manager", "dynamic_skill", "dynamic_team"]
    inlines = [PoolMemberInline]


@admin.register(Skill)
class SkillAdmin(SimpleHistoryAdmin):
    list_display = ["name", "kind", "code", "active"]
    list_filter = ["kind", "active"]


@admin.register(Territory)
class TerritoryAdmin(SimpleHistoryAdmin):
    list_display = ["name", "parent", "country", "region", "postal_prefix", "active"]
    search_fields = ["name", "country", "region"]


@admin.register(Absence)
class AbsenceAdmin(SimpleHistoryAdmin):
    list_display = ["rep", "starts_at", "ends_at", "reason"]
    raw_id_fields = ["rep"]

    def save_model(self, request, obj: Absence, form, change: bool) -> None:  # noqa: ANN001
        services.absence_save(absence=obj, by=request.user)

    def delete_model(self, request, obj: Absence) -> None:  # noqa: ANN001
        services.absence_delete(absence=obj, by=request.user)

    def delete_queryset(self, request, queryset) -> None:  # noqa: ANN001
        for absence in queryset.select_related("rep"):
            services.absence_delete(absence=absence, by=request.user)


admin.site.register(Team, SimpleHistoryAdmin)


class ReadOnlyAdmin(admin.ModelAdmin):
    """For rows that change only through services (capacity, leads, the audit trail)."""

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False


@admin.register(RepLoad)
class RepLoadAdmin(ReadOnlyAdmin):
    list_display = ["rep", "open_count", "day", "daily_count", "week", "weekly_count", "updated_at"]
