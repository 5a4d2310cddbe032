"""A manager reads the equity page, widens the window, spots the drifting rep, and reads why a
lead went where it did: Chromium driven by Playwright against the live server."""

from __future__ import annotations

import pytest

from reps.models import Role
from routing.models import Decision
from routing.services import leads_route_all_pending
from tests.conftest import login
from tests.dashboards.helpers import cand, make_decision, noon
from tests.factories import (
    LeadFactory,
    PoolFactory,
    PoolMemberFactory,
    RepFactory,
    RepSkillFactory,
    RuleFactory,
    SkillFactory,
    TeamFactory,
    user_with_role,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_spots_drift_after_widening_the_window_and_reads_a_leads_why(live_server, page) -> None:  # noqa: ANN001
    team = TeamFactory(name="Auto")
    RepFactory(display_name="Maria", user=user_with_role(Role.MANAGER, username="maria"), team=team)  # manages the team
    pool = PoolFactory(name="Auto inbound")
    ann, bob, cat = (RepFactory(display_name=n, team=team) for n in ("Ann Able", "Bob Brisk", "Cat Nope"))
    skill = SkillFactory(code="auto")
    for rep in (ann, bob):
        RepSkillFactory(rep=rep, skill=skill)
    for rep in (ann, bob, cat):
        PoolMemberFactory(pool=pool, rep=rep)
    RuleFactory(pool=pool, name="Auto leads", requirements={"skills": [{"skill": "product:auto"}]})
    # Three weeks ago Ann got all 24 leads although Bob could have taken half of them (enough
    # leads for the pool to be judged: LEADOPS_DRIFT_MIN_LEADS is 20).
    for _ in range(24):
        make_decision(pool=pool, chosen=ann, at=noon(20), candidates=[cand(ann), cand(bob)])
    # Today two leads went through the real router: one each, fair.
    for _ in range(2):
        LeadFactory(received_at=noon(0))
    leads_route_all_pending(now=noon(0))
    lead_id = Decision.objects.filter(created_at=noon(0)).order_by("id").first().lead_id

    login(page, live_server, "maria")
    page.goto(f"{live_server.url}/dash/equity/?pool={pool.id}&window=7d")
    assert page.locator("#equity-table tr.drift").count() == 0
    assert page.locator("svg.share-chart").is_visible()

    page.select_option("select[name=window]", "30d")
    page.wait_for_selector("#equity-table tr.drift")
    drifting = page.locator("#equity-table tr.drift")
    assert drifting.count() >= 1 and "Ann Able" in drifting.first.inner_text()
    assert page.locator("svg.share-chart rect.bar.drift").count() >= 1
    # Days without leads are gaps: a lone day is a dot, consecutive days a line.
    assert page.locator("svg.deviation-chart polyline, svg.deviation-chart circle.series-dot").count() >= 1
    assert "window=30d" in page.url

    page.goto(f"{live_server.url}/dash/decisions/?pool={pool.id}")
    page.click(f"a[href='/dash/leads/{lead_id}/']")
    page.wait_for_selector("#lead-timeline")
    timeline = page.locator("#lead-timeline").inner_text()
    assert "Auto leads" in timeline
    assert "Cat Nope" in timeline and "missing a required skill" in timeline
    assert "chosen" in timeline
