"""The rep inbox: page and fragments, actions, refusals and the query budget."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from reps import selectors
from reps.models import Role
from reps.selectors import AWAY_UNTIL_BACK
from routing import services as routing_services
from routing.models import Lead, Offer
from tests.factories import AbsenceFactory, RepFactory, user_with_role
from tests.reps.helpers import make_world, open_offer, route_new_lead

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _client_for(rep) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(rep.user)
    return client


def test_inbox_shows_the_offer_with_the_facts_and_why(client: Client) -> None:
    world = make_world(value_threshold="1000")
    lead = route_new_lead(value="25000", postal_code="94107", source="partner-x")
    response = _client_for(world.primary).get("/inbox/")
    html = response.content.decode()
    assert response.status_code == 200
    for fact in ("USD 25,000", "High intent", "partner-x", "US / CA / 94107", "High value", "data-seconds="):
        assert fact in html
    # Why, in the rep's words rather than the engine's summary ("weighted fair, owed 1.00 leads").
    assert "Why it came to you:</span> You were next in the rotation for High intent pool" in html
    assert escape(open_offer(lead).decision.summary) not in html
    assert f'href="/inbox/leads/{lead.id}/"' in html
    assert 'src="/static/js/inbox.js"' in html


def _have(html: str) -> str:
    """The ids an open inbox shows, as its hidden #inbox-have input carries them."""
    return html.split('id="inbox-have" name="have" value="')[1].split('"')[0]


def _ask(client: Client, have: str):  # noqa: ANN202
    """What the open inbox sends on a push or a poll."""
    return client.get("/inbox/", {"have": have}, HTTP_HX_TARGET="inbox-offers", **HX)


def test_an_open_inbox_gets_only_what_changed_or_no_content() -> None:
    world = make_world(pool_size=1)
    first = route_new_lead()
    client = _client_for(world.primary)
    region = client.get("/inbox/", HTTP_HX_TARGET="inbox-offers", **HX).content.decode()
    assert 'id="inbox-offers"' in region and "<html" not in region
    assert 'hx-trigger="sse:inbox, inbox-poll"' in region and 'hx-swap="none"' in region
    first_offer = open_offer(first)
    assert _have(region) == str(first_offer.id)

    assert _ask(client, _have(region)).status_code == 204  # nothing new: nothing to swap

    second_offer = open_offer(route_new_lead())
    changed = _ask(client, _have(region))
    html = changed.content.decode()
    assert changed.status_code == 200
    assert html.count('class="card offer"') == 1 and f'id="offer-{second_offer.id}"' in html  # only the new card
    assert 'hx-swap-oob="afterbegin:#offer-cards"' in html
    assert _have(html) == f"{second_offer.id},{first_offer.id}"  # newest first, as the page lists them

    routing_services.offer_decline(offer_id=first_offer.id, rep=world.primary, reason="not_my_product")
    gone = _ask(client, _have(html)).content.decode()
    assert f'<div id="offer-{first_offer.id}" hx-swap-oob="delete"></div>' in gone
    assert 'class="card offer"' not in gone and _have(gone) == str(second_offer.id)


def test_a_pushed_offer_renders_one_card_however_many_are_open(django_assert_max_num_queries) -> None:
    world = make_world(pool_size=1)
    for _ in range(6):
        route_new_lead()
    client = _client_for(world.primary)
    have = _have(client.get("/inbox/", HTTP_HX_TARGET="inbox-offers", **HX).content.decode())
    newest = open_offer(route_new_lead())
    # session, user, groups, the rep with its calendars; live ids; the new offer with its lead and
    # decision, pool names, product names; the rep's absences: the same with 1 or 60 open offers
    with django_assert_max_num_queries(9):
        html = _ask(client, have).content.decode()
    assert html.count('class="card offer"') == 1 and f'data-offer-id="{newest.id}"' in html


def test_an_unchanged_inbox_costs_a_few_small_queries(django_assert_max_num_queries) -> None:
    world = make_world()
    route_new_lead()
    client = _client_for(world.primary)
    have = _have(client.get("/inbox/", HTTP_HX_TARGET="inbox-offers", **HX).content.decode())
    # session + user + groups + rep + the ids-only offer query; no card is built
    with django_assert_max_num_queries(5):
        assert _ask(client, have).status_code == 204


@pytest.mark.parametrize("have", ["junk", "1,,2", "-1", "１２", ",".join(["7"] * 1001), "9" * 40])
def test_an_unreadable_list_of_ids_gets_the_whole_list(have: str) -> None:
    world = make_world()
    offer = open_offer(route_new_lead())
    response = _ask(_client_for(world.primary), have)
    html = response.content.decode()
    assert response.status_code == 200
    assert '<div id="offer-cards" hx-swap-oob="true">' in html and f'data-offer-id="{offer.id}"' in html
    assert "hx-swap-oob=\"delete\"" not in html and _have(html) == str(offer.id)


def test_a_new_offer_older_than_one_shown_redraws_the_list() -> None:
    """New cards go on top only when they are the newest; otherwise the order would be wrong."""
    world = make_world(pool_size=1)
    older, newer = open_offer(route_new_lead()), open_offer(route_new_lead())
    html = _ask(_client_for(world.primary), str(newer.id)).content.decode()  # the inbox lacks the older one
    assert '<div id="offer-cards" hx-swap-oob="true">' in html
    assert html.index(f'data-offer-id="{newer.id}"') < html.index(f'data-offer-id="{older.id}"')


def test_the_empty_note_follows_the_offers() -> None:
    world = make_world()
    offer = open_offer(route_new_lead())
    client = _client_for(world.primary)
    assert '<p id="offers-empty" class="muted empty" hidden>' in client.get("/inbox/").content.decode()
    routing_services.offer_decline(offer_id=offer.id, rep=world.primary, reason="not_my_product")
    html = _ask(client, str(offer.id)).content.decode()
    assert '<p id="offers-empty" class="muted empty" hx-swap-oob="true">' in html


def test_a_page_from_before_the_ids_still_polls_by_fingerprint() -> None:
    """An inbox opened before this server version sends its fingerprint ``v`` and swaps the region whole."""
    world = make_world()
    route_new_lead()
    client = _client_for(world.primary)
    fingerprint = selectors.offers_fingerprint_now(rep=world.primary)
    assert client.get("/inbox/", {"v": fingerprint}, HTTP_HX_TARGET="inbox-offers", **HX).status_code == 204
    route_new_lead()
    changed = client.get("/inbox/", {"v": fingerprint}, HTTP_HX_TARGET="inbox-offers", **HX)
    assert changed.status_code == 200 and changed.content.decode().count('class="card offer"') == 2


def test_inbox_lists_use_a_fixed_number_of_queries(django_assert_max_num_queries) -> None:
    world = make_world(pool_size=1)
    client = _client_for(world.primary)
    for _ in range(2):
        route_new_lead()
    with django_assert_max_num_queries(12) as few:
        client.get("/inbox/")
    for _ in range(4):
        lead = route_new_lead()
    open_offer(lead)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/inbox/")


def test_an_offer_past_its_deadline_is_not_listed() -> None:
    world = make_world()
    lead = route_new_lead()
    Offer.objects.filter(lead=lead).update(deadline=timezone.now() - dt.timedelta(seconds=1))
    assert 'class="card offer"' not in _client_for(world.primary).get("/inbox/").content.decode()


def test_accept_moves_the_lead_to_my_leads_without_a_reload() -> None:
    world = make_world()
    lead = route_new_lead()
    offer = open_offer(lead)
    client = _client_for(world.primary)
    response = client.post(f"/inbox/offers/{offer.id}/accept/", **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'id="inbox-offers"' in html and 'id="inbox-leads" hx-swap-oob="true"' in html
    assert f'id="lead-{lead.id}"' in html
    lead.refresh_from_db()
    assert (lead.status, lead.owner) == (Lead.Status.ACCEPTED, world.primary)
    again = client.post(f"/inbox/offers/{offer.id}/accept/", **HX)  # a double click
    assert again.status_code == 200
    assert Offer.objects.get(id=offer.id).status == Offer.Status.ACCEPTED


def test_another_reps_offer_is_refused_with_a_message_and_nothing_changes() -> None:
    world = make_world()
    offer = open_offer(route_new_lead())
    intruder = _client_for(RepFactory())
    for action in ("accept", "decline"):
        response = intruder.post(f"/inbox/offers/{offer.id}/{action}/", {"reason": "other"}, **HX)
        assert response.status_code == 403
        assert "not in your inbox" in response.content.decode()
    offer.refresh_from_db()
    assert (offer.status, offer.rep) == (Offer.Status.OPEN, world.primary)


def test_an_expired_offer_is_refused_with_a_clear_message() -> None:
    world = make_world()
    offer = open_offer(route_new_lead())
    Offer.objects.filter(id=offer.id).update(deadline=timezone.now() - dt.timedelta(seconds=1))
    response = _client_for(world.primary).post(f"/inbox/offers/{offer.id}/accept/", **HX)
    assert response.status_code == 409
    assert "expired" in response.content.decode()
    assert Offer.objects.get(id=offer.id).status == Offer.Status.OPEN


def test_decline_needs_a_reason_and_then_the_offer_leaves_the_inbox() -> None:
    world = make_world()
    offer = open_offer(route_new_lead())
    client = _client_for(world.primary)
    invalid = client.post(f"/inbox/offers/{offer.id}/decline/", {"reason": ""}, **HX)
    assert invalid.status_code == 422 and "Choose a reason" in invalid.content.decode()
    assert Offer.objects.get(id=offer.id).status == Offer.Status.OPEN
    response = client.post(f"/inbox/offers/{offer.id}/decline/", {"reason": "language", "note": "no German"}, **HX)
    assert response.status_code == 200
    assert f'id="offer-{offer.id}"' not in response.content.decode()
    offer.refresh_from_db()
    assert (offer.status, offer.decline_reason, offer.decline_note) == (Offer.Status.DECLINED, "language", "no German")


def test_decided_offer_is_refused_when_declined_later() -> None:
    world = make_world()
    offer = open_offer(route_new_lead())
    client = _client_for(world.primary)
    client.post(f"/inbox/offers/{offer.id}/accept/", **HX)
    response = client.post(f"/inbox/offers/{offer.id}/decline/", {"reason": "other"}, **HX)
    assert response.status_code == 409 and "already accepted" in response.content.decode()


@pytest.mark.parametrize(("path", "data", "status"), [
    ("close", {"outcome": "converted"}, Lead.Status.CONVERTED),
    ("close", {"outcome": "closed_lost"}, Lead.Status.CLOSED_LOST),
    ("hand-back", {"note": "wrong product"}, Lead.Status.PENDING),
])  # fmt: skip
def test_accepted_lead_actions(path: str, data: dict, status: str) -> None:
    world = make_world()
    lead = route_new_lead()
    client = _client_for(world.primary)
    client.post(f"/inbox/offers/{open_offer(lead).id}/accept/", **HX)
    response = client.post(f"/inbox/leads/{lead.id}/{path}/", data, **HX)
    assert response.status_code == 200 and 'id="inbox-leads"' in response.content.decode()
    lead.refresh_from_db()
    assert lead.status == status


def test_another_reps_lead_cannot_be_closed() -> None:
    world = make_world()
    lead = route_new_lead()
    _client_for(world.primary).post(f"/inbox/offers/{open_offer(lead).id}/accept/", **HX)
    response = _client_for(RepFactory()).post(f"/inbox/leads/{lead.id}/close/", {"outcome": "converted"}, **HX)
    assert response.status_code == 403
    lead.refresh_from_db()
    assert lead.status == Lead.Status.ACCEPTED


def test_without_htmx_actions_redirect_back_with_a_message() -> None:
    world = make_world()
    offer = open_offer(route_new_lead())
    response = _client_for(world.primary).post(f"/inbox/offers/{offer.id}/accept/", follow=True)
    assert response.redirect_chain == [("/inbox/", 302)]
    assert "Accepted" in response.content.decode()


def test_inbox_is_for_reps_only(client: Client) -> None:
    assert client.get("/inbox/").status_code == 302  # anonymous: to login
    client.force_login(user_with_role(Role.OPS))
    assert client.get("/inbox/").status_code == 403


def test_away_now_moves_open_offers_on_and_back_clears_it(django_capture_on_commit_callbacks) -> None:
    world = make_world()
    lead = route_new_lead()
    client = _client_for(world.primary)
    question = client.post("/inbox/away/", {"mode": "now"}, **HX)  # the open offer is not released yet
    assert question.status_code == 200 and "releases your open offer, worth USD 5,000." in question.content.decode()
    assert open_offer(lead).rep == world.primary and world.primary.away_until is None
    fingerprint = question.content.decode().split('name="confirm" value="')[1].split('"')[0]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/inbox/away/", {"mode": "now", "confirm": fingerprint}, **HX)
    assert response.status_code == 200 and "Away until you come back" in response.content.decode()
    lead.refresh_from_db()
    assert lead.owner == world.backup  # withdrawn and re-routed along the chain
    world.primary.refresh_from_db()
    assert world.primary.away_until == AWAY_UNTIL_BACK  # no silent lapse after some weeks
    assert "Away until you come back" in client.get("/inbox/").content.decode()
    client.post("/inbox/away/", {"mode": "back"}, **HX)
    world.primary.refresh_from_db()
    assert world.primary.away_until is None


def test_away_until_needs_a_future_time() -> None:
    world = make_world()
    client = _client_for(world.primary)
    missing = client.post("/inbox/away/", {"mode": "until"}, **HX)
    past = client.post("/inbox/away/", {"mode": "until", "until": "2001-01-01T09:00"}, **HX)
    assert (missing.status_code, past.status_code) == (422, 422)
    assert "future" in past.content.decode()
    world.primary.refresh_from_db()
    assert world.primary.away_until is None


def test_away_until_a_time_is_shown_in_the_reps_own_timezone_and_labelled() -> None:
    world = make_world()
    world.primary.timezone = "Asia/Tokyo"
    world.primary.save()
    client = _client_for(world.primary)
    response = client.post("/inbox/away/", {"mode": "until", "until": "2999-07-01T09:30"}, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "Away until you come back" not in html
    assert "Away until Mon 1 Jul 09:30" in html and "your time, Asia/Tokyo" in html  # read and shown in Tokyo time
    world.primary.refresh_from_db()
    assert world.primary.away_until == dt.datetime(2999, 7, 1, 0, 30, tzinfo=dt.UTC)


def test_away_until_beyond_the_sentinel_is_refused() -> None:
    world = make_world()
    response = _client_for(world.primary).post("/inbox/away/", {"mode": "until", "until": "9500-01-01T09:00"}, **HX)
    assert response.status_code == 422 and "Away now" in response.content.decode()
    world.primary.refresh_from_db()
    assert world.primary.away_until is None


def test_a_rep_sees_their_scheduled_absences_in_their_timezone_but_not_others_or_past_ones() -> None:
    world = make_world()
    world.primary.timezone = "America/New_York"
    world.primary.save()
    upcoming = AbsenceFactory(rep=world.primary, starts_at=dt.datetime(2999, 1, 4, 14, 0, tzinfo=dt.UTC),
                              ends_at=dt.datetime(2999, 1, 8, 22, 0, tzinfo=dt.UTC), note="ski trip")  # fmt: skip
    past = AbsenceFactory(rep=world.primary, starts_at=timezone.now() - dt.timedelta(days=3),
                          ends_at=timezone.now() - dt.timedelta(days=2))  # fmt: skip
    other = AbsenceFactory(rep=world.backup)
    html = _client_for(world.primary).get("/inbox/").content.decode()
    assert f'id="my-absence-{upcoming.id}"' in html and "ski trip" in html
    assert "Vacation: Fri 4 Jan 09:00 – Tue 8 Jan 17:00" in html and "your time, America/New_York" in html
    assert f'id="my-absence-{past.id}"' not in html and f'id="my-absence-{other.id}"' not in html
    assert "You are <strong>available</strong>" in html


def test_a_rep_in_a_current_absence_is_told_so() -> None:
    world = make_world()
    AbsenceFactory(rep=world.primary, reason="illness")
    html = _client_for(world.primary).get("/inbox/").content.decode()
    assert "Absent (illness) until" in html and "available" not in html


def test_the_offer_card_shows_product_contact_and_a_title_that_is_never_the_external_id() -> None:
    from tests.factories import SkillFactory

    world = make_world()
    SkillFactory(kind="product", code="life", name="Life insurance")
    lead = route_new_lead(first_name="", last_name="", company="", email="", phone="+1 415 555 0100",
                          source="webinar", external_id="crm-000417", language="de")  # fmt: skip
    html = _client_for(world.primary).get("/inbox/").content.decode()
    assert '<a href="/inbox/leads/{}/">Lead from webinar</a>'.format(lead.id) in html
    assert "crm-000417" not in html
    for fact in ("Life insurance", 'href="tel:+1 415 555 0100"', "German"):
        assert fact in html


def test_a_rep_opens_the_page_of_a_lead_offered_to_them_or_theirs_but_no_other() -> None:
    world = make_world()
    lead = route_new_lead(company="Acme Rockets", title="CFO", phone="+1 212 555 0199")
    primary, backup = _client_for(world.primary), _client_for(world.backup)
    page = primary.get(f"/inbox/leads/{lead.id}/")
    html = page.content.decode()
    assert page.status_code == 200 and "Acme Rockets" in html and "CFO" in html and "+1 212 555 0199" in html
    assert f'action="/inbox/offers/{open_offer(lead).id}/accept/"' in html  # act on it from its page
    assert primary.post(f"/inbox/offers/{open_offer(lead).id}/accept/").status_code == 302
    html = primary.get(f"/inbox/leads/{lead.id}/").content.decode()
    assert f'action="/inbox/leads/{lead.id}/close/"' in html and "Hand back" in html
    assert backup.get(f"/inbox/leads/{lead.id}/").status_code == 404  # offered to someone else
    manager_only = Client()
    manager_only.force_login(user_with_role(Role.MANAGER))
    assert manager_only.get(f"/inbox/leads/{lead.id}/").status_code == 403


def test_away_until_asks_too_and_a_new_offer_since_the_question_asks_again() -> None:
    world = make_world()
    route_new_lead(value="250000")
    client = _client_for(world.primary)
    first = client.post("/inbox/away/", {"mode": "until", "until": "2999-07-01T09:30"}, **HX).content.decode()
    assert "releases your open offer, worth USD 250,000." in first
    assert 'name="until" value="2999-07-01T09:30"' in first
    stale = first.split('name="confirm" value="')[1].split('"')[0]
    route_new_lead(value="1000")  # arrives while the rep reads the question
    again = client.post("/inbox/away/", {"mode": "until", "until": "2999-07-01T09:30", "confirm": stale}, **HX)
    assert "releases your 2 open offers, worth USD 251,000 in total." in again.content.decode()
    world.primary.refresh_from_db()
    assert world.primary.away_until is None and Offer.objects.filter(rep=world.primary, status="open").count() == 2


def test_away_with_no_open_offers_needs_no_confirmation() -> None:
    world = make_world()
    response = _client_for(world.primary).post("/inbox/away/", {"mode": "now"}, **HX)
    assert response.status_code == 200 and "Away until you come back" in response.content.decode()


def test_the_inbox_shows_the_newest_offers_and_says_how_many_more(monkeypatch) -> None:  # noqa: ANN001
    """At most INBOX_OFFERS_SHOWN cards (3 here), newest first, with a note giving the total;
    acting on one brings the next one up through the open inbox's ask."""
    monkeypatch.setattr(selectors, "INBOX_OFFERS_SHOWN", 3)
    world = make_world(pool_size=1)
    offers = [open_offer(route_new_lead()) for _ in range(5)]
    client = _client_for(world.primary)
    page = client.get("/inbox/").content.decode()
    assert page.count('class="card offer"') == 3
    assert [o.id for o in offers[:1:-1]] == [int(i) for i in _have(page).split(",")]  # the 3 newest, newest first
    assert "Showing your 3 newest offers of 5 open." in page and "<title>(5) Inbox" in page
    assert 'id="offers-more" class="muted" data-total="5">' in page  # shown, not hidden

    routing_services.offer_decline(offer_id=offers[4].id, rep=world.primary, reason="not_my_product")
    html = _ask(client, _have(page)).content.decode()
    # offers[1] moves up into the shown three; it is older than those kept, so the list is redrawn
    assert '<div id="offer-cards" hx-swap-oob="true">' in html and html.count('class="card offer"') == 3
    assert _have(html) == f"{offers[3].id},{offers[2].id},{offers[1].id}"
    assert "Showing your 3 newest offers of 4 open." in html


def test_a_few_offers_need_no_note_and_no_count() -> None:
    world = make_world()
    route_new_lead()
    page = _client_for(world.primary).get("/inbox/").content.decode()
    assert 'id="offers-more" class="muted" data-total="1" hidden>' in page
