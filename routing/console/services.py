"""Writes of the ops console. Every save is ``full_clean``-ed and goes row by row through
``save()`` so django-simple-history records who changed what (the request user arrives
through HistoryRequestMiddleware; ``_history_user`` covers calls outside a request)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models, transaction

from reps import services as rep_services
from reps.models import Absence, Rep, Role
from routing import services as routing_services
from routing.console import selectors
from routing.engine import schema
from routing.models import Rule, RuleSet, Segment

RULE_FIELDS = ("name", "priority", "enabled", "conditions", "pool_id", "strategy", "requirements",
               "value_threshold", "high_value_min_tier", "fallback", "relaxation", "reroute_on_escalation")  # fmt: skip


def _save(obj: models.Model, *, user: Any = None, reason: str = "") -> models.Model:
    """``full_clean`` then ``save``; ``reason`` is recorded on the history row (simple-history's
    ``history_change_reason``), e.g. "Restored version 3" so a restore reads as one."""
    obj.full_clean()
    if user is not None:
        obj._history_user = user
    if reason:
        obj._change_reason = reason
    obj.save()
    return obj


def rule_save(*, rule: Rule | None, values: dict[str, Any], user: Any = None) -> Rule:
    """Create or update a draft rule. Routing keeps the published version until ``rule_publish``."""
    rule = rule or Rule()
    for name, value in values.items():
        setattr(rule, name, value)
    return _save(rule, user=user)


def rule_set_enabled(*, rule: Rule, enabled: bool, user: Any = None) -> Rule:
    rule.enabled = enabled
    return _save(rule, user=user)


def rule_archive(*, rule: Rule, user: Any = None) -> Rule:
    rule.archived = True
    return _save(rule, user=user)


@transaction.atomic
def rule_move(*, rule: Rule, direction: str, user: Any = None) -> None:
    """Swap a rule with its neighbour, then renumber priorities 10, 20, ... (only changed rows are saved)."""
    rules = list(Rule.objects.select_for_update().filter(archived=False).order_by("priority", "id"))
    index = next((i for i, r in enumerate(rules) if r.pk == rule.pk), None)
    if index is None:
        return
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(rules):
        return
    rules[index], rules[other] = rules[other], rules[index]
    for position, item in enumerate(rules, start=1):
        if item.priority != position * 10:
            item.priority = position * 10
            _save(item, user=user)


def _checked_rule_values(data: dict[str, Any], *, what: str) -> dict[str, Any]:
    """A stored rule's values read through ``schema.RuleStored`` with the editor's checks and
    references; ``ValidationError`` naming each problem when an old version no longer fits."""
    threshold = data.get("value_threshold")
    data = {**data, "value_threshold": str(threshold) if isinstance(threshold, Decimal) else threshold}
    data = {k: v for k, v in data.items() if k not in ("id", "history_id")}
    rule, problems = selectors.rule_check(data)
    if problems:
        raise ValidationError([f"{what}: {path}: {message}" for path, message in problems])
    return {**rule.values(), "archived": False}


def rule_restore_version(*, rule: Rule, history_id: int, user: Any = None) -> Rule:
    """Save the values of an earlier version as the newest draft version.

    Raises ``ValidationError`` when that version does not pass today's rule checks (the same as
    the editor's and the importer's), so a restore never brings back what the editor refuses.
    """
    old = rule.history.get(history_id=history_id)
    number = selectors.rule_version_numbers([rule.pk]).get(history_id, history_id)
    data = {name: getattr(old, name) for name in RULE_FIELDS}
    for name, value in _checked_rule_values(data, what=f"version {number}").items():
        setattr(rule, name, value)
    return _save(rule, user=user, reason=f"Restored version {number}")


def _snapshot_rule_values(data: dict[str, Any]) -> dict[str, Any]:
    return _checked_rule_values(data, what=f"rule {data.get('name')!r}")


@transaction.atomic
def ruleset_restore(*, ruleset: RuleSet, user: Any = None, note: str = "") -> RuleSet:
    """Load a published version's rules and segments into the draft, then publish it as a new version.

    1. Rules in the snapshot are written back (recreated if deleted since); other draft rules are archived.
    2. Segments in the snapshot get their published values back (recreated by slug if deleted).
    3. The draft is published, so routing uses it at once.
    """
    snapshot = ruleset.snapshot
    keep: set[int] = set()
    for data in snapshot.get("rules", []):
        rule = Rule.objects.filter(pk=data["id"]).first() or Rule()
        for name, value in _snapshot_rule_values(data).items():
            setattr(rule, name, value)
        _save(rule, user=user, reason=f"Restored with published version {ruleset.version}")
        keep.add(rule.pk)
    for rule in Rule.objects.filter(archived=False).exclude(pk__in=keep):
        rule.archived = True
        _save(rule, user=user, reason=f"Restored with published version {ruleset.version} (not in it)")
    segments = snapshot.get("segments", [])
    wanted_default = next((s["slug"] for s in segments if s.get("is_default")), None)
    for seg in Segment.objects.filter(is_default=True).exclude(slug=wanted_default or ""):
        seg.is_default = False
        _save(seg, user=user)
    for data in segments:
        checked, problems = schema.validate(schema.SegmentStored, data)
        if problems:
            raise ValidationError([f"segment {data.get('slug')!r}: {path}: {message}" for path, message in problems])
        values = checked.dump()
        seg = Segment.objects.filter(slug=values["slug"]).first() or Segment(slug=values["slug"])
        for name in ("name", "sla_minutes", "accept_fraction", "priority", "order", "conditions", "is_default",
                     "sla_clock", "calendar_id", "mode"):
            setattr(seg, name, values[name])
        _save(seg, user=user)
    return routing_services.rule_publish(user=user, note=note or f"Restored version {ruleset.version}")


def ruleset_publish(*, user: Any = None, note: str = "") -> RuleSet:
    """Publish the draft as a new version. Raises ``ValidationError`` when the draft equals the
    live version: a publish with nothing in it would only add a version to read past."""
    if selectors.draft_differs_from_live() is False:
        raise ValidationError("The draft matches the live version: there is nothing to publish.")
    return routing_services.rule_publish(user=user, note=note)


def config_object_save(*, form: Any, formsets: list[Any] = (), user: Any = None) -> models.Model:
    """Save a console ModelForm and its inline formsets in one transaction.

    A rep and its absences go through the availability services (``reps.services``), so
    unticking Active or adding an absence that covers now withdraws the rep's open offers.
    """
    with transaction.atomic():
        obj = form.save(commit=False)
        if isinstance(obj, Rep):
            rep_services.rep_save(rep=obj, by=user)
        else:
            if user is not None:
                obj._history_user = user
            obj.save()
        form.save_m2m()
        for formset in formsets:
            formset.instance = obj
            if formset.model is Absence:
                _absences_save(formset=formset, user=user)
            else:
                formset.save()
    return obj


def _absences_save(*, formset: Any, user: Any) -> None:
    changed = formset.save(commit=False)
    for absence in formset.deleted_objects:
        rep_services.absence_delete(absence=absence, by=user)
    for absence in changed:
        rep_services.absence_save(absence=absence, by=user)


def rep_create(*, form: Any, formsets: list[Any] = (), user: Any = None) -> Rep:
    """A new rep, with a login account (unusable password, Rep role) when the username is new."""
    User = get_user_model()
    with transaction.atomic():
        username = form.cleaned_data["username"]
        account = User.objects.filter(username=username).first()
        if account is None:
            account = User(username=username, email=form.cleaned_data.get("email") or "")
            account.set_unusable_password()
            account.save()
        group, _ = Group.objects.get_or_create(name=Role.REP.value)
        account.groups.add(group)
        form.instance.user = account
        return config_object_save(form=form, formsets=formsets, user=user)


def rep_update_email(*, rep: Rep, email: str) -> None:
    if email and rep.user.email != email:
        rep.user.email = email
        rep.user.save(update_fields=["email"])


def object_deactivate(*, obj: models.Model, user: Any = None) -> models.Model:
    """Switch an object off. A rep goes through ``reps.services.rep_set_active``: their open
    offers move on along the chain at once."""
    if isinstance(obj, Rep):
        return rep_services.rep_set_active(rep=obj, active=False, by=user)
    obj.active = False
    return _save(obj, user=user)
