"""Accept, decline, expire and escalate: the offer lifecycle through routing.services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from routing import services
from routing.models import Decision, Lead, Offer
from routing.services import OfferError
from tests.factories import RepFactory
from tests.reps.helpers import make_world, open_offer, route_new_lead

pytestmark = pytest.mark.django_db


def test_seed_story_escalates_to_backup_at_three_minutes_and_keeps_the_chain() -> None:
    world = make_world(sla_minutes=5, accept_fraction=0.6)
    t0 = timezone.now()
    lead = route_new_lead(now=t0)
    first = open_offer(lead)
    assert first.rep == world.primary
    assert first.deadline - first.offered_at == dt.timedelta(minutes=3)

    assert services.offers_expire_due(now=t0 + dt.timedelta(minutes=2, seconds=59)) == 0
    first.refresh_from_db()
    assert first.status == Offer.Status.OPEN

    later = t0 + dt.timedelta(minutes=3, seconds=1)
    assert services.offers_expire_due(now=later) == 1
    services.leads_route_all_pending(now=later)

    first.refresh_from_db()
    lead.refresh_from_db()
    assert first.status == Offer.Status.EXPIRED
    second = open_offer(lead)
    assert (second.rep, second.via, lead.owner, lead.status) == (world.backup, "backup", world.backup, Lead.Status.OFFERED)
    chain = list(lead.decisions.order_by("created_at", "id").values_list("kind", "step", "chosen_rep_id"))
    assert chain == [
        (Decision.Kind.ROUTE, "primary", world.primary.id),
        (Decision.Kind.ESCALATION, "backup", world.backup.id),
    ]
    escalation = lead.decisions.get(kind=Decision.Kind.ESCALATION)
    primary_candidates = [c for step in escalation.detail["steps"] for c in step["candidates"] if c["rep_id"] == world.primary.id]
    assert not any(c["eligible"] for c in primary_candidates)


def test_backup_that_also_misses_the_deadline_parks_the_lead_in_holding() -> None:
    world = make_world()
    t0 = timezone.now()
    lead = route_new_lead(now=t0)
    for minutes in (3, 6):
        at = t0 + dt.timedelta(minutes=minutes, seconds=1)
        services.offers_expire_due(now=at)
        services.leads_route_all_pending(now=at)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.HOLDING
    assert list(lead.offers.order_by("id").values_list("rep_id", "status")) == [
        (world.primary.id, Offer.Status.EXPIRED), (world.backup.id, Offer.Status.EXPIRED),
    ]  # fmt: skip
    assert list(lead.decisions.order_by("id").values_list("outcome", flat=True)) == ["offer", "offer", "holding"]


def test_escalation_that_reaches_the_manager_emails_them(django_capture_on_commit_callbacks) -> None:
    world = make_world(fallback=[{"kind": "manager"}, {"kind": "holding"}])
    t0 = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        lead = route_new_lead(now=t0)
    assert [m.to for m in mail.outbox] == [[world.primary.user.email]]
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.offers_expire_due(now=timezone.now() + dt.timedelta(minutes=3, seconds=1))
    lead.refresh_from_db()
    offer = open_offer(lead)
    assert (offer.rep, offer.via) == (world.manager, "manager")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [world.manager.user.email]
    assert mail.outbox[0].subject.startswith("Escalation")


def test_accepting_makes_the_rep_owner_and_a_double_click_is_harmless() -> None:
    world = make_world()
    lead = route_new_lead()
    offer = open_offer(lead)
    services.offer_accept(offer_id=offer.id, rep=world.primary)
    again = services.offer_accept(offer_id=offer.id, rep=world.primary)
    lead.refresh_from_db()
    assert again.status == Offer.Status.ACCEPTED
    assert (lead.status, lead.owner) == (Lead.Status.ACCEPTED, world.primary)
    assert lead.offers.count() == 1


def test_another_reps_offer_is_refused_and_nothing_changes() -> None:
    make_world()
    lead = route_new_lead()
    offer = open_offer(lead)
    with pytest.raises(OfferError, match="not yours"):
        services.offer_accept(offer_id=offer.id, rep=RepFactory())
    offer.refresh_from_db()
    assert offer.status == Offer.Status.OPEN


def test_an_offer_past_its_deadline_cannot_be_accepted() -> None:
    world = make_world()
    t0 = timezone.now()
    lead = route_new_lead(now=t0)
    offer = open_offer(lead)
    with pytest.raises(OfferError, match="expired"):
        services.offer_accept(offer_id=offer.id, rep=world.primary, now=t0 + dt.timedelta(minutes=3))
    offer.refresh_from_db()
    assert offer.status == Offer.Status.OPEN


def test_declining_records_the_reason_and_reroutes_without_the_decliner(django_capture_on_commit_callbacks) -> None:
    world = make_world()
    lead = route_new_lead()
    offer = open_offer(lead)
    with django_capture_on_commit_callbacks(execute=True):
        services.offer_decline(offer_id=offer.id, rep=world.primary, reason=Offer.DeclineReason.CONFLICT, note="my cousin")
    offer.refresh_from_db()
    lead.refresh_from_db()
    assert (offer.status, offer.decline_reason, offer.decline_note) == (Offer.Status.DECLINED, "conflict", "my cousin")
    # The inbox layer wakes routing on commit: the lead is offered to the backup straight away.
    assert (lead.status, lead.owner) == (Lead.Status.OFFERED, world.backup)


def test_a_decided_offer_cannot_be_declined() -> None:
    world = make_world()
    lead = route_new_lead()
    offer = open_offer(lead)
    services.offer_accept(offer_id=offer.id, rep=world.primary)
    with pytest.raises(OfferError, match="already accepted"):
        services.offer_decline(offer_id=offer.id, rep=world.primary, reason=Offer.DeclineReason.OTHER)


def test_decline_without_a_listed_reason_is_refused() -> None:
    world = make_world()
    offer = open_offer(route_new_lead())
    with pytest.raises(OfferError, match="reason"):
        services.offer_decline(offer_id=offer.id, rep=world.primary, reason="bored")
    offer.refresh_from_db()
    assert offer.status == Offer.Status.OPEN
