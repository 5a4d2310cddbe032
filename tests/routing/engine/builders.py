"""Plain dataclass builders for engine tests: sensible defaults, override what a test is about."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from routing.engine.types import (
    Condition,
    ConfigSnapshot,
    FallbackStep,
    LeadFacts,
    LicenceFact,
    Op,
    PoolSnapshot,
    RepSnapshot,
    RuleSpec,
    SegmentSpec,
    StepKind,
    TerritoryFact,
)

UTC = dt.UTC
# Wednesday 2025-03-05 15:00 UTC = 10:00 in New York, 16:00 in Madrid.
NOW = dt.datetime(2025, 3, 5, 15, 0, tzinfo=UTC)
TODAY = NOW.date()
NINE_TO_FIVE = {day: ((9 * 60, 17 * 60),) for day in range(5)}


def lead(lead_id: int | None = 1, **fields: Any) -> LeadFacts:
    base: dict[str, Any] = {
        "source": "web",
        "country": "US",
        "state": "CA",
        "postal_code": "94105",
        "language": "en",
        "product_line": "auto",
        "value": Decimal("1000"),
        "currency": "USD",
        "intent": "medium",
        "attributes": {},
    }
    base.update(fields)
    return LeadFacts(id=lead_id, received_at=NOW, fields=base)


def licence(
    jurisdiction: str = "US-CA",
    product_line: str = "auto",
    valid_from: dt.date = dt.date(2020, 1, 1),
    valid_until: dt.date | None = None,
) -> LicenceFact:
    return LicenceFact(jurisdiction, product_line, valid_from, valid_until)


def rep(rep_id: int = 1, **overrides: Any) -> RepSnapshot:
    values: dict[str, Any] = {
        "id": rep_id,
        "name": f"Rep {rep_id}",
        "active": True,
        "tier": 2,
        "timezone": "America/New_York",
        "working_hours": NINE_TO_FIVE,
        "skills": {"language:en": 3, "product:auto": 3},
        "licences": (licence(),),
        "territories": (TerritoryFact("US", "CA"),),
    }
    values.update(overrides)
    return RepSnapshot(**values)


def pool(
    pool_id: int = 10,
    members: Iterable[tuple[int, int]] = (),
    *,
    name: str | None = None,
    fairness: dict[int, float] | None = None,
    manager_id: int | None = None,
) -> PoolSnapshot:
    return PoolSnapshot(
        id=pool_id,
        name=name if name is not None else f"Pool {pool_id}",
        members=tuple(members),
        fairness=fairness or {},
        manager_id=manager_id,
    )


def rule(rule_id: int = 100, **overrides: Any) -> RuleSpec:
    values: dict[str, Any] = {
        "id": rule_id,
        "history_id": None,
        "name": f"Rule {rule_id}",
        "priority": 10,
        "enabled": True,
        "conditions": (),
        "pool_id": 10,
    }
    values.update(overrides)
    return RuleSpec(**values)


def segment(
    segment_id: int, slug: str, order: int, *conds: Condition, **overrides: Any
) -> SegmentSpec:
    values: dict[str, Any] = {
        "id": segment_id,
        "slug": slug,
        "name": slug.title(),
        "sla_minutes": 60,
        "accept_fraction": 0.5,
        "priority": order,
        "order": order,
        "conditions": conds,
    }
    values.update(overrides)
    return SegmentSpec(**values)


def config(
    *rules: RuleSpec, segments: Iterable[SegmentSpec] = (), version: int = 1
) -> ConfigSnapshot:
    return ConfigSnapshot(version=version, segments=tuple(segments), rules=tuple(rules))


def cond(field: str, op: Op | str, value: Any = None) -> Condition:
    return Condition(field, Op(op), value)


def by_id(*items: Any) -> dict[int, Any]:
    return {item.id: item for item in items}


def fallback(kind: StepKind, target_id: int | None = None) -> FallbackStep:
    return FallbackStep(kind, target_id)
