"""A small routing world for inbox tests: one segment, one rule, a pool and a fallback chain."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from reps.models import Pool, Rep
from routing import services
from routing.models import Lead, Offer, Rule, Segment
from tests.factories import LeadFactory, PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, SegmentFactory


@dataclass
class World:
    segment: Segment
    rule: Rule
    pool: Pool
    primary: Rep
    backup: Rep
    manager: Rep


def make_world(
    *, sla_minutes: int = 5, accept_fraction: float = 0.6, pool_size: int = 1, reroute: bool = False,
    fallback: list[dict] | None = None, max_open: int | None = None, value_threshold: str | None = None,
    publish: bool = True,
) -> World:  # fmt: skip
    """High-intent segment; a rule whose pool holds the primary rep(s); fallback backup -> holding."""
    segment = SegmentFactory(
        slug="high-intent", name="High intent", sla_minutes=sla_minutes, accept_fraction=accept_fraction,
        conditions=[{"field": "intent", "op": "equals", "value": "high"}],
    )  # fmt: skip
    manager = RepFactory(display_name="Manager Mia", user__username="mia")
    primary = RepFactory(display_name="Primary Pat", user__username="pat", manager=manager, max_open=max_open)
    pool = PoolFactory(name="High intent pool", manager=manager)
    PoolMemberFactory(pool=pool, rep=primary)
    for i in range(pool_size - 1):
        PoolMemberFactory(pool=pool, rep=RepFactory(display_name=f"Pool rep {i}", manager=manager, max_open=max_open))
    backup = RepFactory(display_name="Backup Bo", user__username="bo", manager=manager, max_open=max_open)
    rule = RuleFactory(
        name="High intent to the pool", pool=pool, reroute_on_escalation=reroute,
        conditions=[{"field": "segment", "op": "equals", "value": "high-intent"}],
        fallback=fallback if fallback is not None else [{"kind": "backup", "target_id": backup.id}, {"kind": "holding"}],
        value_threshold=Decimal(value_threshold) if value_threshold else None,
    )  # fmt: skip
    if publish:
        services.rule_publish(note="test world")
    return World(segment=segment, rule=rule, pool=pool, primary=primary, backup=backup, manager=manager)


def route_new_lead(*, now: dt.datetime | None = None, value: str = "5000", **fields: object) -> Lead:
    now = now or timezone.now()
    fields.setdefault("received_at", now)
    lead = LeadFactory(intent="high", value=Decimal(value), **fields)
    services.leads_route_all_pending(now=now)
    lead.refresh_from_db()
    return lead


def open_offer(lead: Lead) -> Offer:
    return lead.offers.get(status=Offer.Status.OPEN)
