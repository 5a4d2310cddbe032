"""A rep's whole day in Chromium, on a laptop (1366 px) and a phone (390 px): the page never gets
wider than the screen and every action is on screen and works (issue 15).

Accept, decline with a reason, converted, closed lost, hand back, a new offer arriving (at the
top, highlighted, counted in the tab title) and "Away now" with its confirmation (how many offers
and their value) are each done with the mouse, and checked in the database.
"""

from __future__ import annotations

import re

import pytest

from reps.templatetags.inbox_tags import countdown
from routing import services
from routing.models import Lead, Offer
from tests.conftest import login
from tests.reps.helpers import make_world, open_offer, route_new_lead

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = [1366, 390]


def _fits(page, width: int) -> None:  # noqa: ANN001
    """The document is no wider than the viewport: nothing is cut off or needs sideways scrolling."""
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll} px wide in a {width} px window"


def _reachable(locator, width: int) -> None:  # noqa: ANN001
    """A control is visible and entirely inside the window horizontally."""
    locator.scroll_into_view_if_needed()
    assert locator.is_visible()
    box = locator.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (box, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_rep_can_do_every_inbox_action_without_the_page_overflowing(live_server, browser, width: int) -> None:  # noqa: ANN001
    world = make_world(pool_size=1)
    owned = []
    for name in ("Converts", "Loses", "Returns"):
        lead = route_new_lead(value="8000", company=f"{name} Inc")
        services.offer_accept(offer_id=open_offer(lead).id, rep=world.primary)
        owned.append(lead)
    to_decline = route_new_lead(value="4000", first_name="", last_name="", company="", email="", source="webinar")
    to_accept = route_new_lead(value="12000", company="Acceptable Ltd")
    for i in (1, 2):
        route_new_lead(value="250000", company=f"Whale {i}")

    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        login(page, live_server, world.primary.user.username)
        page.goto(f"{live_server.url}/inbox/")
        _fits(page, width)
        assert page.title().startswith("(4) Inbox")

        # A lead without a name is titled by where it came from, never by its external id.
        decline_card = page.locator(f"#offer-{open_offer(to_decline).id}")
        assert decline_card.locator(".lead-name").inner_text() == "Lead from webinar"
        assert to_decline.external_id not in decline_card.inner_text()
        assert "Why it came to you: You were next in the rotation for High intent pool" in decline_card.inner_text()

        # A new offer arrives: at the top, highlighted, counted in the tab title, and a chime if asked for.
        page.get_by_label("Sound for new offers").check()  # chimes once to confirm (a click lets audio play)
        page.wait_for_function("document.body.dataset.chimes === '1'")
        route_new_lead(value="9000", company="Newcomer GmbH")
        first = page.locator("#inbox-offers .offer").first
        first.filter(has_text="Newcomer GmbH").wait_for()
        page.locator("#inbox-offers .offer.is-new", has_text="Newcomer GmbH").wait_for()  # highlighted once settled
        assert page.locator("#inbox-offers .offer.is-new").count() == 1  # only the new one
        page.wait_for_function("document.title.startsWith('(5) Inbox')")
        page.wait_for_function("document.body.dataset.chimes === '2'")
        _fits(page, width)

        # Accept.
        card = page.locator(f"#offer-{open_offer(to_accept).id}")
        _reachable(card.get_by_role("button", name="Accept"), width)
        card.get_by_role("button", name="Accept").click()
        card.wait_for(state="detached")
        page.locator(f"#lead-{to_accept.id}").wait_for()
        _fits(page, width)

        # Decline with a reason and a note.
        decline_offer = open_offer(to_decline)
        for control in ("select[name=reason]", "input[name=note]"):
            _reachable(decline_card.locator(control), width)
        _reachable(decline_card.get_by_role("button", name="Decline"), width)
        decline_card.locator("select[name=reason]").select_option("not_my_product")
        decline_card.locator("input[name=note]").fill("we only sell life cover")
        decline_card.get_by_role("button", name="Decline").click()
        decline_card.wait_for(state="detached")
        decline_offer.refresh_from_db()
        assert (decline_offer.status, decline_offer.decline_reason) == (Offer.Status.DECLINED, "not_my_product")

        # Converted, closed lost and hand back on the accepted leads.
        converts, loses, returns = owned
        for lead, button in ((converts, "Converted"), (loses, "Closed lost")):
            row = page.locator(f"#lead-{lead.id}")
            _reachable(row.get_by_role("button", name=button), width)
            row.get_by_role("button", name=button).click()
            row.wait_for(state="detached")
            _fits(page, width)
        row = page.locator(f"#lead-{returns.id}")
        _reachable(row.locator("input[name=note]"), width)
        _reachable(row.get_by_role("button", name="Hand back"), width)
        row.locator("input[name=note]").fill("customer wants a Spanish speaker")
        row.get_by_role("button", name="Hand back").click()
        row.wait_for(state="detached")
        statuses = dict(Lead.objects.filter(id__in=[lead.id for lead in owned]).values_list("id", "status"))
        assert statuses[converts.id] == Lead.Status.CONVERTED and statuses[loses.id] == Lead.Status.CLOSED_LOST
        assert not Lead.objects.filter(id=returns.id, owner=world.primary, status=Lead.Status.ACCEPTED).exists()

        # Away now asks first, naming how many offers it releases and what they are worth.
        open_ids = list(Offer.objects.filter(rep=world.primary, status=Offer.Status.OPEN).values_list("id", flat=True))
        assert len(open_ids) == 3  # the two whales and the newcomer
        away = page.get_by_role("button", name="Away now")
        _reachable(away, width)
        away.click()
        question = page.locator("#inbox-away [role=alertdialog]")
        question.wait_for()
        assert "releases your 3 open offers, worth USD 509,000 in total" in question.inner_text()
        assert Offer.objects.filter(id__in=open_ids, status=Offer.Status.OPEN).count() == 3  # nothing changed yet
        _fits(page, width)
        confirm = question.get_by_role("button", name="Go away and release 3 offers")
        _reachable(confirm, width)
        confirm.click()
        page.locator("#inbox-away.is-away").wait_for()
        page.locator("#inbox-offers .offer").first.wait_for(state="detached")
        assert not Offer.objects.filter(id__in=open_ids, status=Offer.Status.OPEN).exists()
        _fits(page, width)
    finally:
        context.close()


def test_cancelling_away_keeps_the_offers_and_the_countdown_keeps_the_servers_format(live_server, page) -> None:  # noqa: ANN001
    world = make_world()
    lead = route_new_lead(value="250000")
    offer = open_offer(lead)
    login(page, live_server, world.primary.user.username)

    # The server's text, before any script runs, and the script's text for the same seconds.
    html = page.request.get(f"{live_server.url}/inbox/").text()
    served = re.search(r'class="countdown[^"]*"[^>]*>([^<]+)</span>', html).group(1)
    assert re.fullmatch(r"[0-9]+:[0-5][0-9] left", served), served
    page.goto(f"{live_server.url}/inbox/")
    samples = [0, 5, 59, 60, 61, 599, 3599, 3600, 3661, 7325, 86399, 90061]
    assert page.evaluate("s => s.map(window.LeadOpsInbox.format)", samples) == [countdown(s) for s in samples]

    page.get_by_role("button", name="Away now").click()
    page.locator("#inbox-away [role=alertdialog]").get_by_text("worth USD 250,000").wait_for()
    page.get_by_role("link", name="Cancel: stay available").click()
    page.get_by_role("button", name="Away now").wait_for()
    offer.refresh_from_db()
    world.primary.refresh_from_db()
    assert offer.status == Offer.Status.OPEN and world.primary.away_until is None
