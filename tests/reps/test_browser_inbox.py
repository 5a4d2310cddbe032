"""Playwright drives Chromium through the inbox: offers appear by themselves, accept, decline, expiry."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from routing import services
from routing.models import Lead, Offer
from tests.conftest import login
from tests.reps.helpers import make_world, open_offer, route_new_lead

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _watch_csp(page) -> list[str]:  # noqa: ANN001
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    return errors


def test_a_new_offer_appears_by_itself_and_can_be_accepted(live_server, page) -> None:  # noqa: ANN001
    world = make_world()
    csp_errors = _watch_csp(page)
    login(page, live_server, world.primary.user.username)
    page.goto(f"{live_server.url}/inbox/")
    page.get_by_text("No offers right now").wait_for()

    lead = route_new_lead(value="42000", company="Acme Rockets")  # arrives after the page is open
    card = page.locator(f"#offer-{open_offer(lead).id}")
    card.wait_for(timeout=30_000)
    assert "Acme Rockets" in card.inner_text()
    page.get_by_text("No offers right now").wait_for(state="hidden")  # the note follows the cards
    assert page.locator("#inbox-have").get_attribute("value") == str(open_offer(lead).id)
    card.locator(".countdown", has_text=re.compile(r"^[0-9]+:[0-5][0-9] left$")).wait_for()  # inbox.js is ticking

    card.get_by_role("button", name="Accept").click()
    card.wait_for(state="detached")
    page.locator(f"#lead-{lead.id}").wait_for()
    lead.refresh_from_db()
    assert (lead.status, lead.owner) == (Lead.Status.ACCEPTED, world.primary)
    assert csp_errors == []


def test_declining_with_a_reason_removes_the_offer(live_server, page) -> None:  # noqa: ANN001
    world = make_world()
    lead = route_new_lead()
    offer = open_offer(lead)
    login(page, live_server, world.primary.user.username)
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.post_data or "") if request.method == "POST" else None)
    page.goto(f"{live_server.url}/inbox/")
    card = page.locator(f"#offer-{offer.id}")
    card.locator("select[name=reason]").select_option("not_my_product")
    card.locator("input[name=note]").fill("we do not sell boats")
    card.get_by_role("button", name="Decline").click()
    card.wait_for(state="detached")
    offer.refresh_from_db()
    assert (offer.status, offer.decline_reason, offer.decline_note) == (
        Offer.Status.DECLINED, "not_my_product", "we do not sell boats",
    )  # fmt: skip
    # The region's own ask carries the ids it shows; the forms inside it do not inherit that.
    assert len(posts) == 1 and "reason=not_my_product" in posts[0] and "have=" not in posts[0]


def test_an_expired_offer_leaves_the_inbox_and_reaches_the_next_rep(live_server, browser) -> None:  # noqa: ANN001
    world = make_world()
    lead = route_new_lead()
    offer = open_offer(lead)
    primary_ctx, backup_ctx = browser.new_context(), browser.new_context()
    try:
        primary, backup = primary_ctx.new_page(), backup_ctx.new_page()
        for pg in (primary, backup):
            pg.set_default_timeout(15_000)
        login(primary, live_server, world.primary.user.username)
        login(backup, live_server, world.backup.user.username)
        primary.goto(f"{live_server.url}/inbox/")
        backup.goto(f"{live_server.url}/inbox/")
        primary.locator(f"#offer-{offer.id}").wait_for()

        # The deadline passes (moved to the past here rather than waiting three minutes)...
        Offer.objects.filter(id=offer.id).update(deadline=timezone.now() - dt.timedelta(seconds=1))
        primary.locator(f"#offer-{offer.id}").wait_for(state="detached")
        # ...and the sweeper escalates it down the chain, to the backup rep.
        assert services.offers_expire_due() == 1
        lead.refresh_from_db()
        assert lead.owner == world.backup
        backup.locator(f"#offer-{open_offer(lead).id}").wait_for()
    finally:
        primary_ctx.close()
        backup_ctx.close()
