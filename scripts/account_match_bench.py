"""What account matching costs per lead against 100,000 accounts, measured (issue 14).

Runs in a throwaway database (``<DATABASE_URL name>_bench``, or the configured one when its name
contains "bench"; created, migrated and dropped here) and prints one JSON document:

1. **pure matching** (``routing.matching.AccountIndex``): build time of the index over N
   synthetic accounts, then per-lead match time by kind of evidence (email domain, subdomain,
   free mail + exact name, fuzzy name, no match), against the same lookups with fuzzy matching
   scanning every account name (``rapidfuzz.process.extractOne`` over the whole list) instead
   of the candidate set, to show what the index saves;
2. **routing per lead** (``routing.services.leads_route_pending``, batches of 50, one process):
   the same leads routed (a) with no accounts and a rule without the owner step — the baseline,
   (b) with N accounts, every lead matched but the rule without the owner step (the cost of
   matching in the fetch), (c) with N accounts and the owner-first rule; ratios b / a and c / a;
   plus the one-off rebuild of the index from the database (after any account change).

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadops_bench_accounts \\
        .venv/bin/python scripts/account_match_bench.py [--accounts 100000] [--leads 2000] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadops.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

WORDS = ("acme alpha apex atlas aurora beacon blue bright cedar cobalt crest delta echo ember falcon forge "
         "granite harbor helix horizon iron jade keystone kinetic lumen maple meridian nova oak orbit pacific "
         "pine pioneer prime quantum quartz raven ridge river sage sierra solar spark summit terra titan "
         "union vector vertex vista willow zenith").split()  # fmt: skip
KINDS = ("Logistics", "Foods", "Systems", "Analytics", "Pharma", "Motors", "Energy", "Media", "Labs", "Capital")
SUFFIXES = ("Inc.", "Ltd", "GmbH", "S.A.", "LLC", "Corp.", "AG", "", "", "")


def synthetic_accounts(n: int, *, seed: int = 7) -> list[tuple[int, str, str]]:
    """``(id, name, domain)``: two words, a kind and a legal suffix; unique names and domains."""
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < n:
        words = (rng.choice(WORDS).title(), rng.choice(WORDS).title(), rng.choice(KINDS))
        tag = "".join(rng.choices(string.ascii_lowercase, k=3))
        name = f"{words[0]} {words[1]}{tag} {words[2]} {rng.choice(SUFFIXES)}".strip()
        domain = f"{words[0].lower()}{words[1].lower()}{tag}.com"
        if domain in seen:
            continue
        seen.add(domain)
        out.append((len(out) + 1, name, domain))
    return out


def _typo(text: str, rng: random.Random) -> str:
    i = rng.randrange(len(text) - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def lead_mix(accounts: list[tuple[int, str, str]], n: int, *, seed: int = 11) -> list[tuple[str, dict]]:
    """``(kind, {email, website, company})`` in equal parts of each kind of evidence."""
    rng = random.Random(seed)
    kinds = ("email_domain", "subdomain", "free_mail_name", "fuzzy_name", "no_match")
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        _id, name, domain = rng.choice(accounts)
        if kind == "email_domain":
            out.append((kind, {"email": f"pat{i}@{domain}", "company": name}))
        elif kind == "subdomain":
            out.append((kind, {"email": f"pat{i}@eu.sales.{domain}"}))
        elif kind == "free_mail_name":
            out.append((kind, {"email": f"pat{i}@gmail.com", "company": name.upper()}))
        elif kind == "fuzzy_name":
            out.append((kind, {"email": f"pat{i}@yahoo.com", "company": _typo(name.split(" ")[1], rng) + " " + name.split(" ")[0]
                               + " " + name.split(" ")[2]}))
        else:
            out.append((kind, {"email": f"pat{i}@hotmail.com", "company": f"Nobody {i} Trading"}))
    return out


def _stats(samples_us: list[float]) -> dict:
    ordered = sorted(samples_us)
    return {"n": len(ordered), "mean_us": round(statistics.fmean(ordered), 1),
            "p50_us": round(ordered[len(ordered) // 2], 1), "p95_us": round(ordered[int(len(ordered) * 0.95) - 1], 1),
            "max_us": round(ordered[-1], 1)}  # fmt: skip


def pure(accounts: list[tuple[int, str, str]], leads: list[tuple[str, dict]]) -> dict:
    from rapidfuzz import fuzz, process

    from routing import matching

    records = [matching.AccountRecord(i, name, (domain,)) for i, name, domain in accounts]
    started = time.perf_counter()
    index = matching.AccountIndex(records, fuzzy_threshold=settings.LEADOPS_ACCOUNT_FUZZY_THRESHOLD)
    build_s = time.perf_counter() - started
    index.match(email="warm@up.example.com", company="Warm Up")  # tldextract reads its snapshot on first use
    matching.normalise_name.cache_clear(), matching.host_of.cache_clear(), matching.registrable_domain.cache_clear()

    by_kind: dict[str, list[float]] = {}
    hits: dict[str, int] = {}
    for kind, lead in leads:
        t = time.perf_counter()
        found = index.match(**lead)
        by_kind.setdefault(kind, []).append((time.perf_counter() - t) * 1e6)
        hits[kind] = hits.get(kind, 0) + (found is not None)
    all_samples = [s for samples in by_kind.values() for s in samples]

    # The same fuzzy lookups scanning every name: what the candidate set avoids.
    names = [entry[1] for entry in index._entries.values()]
    scan = []
    for kind, lead in leads:
        if kind != "fuzzy_name":
            continue
        key = " ".join(sorted(matching.normalise_name(lead["company"]).split()))
        t = time.perf_counter()
        process.extractOne(key, names, scorer=fuzz.ratio, processor=None, score_cutoff=index.fuzzy_threshold)
        scan.append((time.perf_counter() - t) * 1e6)
        if len(scan) >= 100:
            break
    return {
        "accounts": len(records), "index_build_normalising_every_name_s": round(build_s, 2),
        "per_lead_all": _stats(all_samples),
        "per_kind": {kind: {**_stats(samples), "matched": hits[kind]} for kind, samples in by_kind.items()},
        "fuzzy_full_scan_instead": _stats(scan),
    }


def _seed_routing() -> None:
    """20 reps in one pool; leads with ``attributes.phase = owner`` meet the owner-first rule."""
    from routing.config_io import config_import
    from routing.services import rule_publish

    reps = [{"username": f"rep{i}", "email": f"rep{i}@example.com", "display_name": f"Rep {i}", "tier": 3} for i in range(20)]
    config_import({
        "format": "leadops-config", "format_version": 1, "reps": reps,
        "pools": [{"name": "Main", "members": [{"rep": r["username"], "weight": 1} for r in reps]}],
        "segments": [{"slug": "standard", "name": "Standard", "sla_minutes": 60, "is_default": True}],
        "rules": [
            {"name": "Owner first", "priority": 1, "pool": "Main",
             "conditions": [{"field": "attributes.phase", "op": "equals", "value": "owner"}],
             "fallback": [{"kind": "account_owner"}, {"kind": "holding"}]},
            {"name": "Everyone", "priority": 2, "pool": "Main", "fallback": [{"kind": "holding"}]},
        ],
    })  # fmt: skip
    rule_publish(note="bench")


def _insert_accounts(accounts: list[tuple[int, str, str]]) -> float:
    """Bench set-up only: rows inserted in bulk (the services write one account at a time)."""
    from reps.models import Rep
    from routing.matching import normalise_name
    from routing.models import Account, AccountDomain

    owners = list(Rep.objects.values_list("id", flat=True))
    started = time.perf_counter()
    with transaction.atomic():
        Account.objects.bulk_create([Account(id=i, external_id=f"crm-{i}", name=name, name_key=normalise_name(name),
                                             owner_id=owners[i % len(owners)], status="customer")
                                     for i, name, _ in accounts], batch_size=5000)  # fmt: skip
        AccountDomain.objects.bulk_create([AccountDomain(account_id=i, domain=domain) for i, _, domain in accounts],
                                          batch_size=5000)  # fmt: skip
    return time.perf_counter() - started


def _route(leads: list[tuple[str, dict]], *, prefix: str, owner: bool = False) -> list[tuple[float, int]]:
    """Route ``leads`` in batches of 50; returns (seconds, leads) per batch."""
    from reps.models import RepLoad
    from routing.models import Lead, Offer
    from routing.services import leads_route_pending

    now = timezone.now()
    with transaction.atomic():
        Lead.objects.bulk_create([
            Lead(source="bench", external_id=f"{prefix}-{i}", email=f"{prefix}.{lead['email']}" if lead.get("email") else "",
                 company=lead.get("company", ""), country="US", attributes={"phase": "owner"} if owner else {},
                 received_at=now, queue_at=now + dt.timedelta(microseconds=i), status=Lead.Status.PENDING)
            for i, (_kind, lead) in enumerate(leads)
        ], batch_size=2000)  # fmt: skip
    batches = []
    while True:
        t = time.perf_counter()
        taken = leads_route_pending(limit=50)
        if not taken:
            break
        batches.append((time.perf_counter() - t, taken))
        with transaction.atomic():  # release capacity so the next batch is not at cap (not timed)
            Offer.objects.filter(status="open").update(status="withdrawn")
            RepLoad.objects.update(open_count=0, daily_count=0, weekly_count=0)
    return batches


def _summary(batches: list[tuple[float, int]]) -> dict:
    per_lead = [s / n * 1e6 for s, n in batches]
    return {"leads": sum(n for _, n in batches), "batches": len(batches),
            "seconds": round(sum(s for s, _ in batches), 2), "per_lead_us": _stats(per_lead)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--leads", type=int, default=2_000)
    parser.add_argument("--keep", action="store_true", help="leave the bench database in place")
    args = parser.parse_args()

    from routing import accounts as account_fetch
    from routing.bench import db

    accounts = synthetic_accounts(args.accounts)
    leads = lead_mix(accounts, args.leads)
    result: dict = {"machine": {"cores": os.cpu_count()}, "pure": pure(accounts, leads)}

    name = db.target_name(settings.DATABASES["default"]["NAME"])
    db.recreate(name)
    try:
        import routing.services as routing_services
        from routing.accounts import LeadLinks

        real_link = routing_services.leads_link

        def no_accounts(leads, facts, *, now):  # noqa: ANN001, ANN202 - the baseline: no matching at all
            return LeadLinks(facts=dict(facts), duplicates={}, errors={})

        settings.LEADOPS_STICKY_WINDOW_DAYS = 0  # matching and the owner step, not sticky look-ups
        _seed_routing()
        insert_s = _insert_accounts(accounts)
        account_fetch._CACHE.clear()
        t = time.perf_counter()
        account_fetch.account_index()
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        account_fetch.account_index()
        unchanged_s = time.perf_counter() - t
        from routing.services import account_upsert, account_validate

        account_upsert(data=account_validate({"external_id": "crm-1", "name": "Renamed Holdings plc", "domains": ["renamed.example"]}))
        t = time.perf_counter()
        account_fetch.account_index()
        incremental_s = time.perf_counter() - t

        _route(leads[:100], prefix="warm")  # imports, caches, plans
        rounds = 4
        size = len(leads) // rounds
        phases: dict[str, list] = {"baseline_no_matching": [], "matched_no_owner_step": [], "owner_first": []}
        for r in range(rounds):  # interleaved, so load from elsewhere on the machine hits every phase alike
            part = leads[r * size:(r + 1) * size]
            routing_services.leads_link = no_accounts
            phases["baseline_no_matching"] += _route(part, prefix=f"base{r}")
            routing_services.leads_link = real_link
            phases["matched_no_owner_step"] += _route(part, prefix=f"match{r}")
            phases["owner_first"] += _route(part, prefix=f"owner{r}", owner=True)
        from routing.models import Decision

        steps = dict(Decision.objects.filter(lead__external_id__startswith="owner").values_list("step").annotate(
            n=django.db.models.Count("id")))  # fmt: skip
        summary = {phase: _summary(batches) for phase, batches in phases.items()}
        base = summary["baseline_no_matching"]["per_lead_us"]
        result["routing"] = {
            **summary,
            "ratio_matched_vs_baseline_mean": round(summary["matched_no_owner_step"]["per_lead_us"]["mean_us"] / base["mean_us"], 2),
            "ratio_matched_vs_baseline_p50": round(summary["matched_no_owner_step"]["per_lead_us"]["p50_us"] / base["p50_us"], 2),
            "ratio_owner_first_vs_baseline_mean": round(summary["owner_first"]["per_lead_us"]["mean_us"] / base["mean_us"], 2),
            "ratio_owner_first_vs_baseline_p50": round(summary["owner_first"]["per_lead_us"]["p50_us"] / base["p50_us"], 2),
            "owner_first_decision_steps": steps,
            "accounts_inserted_s": round(insert_s, 1), "index_build_from_db_s": round(build_s, 2),
            "index_check_unchanged_ms": round(unchanged_s * 1000, 2),
            "index_update_after_one_change_ms": round(incremental_s * 1000, 2),
            "postgres": connection.cursor().connection.info.server_version,
        }  # fmt: skip
    finally:
        if not args.keep:
            db.drop(name)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
