"""Eligibility-adjusted expectation, checked against numbers worked out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from reps.models import RepLoad
from routing.dashboards.models import EquityDaily
from routing.dashboards.selectors import equity_table
from routing.dashboards.services import equity_rebuild, equity_rollup, expected_shares
from routing.engine.types import Reason
from routing.services import leads_route_all_pending
from tests.dashboards.helpers import cand, make_decision, noon
from tests.factories import (
    AbsenceFactory,
    LeadFactory,
    PoolFactory,
    PoolMemberFactory,
    RepFactory,
    RepSkillFactory,
    RuleFactory,
    SkillFactory,
)


def test_expected_shares_split_by_weight_among_eligible_only() -> None:
    detail = {"steps": [
        {"kind": "primary", "chosen_rep_id": None, "candidates": [{"rep_id": 9, "eligible": True, "weight": 5}]},
        {"kind": "pool", "chosen_rep_id": 2, "candidates": [
            {"rep_id": 1, "eligible": True, "weight": 1}, {"rep_id": 2, "eligible": True, "weight": 3},
            {"rep_id": 3, "eligible": False, "weight": 4, "reasons": ["absent"]},
        ]},
    ]}  # fmt: skip
    assert expected_shares(detail) == {1: 0.25, 2: 0.75}


def test_expected_shares_of_a_backup_step_go_to_its_single_rep() -> None:
    detail = {"steps": [{"kind": "backup", "chosen_rep_id": 7, "candidates": [{"rep_id": 7, "eligible": True, "weight": 0}]}]}
    assert expected_shares(detail) == {7: 1.0}


def test_expected_shares_of_a_holding_decision_are_empty() -> None:
    assert expected_shares({"steps": [{"kind": "holding", "chosen_rep_id": None, "candidates": []}]}) == {}


@pytest.fixture
def trio(db):  # noqa: ANN001, ANN201
    pool = PoolFactory(name="Inbound")
    a, b, c = RepFactory(display_name="Ann"), RepFactory(display_name="Bob"), RepFactory(display_name="Cat")
    PoolMemberFactory(pool=pool, rep=a, weight=1)
    PoolMemberFactory(pool=pool, rep=b, weight=1)
    PoolMemberFactory(pool=pool, rep=c, weight=2)
    return pool, a, b, c


def test_a_rep_absent_half_the_window_expects_only_the_leads_of_the_other_half(trio) -> None:  # noqa: ANN001
    pool, a, b, c = trio
    # Days 1-2: Ann absent, Bob (w1) and Cat (w2) share: Bob 1/3, Cat 2/3 per lead.
    for days_ago in (3, 2):
        make_decision(pool=pool, chosen=c, at=noon(days_ago),
                      candidates=[cand(a, 1, Reason.ABSENT), cand(b, 1), cand(c, 2)])  # fmt: skip
    # Days 3-4: everyone eligible: Ann 1/4, Bob 1/4, Cat 2/4 per lead.
    for days_ago in (1, 0):
        make_decision(pool=pool, chosen=a, at=noon(days_ago), candidates=[cand(a, 1), cand(b, 1), cand(c, 2)])
    equity_rollup()
    table = equity_table(pool_id=pool.id, start=noon(3).date(), end=noon(0).date())
    rows = {r.name: r for r in table.rows}
    assert rows["Ann"].expected == pytest.approx(0.5)
    assert rows["Bob"].expected == pytest.approx(2 / 3 + 0.5)
    assert rows["Cat"].expected == pytest.approx(4 / 3 + 1.0)
    assert rows["Ann"].assigned == 2 and rows["Cat"].assigned == 2 and rows["Bob"].assigned == 0
    assert rows["Ann"].target_share == pytest.approx(0.25)
    assert rows["Ann"].expected_share == pytest.approx(0.125)
    assert rows["Ann"].deviation == pytest.approx(1.5)
    assert rows["Ann"].deviation_pct == pytest.approx(300.0)
    # 0% vs 29% and 50% vs 12.5%, but over 4 leads nobody is more than 1.5 leads off and the
    # pool is below the minimum number of leads: that is the rotation's rhythm, not drift.
    assert not table.drifting


def test_value_expectation_follows_lead_value(trio) -> None:  # noqa: ANN001
    pool, a, b, _ = trio
    make_decision(pool=pool, chosen=a, at=noon(1), value=100, candidates=[cand(a), cand(b)])
    make_decision(pool=pool, chosen=a, at=noon(1), value=300, candidates=[cand(a), cand(b)])
    equity_rollup()
    table = equity_table(pool_id=pool.id, start=noon(1).date(), end=noon(1).date(), min_leads=0)
    rows = {r.name: r for r in table.rows}
    assert rows["Ann"].assigned_value == Decimal("400")
    assert rows["Ann"].expected_value == pytest.approx(200.0)
    assert rows["Bob"].expected_value == pytest.approx(200.0)
    assert rows["Ann"].value_share == pytest.approx(1.0) and rows["Ann"].value_drift


def test_rollup_is_incremental_and_idempotent(trio) -> None:  # noqa: ANN001
    pool, a, b, _ = trio
    make_decision(pool=pool, chosen=a, at=noon(0), candidates=[cand(a), cand(b)])
    assert equity_rollup() == 1
    assert equity_rollup() == 0  # nothing new: nothing counted twice
    make_decision(pool=pool, chosen=b, at=noon(0), candidates=[cand(a), cand(b)])
    assert equity_rollup() == 1
    row = EquityDaily.objects.get(pool=pool, rep=a, day=noon(0).date())
    assert (row.assigned, row.expected) == (1, pytest.approx(1.0))
    assert equity_rebuild() == 2
    row = EquityDaily.objects.get(pool=pool, rep=a, day=noon(0).date())
    assert (row.assigned, row.expected) == (1, pytest.approx(1.0))


def test_rollup_in_small_batches_gives_the_same_totals(trio) -> None:  # noqa: ANN001
    pool, a, b, c = trio
    for i in range(7):
        make_decision(pool=pool, chosen=[a, b, c][i % 3], at=noon(i % 2), candidates=[cand(a), cand(b), cand(c, 2)])
    assert equity_rollup(batch=2) == 7
    rows = {r.name: r for r in equity_table(pool_id=pool.id, start=noon(1).date(), end=noon(0).date()).rows}
    assert rows["Cat"].expected == pytest.approx(7 * 0.5)
    assert sum(r.assigned for r in rows.values()) == 7


# --- the real write path: factories + routing service ---------------------------------------


def _route_leads(n: int, at: dt.datetime) -> None:
    for _ in range(n):
        LeadFactory(received_at=at)
    assert leads_route_all_pending(now=at) == n


@pytest.mark.django_db
def test_routed_leads_expectation_excludes_a_rep_absent_for_half_the_window() -> None:
    pool = PoolFactory()
    ann, bob = RepFactory(display_name="Ann"), RepFactory(display_name="Bob")
    PoolMemberFactory(pool=pool, rep=ann)
    PoolMemberFactory(pool=pool, rep=bob)
    RuleFactory(pool=pool)
    # Route at the real clock, then two days later: the router's directory cache reads absences
    # that are current at wall-clock time, so the absent half must not lie in the past.
    first = dt.datetime.now(dt.UTC)
    second = first + dt.timedelta(days=2)
    AbsenceFactory(rep=ann, starts_at=first - dt.timedelta(hours=1), ends_at=first + dt.timedelta(days=1))
    _route_leads(4, first)  # Ann absent: Bob expected 4 of 4
    _route_leads(4, second)  # both eligible: 2 each
    equity_rollup()
    rows = {r.name: r for r in equity_table(pool_id=pool.id, start=first.date(), end=second.date()).rows}
    assert rows["Ann"].expected == pytest.approx(2.0)
    assert rows["Bob"].expected == pytest.approx(6.0)
    assert rows["Ann"].assigned + rows["Bob"].assigned == 8
    assert rows["Ann"].assigned <= 4  # she could not get any while away


@pytest.mark.django_db
def test_routed_leads_expectation_excludes_a_rep_at_daily_cap_for_one_day() -> None:
    pool = PoolFactory()
    ann, bob = RepFactory(display_name="Ann"), RepFactory(display_name="Bob", max_daily=1)
    PoolMemberFactory(pool=pool, rep=ann)
    PoolMemberFactory(pool=pool, rep=bob)
    RuleFactory(pool=pool)
    day1, day2 = noon(2), noon(1)
    RepLoad.objects.create(rep=bob, day=day1.date(), daily_count=1)  # Bob already used his one lead on day 1
    _route_leads(2, day1)  # Bob at cap: Ann expected 2
    _route_leads(1, day2)  # new day, both eligible: 0.5 each
    equity_rollup()
    assert EquityDaily.objects.get(pool=pool, rep=ann, day=day1.date()).expected == pytest.approx(2.0)
    assert not EquityDaily.objects.filter(pool=pool, rep=bob, day=day1.date()).exists()
    rows = {r.name: r for r in equity_table(pool_id=pool.id, start=day1.date(), end=day2.date()).rows}
    assert rows["Ann"].expected == pytest.approx(2.5)
    assert rows["Bob"].expected == pytest.approx(0.5)
    assert rows["Ann"].assigned >= 2


@pytest.mark.django_db
def test_routed_leads_expectation_ignores_a_heavy_rep_without_the_required_skill() -> None:
    pool = PoolFactory()
    ann, bob, cat = (RepFactory(display_name=n) for n in ("Ann", "Bob", "Cat"))
    skill = SkillFactory(code="auto")
    RepSkillFactory(rep=ann, skill=skill)
    RepSkillFactory(rep=bob, skill=skill)
    PoolMemberFactory(pool=pool, rep=ann, weight=1)
    PoolMemberFactory(pool=pool, rep=bob, weight=1)
    PoolMemberFactory(pool=pool, rep=cat, weight=2)  # half the pool's weight, but no "product:auto"
    RuleFactory(pool=pool, requirements={"skills": [{"skill": "product:auto", "min_level": 1}]})
    _route_leads(6, noon(0))
    equity_rollup()
    table = equity_table(pool_id=pool.id, start=noon(0).date(), end=noon(0).date())
    rows = {r.name: r for r in table.rows}
    assert rows["Cat"].target_share == pytest.approx(0.5)
    assert rows["Cat"].expected == 0 and rows["Cat"].assigned == 0
    assert rows["Ann"].expected == pytest.approx(3.0) and rows["Bob"].expected == pytest.approx(3.0)
    assert rows["Ann"].assigned == 3 and rows["Bob"].assigned == 3  # weighted fair among the eligible
    assert not table.drifting  # fair given who could take the leads, though Cat is far below target


def test_reconcile_repairs_a_decision_the_watermark_stepped_over(trio) -> None:  # noqa: ANN001
    from routing.dashboards.models import RollupWatermark
    from routing.dashboards.services import equity_reconcile

    pool, a, b, _ = trio
    late = make_decision(pool=pool, chosen=b, at=noon(0), candidates=[cand(a), cand(b)])
    make_decision(pool=pool, chosen=a, at=noon(0), candidates=[cand(a), cand(b)])
    # Simulate a lower id committing after the watermark passed it: fold only the later one.
    RollupWatermark.objects.create(name="equity", last_id=late.id)
    equity_rollup()
    assert EquityDaily.objects.filter(pool=pool, rep=b).count() == 1
    assert EquityDaily.objects.get(pool=pool, rep=b).assigned == 0
    assert equity_reconcile(days=2) == 1
    assert EquityDaily.objects.get(pool=pool, rep=b).assigned == 1
    assert EquityDaily.objects.get(pool=pool, rep=a).expected == pytest.approx(1.0)
    assert equity_reconcile(days=2) == 0  # consistent now: nothing rebuilt


def test_scheduled_rollup_task_is_registered_and_folds_decisions(trio) -> None:  # noqa: ANN001
    from django.core.management import call_command
    from django_q.models import Schedule

    from routing.dashboards.tasks import equity_rollup as task

    pool, a, b, _ = trio
    make_decision(pool=pool, chosen=a, at=noon(0), candidates=[cand(a), cand(b)])
    call_command("setup_schedules", stdout=None)
    assert Schedule.objects.get(name="leadops-equity-rollup").func == "routing.dashboards.tasks.equity_rollup"
    assert task() == 1
    assert EquityDaily.objects.get(pool=pool, rep=a).assigned == 1
