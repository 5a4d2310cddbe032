"""Decision explorer, CSV export, and the lead timeline built from the real routing path."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from routing.models import Decision, Lead, Offer
from routing.services import leads_route_all_pending, offer_decline, offers_expire_due
from tests.dashboards.helpers import cand, make_decision, noon
from tests.factories import (
    LeadFactory,
    PoolFactory,
    PoolMemberFactory,
    RepFactory,
    RepSkillFactory,
    RuleFactory,
    SkillFactory,
)


def _fill(pool, reps, n: int, days_ago: int = 0) -> None:  # noqa: ANN001
    for i in range(n):
        make_decision(pool=pool, chosen=reps[i % 2], at=noon(days_ago), candidates=[cand(r) for r in reps])


def test_explorer_filters_by_rep_and_links_each_lead(ops_client: Client, pool_of_three) -> None:  # noqa: ANN001
    pool, reps = pool_of_three
    _fill(pool, reps, 6)
    html = ops_client.get(f"/dash/decisions/?rep={reps[1].id}").content.decode()
    leads = {d.lead_id for d in Decision.objects.filter(chosen_rep=reps[1])}
    other = Decision.objects.filter(chosen_rep=reps[0]).first().lead_id
    assert all(f"/dash/leads/{lead}/" in html for lead in leads)
    assert f"/dash/leads/{other}/" not in html


def test_explorer_pages_by_keyset_without_repeating_rows(ops_client: Client, pool_of_three) -> None:  # noqa: ANN001
    pool, reps = pool_of_three
    _fill(pool, reps, 60)
    from routing.dashboards.selectors import DecisionFilters, decisions_page

    first = decisions_page(DecisionFilters(pool_id=pool.id), limit=50)
    second = decisions_page(DecisionFilters(pool_id=pool.id), cursor=first.next_cursor, limit=50)
    ids = [r["id"] for r in first.rows] + [r["id"] for r in second.rows]
    assert len(first.rows) == 50 and len(second.rows) == 10 and second.next_cursor is None
    assert len(set(ids)) == 60
    html = ops_client.get(f"/dash/decisions/?pool={pool.id}&cursor={first.next_cursor}", headers={"HX-Request": "true"}).content.decode()
    assert html.count("/dash/leads/") == 10


def test_explorer_htmx_request_gets_only_the_table(ops_client: Client, pool_of_three) -> None:  # noqa: ANN001
    pool, reps = pool_of_three
    _fill(pool, reps, 3)
    html = ops_client.get("/dash/decisions/?outcome=offer", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in html and html.strip().startswith('<div id="decision-table">')


def test_explorer_rejects_a_bad_filter_in_the_fragment(ops_client: Client) -> None:
    html = ops_client.get("/dash/decisions/?pool=abc", headers={"HX-Request": "true"}).content.decode()
    assert 'id="decision-table"' in html and "Enter a whole number" in html


@pytest.mark.parametrize("url", ["/dash/decisions/", "/dash/decisions/?outcome=offer&start=2020-01-01", "/dash/decisions/export.csv"])
def test_explorer_query_count_does_not_grow_with_rows(
    ops_client: Client, pool_of_three, django_assert_num_queries, url: str  # noqa: ANN001
) -> None:
    pool, reps = pool_of_three
    _fill(pool, reps, 10)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        b"".join(ops_client.get(url).streaming_content) if "csv" in url else ops_client.get(url)
    _fill(pool, reps, 190, days_ago=1)
    with django_assert_num_queries(len(ctx.captured_queries)):
        response = ops_client.get(url)
        if response.streaming:
            b"".join(response.streaming_content)


def test_decision_csv_streams_the_filtered_rows(ops_client: Client, pool_of_three) -> None:  # noqa: ANN001
    pool, reps = pool_of_three
    _fill(pool, reps, 5)
    response = ops_client.get(f"/dash/decisions/export.csv?rep={reps[0].id}")
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 3 and {r["Rep id"] for r in rows} == {str(reps[0].id)}


@pytest.mark.django_db
def test_lead_page_explains_why_not_each_rep_and_shows_escalation(ops_client: Client) -> None:
    pool = PoolFactory(name="Auto")
    ann, bob, cat = (RepFactory(display_name=n) for n in ("Ann Able", "Bob Busy", "Cat Cannot"))
    skill = SkillFactory(code="auto")
    RepSkillFactory(rep=ann, skill=skill)
    RepSkillFactory(rep=bob, skill=skill)
    for rep in (ann, bob, cat):
        PoolMemberFactory(pool=pool, rep=rep)
    rule = RuleFactory(pool=pool, name="Auto inbound", requirements={"skills": [{"skill": "product:auto"}]})
    lead = LeadFactory(received_at=noon(0))
    leads_route_all_pending(now=noon(0))
    first = Offer.objects.get(lead=lead)
    offer_decline(offer_id=first.id, rep=first.rep, reason=Offer.DeclineReason.NO_CAPACITY, now=noon(0))
    leads_route_all_pending(now=noon(0))
    second = Offer.objects.get(lead=lead, status=Offer.Status.OPEN)
    assert second.rep != first.rep

    html = ops_client.get(f"/dash/leads/{lead.id}/").content.decode()
    decision = Decision.objects.filter(lead=lead).first()
    assert f"/ops/rules/{rule.id}/history/?version={decision.rule_history_id}" in html
    assert "Cat Cannot" in html and "missing a required skill" in html
    assert "already declined this lead" in html  # the escalation skipped the decliner
    assert "No capacity right now" in html and "escalation step 1" in html
    assert html.count('class="card event-decision"') == 2
    assert Lead.objects.get(id=lead.id).owner == second.rep


@pytest.mark.django_db
def test_lead_page_query_count_does_not_grow_with_history(ops_client: Client, django_assert_num_queries) -> None:
    pool = PoolFactory()
    reps = [RepFactory() for _ in range(3)]
    for rep in reps:
        PoolMemberFactory(pool=pool, rep=rep)
    lead = LeadFactory()
    make_decision(pool=pool, chosen=reps[0], at=noon(0), lead=lead, candidates=[cand(r) for r in reps])
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        ops_client.get(f"/dash/leads/{lead.id}/")
    for _ in range(8):
        make_decision(pool=pool, chosen=reps[1], at=noon(0), lead=lead, candidates=[cand(r) for r in reps])
    with django_assert_num_queries(len(ctx.captured_queries)):
        ops_client.get(f"/dash/leads/{lead.id}/")


@pytest.mark.django_db
def test_expired_offers_count_as_escalated_on_the_sla_page(ops_client: Client) -> None:
    import datetime as dt

    pool = PoolFactory()
    ann, bob = RepFactory(display_name="Ann"), RepFactory(display_name="Bob")
    PoolMemberFactory(pool=pool, rep=ann)
    PoolMemberFactory(pool=pool, rep=bob)
    RuleFactory(pool=pool)
    start = noon(0) - dt.timedelta(hours=2)
    for _ in range(2):
        LeadFactory(received_at=start)
    leads_route_all_pending(now=start)
    offers = list(Offer.objects.order_by("id"))
    from routing.services import offer_accept

    offer_accept(offer_id=offers[0].id, rep=offers[0].rep, now=start + dt.timedelta(minutes=2))
    offers_expire_due(now=start + dt.timedelta(hours=1))
    leads_route_all_pending(now=start + dt.timedelta(hours=1))  # the expired lead goes to the other rep

    from routing.dashboards.selectors import sla_outcomes

    rows = {r.label: r for r in sla_outcomes(start=start, end=start + dt.timedelta(days=1), by="rep")}
    total_offered = sum(r.offered for r in rows.values())
    assert total_offered == 3
    assert sum(r.expired for r in rows.values()) == 1
    assert sum(r.escalated for r in rows.values()) == 2  # the expired offer and the step-1 re-offer
    accepted = rows[offers[0].rep.display_name]
    assert accepted.accepted_in_time == 1 and accepted.median_seconds == 120
    html = ops_client.get("/dash/sla/?by=rep&window=7d").content.decode()
    assert 'id="sla-table"' in html and "2 min 00 s" in html


@pytest.mark.django_db
def test_sla_median_and_p90_interpolate_like_percentile_cont() -> None:
    import datetime as dt

    from routing.dashboards.selectors import sla_outcomes

    rep = RepFactory(display_name="Quick")
    start = noon(0)
    for i, wait in enumerate((10, 20, 30, 40, 50)):
        Offer.objects.create(
            lead=LeadFactory(), rep=rep, status=Offer.Status.ACCEPTED, offered_at=start + dt.timedelta(minutes=i),
            deadline=start + dt.timedelta(hours=1), decided_at=start + dt.timedelta(minutes=i, seconds=wait), step=0,
        )  # fmt: skip
    Offer.objects.create(lead=LeadFactory(), rep=rep, status=Offer.Status.DECLINED, offered_at=start, deadline=start, step=1)
    (row,) = sla_outcomes(start=start, end=start + dt.timedelta(days=1), by="rep")
    assert (row.offered, row.accepted_in_time, row.declined, row.escalated) == (6, 5, 1, 1)
    assert row.median_seconds == pytest.approx(30.0)
    assert row.p90_seconds == pytest.approx(46.0)


@pytest.mark.django_db
def test_lead_page_and_explorer_show_steps_outcomes_and_relaxed_criteria_in_words(ops_client: Client) -> None:
    pool = PoolFactory(name="Auto")
    PoolMemberFactory(pool=pool, rep=RepFactory(display_name="Nora Noskill"))
    RuleFactory(
        pool=pool, name="Auto strict", requirements={"skills": [{"skill": "product:auto", "min_level": 2}]},
        relaxation=["skill_level", "working_hours"], fallback=[{"kind": "relax"}, {"kind": "holding"}],
    )  # fmt: skip
    lead = LeadFactory(received_at=noon(0))
    leads_route_all_pending(now=noon(0))
    assert Lead.objects.get(id=lead.id).status == Lead.Status.HOLDING

    html = ops_client.get(f"/dash/leads/{lead.id}/").content.decode()
    assert 'title="holding">held in the holding pool</strong>' in html
    assert "holding (holding)" not in html and "via holding pool" not in html  # the step repeats the outcome
    assert '<span title="primary">Rule&#x27;s pool</span>' in html
    assert 'Relaxed criteria</span> (<span title="skill_level, working_hours">skill level, working hours</span>)' in html
    assert 'title="missing_skill">missing a required skill' in html
    assert '<span title="route">Routing</span> decision' in html

    table = ops_client.get("/dash/decisions/?outcome=holding", headers={"HX-Request": "true"}).content.decode()
    assert "Held in the holding pool</td>" in table and 'title="outcome holding, step holding"' in table
    assert '<td title="route">Routing</td>' in table


@pytest.mark.django_db
def test_explorer_names_the_fallback_step_that_made_an_offer(ops_client: Client) -> None:
    pool = PoolFactory(name="Empty")
    backup = RepFactory(display_name="Bea Backup")
    RuleFactory(pool=pool, fallback=[{"kind": "backup", "target_id": backup.id}, {"kind": "holding"}])
    lead = LeadFactory(received_at=noon(0))
    leads_route_all_pending(now=noon(0))
    table = ops_client.get(f"/dash/decisions/?lead={lead.id}", headers={"HX-Request": "true"}).content.decode()
    assert 'title="outcome offer, step backup">Offered <span class="muted">via backup rep</span>' in table
    page = ops_client.get(f"/dash/leads/{lead.id}/").content.decode()
    assert 'via <span title="backup">backup rep</span>' in page  # the offer event
