"""Synthetic, deterministic bench data: reps, pools, rules, segments and leads, by bulk insert.

Shape (so that cost per decision is comparable across sizes): rule ``i`` matches one
(product line, state) cell of a grid and sends leads to pool ``i``; every rep sits in two
adjacent pools, so pools hold about ``2 * reps / rules`` members and contend for capacity;
each rule falls back to the next pool, then holding.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from reps.models import FairnessState, Pool, PoolMember, Rep, RepLoad, RepSkill, Role, Skill
from routing.models import Lead, Rule, Segment

PRODUCTS = tuple(f"p{i:02d}" for i in range(40))
STATES = ("CA", "NY", "TX", "FL", "WA", "IL", "PA", "OH", "GA", "NC", "MI", "NJ", "VA", "AZ", "MA",
          "TN", "IN", "MO", "MD", "WI", "CO", "MN", "SC", "AL", "LA")  # fmt: skip
INTENTS = ("high", "medium", "low")
BENCH_SOURCE = "bench"


@dataclass(frozen=True)
class Config:
    reps: int
    rules: int
    cells: tuple[tuple[str, str], ...]  # (product_line, state) per rule, in rule order


def wipe() -> None:
    """Empty every LeadOps table (the bench database is throwaway; see routing.bench.db)."""
    tables = [t for t in connection.introspection.table_names() if t != "django_migrations"]
    keep = {"django_content_type", "auth_permission"}
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables if t not in keep) + " RESTART IDENTITY CASCADE")
    from routing.decision_detail import legend_cache_clear

    legend_cache_clear()  # the legend rows this process saw committed are gone


def _grid(rules: int) -> tuple[tuple[str, str], ...]:
    cells = [(p, s) for p in PRODUCTS for s in STATES]
    if rules > len(cells):
        raise ValueError(f"at most {len(cells)} rules in the bench grid")
    # Spread rules over both dimensions so small configurations still vary by product and state.
    step = max(1, len(cells) // rules)
    return tuple(cells[(i * step) % len(cells)] for i in range(rules))


@transaction.atomic
def build_config(*, reps: int, rules: int, max_open: int | None = None, max_daily: int | None = None,
                 seed: int = 7) -> Config:  # fmt: skip
    """Create ``reps`` reps and ``rules`` rules (one pool each) and publish them."""
    from routing.services import rule_publish

    rng = random.Random(seed)
    group, _ = Group.objects.get_or_create(name=Role.REP.value)
    users = User.objects.bulk_create(
        [User(username=f"bench-rep-{i}", email=f"rep{i}@bench.invalid", password="!") for i in range(reps)],
        batch_size=2000,
    )
    User.groups.through.objects.bulk_create(
        [User.groups.through(user_id=u.id, group_id=group.id) for u in users], batch_size=5000
    )
    rep_rows = bulk_create_with_history(
        [
            Rep(user=u, display_name=f"Bench Rep {i}", tier=1 + i % 4, timezone="UTC",
                max_open=max_open, max_daily=max_daily)
            for i, u in enumerate(users)
        ],  # fmt: skip
        Rep,
        batch_size=2000,
    )
    rep_ids = [r.id for r in rep_rows] or list(Rep.objects.order_by("id").values_list("id", flat=True))
    language = Skill.objects.create(kind=Skill.Kind.LANGUAGE, code="en", name="English")
    bulk_create_with_history([RepSkill(rep_id=r, skill=language, level=3) for r in rep_ids], RepSkill, batch_size=5000)
    pools = bulk_create_with_history([Pool(name=f"Bench pool {i}") for i in range(rules)], Pool, batch_size=2000)
    pool_ids = [p.id for p in pools] or list(Pool.objects.order_by("id").values_list("id", flat=True))
    members = []
    for index, rep_id in enumerate(rep_ids):
        home = index % rules
        members.append(PoolMember(pool_id=pool_ids[home], rep_id=rep_id, weight=rng.randint(1, 4)))
        if rules > 1:
            members.append(PoolMember(pool_id=pool_ids[(home + 1) % rules], rep_id=rep_id, weight=1))
    bulk_create_with_history(members, PoolMember, batch_size=5000)
    # The counter rows a running system has once each rep and pool has routed a lead: routing
    # creates a missing one on first use, which is not what a steady-state figure should time
    # (at 10,000 reps / 1,000 rules the scale phase's warm-up batch reaches ~1,400 reps, and the
    # timed run would otherwise create the other ~8,600 reps' rows as it goes).
    RepLoad.objects.bulk_create([RepLoad(rep_id=r) for r in rep_ids], batch_size=5000)
    FairnessState.objects.bulk_create([FairnessState(pool_id=m.pool_id, rep_id=m.rep_id) for m in members],
                                      batch_size=5000)  # fmt: skip
    for slug, intent, sla, order in (("high", "high", 5, 1), ("medium", "medium", 30, 2), ("low", "low", 240, 3)):
        Segment.objects.create(
            slug=f"bench-{slug}", name=f"Bench {slug}", sla_minutes=sla, order=order, is_default=slug == "medium",
            conditions=[{"field": "intent", "op": "equals", "value": intent}],
        )  # fmt: skip
    cells = _grid(rules)
    bulk_create_with_history(
        [
            Rule(name=f"Bench rule {i}", priority=i + 1, pool_id=pool_ids[i], strategy="weighted_fair",
                 conditions=[{"field": "product_line", "op": "equals", "value": product},
                             {"field": "state", "op": "equals", "value": state}],
                 requirements={"language": True}, value_threshold=Decimal("50000"),
                 fallback=[{"kind": "pool", "target_id": pool_ids[(i + 1) % rules]}, {"kind": "holding"}])
            for i, (product, state) in enumerate(cells)
        ],  # fmt: skip
        Rule,
        batch_size=2000,
    )
    rule_publish(note="bench")
    transaction.on_commit(analyze)
    return Config(reps=reps, rules=rules, cells=cells)


def make_leads(config: Config, count: int, *, prefix: str, now: dt.datetime | None = None, seed: int = 11,
               status: str = Lead.Status.PENDING) -> int:  # fmt: skip
    """Insert ``count`` leads spread over the rule grid, oldest first; returns how many. Emails
    carry ``prefix``, so leads of different runs are never duplicates of each other (a
    duplicate is linked to its open lead, not routed, and would not be a routing decision)."""
    rng = random.Random(seed)
    now = now or timezone.now()
    rows = []
    for i in range(count):
        product, state = config.cells[rng.randrange(len(config.cells))]
        rows.append(Lead(
            source=BENCH_SOURCE, external_id=f"{prefix}-{i}", first_name="Bench", last_name=f"L{i}",
            email=f"{prefix}-{i}@bench.invalid", country="US", state=state, language="en", product_line=product,
            value=Decimal(rng.choice((500, 2000, 10000, 60000))), intent=rng.choice(INTENTS),
            status=status, received_at=now - dt.timedelta(milliseconds=count - i),
            queue_at=now - dt.timedelta(milliseconds=count - i),
        ))  # fmt: skip
        if len(rows) == 5000:
            Lead.objects.bulk_create(rows)
            rows = []
    if rows:
        Lead.objects.bulk_create(rows)
    analyze()
    return count


def analyze() -> None:
    """Refresh the planner's statistics, as autovacuum's auto-analyze does in production within a
    minute of a bulk change. This server runs with autovacuum off (docs/performance.md), and
    with statistics from before the leads arrived the planner chose a bitmap scan over every
    pending or open lead for the batch's lead select and duplicate check (4 ms and 28 ms per
    batch with 2,000 leads waiting, growing with the queue) instead of the queue-order and email
    indexes (0.6 ms and 0.3 ms)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def intake_payload(config: Config, index: int, *, prefix: str, rng: random.Random) -> dict:
    product, state = config.cells[rng.randrange(len(config.cells))]
    return {
        "source": BENCH_SOURCE, "external_id": f"{prefix}-{index}", "first_name": "Bench", "last_name": f"I{index}",
        "email": f"{prefix}-{index}@bench.invalid", "country": "US", "state": state, "language": "en",
        "product_line": product, "value": Decimal(rng.choice((500, 2000, 10000, 60000))),
        "intent": rng.choice(INTENTS), "attributes": {},
    }  # fmt: skip
