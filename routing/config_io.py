"""Configuration as code: export and import the whole routing configuration as JSON.

The importer is the single way configuration is loaded from JSON (the ``importconfig`` command,
the ops console's import page and the demo seed all call :func:`config_import`).

Format (documented in docs/config-format.md): every reference is by natural key, never by id:
reps by username, skills by ``kind:code``, territories, teams, pools by name, segments by slug,
rules by name. Import is "the file is the configuration":

1. Validate the whole document, collecting every problem with its path
   (``rules[2].pool: no pool named 'X'``); references may point at objects in the file or
   already in the database.
2. Apply inside one transaction: upsert by natural key, replace each rep's skills, licences,
   territories (and absences when given) and each pool's members; deactivate reps, skills,
   territories and pools that are not in the file, archive rules that are not in it and delete
   segments that are not in it. Every row is ``full_clean``-ed and saved one by one so that
   django-simple-history records the change and who made it.
3. Any error rolls everything back (:class:`ConfigImportError` carries the list).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

import pydantic
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.dateparse import parse_date, parse_datetime

from leadops.datetimes import validate_readable_datetime
from reps import services as rep_services
from calendars.models import BusinessCalendar
from reps.models import Absence, Licence, Pool, PoolMember, Rep, RepSkill, Role, Skill, Team, Territory
from routing import config_schema
from routing.engine import schema
from routing.engine.types import StepKind
from routing.models import Account, ExchangeRate, ImportMapping, LeadSynonym, Rule, Segment
from routing.reference import jurisdiction_code, place_problem_or_codes

FORMAT = "leadops-config"
FORMAT_VERSION = 1
SECTIONS = ("skills", "teams", "territories", "reps", "pools", "segments", "rules", "exchange_rates", "lead_synonyms",
            "import_mappings", "accounts")  # fmt: skip
# Sections added after format version 1 was first written: a file without one (an older export)
# leaves those objects as they are; a file with one, even empty, replaces them (accounts: upserts
# them, and leaves the ones it does not list alone: a CRM keeps them in sync).
OPTIONAL_SECTIONS = ("exchange_rates", "lead_synonyms", "import_mappings", "accounts")


class ConfigImportError(Exception):
    """The document is invalid; ``errors`` lists every problem as "path: message"."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors[:20]) + (f" (+{len(errors) - 20} more)" if len(errors) > 20 else ""))


@dataclass
class ImportResult:
    changes: list[dict[str, Any]] = field(default_factory=list)  # config_diff output
    applied: bool = False
    users_created: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        counts: dict[str, int] = {}
        for change in self.changes:
            counts[change["action"]] = counts.get(change["action"], 0) + 1
        if not counts:
            return "No changes."
        return ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))


# --- export -------------------------------------------------------------------------------


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def config_export(*, include_absences: bool = True) -> dict[str, Any]:
    """The whole configuration as JSON-ready data, references by natural key (fixed query count)."""
    skills = list(Skill.objects.all())
    skill_key = {s.id: s.key for s in skills}
    teams = list(Team.objects.all())
    team_name = {t.id: t.name for t in teams}
    territories = list(Territory.objects.all())
    territory_name = {t.id: t.name for t in territories}
    reps = list(
        Rep.objects.select_related("user").prefetch_related("skills", "licences", "territories", "absences")
    )
    username = {r.id: r.user.get_username() for r in reps}
    pools = list(Pool.objects.select_related("calendar").prefetch_related("members"))
    pool_name = {p.id: p.name for p in pools}

    def rep_json(rep: Rep) -> dict[str, Any]:
        data = {
            "username": rep.user.get_username(), "email": rep.user.email, "display_name": rep.display_name,
            "tier": rep.tier, "timezone": rep.timezone, "working_hours": rep.working_hours or {},
            "active": rep.active, "team": team_name.get(rep.team_id), "manager": username.get(rep.manager_id),
            "max_open": rep.max_open, "max_daily": rep.max_daily, "max_weekly": rep.max_weekly,
            "skills": sorted(
                ({"skill": skill_key[s.skill_id], "level": s.level} for s in rep.skills.all()),
                key=lambda s: s["skill"],
            ),
            "territories": sorted(territory_name[t.id] for t in rep.territories.all()),
            "licences": sorted(
                (
                    {"jurisdiction": lic.jurisdiction, "product_line": lic.product_line,
                     "valid_from": _date(lic.valid_from), "valid_until": _date(lic.valid_until)}
                    for lic in rep.licences.all()
                ),
                key=lambda d: (d["jurisdiction"], d["product_line"], d["valid_from"]),
            ),
        }  # fmt: skip
        if include_absences:
            data["absences"] = sorted(
                (
                    {"starts_at": a.starts_at.isoformat(), "ends_at": a.ends_at.isoformat(),
                     "reason": a.reason, "note": a.note}
                    for a in rep.absences.all()
                ),
                key=lambda d: d["starts_at"],
            )  # fmt: skip
        return data

    def fallback_json(step: dict[str, Any]) -> dict[str, Any]:
        kind = step.get("kind")
        if kind == StepKind.POOL:
            return {"kind": kind, "pool": pool_name.get(step.get("target_id"))}
        if kind == StepKind.BACKUP:
            return {"kind": kind, "rep": username.get(step.get("target_id"))}
        if kind == StepKind.ACCOUNT_OWNER:
            return {"kind": kind, "respect_caps": step.get("respect_caps", True) is not False}
        return {"kind": kind}

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skills": [{"kind": s.kind, "code": s.code, "name": s.name, "active": s.active} for s in skills],
        "teams": [{"name": t.name} for t in teams],
        "territories": sorted(
            (
                {"name": t.name, "parent": territory_name.get(t.parent_id), "country": t.country,
                 "region": t.region, "postal_prefix": t.postal_prefix, "active": t.active}
                for t in territories
            ),
            key=lambda d: d["name"],
        ),
        "reps": sorted((rep_json(r) for r in reps), key=lambda d: d["username"]),
        "pools": [
            {
                "name": p.name, "description": p.description, "active": p.active,
                "manager": username.get(p.manager_id),
                "dynamic_skill": skill_key.get(p.dynamic_skill_id), "dynamic_min_level": p.dynamic_min_level,
                "dynamic_team": team_name.get(p.dynamic_team_id), "dynamic_weight": p.dynamic_weight,
                "calendar": p.calendar.name if p.calendar_id else None,
                "members": sorted(
                    ({"rep": username[m.rep_id], "weight": m.weight} for m in p.members.all()),
                    key=lambda d: d["rep"],
                ),
            }
            for p in pools
        ],
        "segments": [
            {"slug": s.slug, "name": s.name, "sla_minutes": s.sla_minutes, "accept_fraction": s.accept_fraction,
             "priority": s.priority, "order": s.order, "conditions": s.conditions or [], "is_default": s.is_default,
             "sla_clock": s.sla_clock, "mode": s.mode, "calendar": s.calendar.name if s.calendar_id else None}
            for s in Segment.objects.select_related("calendar")
        ],
        "rules": [
            {
                "name": r.name, "priority": r.priority, "enabled": r.enabled, "conditions": r.conditions or [],
                "pool": pool_name.get(r.pool_id), "strategy": r.strategy,
                "requirements": _requirements_export(r.requirements or {}),
                "value_threshold": _decimal(r.value_threshold), "high_value_min_tier": r.high_value_min_tier,
                "fallback": [fallback_json(s) for s in r.fallback or []], "relaxation": list(r.relaxation or []),
                "reroute_on_escalation": r.reroute_on_escalation,
            }
            for r in Rule.objects.filter(archived=False)
        ],
        "exchange_rates": [
            config_schema.ExchangeRateFile.model_construct(currency=r.currency, rate=r.rate, as_of=r.as_of, note=r.note).dump()
            for r in ExchangeRate.objects.order_by("currency", "as_of")
        ],
        "lead_synonyms": [{"field": s.field, "alias": s.alias, "value": s.value}
                          for s in LeadSynonym.objects.order_by("field", "alias")],
        "import_mappings": [{"name": m.name, **m.as_json()} for m in ImportMapping.objects.order_by("name")],
        # Accounts are data a CRM keeps in sync: a file without them leaves them alone.
        "accounts": [
            {"external_id": a.external_id, "name": a.name, "domains": sorted(d.domain for d in a.domains.all()),
             "owner": username.get(a.owner_id), "tier": a.tier, "territory": a.territory, "status": a.status,
             "attributes": a.attributes or {}}
            for a in Account.objects.prefetch_related("domains").order_by("external_id")
        ],
    }  # fmt: skip


def _requirements_export(raw: dict[str, Any]) -> dict[str, Any]:
    """Stored requirements in the schema's canonical form (as stored when they no longer fit it)."""
    try:
        return schema.read_stored(schema.Requirements, raw or {}).dump()
    except pydantic.ValidationError:
        return raw


# --- validation (phase 1) -------------------------------------------------------------------


class _Checker:
    """Reads one document into its canonical (export) form, collecting errors with paths."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def err(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def obj(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.err(path, "expected an object")
            return {}
        return value

    def items(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.err(path, "expected a list")
            return []
        return value

    def text(self, d: dict, key: str, path: str, *, required: bool = False, default: str = "") -> str:
        value = d.get(key)
        if value is None or value == "":
            if required:
                self.err(f"{path}.{key}", "is required")
            return default
        if not isinstance(value, str):
            self.err(f"{path}.{key}", f"expected text, got {value!r}")
            return default
        return value.strip()

    def boolean(self, d: dict, key: str, path: str, default: bool) -> bool:
        value = d.get(key, default)
        if not isinstance(value, bool):
            self.err(f"{path}.{key}", f"expected true or false, got {value!r}")
            return default
        return value

    def integer(
        self, d: dict, key: str, path: str, *, default: int | None = None, low: int | None = None,
        high: int | None = None, nullable: bool = False,
    ) -> int | None:  # fmt: skip
        value = d.get(key, default)
        if value is None:
            if not nullable:
                self.err(f"{path}.{key}", "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.err(f"{path}.{key}", f"expected a whole number, got {value!r}")
            return default
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.err(f"{path}.{key}", f"must be {bounds}, got {value}")
        return value

    def unique(self, rows: list[dict], key: Callable[[dict], Any], section: str, label: str) -> None:
        seen: dict[Any, int] = {}
        for i, row in enumerate(rows):
            k = key(row)
            if k in (None, ""):
                continue
            if k in seen:
                self.err(f"{section}[{i}]", f"duplicate {label} {k!r} (also {section}[{seen[k]}])")
            seen.setdefault(k, i)


def _check_managers(c: _Checker, reps: list[dict[str, Any]]) -> None:
    """Managers form no cycle, counting the reps the file leaves as they are in the database."""
    managers = dict(Rep.objects.values_list("user__username", "manager__user__username"))
    managers.update({r["username"]: r["manager"] for r in reps if r["username"]})
    cycle = schema.manager_cycle(managers)
    if cycle is None:
        return
    index = next((i for i, r in enumerate(reps) if r["username"] in cycle), None)
    where = f"reps[{index}].manager" if index is not None else "reps"
    message = "a rep cannot be their own manager" if len(cycle) == 2 else "managers form a cycle: " + " -> ".join(cycle)
    c.err(where, message)


def _check_rep_logins(c: _Checker, reps: list[dict[str, Any]]) -> None:
    """A rep in the file that is new takes over an existing login only when that login is no one else's."""
    usernames = [r["username"] for r in reps if r["username"]]
    accounts = {
        u.get_username(): u
        for u in get_user_model().objects.filter(username__in=usernames, rep__isnull=True).prefetch_related("groups")
    }
    for i, row in enumerate(reps):
        account = accounts.get(row["username"])
        if account is None:
            continue
        problem = schema.rep_login_problem(
            roles=[g.name for g in account.groups.all()], is_superuser=account.is_superuser,
            is_staff=account.is_staff, has_rep=False,
        )  # fmt: skip
        if problem:
            c.err(f"reps[{i}].username", f"{problem} (login {row['username']!r})")


def _check_user_field(c: _Checker, name: str, value: str, path: str) -> None:
    try:
        get_user_model()._meta.get_field(name).clean(value, None)
    except ValidationError as exc:
        for message in exc.messages:
            c.err(path, message)


def _parse_doc(data: Any) -> tuple[dict[str, Any], list[str]]:  # noqa: C901 - one linear pass per section
    c = _Checker()
    doc = c.obj(data, "$")
    if not doc:
        return {}, c.errors or ["$: the document is empty"]
    if doc.get("format", FORMAT) != FORMAT:
        c.err("format", f"expected {FORMAT!r}, got {doc.get('format')!r}")
    if doc.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        c.err("format_version", f"this LeadOps reads version {FORMAT_VERSION}, got {doc.get('format_version')!r}")
    unknown = sorted(set(doc) - set(SECTIONS) - {"format", "format_version"})
    if unknown:
        c.err("$", f"unknown section(s): {', '.join(unknown)}")
    out: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION}

    # Names known in the database, so a file may refer to existing objects it does not list.
    db_skills = {f"{k}:{code}" for k, code in Skill.objects.values_list("kind", "code")}
    db_teams = set(Team.objects.values_list("name", flat=True))
    db_territories = set(Territory.objects.values_list("name", flat=True))
    db_pools = set(Pool.objects.values_list("name", flat=True))
    calendar_names = set(BusinessCalendar.objects.values_list("name", flat=True))  # calendars are set up on their own page
    db_usernames = set(Rep.objects.values_list("user__username", flat=True))

    skills = []
    for i, raw in enumerate(c.items(doc.get("skills"), "skills")):
        p, d = f"skills[{i}]", c.obj(raw, f"skills[{i}]")
        kind = c.text(d, "kind", p, required=True)
        if kind and kind not in Skill.Kind.values:
            c.err(f"{p}.kind", f"unknown kind {kind!r}; use one of {', '.join(Skill.Kind.values)}")
        code = c.text(d, "code", p, required=True)
        skills.append({"kind": kind, "code": code, "name": c.text(d, "name", p, default=code),
                       "active": c.boolean(d, "active", p, True)})  # fmt: skip
    c.unique(skills, lambda s: f"{s['kind']}:{s['code']}", "skills", "skill")
    out["skills"] = skills
    skill_keys = db_skills | {f"{s['kind']}:{s['code']}" for s in skills}

    teams = []
    for i, raw in enumerate(c.items(doc.get("teams"), "teams")):
        d = c.obj(raw, f"teams[{i}]")
        teams.append({"name": c.text(d, "name", f"teams[{i}]", required=True)})
    c.unique(teams, lambda t: t["name"], "teams", "team")
    out["teams"] = teams
    team_names = db_teams | {t["name"] for t in teams}

    def ref(value: Any, path: str, known: set[str], what: str) -> str | None:
        if value in (None, ""):
            return None
        if not isinstance(value, str) or value not in known:
            c.err(path, f"no {what} named {value!r}")
            return None
        return value

    territories = []
    for i, raw in enumerate(c.items(doc.get("territories"), "territories")):
        p, d = f"territories[{i}]", c.obj(raw, f"territories[{i}]")
        territories.append({
            "name": c.text(d, "name", p, required=True), "parent": d.get("parent") or None,
            "country": c.text(d, "country", p, required=True).upper(), "region": c.text(d, "region", p).upper(),
            "postal_prefix": c.text(d, "postal_prefix", p), "active": c.boolean(d, "active", p, True),
        })  # fmt: skip
    for i, t in enumerate(territories):  # stored as the lead normaliser stores places (issue 11)
        if t["country"]:
            found = place_problem_or_codes(country=t["country"], region=t["region"])
            if isinstance(found, dict):
                for name, message in found.items():
                    c.err(f"territories[{i}].{name}", message)
            else:
                t["country"], t["region"] = found
    c.unique(territories, lambda t: t["name"], "territories", "territory")
    territory_names = db_territories | {t["name"] for t in territories}
    for i, t in enumerate(territories):
        t["parent"] = ref(t["parent"], f"territories[{i}].parent", territory_names, "territory")
    out["territories"] = territories

    reps = []
    rep_rows = c.items(doc.get("reps"), "reps")
    usernames = db_usernames | {r.get("username") for r in rep_rows if isinstance(r, dict) and isinstance(r.get("username"), str)}
    for i, raw in enumerate(rep_rows):
        p, d = f"reps[{i}]", c.obj(raw, f"reps[{i}]")
        rep = {
            "username": c.text(d, "username", p, required=True), "email": c.text(d, "email", p),
            "display_name": c.text(d, "display_name", p, required=True),
            "tier": c.integer(d, "tier", p, default=2, low=1, high=4),
            "timezone": c.text(d, "timezone", p, default="UTC"),
            "working_hours": d.get("working_hours") or {}, "active": c.boolean(d, "active", p, True),
            "team": ref(d.get("team"), f"{p}.team", team_names, "team"),
            "manager": ref(d.get("manager"), f"{p}.manager", usernames, "rep with username"),
            "max_open": c.integer(d, "max_open", p, low=0, nullable=True),
            "max_daily": c.integer(d, "max_daily", p, low=0, nullable=True),
            "max_weekly": c.integer(d, "max_weekly", p, low=0, nullable=True),
        }  # fmt: skip
        for key in ("username", "email"):  # the account is saved without full_clean: check its fields here
            if rep[key]:
                _check_user_field(c, key, rep[key], f"{p}.{key}")
        rep["skills"] = []
        for j, rs in enumerate(c.items(d.get("skills"), f"{p}.skills")):
            sp, sd = f"{p}.skills[{j}]", c.obj(rs, f"{p}.skills[{j}]")
            rep["skills"].append({"skill": ref(sd.get("skill"), f"{sp}.skill", skill_keys, "skill"),
                                  "level": c.integer(sd, "level", sp, default=1, low=1, high=5)})  # fmt: skip
        c.unique(rep["skills"], lambda s: s["skill"], f"{p}.skills", "skill")
        rep["territories"] = []
        for j, name in enumerate(c.items(d.get("territories"), f"{p}.territories")):
            found = ref(name, f"{p}.territories[{j}]", territory_names, "territory")
            if found:
                rep["territories"].append(found)
        rep["territories"] = sorted(set(rep["territories"]))
        rep["licences"] = []
        for j, lic in enumerate(c.items(d.get("licences"), f"{p}.licences")):
            lp, ld = f"{p}.licences[{j}]", c.obj(lic, f"{p}.licences[{j}]")
            jurisdiction = c.text(ld, "jurisdiction", lp, required=True)
            if jurisdiction and jurisdiction_code(jurisdiction) is None:
                c.err(f"{lp}.jurisdiction", f"unknown jurisdiction {jurisdiction[:40]!r}: use an ISO 3166 country (US) "
                                            "or subdivision (US-CA) code")  # fmt: skip
            row = {"jurisdiction": jurisdiction_code(jurisdiction) or jurisdiction.upper(),
                   "product_line": c.text(ld, "product_line", lp, required=True),
                   "valid_from": ld.get("valid_from"), "valid_until": ld.get("valid_until") or None}  # fmt: skip
            for key in ("valid_from", "valid_until"):
                value = row[key]
                if value is None and key == "valid_until":
                    continue
                if not isinstance(value, str) or parse_date(value) is None:
                    c.err(f"{lp}.{key}", f"expected a date YYYY-MM-DD, got {value!r}")
            if isinstance(row["valid_until"], str) and isinstance(row["valid_from"], str) and row["valid_until"] < row["valid_from"]:
                c.err(f"{lp}.valid_until", "is before valid_from")
            rep["licences"].append(row)
        if "absences" in d:
            rep["absences"] = []
            for j, ab in enumerate(c.items(d.get("absences"), f"{p}.absences")):
                ap, ad = f"{p}.absences[{j}]", c.obj(ab, f"{p}.absences[{j}]")
                row = {"starts_at": ad.get("starts_at"), "ends_at": ad.get("ends_at"),
                       "reason": ad.get("reason") or Absence.Reason.OTHER, "note": c.text(ad, "note", ap)}  # fmt: skip
                for key in ("starts_at", "ends_at"):
                    value = row[key]
                    try:
                        parsed = parse_datetime(value) if isinstance(value, str) else None
                    except ValueError:  # well-formed but impossible, e.g. month 13
                        parsed = None
                    if parsed is None or parsed.tzinfo is None:
                        c.err(f"{ap}.{key}", f"expected an ISO 8601 date-time with offset, got {value!r}")
                        continue
                    try:
                        validate_readable_datetime(parsed)
                    except ValidationError as exc:
                        c.err(f"{ap}.{key}", f"{exc.messages[0]} Got {value!r}.")
                if row["reason"] not in Absence.Reason.values:
                    c.err(f"{ap}.reason", f"unknown reason {row['reason']!r}; use one of {', '.join(Absence.Reason.values)}")
                rep["absences"].append(row)
        reps.append(rep)
    c.unique(reps, lambda r: r["username"], "reps", "username")
    _check_managers(c, reps)
    _check_rep_logins(c, reps)
    out["reps"] = reps

    def named(model: type, section: str) -> list[Any]:
        """Each row of ``section`` read through the engine schema; invalid rows are reported and left out."""
        objects = []
        for i, raw in enumerate(c.items(doc.get(section), section)):
            obj, problems = schema.validate(model, raw, f"{section}[{i}]")
            c.errors.extend(f"{path}: {message}" for path, message in problems)
            objects.append((i, obj))
        return objects

    pools = named(schema.PoolFile, "pools")
    c.errors.extend(_problems(schema.duplicate_problems([o.name if o else None for _, o in pools], "pools", "pool")))
    for i, pool in pools:
        if pool is None:
            continue
        p = f"pools[{i}]"
        ref(pool.manager, f"{p}.manager", usernames, "rep with username")
        ref(pool.dynamic_skill, f"{p}.dynamic_skill", skill_keys, "skill")
        ref(pool.dynamic_team, f"{p}.dynamic_team", team_names, "team")
        for j, member in enumerate(pool.members):
            ref(member.rep, f"{p}.members[{j}].rep", usernames, "rep with username")
    for i, raw in enumerate(doc.get("pools") if isinstance(doc.get("pools"), list) else []):
        if isinstance(raw, dict) and isinstance(raw.get("calendar"), str):  # also when another field failed
            ref(raw["calendar"].strip(), f"pools[{i}].calendar", calendar_names, "business calendar")
    out["pools"] = [pool.dump() for _, pool in pools if pool is not None]
    pool_names = db_pools | {pool.name for _, pool in pools if pool is not None}

    segments = named(schema.SegmentFile, "segments")
    c.errors.extend(_problems(schema.segments_problems([s for _, s in segments if s is not None])))
    for i, raw in enumerate(doc.get("segments") if isinstance(doc.get("segments"), list) else []):
        if isinstance(raw, dict) and isinstance(raw.get("calendar"), str):  # also when another field failed
            ref(raw["calendar"].strip(), f"segments[{i}].calendar", calendar_names, "business calendar")
    out["segments"] = [segment.dump() for _, segment in segments if segment is not None]

    rules = named(schema.RuleFile, "rules")
    c.errors.extend(_problems(schema.duplicate_problems([r.name if r else None for _, r in rules], "rules", "rule name")))
    for i, rule in rules:
        if rule is not None:
            c.errors.extend(_problems(schema.rule_reference_problems(
                rule, f"rules[{i}]", pools=pool_names, reps=usernames, skills=skill_keys)))  # fmt: skip
    out["rules"] = [rule.dump() for _, rule in rules if rule is not None]

    # Intake reference data and saved import mappings (only when the file has the section).
    if "exchange_rates" in doc:
        rates = named(config_schema.ExchangeRateFile, "exchange_rates")
        c.errors.extend(_problems(schema.duplicate_problems(
            [f"{r.currency} as of {r.as_of}" if r else None for _, r in rates], "exchange_rates", "rate")))  # fmt: skip
        for i, rate in rates:
            if rate is not None and rate.currency == settings.LEADOPS_BASE_CURRENCY:
                c.err(f"exchange_rates[{i}].currency", f"{rate.currency} is the base currency: its rate is always 1")
        out["exchange_rates"] = [r.dump() for _, r in rates if r is not None]
    if "lead_synonyms" in doc:
        synonyms = named(config_schema.LeadSynonymFile, "lead_synonyms")
        c.errors.extend(_problems(schema.duplicate_problems(
            [f"{s.field}: {s.alias.casefold()}" if s else None for _, s in synonyms], "lead_synonyms", "synonym")))  # fmt: skip
        out["lead_synonyms"] = [s.dump() for _, s in synonyms if s is not None]
    if "import_mappings" in doc:
        mappings = named(config_schema.ImportMappingFile, "import_mappings")
        c.errors.extend(_problems(schema.duplicate_problems(
            [m.name if m else None for _, m in mappings], "import_mappings", "mapping name")))  # fmt: skip
        out["import_mappings"] = [m.dump() for _, m in mappings if m is not None]
    if "accounts" in doc:
        accounts = named(schema.AccountFile, "accounts")
        valid = [(i, a) for i, a in accounts if a is not None]
        c.errors.extend(_problems(schema.duplicate_problems([a.external_id if a else None for _, a in accounts],
                                                            "accounts", "external_id")))  # fmt: skip
        seen_domains: dict[str, int] = {}
        for i, account in valid:
            ref(account.owner, f"accounts[{i}].owner", usernames, "rep with username")
            for domain in account.domains:
                if domain in seen_domains:
                    c.err(f"accounts[{i}].domains", f"{domain} is also a domain of accounts[{seen_domains[domain]}]")
                seen_domains.setdefault(domain, i)
        out["accounts"] = [account.dump() for _, account in valid]
    return out, c.errors


def _problems(problems: list[tuple[str, str]]) -> list[str]:
    return [f"{path}: {message}" for path, message in problems]


def config_validate(data: Any) -> tuple[dict[str, Any], list[str]]:
    """The document in canonical form and every problem found (empty when valid).

    Values PostgreSQL cannot store (NaN, infinity, lone surrogates, NUL) are refused first, each
    named by its JSON path; then every section is read (pools, segments and rules through
    ``routing.engine.schema``, the same models the console forms use).
    """
    problems = schema.storable_problems(data, "$")
    if problems:
        return {}, _problems(problems)
    return _parse_doc(data)


# --- diff -----------------------------------------------------------------------------------

_KEYS: dict[str, Callable[[dict], str]] = {
    "skills": lambda d: f"{d['kind']}:{d['code']}",
    "teams": lambda d: d["name"],
    "territories": lambda d: d["name"],
    "reps": lambda d: d["username"],
    "pools": lambda d: d["name"],
    "segments": lambda d: d["slug"],
    "rules": lambda d: d["name"],
    "exchange_rates": lambda d: f"{d['currency']} as of {d['as_of']}",
    "lead_synonyms": lambda d: f"{d['field']}: {d['alias']}",
    "import_mappings": lambda d: d["name"],
    "accounts": lambda d: d["external_id"],
}
# What happens to objects that are in the database but not in the file.
_MISSING_ACTION = {"skills": "deactivate", "territories": "deactivate", "reps": "deactivate",
                   "pools": "deactivate", "rules": "archive", "segments": "delete", "teams": None,
                   "exchange_rates": "delete", "lead_synonyms": "delete", "import_mappings": "delete",
                   "accounts": None}  # fmt: skip


def config_diff(current: dict[str, Any], incoming: dict[str, Any]) -> list[dict[str, Any]]:
    """Changes from ``current`` to ``incoming`` (both in export form), for the import preview.

    Each change: ``{"section", "key", "action": add|change|deactivate|archive|delete,
    "fields": [(field, old, new), ...]}``.
    """
    changes: list[dict[str, Any]] = []
    for section in SECTIONS:
        if section in OPTIONAL_SECTIONS and section not in incoming:
            continue  # an older file without the section leaves it alone
        key = _KEYS[section]
        old = {key(d): d for d in current.get(section, [])}
        new = {key(d): d for d in incoming.get(section, [])}
        for k, row in new.items():
            if k not in old:
                changes.append({"section": section, "key": k, "action": "add", "fields": []})
                continue
            fields = []
            for name in row:  # a rep without "absences" in the file keeps its absences
                if old[k].get(name) != row[name]:
                    fields.append((name, old[k].get(name), row[name]))
            if fields:
                changes.append({"section": section, "key": k, "action": "change", "fields": fields})
        action = _MISSING_ACTION[section]
        for k, row in old.items():
            if k in new or action is None:
                continue
            if action == "deactivate" and row.get("active") is False:
                continue
            changes.append({"section": section, "key": k, "action": action, "fields": []})
    return changes


def format_changes(changes: list[dict[str, Any]]) -> list[str]:
    """One readable line per change (and per changed field), for the command line."""
    lines = []
    for change in changes:
        lines.append(f"{change['action']:>10} {change['section']} {change['key']!r}")
        for name, old, new in change["fields"]:
            lines.append(f"{'':>12}{name}: {old!r} -> {new!r}")
    return lines


# --- apply (phase 2) -----------------------------------------------------------------------


class _Applier:
    def __init__(self, user: Any) -> None:
        self.user = user
        self.errors: list[str] = []
        self.users_created: list[str] = []

    def save(self, obj: models.Model, path: str, exclude: list[str] | None = None) -> bool:
        try:
            obj.full_clean(exclude=exclude)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                where = path if name == "__all__" else f"{path}.{name}"
                self.errors.extend(f"{where}: {m}" for m in messages)
            return False
        if self.user is not None:
            obj._history_user = self.user  # django-simple-history records who made the change
        obj.save()
        return True

    def call(self, write: Callable[[], Any], path: str) -> bool:
        """Run a service write; its ValidationError becomes "path.field: message" errors."""
        try:
            write()
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                where = path if name == "__all__" else f"{path}.{name}"
                self.errors.extend(f"{where}: {m}" for m in messages)
            return False
        return True

    def delete(self, obj: models.Model) -> None:
        if self.user is not None:
            obj._history_user = self.user
        obj.delete()


def _apply(doc: dict[str, Any], user: Any) -> _Applier:  # noqa: C901 - one step per section, in dependency order
    a = _Applier(user)
    User = get_user_model()

    # 1. Skills and teams.
    skills = {s.key: s for s in Skill.objects.all()}
    for i, row in enumerate(doc["skills"]):
        key = f"{row['kind']}:{row['code']}"
        obj = skills.get(key) or Skill(kind=row["kind"], code=row["code"])
        if obj.pk is None or (obj.name, obj.active) != (row["name"], row["active"]):
            obj.name, obj.active = row["name"], row["active"]
            a.save(obj, f"skills[{i}]")
        skills[key] = obj
    teams = {t.name: t for t in Team.objects.all()}
    for i, row in enumerate(doc["teams"]):
        if row["name"] not in teams:
            team = Team(name=row["name"])
            a.save(team, f"teams[{i}]")
            teams[team.name] = team

    # 2. Territories: create or update without parents, then set parents (they may come later).
    territories = {t.name: t for t in Territory.objects.all()}
    for i, row in enumerate(doc["territories"]):
        obj = territories.get(row["name"]) or Territory(name=row["name"])
        values = {k: row[k] for k in ("country", "region", "postal_prefix", "active")}
        if obj.pk is None or any(getattr(obj, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(obj, k, v)
            if obj.pk is None:
                obj.parent = None
            a.save(obj, f"territories[{i}]", exclude=["parent"])
        territories[row["name"]] = obj
    for i, row in enumerate(doc["territories"]):
        obj = territories[row["name"]]
        parent = territories.get(row["parent"]) if row["parent"] else None
        if obj.pk and obj.parent_id != (parent.pk if parent else None):
            obj.parent = parent
            a.save(obj, f"territories[{i}]")

    # 3. Reps (users created when missing), then managers, then their child rows.
    reps = {r.user.get_username(): r for r in Rep.objects.select_related("user")}
    rep_group, _ = Group.objects.get_or_create(name=Role.REP.value)
    for i, row in enumerate(doc["reps"]):
        p = f"reps[{i}]"
        rep = reps.get(row["username"])
        if rep is None:
            account = User.objects.filter(username=row["username"]).first()
            if account is None:
                account = User(username=row["username"], email=row["email"])
                account.set_unusable_password()
                names = row["display_name"].split(" ", 1)
                account.first_name, account.last_name = names[0][:150], (names[1] if len(names) > 1 else "")[:150]
                account.save()
                a.users_created.append(row["username"])
            account.groups.add(rep_group)
            rep = Rep(user=account)
        elif row["email"] and rep.user.email != row["email"]:
            rep.user.email = row["email"]
            rep.user.save(update_fields=["email"])
        values = {
            "display_name": row["display_name"], "tier": row["tier"], "timezone": row["timezone"],
            "working_hours": row["working_hours"], "active": row["active"],
            "team": teams.get(row["team"]) if row["team"] else None,
            "max_open": row["max_open"], "max_daily": row["max_daily"], "max_weekly": row["max_weekly"],
        }  # fmt: skip
        if rep.pk is None or any(getattr(rep, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(rep, k, v)
            a.call(lambda rep=rep: rep_services.rep_save(rep=rep, by=a.user, exclude=["manager", "user"]), p)
        reps[row["username"]] = rep
    for i, row in enumerate(doc["reps"]):
        rep = reps[row["username"]]
        manager = reps.get(row["manager"]) if row["manager"] else None
        if rep.pk and rep.manager_id != (manager.pk if manager else None):
            rep.manager = manager
            a.call(lambda rep=rep: rep_services.rep_save(rep=rep, by=a.user, exclude=["user"]), f"reps[{i}]")
    if a.errors:
        return a
    for i, row in enumerate(doc["reps"]):
        p, rep = f"reps[{i}]", reps[row["username"]]
        _sync_rep_children(a, p, rep, row, skills, territories)

    calendar_ids = dict(BusinessCalendar.objects.values_list("name", "id"))

    # 4. Pools and their members.
    pools = {x.name: x for x in Pool.objects.all()}
    for i, row in enumerate(doc["pools"]):
        p = f"pools[{i}]"
        pool = pools.get(row["name"]) or Pool(name=row["name"])
        values = {
            "description": row["description"], "active": row["active"],
            "manager": reps.get(row["manager"]) if row["manager"] else None,
            "dynamic_skill": skills.get(row["dynamic_skill"]) if row["dynamic_skill"] else None,
            "dynamic_min_level": row["dynamic_min_level"],
            "dynamic_team": teams.get(row["dynamic_team"]) if row["dynamic_team"] else None,
            "dynamic_weight": row["dynamic_weight"],
            "calendar_id": calendar_ids.get(row["calendar"]),
        }  # fmt: skip
        if pool.pk is None or any(getattr(pool, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(pool, k, v)
            a.save(pool, p)
        pools[row["name"]] = pool
        if pool.pk is None:
            continue
        current = {m.rep_id: m for m in pool.members.all()}
        wanted = {}
        for j, m in enumerate(row["members"]):
            rep = reps.get(m["rep"])
            if rep is None or rep.pk is None:
                continue
            wanted[rep.pk] = True
            member = current.get(rep.pk) or PoolMember(pool=pool, rep=rep)
            if member.pk is None or member.weight != m["weight"]:
                member.weight = m["weight"]
                a.save(member, f"{p}.members[{j}]")
        for rep_id, member in current.items():
            if rep_id not in wanted:
                a.delete(member)

    # 5. Segments: upsert, delete the ones not in the file (default flag cleared first).
    segments = {s.slug: s for s in Segment.objects.all()}
    wanted_slugs = {row["slug"] for row in doc["segments"]}
    for slug, seg in segments.items():
        if slug not in wanted_slugs:
            a.delete(seg)
    for seg in segments.values():
        if seg.slug in wanted_slugs and seg.is_default:
            match = next(r for r in doc["segments"] if r["slug"] == seg.slug)
            if not match["is_default"]:
                seg.is_default = False
                a.save(seg, "segments")
    for i, row in enumerate(doc["segments"]):
        seg = segments.get(row["slug"]) or Segment(slug=row["slug"])
        values = {k: row[k] for k in ("name", "sla_minutes", "accept_fraction", "priority", "order", "conditions",
                                      "is_default", "sla_clock", "mode")}  # fmt: skip
        values["calendar_id"] = calendar_ids.get(row["calendar"])
        if seg.pk is None or any(getattr(seg, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(seg, k, v)
            a.save(seg, f"segments[{i}]")

    # 6. Rules: upsert by name, archive the ones not in the file.
    existing: dict[str, Rule] = {}
    for rule in Rule.objects.filter(archived=False).order_by("priority", "id"):
        existing.setdefault(rule.name, rule)
    wanted_names = {row["name"] for row in doc["rules"]}
    for rule in Rule.objects.filter(archived=False):
        if rule.name not in wanted_names or existing[rule.name].pk != rule.pk:  # a missing or duplicate name
            rule.archived = True
            a.save(rule, "rules")
    for i, row in enumerate(doc["rules"]):
        rule = existing.get(row["name"]) or Rule(name=row["name"])
        fallback = []
        for step in row["fallback"]:
            if step["kind"] == StepKind.POOL:
                fallback.append({"kind": "pool", "target_id": pools[step["pool"]].pk})
            elif step["kind"] == StepKind.BACKUP:
                fallback.append({"kind": "backup", "target_id": reps[step["rep"]].pk})
            elif step["kind"] == StepKind.ACCOUNT_OWNER:
                fallback.append({"kind": step["kind"], "respect_caps": step.get("respect_caps", True)})
            else:
                fallback.append({"kind": step["kind"]})
        values = {
            "priority": row["priority"], "enabled": row["enabled"], "conditions": row["conditions"],
            "pool": pools[row["pool"]], "strategy": row["strategy"], "requirements": row["requirements"],
            "value_threshold": Decimal(row["value_threshold"]) if row["value_threshold"] is not None else None,
            "high_value_min_tier": row["high_value_min_tier"], "fallback": fallback,
            "relaxation": row["relaxation"], "reroute_on_escalation": row["reroute_on_escalation"],
            "archived": False,
        }  # fmt: skip
        if rule.pk is None or any(getattr(rule, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(rule, k, v)
            a.save(rule, f"rules[{i}]")

    # 7. Exchange rates, synonyms and import mappings: upserted by natural key, the others deleted
    #    (only when the file has the section).
    _sync_keyed(a, doc, "exchange_rates", ExchangeRate, lambda o: (o.currency, o.as_of.isoformat()),
                lambda r: (r["currency"], r["as_of"]),
                lambda r: {"rate": Decimal(r["rate"]), "note": r["note"]},
                lambda r: {"currency": r["currency"], "as_of": dt.date.fromisoformat(r["as_of"])})  # fmt: skip
    _sync_keyed(a, doc, "lead_synonyms", LeadSynonym, lambda o: (o.field, o.alias), lambda r: (r["field"], r["alias"]),
                lambda r: {"value": r["value"]}, lambda r: {"field": r["field"], "alias": r["alias"]})  # fmt: skip
    _sync_keyed(a, doc, "import_mappings", ImportMapping, lambda o: o.name, lambda r: r["name"],
                lambda r: {"columns": r["columns"], "source": r["source"], "currency": r["currency"]},
                lambda r: {"name": r["name"]})  # fmt: skip

    # 8. Accounts: upsert by external id (routing.services.account_upsert); the ones the file
    #    does not list are left as they are.
    from routing.services import AccountError, account_upsert

    for i, row in enumerate(doc.get("accounts", [])):
        try:
            account_upsert(data=schema.AccountFile.model_validate(row), by=a.user)
        except AccountError as exc:
            a.errors.extend(f"accounts[{i}].{field}: {m}" for field, messages in exc.errors.items() for m in messages)

    # 9. Whatever the file does not list is switched off (never deleted: leads refer to it).
    file_keys = {
        Skill: ({f"{r['kind']}:{r['code']}" for r in doc["skills"]}, lambda o: o.key),
        Territory: ({r["name"] for r in doc["territories"]}, lambda o: o.name),
        Pool: ({r["name"] for r in doc["pools"]}, lambda o: o.name),
        Rep: ({r["username"] for r in doc["reps"]}, lambda o: o.user.get_username()),
    }
    for model, (keys, key_of) in file_keys.items():
        queryset = model.objects.filter(active=True)
        if model is Rep:
            queryset = queryset.select_related("user")
        for obj in queryset:
            if key_of(obj) not in keys:
                if model is Rep:  # open offers withdrawn at once (reps.services)
                    a.call(lambda obj=obj: rep_services.rep_set_active(rep=obj, active=False, by=a.user), "reps")
                    continue
                obj.active = False
                a.save(obj, model.__name__.lower(), exclude=["parent", "manager", "user"])
    return a


def _sync_keyed(a: _Applier, doc: dict[str, Any], section: str, model: type[models.Model],
                key_of: Callable[[Any], Any], row_key: Callable[[dict], Any], values_of: Callable[[dict], dict],
                creates: Callable[[dict], dict]) -> None:  # fmt: skip
    """Make ``model``'s rows those of ``doc[section]``: delete the rows the file does not list
    first (so a row renamed by case takes its place), then update or create the others."""
    if section not in doc:
        return
    wanted = {row_key(row) for row in doc[section]}
    current = {}
    for obj in model.objects.all():
        if key_of(obj) in wanted:
            current[key_of(obj)] = obj
        else:
            a.delete(obj)
    for i, row in enumerate(doc[section]):
        obj = current.get(row_key(row)) or model(**creates(row))
        values = values_of(row)
        if obj.pk is None or any(getattr(obj, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(obj, k, v)
            a.save(obj, f"{section}[{i}]")


def _sync_rep_children(a: _Applier, p: str, rep: Rep, row: dict, skills: dict, territories: dict) -> None:
    current_skills = {s.skill_id: s for s in rep.skills.all()}
    wanted = set()
    for j, s in enumerate(row["skills"]):
        skill = skills[s["skill"]]
        wanted.add(skill.pk)
        obj = current_skills.get(skill.pk) or RepSkill(rep=rep, skill=skill)
        if obj.pk is None or obj.level != s["level"]:
            obj.level = s["level"]
            a.save(obj, f"{p}.skills[{j}]")
    for skill_id, obj in current_skills.items():
        if skill_id not in wanted:
            a.delete(obj)

    wanted_territories = {territories[name].pk for name in row["territories"]}
    current_territories = set(rep.territories.values_list("id", flat=True))
    if wanted_territories != current_territories:
        rep.territories.set(wanted_territories)

    def licence_key(lic: Any) -> tuple:
        if isinstance(lic, Licence):
            return (lic.jurisdiction, lic.product_line, lic.valid_from, lic.valid_until)
        return (lic["jurisdiction"], lic["product_line"], parse_date(lic["valid_from"]),
                parse_date(lic["valid_until"]) if lic["valid_until"] else None)  # fmt: skip

    current_licences = {licence_key(lic): lic for lic in rep.licences.all()}
    wanted_licences = set()
    for j, lic in enumerate(row["licences"]):
        key = licence_key(lic)
        wanted_licences.add(key)
        if key not in current_licences:
            obj = Licence(rep=rep, jurisdiction=key[0], product_line=key[1], valid_from=key[2], valid_until=key[3])
            a.save(obj, f"{p}.licences[{j}]")
    for key, obj in current_licences.items():
        if key not in wanted_licences:
            a.delete(obj)

    if "absences" not in row:
        return
    current_absences = {(ab.starts_at, ab.ends_at, ab.reason, ab.note): ab for ab in rep.absences.all()}
    wanted_absences = set()
    for j, ab in enumerate(row["absences"]):
        key = (parse_datetime(ab["starts_at"]), parse_datetime(ab["ends_at"]), ab["reason"], ab["note"])
        wanted_absences.add(key)
        if key not in current_absences:
            obj = Absence(rep=rep, starts_at=key[0], ends_at=key[1], reason=key[2], note=key[3], created_by=a.user)
            a.call(lambda obj=obj: rep_services.absence_save(absence=obj, by=a.user), f"{p}.absences[{j}]")
    for key, obj in current_absences.items():
        if key not in wanted_absences:
            rep_services.absence_delete(absence=obj, by=a.user)


class _DryRun(Exception):
    pass


def config_import(data: dict[str, Any], *, user: Any = None, dry_run: bool = False) -> ImportResult:
    """Validate ``data`` and apply it atomically: all or nothing.

    Raises :class:`ConfigImportError` listing every problem. With ``dry_run`` the changes are
    applied and rolled back, so database-level checks run too, and nothing is kept.
    Returns the changes (``config_diff``) and the usernames of the accounts created.
    """
    doc, errors = config_validate(data)
    if errors:
        raise ConfigImportError(errors)
    result = ImportResult()
    try:
        with transaction.atomic():
            result.changes = config_diff(config_export(), doc)
            applier = _apply(doc, user)
            if applier.errors:
                raise ConfigImportError(applier.errors)
            result.users_created = applier.users_created
            if dry_run:
                raise _DryRun
    except _DryRun:
        return result
    result.applied = True
    return result


def errors_by_path(errors: list[str]) -> dict[str, list[str]]:
    """``["rules[0].pool: unknown pool 'X'"]`` as ``{"$.rules[0].pool": ["unknown pool 'X'"]}``:
    every problem keyed by its JSON path (``$`` is the whole document)."""
    keyed: dict[str, list[str]] = {}
    for error in errors:
        path, sep, message = error.partition(": ")
        if not sep:
            path, message = "$", error
        path = path if path.startswith("$") else f"$.{path}"
        keyed.setdefault(path, []).append(message)
    return keyed


def config_diff_live() -> tuple[int | None, list[dict[str, Any]]]:
    """What publishing the draft would change: (the live version or None, the changes from the
    live rule set to the draft tables, as ``config_diff``). Segments by slug, rules by name;
    history ids are not compared (every save makes one)."""
    from routing.models import RuleSet
    from routing.snapshots import config_to_json

    live = RuleSet.objects.order_by("-version").values_list("version", "snapshot").first()
    version, snapshot = live if live else (None, {})

    def canonical(model: type[schema._Model], row: dict[str, Any], values: Callable[[Any], dict]) -> dict[str, Any]:
        # Through the engine's stored model, so {} and its spelled-out defaults compare equal.
        try:
            return json.loads(json.dumps(values(schema.read_stored(model, row)), default=str))
        except Exception:  # noqa: BLE001 - a row an older release wrote: compare it as it is
            return row

    def sections(data: dict[str, Any]) -> dict[str, Any]:
        data = json.loads(json.dumps(data, default=str))
        return {
            "segments": [canonical(schema.SegmentStored, s, lambda m: m.dump()) for s in data.get("segments", [])],
            "rules": [{"name": r.get("name"), **canonical(schema.RuleStored, r, lambda m: m.values())}
                      for r in data.get("rules", [])],
        }  # fmt: skip

    return version, config_diff(sections(snapshot or {}), sections(config_to_json()))


class ConfigDocument(pydantic.BaseModel):
    """A configuration document (docs/config-format.md), as exported by ``config_export``.

    The pools, segments and rules are the engine's own models (``routing.engine.schema``), so the
    API document describes exactly what ``config_validate`` accepts; the other sections are
    checked by ``config_validate`` and described in docs/config-format.md.
    """

    model_config = pydantic.ConfigDict(title="ConfigDocument", extra="forbid")

    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    skills: list[dict[str, Any]] = []
    teams: list[dict[str, Any]] = []
    territories: list[dict[str, Any]] = []
    reps: list[dict[str, Any]] = []
    pools: list[schema.PoolFile] = []
    segments: list[schema.SegmentFile] = []
    rules: list[schema.RuleFile] = []


__all__ = [
    "ConfigDocument", "config_diff_live", "errors_by_path",
    "FORMAT", "ConfigImportError", "ImportResult", "config_diff", "config_export", "config_import",
    "config_validate", "format_changes",
]  # fmt: skip
