"""Ops builds a rule in the browser, tests a lead, publishes, routes API leads, restores."""

from __future__ import annotations

import json
import urllib.request

import pytest

from reps.models import Role
from routing import services
from routing.models import Lead
from tests.conftest import login
from tests.factories import (
    PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, SegmentFactory, make_token, user_with_role,
)  # fmt: skip

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def post_lead(live_server, token: str, external_id: str) -> int:  # noqa: ANN001
    body = json.dumps({"source": "web", "external_id": external_id, "country": "US", "state": "CA",
                       "product_line": "insurance", "value": 5000, "email": f"{external_id}@example.com"}).encode()  # fmt: skip
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/leads", data=body, method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request) as response:
        assert response.status == 201
        return json.loads(response.read())["id"]


def owner_of(lead_id: int) -> str:
    lead = Lead.objects.get(pk=lead_id)
    if lead.status == Lead.Status.PENDING:
        services.leads_route_all_pending()
        lead.refresh_from_db()
    offer = lead.offers.order_by("-offered_at").first()
    return offer.rep.display_name if offer else f"<{lead.status}>"


def test_ops_builds_tests_publishes_and_restores_a_rule(page, live_server) -> None:  # noqa: ANN001
    user_with_role(Role.OPS, "ops")
    SegmentFactory(slug="standard", name="Standard", is_default=True, sla_minutes=240)
    insurance, general = PoolFactory(name="Insurance"), PoolFactory(name="General")
    PoolMemberFactory(pool=insurance, rep=RepFactory(display_name="Ana Insurance"))
    PoolMemberFactory(pool=general, rep=RepFactory(display_name="Bob General"))
    RuleFactory(name="Everything", priority=100, pool=general)
    services.rule_publish(note="baseline")  # v1: every lead goes to General
    token = make_token()

    login(page, live_server, "ops")
    page.goto(f"{live_server.url}/ops/rules/new/")
    page.fill("input[name=name]", "Insurance CA")
    page.fill("input[name=priority]", "1")
    page.select_option("select[name=pool]", label="Insurance")
    for count in (1, 2):
        page.click("button[value=add_condition]")
        page.locator("input[name=cond_field]").nth(count - 1).wait_for()
    page.locator("input[name=cond_field]").nth(0).fill("state")
    page.locator("input[name=cond_value]").nth(0).fill("CA")
    page.locator("input[name=cond_field]").nth(1).fill("product_line")
    page.locator("input[name=cond_value]").nth(1).fill("insurance")
    # Fallback chain: pool General, then holding.
    page.click("button[value=add_fallback]")
    page.locator("select[name=fb_kind]").nth(1).wait_for()
    page.locator("select[name=fb_kind]").nth(0).select_option("pool")
    page.locator("select[name=fb_pool]").nth(0).select_option(label="General")
    page.click("button[value=save]")
    page.wait_for_url("**/ops/rules/")
    assert "Insurance CA" in page.locator("#rule-table").inner_text()

    # Dry run against the draft: the new rule matches and explains who gets the lead.
    page.goto(f"{live_server.url}/ops/test/")
    page.check("input[name=mode][value=draft]")
    page.fill("input[name=country]", "US")
    page.fill("input[name=state]", "CA")
    page.fill("input[name=product_line]", "insurance")
    page.fill("input[name=value]", "5000")
    leads_before = Lead.objects.count()
    page.click("#test-form button[type=submit]")
    result = page.locator("#test-result")
    result.get_by_text("Matching rule").wait_for()
    text = result.inner_text()
    assert "Insurance CA" in text and "Ana Insurance" in text and "eligible" in text
    assert "offer to Ana Insurance" in page.locator("#test-outcome").inner_text()
    assert Lead.objects.count() == leads_before

    # Live routing still uses v1 until we publish.
    assert owner_of(post_lead(live_server, token, "before-publish")) == "Bob General"

    page.goto(f"{live_server.url}/ops/versions/")
    page.fill("input[name=note]", "Insurance leads in CA go to the insurance pool")
    page.click("#publish-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "Published version 2" in page.content()
    assert owner_of(post_lead(live_server, token, "after-publish")) == "Ana Insurance"

    # Restoring v1 routes the next lead as before.
    page.click("text=Restore published version 1")
    page.wait_for_load_state("networkidle")
    assert "Version 1 restored and published as version 3" in page.content()
    assert owner_of(post_lead(live_server, token, "after-restore")) == "Bob General"


def test_a_fallback_step_shows_only_the_target_its_kind_needs(page, live_server) -> None:  # noqa: ANN001
    user_with_role(Role.OPS, "ops")
    PoolFactory(name="Overflow")
    RepFactory(display_name="Bea Backup")
    csp_errors: list[str] = []
    page.on("console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    login(page, live_server, "ops")
    page.goto(f"{live_server.url}/ops/rules/new/")
    row = page.locator("#fallback-row-0")
    assert row.locator("select[name=fb_pool], select[name=fb_rep]").count() == 0  # holding needs no target

    page.select_option("#fb-kind-0", "backup")
    page.locator("#fallback-row-0[data-kind=backup]").wait_for()
    row.locator("select[name=fb_rep]").select_option(label="Bea Backup")
    assert row.locator("select[name=fb_pool]").count() == 0

    page.select_option("#fb-kind-0", "pool")
    page.locator("#fallback-row-0[data-kind=pool]").wait_for()
    assert row.locator("select[name=fb_rep]").count() == 0
    row.locator("select[name=fb_pool]").select_option(label="Overflow")
    page.select_option("#fb-kind-0", "manager")
    page.locator("#fallback-row-0[data-kind=manager]").wait_for()
    assert row.locator("select").count() == 1 and "pool's manager" in row.inner_text()
    assert csp_errors == []
