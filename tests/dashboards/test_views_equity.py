"""Equity page, its HTMX fragment, drift, charts, CSV, home alerts, and flat query counts."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.db import connection

from routing.engine.types import Reason
from tests.dashboards.helpers import cand, make_decision, noon


def _skewed(pool, reps, n: int, days_ago: int = 0) -> None:  # noqa: ANN001
    """Every lead goes to Ann although Ann, Bob and Cat (weight 2) were all eligible."""
    ann, bob, cat = reps
    for _ in range(n):
        make_decision(pool=pool, chosen=ann, at=noon(days_ago), candidates=[cand(ann), cand(bob), cand(cat, 2)])


def test_equity_page_shows_shares_chart_and_highlights_drift(ops_client: Client, pool_of_three) -> None:  # noqa: ANN001
    pool, reps = pool_of_three
    _skewed(pool, reps, 24)  # past the minimum number of leads a pool needs to be judged
    response = ops_client.get(f"/dash/equity/?pool={pool.id}&window=today")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in html and "share-chart" in html and "deviation-chart" in html
    assert 'class="drift" data-rep="%d"' % reps[0].id in html
    assert 'class="bar drift" data-rep="%d"' % reps[0].id in html
    assert "drifting" in html


def test_equity_window_excludes_older_days(ops_client: Client, pool_of_three) -> None:  # noqa: ANN001
    pool, reps = pool_of_three
    _skewed(pool, reps, 3, days_ago=10)
    today = ops_client.get(f"/dash/equity/?pool={pool.id}&window=today").content.decode()
    month = ops_client.get(f"/dash/equity/?pool={pool.id}&window=30d").content.decode()
    assert "0 leads offered" in today
    assert "3 leads offered" in month


def test_custom_window_needs_both_dates(ops_client: Client, pool_of_three) -> None:  # noqa: ANN001
    pool, _ = pool_of_three
    response = ops_client.get(f"/dash/equity/?pool={pool.id}&window=custom&start=2026-01-01", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "needs a start and an end" in response.content.decode()


def test_equity_htmx_request_gets_only_the_panel(ops_client: Client, pool_of_three) -> None:  # noqa: ANN001
    pool, reps = pool_of_three
    _skewed(pool, reps, 2)
    response = ops_client.get(f"/dash/equity/?pool={pool.id}&window=7d", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html
    assert html.strip().startswith('<div id="equity-panel">')
    assert "<svg" in html
    assert "HX-Request" in response["Vary"]


def test_equity_csv_has_every_rep_with_its_expectation(ops_client: Client, pool_of_three) -> None:  # noqa: ANN001
    pool, reps = pool_of_three
    _skewed(pool, reps, 24)
    response = ops_client.get(f"/dash/equity/export.csv?pool={pool.id}&window=today")
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_name = {r["rep"]: r for r in rows}
    assert set(by_name) == {"Ann", "Bob", "Cat"}
    assert by_name["Cat"]["expected"] == "12.000" and by_name["Ann"]["assigned"] == "24"
    assert by_name["Ann"]["owed_now"] == "0.000"  # these rows were not routed: no live account
    assert by_name["Ann"]["drift"] == "1" and by_name["Cat"]["target_share"] == "0.5000"


def test_home_lists_drifting_reps(ops_client: Client, pool_of_three) -> None:  # noqa: ANN001
    pool, reps = pool_of_three
    _skewed(pool, reps, 24)
    html = ops_client.get("/dash/").content.decode()
    assert 'id="drift-alerts"' in html and "Ann" in html and "Inbound" in html


def test_home_waits_for_the_minimum_number_of_leads(ops_client: Client, pool_of_three) -> None:  # noqa: ANN001
    pool, reps = pool_of_three
    _skewed(pool, reps, 4)  # 4 of 4 to Ann: too few leads to judge the pool
    assert "No rep drifts" in ops_client.get("/dash/").content.decode()


def test_home_has_no_alert_when_distribution_follows_eligibility(ops_client: Client, pool_of_three) -> None:  # noqa: ANN001
    pool, (ann, bob, cat) = pool_of_three
    # Cat was absent, Ann and Bob shared evenly: fair.
    for chosen in (ann, bob):
        make_decision(pool=pool, chosen=chosen, at=noon(0), candidates=[cand(ann), cand(bob), cand(cat, 2, Reason.ABSENT)])
    assert "No rep drifts" in ops_client.get("/dash/").content.decode()


def _count(client: Client, url: str, **kwargs) -> int:  # noqa: ANN003
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, **kwargs).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", ["/dash/equity/?pool={pool}&window=30d", "/dash/", "/dash/equity/export.csv?pool={pool}"])
def test_equity_query_count_does_not_grow_with_decisions(
    ops_client: Client, pool_of_three, django_assert_num_queries, url: str  # noqa: ANN001
) -> None:
    pool, reps = pool_of_three
    url = url.format(pool=pool.id)
    _skewed(pool, reps, 3)
    ops_client.get(url)  # create the watermark row, fold the first decisions
    _skewed(pool, reps, 10)
    small = _count(ops_client, url)  # folds a tail of 10
    for days_ago in range(10):
        _skewed(pool, reps, 20, days_ago=days_ago)
    with django_assert_num_queries(small):  # folds a tail of 200 over 10 days
        response = ops_client.get(url)
        if response.streaming:
            b"".join(response.streaming_content)
