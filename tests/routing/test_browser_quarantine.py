"""Ops find a lead routing could not handle on the home page, read its error on the lead page and
route it again with the button: Chromium driven by Playwright against the live server."""

from __future__ import annotations

import pytest

from reps.models import Role
from routing import engine, services
from routing.models import Lead
from tests.conftest import login
from tests.factories import LeadFactory, PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, user_with_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ops_see_a_quarantined_lead_and_route_it_again(live_server, page, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    user_with_role(Role.OPS, username="olga")
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=RepFactory(display_name="Ann Able"))
    RuleFactory(pool=pool)
    services.rule_publish()
    good, bad = LeadFactory(company="Good Co"), LeadFactory(company="Broken Co")
    real = engine.route

    def route(lead, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if lead.id == bad.id:
            raise ZeroDivisionError("engine bug on this lead")
        return real(lead, *args, **kwargs)

    monkeypatch.setattr(engine, "route", route)
    services.leads_route_all_pending()
    assert Lead.objects.get(id=good.id).status == Lead.Status.OFFERED

    page.set_viewport_size({"width": 390, "height": 844})
    login(page, live_server, "olga")
    page.goto(f"{live_server.url}/dash/")
    section = page.locator("#quarantine")
    assert "1 set aside" in section.inner_text() and "ZeroDivisionError" in section.inner_text()
    section.get_by_role("link", name=f"#{bad.id}").click()
    page.wait_for_load_state("networkidle")
    assert "engine bug on this lead" in page.locator("#lead-quarantine").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling

    monkeypatch.undo()  # the bug is fixed
    page.get_by_role("button", name="Route this lead again").click()
    page.wait_for_load_state("networkidle")
    assert "back in the queue" in page.locator(".messages").inner_text()
    assert Lead.objects.get(id=bad.id).status == Lead.Status.OFFERED
    assert page.locator("#lead-quarantine").count() == 0
