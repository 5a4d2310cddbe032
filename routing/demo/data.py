"""Realistic demo data: ~25 reps across insurance and SaaS teams, US state licences and
territories, the seed stories' insurance rule and segments with 5 / 30 / 240 minute SLAs."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

STATES = ["CA", "NY", "TX", "FL", "WA", "IL", "MA", "CO", "GA", "AZ"]
FIRST = ["Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jon", "Kai", "Lena",
         "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Viktor", "Wen", "Xavi", "Yara"]  # fmt: skip
LAST = ["Ruiz", "Okafor", "Martin", "Patel", "Yilmaz", "Haddad", "Kim", "Moreau", "Silva", "Berg", "Tanaka",
        "Novak", "Garcia", "Larsen", "Aziz", "Shah", "Byrne", "Costa", "Lee", "Rahman", "Iyer", "Petrov",
        "Zhou", "Ferrer", "Haddad"]  # fmt: skip
TIMEZONES = ["America/Los_Angeles", "America/New_York", "America/Chicago", "America/Denver"]

DEMO_LOGINS = {
    "ops": ("Sales Ops", "demo-ops-2026"),
    "manager": ("Manager", "demo-manager-2026"),
    "ana": ("Rep", "demo-rep-2026"),
}


def demo_config(today: dt.date) -> dict[str, Any]:
    rng = random.Random(42)
    weekdays = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    skills = [
        {"kind": "vertical", "code": "insurance", "name": "Insurance"},
        {"kind": "vertical", "code": "saas", "name": "SaaS"},
        {"kind": "product", "code": "life", "name": "Life insurance"},
        {"kind": "product", "code": "auto", "name": "Auto insurance"},
        {"kind": "product", "code": "crm", "name": "CRM suite"},
        {"kind": "language", "code": "en", "name": "English"},
        {"kind": "language", "code": "es", "name": "Spanish"},
        {"kind": "language", "code": "de", "name": "German"},
    ]
    territories = [{"name": "United States", "parent": None, "country": "US", "region": "", "postal_prefix": ""}]
    territories += [
        {"name": f"US-{s}", "parent": "United States", "country": "US", "region": s, "postal_prefix": ""} for s in STATES
    ]
    territories += [{"name": "Germany", "parent": None, "country": "DE", "region": "", "postal_prefix": ""}]
    reps: list[dict[str, Any]] = [
        {
            "username": "manager", "email": "manager@example.com", "display_name": "Morgan Blake (manager)",
            "tier": 4, "timezone": "America/New_York", "working_hours": {}, "active": True, "team": "Insurance",
            "manager": None, "max_open": 100, "max_daily": None, "max_weekly": None,
            "skills": [{"skill": "vertical:insurance", "level": 5}, {"skill": "product:life", "level": 5},
                       {"skill": "language:en", "level": 5}],
            "territories": ["United States"],
            # Licensed for both product lines: the manager is the backup of the high-value rule, and a
            # backup who cannot take auto leads sent them all to the holding pool, which only grew.
            "licences": [{"jurisdiction": "US", "product_line": product, "valid_from": str(today - dt.timedelta(days=900)),
                          "valid_until": None} for product in ("life", "auto")],
        }
    ]  # fmt: skip
    for i in range(25):
        username = "ana" if i == 0 else f"{FIRST[i].lower()}.{LAST[i].lower()}"
        insurance = i < 14
        tier = 3 if i in (0, 1, 2, 3, 14, 15) else (4 if i in (4, 16) else rng.choice([1, 2, 2]))
        states = rng.sample(STATES, 3)
        rep_skills = [{"skill": "language:en", "level": 5}]
        if i % 4 == 0:
            rep_skills.append({"skill": "language:es", "level": rng.randint(3, 5)})
        if i % 7 == 3:
            rep_skills.append({"skill": "language:de", "level": rng.randint(3, 5)})
        if insurance:
            rep_skills += [{"skill": "vertical:insurance", "level": rng.randint(2, 5)},
                           {"skill": "product:life", "level": rng.randint(1, 5)},
                           {"skill": "product:auto", "level": rng.randint(1, 5)}]  # fmt: skip
        else:
            rep_skills += [{"skill": "vertical:saas", "level": rng.randint(2, 5)},
                           {"skill": "product:crm", "level": rng.randint(1, 5)}]  # fmt: skip
        licences = []
        if insurance:
            for state in states:
                for product in ("life", "auto"):
                    expired = i == 5 and state == states[0]
                    licences.append({
                        "jurisdiction": f"US-{state}", "product_line": product,
                        "valid_from": str(today - dt.timedelta(days=400)),
                        "valid_until": str(today - dt.timedelta(days=3)) if expired else str(today + dt.timedelta(days=365)),
                    })  # fmt: skip
        reps.append({
            "username": username, "email": f"{username}@example.com",
            "display_name": f"{FIRST[i]} {LAST[i]}", "tier": tier,
            "timezone": TIMEZONES[i % len(TIMEZONES)], "working_hours": weekdays if i % 5 == 4 else {},
            "active": i != 24, "team": "Insurance" if insurance else "SaaS", "manager": "manager",
            "max_open": 40 if insurance else 25, "max_daily": 20 if insurance else 15, "max_weekly": None,
            "skills": rep_skills,
            "territories": [f"US-{s}" for s in states] if insurance else ["United States", "Germany"],
            "licences": licences,
        })  # fmt: skip
    insurance_reps = [r for r in reps[1:] if r["team"] == "Insurance"]
    saas_reps = [r for r in reps[1:] if r["team"] == "SaaS"]
    pools = [
        {"name": "Insurance seniors", "description": "Senior licensed insurance reps", "manager": "manager",
         "members": [{"rep": r["username"], "weight": 3 if r["tier"] >= 4 else 2}
                     for r in insurance_reps if r["tier"] >= 3]},
        {"name": "Insurance inbound", "description": "All insurance reps", "manager": "manager",
         "members": [{"rep": r["username"], "weight": 1 + (r["tier"] >= 3)} for r in insurance_reps]},
        {"name": "SaaS", "description": "SaaS account executives", "manager": "manager",
         "members": [{"rep": r["username"], "weight": 1} for r in saas_reps]},
        {"name": "Spanish speakers", "description": "Dynamic: everyone with Spanish 3+", "manager": "manager",
         "dynamic_skill": "language:es", "dynamic_min_level": 3, "dynamic_weight": 1, "members": []},
    ]  # fmt: skip
    segments = [
        {"slug": "high-intent", "name": "High intent", "sla_minutes": 5, "accept_fraction": 0.6, "priority": 1,
         "order": 1, "conditions": [{"field": "intent", "op": "equals", "value": "high"}], "is_default": False},
        {"slug": "medium-intent", "name": "Medium intent", "sla_minutes": 30, "accept_fraction": 0.6, "priority": 2,
         "order": 2, "conditions": [{"field": "intent", "op": "equals", "value": "medium"}], "is_default": False},
        {"slug": "low-intent", "name": "Low intent", "sla_minutes": 240, "accept_fraction": 0.6, "priority": 3,
         "order": 3, "conditions": [], "is_default": True},
    ]  # fmt: skip
    rules = [
        {"name": "Insurance, high-value priority", "priority": 10, "enabled": True,
         "conditions": [{"field": "attributes.vertical", "op": "equals", "value": "insurance"},
                        {"field": "value", "op": "gte", "value": 50000}],
         "pool": "Insurance seniors", "strategy": "weighted_fair",
         "requirements": {"skills": [], "licence": True, "territory": False, "language": False,
                          "working_hours": False, "min_tier": 3},
         "value_threshold": "50000", "high_value_min_tier": 3,
         "fallback": [{"kind": "backup", "rep": "manager"}, {"kind": "holding"}],
         "relaxation": [], "reroute_on_escalation": True},
        {"name": "Insurance, everyone licensed", "priority": 20, "enabled": True,
         "conditions": [{"field": "attributes.vertical", "op": "equals", "value": "insurance"}],
         "pool": "Insurance inbound", "strategy": "weighted_fair",
         "requirements": {"skills": [{"skill": "vertical:insurance", "min_level": 2}], "licence": True,
                          "territory": False, "language": True, "working_hours": True, "min_tier": None},
         "value_threshold": None, "high_value_min_tier": None,
         "fallback": [{"kind": "relax"}, {"kind": "pool", "pool": "Spanish speakers"}, {"kind": "manager"},
                      {"kind": "holding"}],
         "relaxation": ["working_hours", "language", "skill_level"], "reroute_on_escalation": True},
        {"name": "SaaS, best match", "priority": 30, "enabled": True,
         "conditions": [{"field": "attributes.vertical", "op": "equals", "value": "saas"}],
         "pool": "SaaS", "strategy": "best_match",
         "requirements": {"skills": [{"skill": "product:crm", "min_level": 2}], "licence": False,
                          "territory": True, "language": True, "working_hours": False, "min_tier": None},
         "value_threshold": "100000", "high_value_min_tier": 3,
         "fallback": [{"kind": "relax"}, {"kind": "manager"}, {"kind": "holding"}],
         "relaxation": ["language", "skill_level", "tier"], "reroute_on_escalation": True},
        {"name": "Everything else, capacity balanced", "priority": 90, "enabled": True, "conditions": [],
         "pool": "Insurance inbound", "strategy": "capacity_balanced", "requirements": {},
         "value_threshold": None, "high_value_min_tier": None,
         "fallback": [{"kind": "pool", "pool": "SaaS"}, {"kind": "holding"}], "relaxation": [],
         "reroute_on_escalation": True},
    ]  # fmt: skip
    return {
        "format": "leadops-config", "format_version": 1, "skills": skills,
        "teams": [{"name": "Insurance"}, {"name": "SaaS"}], "territories": territories, "reps": reps,
        "pools": pools, "segments": segments, "rules": rules,
    }  # fmt: skip


COMPANIES = ["Acme Mutual", "Blue Harbor", "Cedar & Co", "Delta Freight", "Evergreen Health", "Fjord Labs",
             "Granite Bank", "Helios Solar", "Iris Dental", "Juniper Logistics", "Kestrel Air", "Lumen Media"]  # fmt: skip


def demo_lead(rng: random.Random, n: int) -> dict[str, Any]:
    vertical = rng.choice(["insurance", "insurance", "saas"])
    state = rng.choice(STATES)
    value = rng.choice([800, 2500, 9000, 18000, 35000, 52000, 75000, 120000, 250000])
    return {
        "source": rng.choice(["web", "partner", "webinar", "chat"]), "external_id": f"demo-{n}",
        "first_name": rng.choice(FIRST), "last_name": rng.choice(LAST), "email": f"lead{n}@example.com",
        "company": rng.choice(COMPANIES), "country": "US", "state": state,
        "postal_code": f"{rng.randint(10000, 99999)}", "language": rng.choice(["en"] * 6 + ["es", "de"]),
        "product_line": rng.choice(["life", "auto"]) if vertical == "insurance" else "crm",
        "value": Decimal(value), "currency": "USD", "fit_score": rng.randint(10, 99),
        "account_tier": rng.choice(["smb", "mid", "enterprise"]), "intent": rng.choice(["high", "medium", "medium", "low"]),
        "attributes": {"vertical": vertical},
    }  # fmt: skip
