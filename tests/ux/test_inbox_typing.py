"""A rep typing a decline reason does not lose it when the offer list is redrawn (another offer
accepted, a new offer arriving by the poll), and long deadlines read in hours."""

from __future__ import annotations

import re

import pytest

from routing.models import Offer
from tests.conftest import login
from tests.reps.helpers import make_world, open_offer, route_new_lead

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_typed_decline_note_survives_an_accept_and_a_new_offer(live_server, page) -> None:  # noqa: ANN001
    world = make_world()
    first, second = (open_offer(route_new_lead(company=c)) for c in ("First Co", "Second Co"))
    login(page, live_server, world.primary.user.username)
    page.goto(f"{live_server.url}/inbox/")
    card = page.locator(f"#offer-{second.id}")
    card.get_by_label("Reason for declining").select_option("not_my_product")
    card.get_by_label("Note (optional)").fill("we only sell to hospitals")

    page.locator(f"#offer-{first.id}").get_by_role("button", name="Accept").click()
    page.locator(f"#offer-{first.id}").wait_for(state="detached")
    assert card.get_by_label("Note (optional)").input_value() == "we only sell to hospitals"

    third = open_offer(route_new_lead(company="Third Co"))  # the poll redraws the list
    page.locator(f"#offer-{third.id}").wait_for(timeout=30_000)
    assert card.get_by_label("Note (optional)").input_value() == "we only sell to hospitals"
    assert card.get_by_label("Reason for declining").input_value() == "not_my_product"

    card.get_by_role("button", name="Decline").click()
    card.wait_for(state="detached")
    second.refresh_from_db()
    assert (second.status, second.decline_reason, second.decline_note) == (
        Offer.Status.DECLINED, "not_my_product", "we only sell to hospitals",
    )  # fmt: skip


def test_a_deadline_hours_away_counts_down_in_hours(live_server, page) -> None:  # noqa: ANN001
    world = make_world(sla_minutes=300)  # accept within 60 % of 5 h = 3 h
    offer = open_offer(route_new_lead())
    login(page, live_server, world.primary.user.username)
    page.goto(f"{live_server.url}/inbox/")
    countdown = page.locator(f"#offer-{offer.id} .countdown")
    countdown.filter(has_text=re.compile(r"^[0-9]+ h [0-5][0-9] min left$")).wait_for()
