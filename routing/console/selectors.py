"""Reads of the ops console: lists with a fixed number of queries, readable diffs and explanations."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import Q, QuerySet
from pydantic import ValidationError

from reps.models import Pool, Rep, Skill, Territory
from routing import labels
from routing.engine import lint, schema
from routing.engine import explain as engine_explain
from routing.engine.types import Decision as EngineDecision
from routing.models import Lead, Rule, RuleSet, Segment
from routing.snapshots import LEAD_FACT_FIELDS

HISTORY_TYPES = labels.HISTORY_TYPE_LABELS


def rule_list() -> QuerySet[Rule]:
    return Rule.objects.filter(archived=False).select_related("pool").order_by("priority", "id")


def rule_check(data: dict[str, Any]) -> tuple[schema.RuleStored | None, list[tuple[str, str]]]:
    """A rule in stored form (``pool_id``, ``target_id``) read through ``schema.RuleStored``, then its
    references checked against the pools, reps and skills that exist: ``(rule or None, problems)``.

    The one check behind the rule editor, the admin, and rule and version restore; the importer
    runs the same schema with references by name (``routing.config_io``).
    """
    rule, problems = schema.validate(schema.RuleStored, data)
    if rule is None:
        return None, problems
    problems = schema.rule_reference_problems(
        rule, pools=Pool.objects.values_list("id", flat=True), reps=Rep.objects.values_list("id", flat=True),
        skills=[s.key for s in Skill.objects.all()],
    )  # fmt: skip
    return (None if problems else rule), problems


def rule_priority_for_new() -> int:
    """A new rule's priority: just above the first catch-all (an enabled rule with no conditions),
    which no rule below it can ever reach; 10 after the last rule when there is none (100 for the first)."""
    rules = list(Rule.objects.filter(archived=False).order_by("priority", "id").values_list("priority", "enabled", "conditions"))
    catch_all = next((priority for priority, enabled, conditions in rules if enabled and not conditions), None)
    if catch_all is not None:
        return max(catch_all - 1, 0)
    return (rules[-1][0] + 10) if rules else 100


def rule_list_checked() -> list[Rule]:
    """The draft rules, each with ``never_matches``: why it can never route a lead ("" when it can).

    Rules are read through the engine schema and checked by ``engine.lint.never_matching``
    (shadowed by a rule above, e.g. a catch-all, or contradictory conditions).
    """
    rules = list(rule_list())
    specs = []
    for rule in rules:
        try:
            specs.append(schema.read_stored(schema.RuleStored, {
                "id": rule.id, "name": rule.name, "priority": rule.priority, "enabled": rule.enabled,
                "conditions": rule.conditions or [], "pool_id": rule.pool_id,
            }).to_spec())  # fmt: skip
        except ValidationError:
            continue  # a rule that no longer reads is the editor's to explain, not the lint's
    found = lint.never_matching(specs)
    pools = dict(Pool.objects.values_list("id", "name"))
    reps = dict(Rep.objects.values_list("id", "display_name"))
    for rule in rules:
        rule.never_matches = found.get(rule.id, "")
        rule.conditions_words = labels.conditions_text(rule.conditions)
        rule.fallback_words = labels.fallback_text(rule.fallback, pools=pools, reps=reps)
    return rules


def ruleset_list() -> QuerySet[RuleSet]:
    return RuleSet.objects.select_related("published_by").order_by("-version")


def draft_differs_from_live() -> bool | None:
    """Whether the draft tables differ from the published version (None: nothing published yet)."""
    from routing.snapshots import config_to_json

    latest = RuleSet.objects.order_by("-version").values_list("snapshot", flat=True).first()
    if latest is None:
        return None

    def strip(data: dict[str, Any]) -> dict[str, Any]:
        rules = [{k: v for k, v in r.items() if k != "history_id"} for r in data.get("rules", [])]
        return {"segments": data.get("segments", []), "rules": rules}

    return strip(json.loads(json.dumps(config_to_json()))) != strip(latest)


def object_search(queryset: QuerySet, fields: tuple[str, ...], query: str) -> QuerySet:
    if not query:
        return queryset
    clause = Q()
    for name in fields:
        clause |= Q(**{f"{name}__icontains": query})
    return queryset.filter(clause)


def recent_lead_choices(limit: int = 20) -> list[tuple[int, str]]:
    return [(lead.id, f"#{lead.id} {lead} · {lead.country}-{lead.state} · {lead.value} {lead.currency}")
            for lead in Lead.objects.order_by("-received_at")[:limit]]  # fmt: skip


def lead_as_data(lead_id: int) -> dict[str, Any] | None:
    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is None:
        return None
    return {name: getattr(lead, name) for name in LEAD_FACT_FIELDS}


# --- rule versions --------------------------------------------------------------------------


def _readable(name: str, value: Any, pools: dict[int, str], reps: dict[int, str]) -> str:
    if value is None or value == "":
        return "—"
    if name == "pool":
        return pools.get(value, f"pool #{value}")
    if name == "fallback" and isinstance(value, list):
        return labels.fallback_text(value, pools=pools, reps=reps)
    if name == "requirements" and isinstance(value, dict):
        return labels.requirements_text(value)
    if name == "strategy":
        return labels.strategy_label(value)
    if name == "relaxation" and isinstance(value, list):
        return labels.criteria_text(value) or "nothing relaxed"
    if name == "high_value_min_tier":
        return labels.tier_label(value)
    if name == "conditions" and isinstance(value, list):
        return labels.conditions_text(value, empty="(matches every lead)")
    if isinstance(value, bool):
        return labels.yes_no(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def rule_history(rule: Rule) -> list[Any]:
    return list(rule.history.select_related("history_user").order_by("-history_date", "-history_id"))


def _raw(value: Any) -> str:
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, (dict, list)) else str(value)


def rule_version_diff(newer: Any, older: Any | None) -> list[dict[str, str]]:
    """Field-by-field changes from ``older`` to ``newer`` (simple-history's diff_against), in words,
    with the stored value alongside (``old_raw``/``new_raw``) for a title attribute."""
    pools = dict(Pool.objects.values_list("id", "name"))
    reps = dict(Rep.objects.values_list("id", "display_name"))
    verbose = {f.name: str(f.verbose_name) for f in newer.instance_type._meta.fields}
    if older is None:
        fields = [f.name for f in newer.instance_type._meta.fields if f.name not in ("id", "updated_at")]
        values = {f: getattr(newer, f"{f}_id", None) if f == "pool" else getattr(newer, f) for f in fields}
        return [{"field": f, "label": verbose.get(f, f), "old": "—", "new": _readable(f, v, pools, reps),
                 "old_raw": "", "new_raw": _raw(v)}
                for f, v in values.items()]  # fmt: skip
    delta = newer.diff_against(older, excluded_fields=["updated_at"], foreign_keys_are_objs=False)
    return [
        {"field": change.field, "label": verbose.get(change.field, change.field),
         "old": _readable(change.field, change.old, pools, reps),
         "new": _readable(change.field, change.new, pools, reps), "old_raw": _raw(change.old), "new_raw": _raw(change.new)}
        for change in delta.changes
    ]  # fmt: skip


# --- explanations ---------------------------------------------------------------------------


def dry_run_explanation(decision: EngineDecision) -> dict[str, Any]:
    """The engine's decision as rows a person can read: steps, candidates and reasons."""
    pool_names = dict(Pool.objects.values_list("id", "name"))
    steps = []
    strategy = decision.rule.strategy if decision.rule else None
    for step in decision.steps:
        steps.append({
            "kind": str(step.kind.value if hasattr(step.kind, "value") else step.kind),
            "pool": pool_names.get(step.pool_id, "") if step.pool_id else "",
            "relaxed": ", ".join(str(getattr(c, "value", c)) for c in step.relaxed),
            "chosen_rep_id": step.chosen_rep_id,
            "candidates": [
                {"name": c.name, "rep_id": c.rep_id, "eligible": c.eligible, "weight": c.weight,
                 "score": c.score, "chosen": c.rep_id == step.chosen_rep_id,
                 "reasons": labels.reasons_text(c.reasons)}
                for c in step.candidates
            ],
        })  # fmt: skip
    for step in steps:
        step["tie"] = labels.tie_note(strategy, step["candidates"], step["chosen_rep_id"])
    chosen = None
    for step in steps:
        for c in step["candidates"]:
            if c["chosen"] and step["chosen_rep_id"] == decision.chosen_rep_id:
                chosen = c["name"]
    return {
        "summary": decision.summary,
        "segment": decision.segment.name if decision.segment else None,
        "rule": decision.rule.name if decision.rule else None,
        "rule_id": decision.rule.id if decision.rule else None,
        "high_value": decision.high_value,
        "outcome": str(getattr(decision.outcome, "value", decision.outcome)),
        "chosen": chosen,
        "chosen_step": str(getattr(decision.chosen_step, "value", decision.chosen_step or "")),
        "version": decision.config_version,
        "strategy": str(getattr(strategy, "value", strategy or "")),
        "steps": steps,
        "warnings": engine_explain.to_jsonable(decision.warnings),
    }


def pool_current_members(pool: Pool) -> list[dict[str, Any]]:
    """Who the pool routes to now, static and dynamic (``snapshots.pool_snapshots``: active reps),
    by name: ``[{"rep_id", "name", "weight", "dynamic": bool}]``. Three to four queries."""
    from routing.snapshots import pool_snapshots

    snapshot = pool_snapshots([pool.pk], with_fairness=False).get(pool.pk)
    if snapshot is None:
        return []
    static = set(pool.members.values_list("rep_id", flat=True))
    names = dict(Rep.objects.filter(id__in=[rep_id for rep_id, _ in snapshot.members]).values_list("id", "display_name"))
    rows = [{"rep_id": rep_id, "name": names.get(rep_id, f"Rep #{rep_id}"), "weight": weight, "dynamic": rep_id not in static}
            for rep_id, weight in snapshot.members]  # fmt: skip
    return sorted(rows, key=lambda r: r["name"])


def pools_with_member_counts(pools: QuerySet[Pool]) -> list[Pool]:
    """Pools with ``member_count``: everyone an active pool routes to now, dynamic members included
    (a pool of "every rep with skill X" is not empty because it lists nobody by hand); an
    inactive pool keeps the count of ``pools`` (its listed members)."""
    from routing.snapshots import pool_snapshots

    pools = list(pools)
    snapshots = pool_snapshots([p.pk for p in pools], with_fairness=False)
    for pool in pools:
        snapshot = snapshots.get(pool.pk)
        if snapshot is not None:
            pool.member_count = len(snapshot.members)
    return pools


# Entities of the generic configuration screens: list columns and search fields.
ENTITY_QUERYSETS = {
    "pools": lambda: Pool.objects.select_related("manager", "dynamic_skill", "dynamic_team"),
    "reps": lambda: Rep.objects.select_related("user", "team", "manager"),
    "segments": lambda: Segment.objects.all(),
    "territories": lambda: Territory.objects.select_related("parent"),
    "skills": lambda: Skill.objects.all(),
}


def dry_run_rule_checks(*, data: dict[str, Any], draft: bool, now: Any = None) -> list[dict[str, Any]]:
    """Each rule of the draft (``draft``) or live rule set in evaluation order, and why it did or
    did not take the lead ``data`` (a cleaned lead, as ``routing.services.lead_dry_run`` takes)."""
    from django.utils import timezone

    from routing.engine.qualify import classify, rule_checks
    from routing.snapshots import config_draft, config_live, lead_facts

    config = config_draft() if draft else config_live()
    classified = classify(lead_facts(data, received_at=now or timezone.now()), config)
    return labels.rule_check_rows(rule_checks(classified.fields, config))


# --- the draft against the live version -----------------------------------------------------


def _verbose(model: Any) -> dict[str, str]:
    return {f.name: str(f.verbose_name) for f in model._meta.fields} | {f.attname: str(f.verbose_name) for f in model._meta.fields}


def _item_changes(old: dict[str, Any], new: dict[str, Any], verbose: dict[str, str],
                  pools: dict[int, str], reps: dict[int, str]) -> list[dict[str, str]]:  # fmt: skip
    changes = []
    for key in [k for k in new if k not in ("id", "history_id")] + [k for k in old if k not in new and k not in ("id", "history_id")]:
        if old.get(key) == new.get(key):
            continue
        name = "pool" if key == "pool_id" else key
        label = verbose.get(key, labels.field_label(key))
        changes.append({"field": key, "label": label[:1].upper() + label[1:],
                        "old": _readable(name, old.get(key), pools, reps) if key in old else "—",
                        "new": _readable(name, new.get(key), pools, reps) if key in new else "—"})  # fmt: skip
    return changes


def draft_diff() -> dict[str, Any]:
    """Everything publishing would change: the draft tables (``config_to_json``) against the
    published snapshot, rule by rule (by id) and segment by segment (by slug), field by field in
    words. ``{"rules": [...], "segments": [...], "empty": bool, "live_version": int | None}``;
    each item ``{"name", "change": "added"|"removed"|"changed", "changes": [{label, old, new}]}``.
    Four queries."""
    from routing.snapshots import config_to_json

    latest = RuleSet.objects.order_by("-version").values_list("version", "snapshot").first()
    live_version, live = (latest[0], latest[1]) if latest else (None, {})
    draft = json.loads(json.dumps(config_to_json(), default=str))
    pools = dict(Pool.objects.values_list("id", "name"))
    reps = dict(Rep.objects.values_list("id", "display_name"))
    out: dict[str, Any] = {"live_version": live_version}
    for part, key, model in (("rules", "id", Rule), ("segments", "slug", Segment)):
        verbose = _verbose(model)
        before = {item.get(key): item for item in live.get(part, [])}
        after = {item.get(key): item for item in draft.get(part, [])}
        items = []
        for ident, item in after.items():
            if ident not in before:
                items.append({"name": item.get("name"), "change": "added",
                              "changes": _item_changes({}, item, verbose, pools, reps)})  # fmt: skip
            else:
                changes = _item_changes(before[ident], item, verbose, pools, reps)
                if changes:
                    items.append({"name": item.get("name"), "change": "changed", "changes": changes})
        items += [{"name": item.get("name"), "change": "removed", "changes": []}
                  for ident, item in before.items() if ident not in after]  # fmt: skip
        out[part] = items
    out["empty"] = live_version is not None and not out["rules"] and not out["segments"]
    return out


def rule_version_numbers(rule_ids: Any) -> dict[int, int]:
    """History id -> that rule's own version number (1 for its first saved state, then 2, 3 …),
    for the rules ``rule_ids``. One query."""
    numbers: dict[int, int] = {}
    seen: dict[int, int] = {}
    rows = Rule.history.filter(id__in=list(rule_ids)).order_by("history_date", "history_id").values_list("id", "history_id")
    for rule_id, history_id in rows:
        seen[rule_id] = seen.get(rule_id, 0) + 1
        numbers[history_id] = seen[rule_id]
    return numbers
