"""The product's seed stories, end to end through ``route``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from routing.engine import qualify, route
from routing.engine.types import (
    Decision,
    Op,
    Outcome,
    Reason,
    RepSnapshot,
    Requirements,
    RuleSpec,
    StepKind,
    Strategy,
)
from tests.routing.engine.builders import (
    NOW,
    by_id,
    cond,
    config,
    fallback,
    lead,
    licence,
    pool,
    rep,
    rule,
    segment,
)

# (a) High-value insurance -----------------------------------------------------------------

TX_LIFE = licence("US-TX", "life", valid_from=dt.date(2022, 1, 1))
SENIOR, JUNIOR, UNLICENSED, BACKUP = 1, 2, 3, 9


def insurance_rule(strategy: Strategy = Strategy.WEIGHTED_FAIR) -> RuleSpec:
    return rule(
        1,
        name="Insurance high value",
        priority=1,
        conditions=(
            cond("value", Op.GTE, 50000),
            cond("attributes.vertical", Op.EQUALS, "insurance"),
        ),
        pool_id=10,
        strategy=strategy,
        requirements=Requirements(licence=True),
        value_threshold=Decimal("50000"),
        high_value_min_tier=3,
        fallback=(fallback(StepKind.BACKUP, BACKUP), fallback(StepKind.HOLDING)),
    )


def insurance_reps(senior_open: int = 39, backup_daily: int = 0) -> dict[int, RepSnapshot]:
    caps = {"max_open": 40, "max_daily": 15}
    return by_id(
        rep(SENIOR, name="Ana Ruiz", tier=3, licences=(TX_LIFE,), open_count=senior_open, **caps),
        rep(JUNIOR, name="Jo Park", tier=1, licences=(TX_LIFE,), open_count=0, **caps),
        rep(UNLICENSED, name="Sam Old", tier=4, licences=(licence("US-CA", "life"),), **caps),
        rep(
            BACKUP,
            name="Bea Backup",
            tier=2,
            licences=(licence("US", "*"),),
            daily_count=backup_daily,
            **caps,
        ),
    )


POOLS = by_id(
    pool(
        10,
        [(SENIOR, 1), (JUNIOR, 5), (UNLICENSED, 5)],
        name="Insurance desk",
        fairness={JUNIOR: 3.0, UNLICENSED: 3.0},  # both are owed leads under plain fairness
    )
)
PREMIUM_LEAD = lead(
    501,
    country="US",
    state="tx",
    product_line="Life",
    value=Decimal("75000.00"),
    attributes={"vertical": "Insurance"},
)


def route_premium(**reps_kwargs: int) -> Decision:
    general = rule(
        2, name="General", priority=50, pool_id=10, fallback=(fallback(StepKind.HOLDING),)
    )
    snapshot = config(insurance_rule(), general)
    return route(PREMIUM_LEAD, snapshot, POOLS, insurance_reps(**reps_kwargs), NOW)


@pytest.mark.parametrize("strategy", list(Strategy))
def test_a_senior_licensed_rep_with_room_gets_the_high_value_insurance_lead(
    strategy: Strategy,
) -> None:
    snapshot = config(insurance_rule(strategy))
    decision = route(PREMIUM_LEAD, snapshot, POOLS, insurance_reps(), NOW)
    assert decision.high_value
    assert (decision.outcome, decision.chosen_rep_id, decision.chosen_step) == (
        Outcome.OFFER,
        SENIOR,
        StepKind.PRIMARY,
    )
    assert {c.rep_id: c.reasons for c in decision.steps[0].candidates} == {
        SENIOR: (),
        JUNIOR: (Reason.TIER_TOO_LOW,),
        UNLICENSED: (Reason.NO_LICENCE,),
    }


def test_the_insurance_rule_explains_its_choice() -> None:
    decision = route_premium()
    assert decision.rule is not None and decision.rule.name == "Insurance high value"
    assert decision.summary == (
        "Rule 'Insurance high value' → pool 'Insurance desk': "
        "offered to Ana Ruiz (weighted fair, owed 1.00 leads); 2 of 3 reps skipped."
    )


def test_a_senior_at_the_open_cap_sends_the_lead_to_the_backup_rep() -> None:
    decision = route_premium(senior_open=40)
    assert [step.kind for step in decision.steps] == [StepKind.PRIMARY, StepKind.BACKUP]
    assert decision.steps[0].candidates[0].reasons == (Reason.AT_OPEN_CAP,)
    assert (decision.chosen_rep_id, decision.chosen_step) == (BACKUP, StepKind.BACKUP)
    assert decision.fairness_updates == {}
    assert "offered to backup rep Bea Backup" in decision.summary


def test_with_the_backup_rep_at_daily_cap_the_lead_waits_in_holding() -> None:
    decision = route_premium(senior_open=40, backup_daily=15)
    assert [step.kind for step in decision.steps] == [
        StepKind.PRIMARY,
        StepKind.BACKUP,
        StepKind.HOLDING,
    ]
    assert decision.steps[1].candidates[0].reasons == (Reason.AT_DAILY_CAP,)
    assert (decision.outcome, decision.chosen_rep_id, decision.chosen_step) == (
        Outcome.HOLDING,
        None,
        StepKind.HOLDING,
    )


def test_a_lead_under_the_premium_threshold_falls_through_to_the_general_rule() -> None:
    snapshot = config(insurance_rule(), rule(2, name="General", priority=50, pool_id=10))
    small = lead(
        502,
        state="TX",
        product_line="life",
        value=Decimal("49999.99"),
        attributes={"vertical": "insurance"},
    )
    decision = route(small, snapshot, POOLS, insurance_reps(), NOW)
    assert decision.rule is not None and decision.rule.name == "General"
    assert not decision.high_value


# (b) Segments set the SLA -----------------------------------------------------------------

SEGMENTS = (
    segment(1, "hot", 1, cond("intent", Op.EQUALS, "high"), sla_minutes=5, priority=1),
    segment(2, "warm", 2, cond("intent", Op.EQUALS, "medium"), sla_minutes=30, priority=2),
    segment(
        3, "cold", 3, cond("intent", Op.EQUALS, "low"), sla_minutes=240, priority=3, is_default=True
    ),
)


@pytest.mark.parametrize(
    ("intent", "slug", "sla_minutes"),
    [
        ("high", "hot", 5),
        ("HIGH", "hot", 5),
        ("medium", "warm", 30),
        ("low", "cold", 240),
        (None, "cold", 240),  # the default segment catches leads with no intent
    ],
)
def test_intent_sets_the_segment_and_its_sla(
    intent: str | None, slug: str, sla_minutes: int
) -> None:
    snapshot = config(rule(), segments=SEGMENTS)
    the_lead = lead(intent=intent)
    qualified = qualify(the_lead, snapshot)
    assert qualified is not None
    assert (qualified.slug, qualified.sla_minutes) == (slug, sla_minutes)
    decision = route(the_lead, snapshot, {}, {}, NOW)
    assert decision.segment == qualified
