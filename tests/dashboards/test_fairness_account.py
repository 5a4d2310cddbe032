"""The equity page and the router keep one account of what each rep is owed (issue 19)."""

from __future__ import annotations

import datetime as dt

import pytest

from reps.models import FairnessState
from routing.dashboards.selectors import drift_alerts, equity_table, strategy_notes
from routing.dashboards.services import equity_rollup
from routing.services import leads_route_all_pending
from tests.dashboards.helpers import cand, make_decision, noon
from tests.factories import AbsenceFactory, LeadFactory, PoolFactory, PoolMemberFactory, RepFactory, RuleFactory


def _route_leads(n: int, at: dt.datetime) -> None:
    for _ in range(n):
        LeadFactory(received_at=at)
    assert leads_route_all_pending(now=at) == n


@pytest.mark.django_db
def test_the_expected_column_is_the_routers_account_on_a_hand_computed_case() -> None:
    """Ann (weight 1, cap of one open lead), Bob (weight 1), Cat (weight 2, away on day 1).

    Day 1, Cat away. Lead 1: Ann and Bob could take it, 1/2 each; Ann (lower id) gets it and is
    now at her cap. Leads 2 and 3: only Bob, 1 each. Day 3, Cat back, Ann still at cap: leads
    4-6 are shared by Bob 1/3 and Cat 2/3. Bob is owed 0.5 + 1/3 on lead 4 and gets it; Cat,
    owed 4/3 then 1, gets leads 5 and 6.

    Expected: Ann 1/2; Bob 1/2 + 1 + 1 + 3 x 1/3 = 3.5; Cat 3 x 2/3 = 2.
    Offered:  Ann 1;   Bob 3;                          Cat 2.
    Owed:     Ann -0.5; Bob 0.5;                       Cat 0.
    """
    pool = PoolFactory(name="Inbound")
    ann = RepFactory(display_name="Ann", max_open=1)
    bob, cat = RepFactory(display_name="Bob"), RepFactory(display_name="Cat")
    for rep, weight in ((ann, 1), (bob, 1), (cat, 2)):
        PoolMemberFactory(pool=pool, rep=rep, weight=weight)
    RuleFactory(pool=pool)
    # The router's directory cache reads absences current at wall-clock time, so day 1 is now.
    day1 = dt.datetime.now(dt.UTC)
    day3 = day1 + dt.timedelta(days=2)
    AbsenceFactory(rep=cat, starts_at=day1 - dt.timedelta(hours=1), ends_at=day1 + dt.timedelta(days=1))
    _route_leads(3, day1)
    _route_leads(3, day3)
    equity_rollup()

    table = equity_table(pool_id=pool.id, start=day1.date(), end=day3.date())
    rows = {r.name: r for r in table.rows}
    assert {name: r.expected for name, r in rows.items()} == pytest.approx({"Ann": 0.5, "Bob": 3.5, "Cat": 2.0})
    assert {name: r.assigned for name, r in rows.items()} == {"Ann": 1, "Bob": 3, "Cat": 2}
    credits = dict(FairnessState.objects.filter(pool=pool).values_list("rep__display_name", "credit"))
    assert credits == pytest.approx({"Ann": -0.5, "Bob": 0.5, "Cat": 0.0})
    for name, row in rows.items():  # the page's figure is the router's: expected - offered = owed
        assert row.owed == pytest.approx(credits[name])
        assert row.expected - row.assigned == pytest.approx(credits[name])


@pytest.fixture
def pair(db):  # noqa: ANN001, ANN201
    pool = PoolFactory(name="Inbound")
    ann, bob = RepFactory(display_name="Ann"), RepFactory(display_name="Bob")
    PoolMemberFactory(pool=pool, rep=ann)
    PoolMemberFactory(pool=pool, rep=bob)
    return pool, ann, bob


def _all_to_ann(pool, ann, bob, n: int) -> None:  # noqa: ANN001
    for _ in range(n):
        make_decision(pool=pool, chosen=ann, at=noon(0), candidates=[cand(ann), cand(bob)])
    equity_rollup()


def test_a_weighted_fair_pool_drifts_only_after_the_minimum_number_of_leads(pair) -> None:  # noqa: ANN001
    pool, ann, bob = pair
    RuleFactory(pool=pool)
    _all_to_ann(pool, ann, bob, 6)  # Ann 6 of 6 against 3 expected: 3 leads off, but 6 < 20 leads
    day = noon(0).date()
    assert drift_alerts(start=day, end=day, min_leads=20) == []
    alerts = drift_alerts(start=day, end=day, min_leads=6)
    assert {a.row.name for a in alerts} == {"Ann", "Bob"}
    assert {a.row.name: a.row.deviation for a in alerts} == pytest.approx({"Ann": 3.0, "Bob": -3.0})


def test_a_rep_within_one_and_a_half_leads_of_the_expected_count_never_drifts(pair) -> None:  # noqa: ANN001
    pool, ann, bob = pair
    RuleFactory(pool=pool)
    _all_to_ann(pool, ann, bob, 3)  # 3 of 3 against 1.5: 100% vs 50% share, 1.5 leads off
    day = noon(0).date()
    assert [a for a in drift_alerts(start=day, end=day, min_leads=0) if a.row.drift] == []
    _all_to_ann(pool, ann, bob, 1)  # 4 of 4 against 2: 2 leads off
    assert {a.row.name for a in drift_alerts(start=day, end=day, min_leads=0) if a.row.drift} == {"Ann", "Bob"}


@pytest.mark.parametrize("strategy", ["best_match", "capacity_balanced"])
def test_best_match_and_capacity_balanced_pools_are_reported_for_what_they_optimise(pair, strategy: str) -> None:  # noqa: ANN001
    pool, ann, bob = pair
    RuleFactory(pool=pool, strategy=strategy)
    _all_to_ann(pool, ann, bob, 30)
    day = noon(0).date()
    assert drift_alerts(start=day, end=day, min_leads=0) == []  # shares follow skill or load
    table = equity_table(pool_id=pool.id, start=day, end=day, min_leads=0)
    assert not table.judged and not table.drifting
    [note] = strategy_notes(start=day, end=day)
    assert (note.pool_name, note.leads, note.busiest, note.busiest_share) == ("Inbound", 30, "Ann", 1.0)
    if strategy == "capacity_balanced":
        assert (note.load_low, note.load_high) == (0.0, 0.0)  # nobody holds an open lead
    else:
        assert note.load_low is None
