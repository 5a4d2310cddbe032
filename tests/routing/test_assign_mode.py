"""Story of issue 17: a segment in assign mode. The owner is set at once; a first touch through
the API before the deadline stops the clock; without one the lead escalates down the same chain,
and every step is logged (decisions, offers, webhook events) and shows in the SLA analytics."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from routing import services
from routing.dashboards.selectors import sla_outcomes
from routing.models import Decision, Lead, Offer
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, SegmentFactory, make_token

pytestmark = pytest.mark.django_db

SLA_MINUTES = 10


def api(raw: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {raw}"})


def test_assign_mode_owner_at_once_first_touch_stops_the_clock_a_miss_escalates(
    django_capture_on_commit_callbacks,  # noqa: ANN001
) -> None:  # fmt: skip
    ana, bob = RepFactory(display_name="Ana"), RepFactory(display_name="Bob")
    pool = PoolFactory(name="Inbound")
    PoolMemberFactory(pool=pool, rep=ana)
    PoolMemberFactory(pool=pool, rep=bob)
    SegmentFactory(slug="inbound", sla_minutes=SLA_MINUTES, accept_fraction=1.0, sla_clock="calendar", mode="assign",
                   is_default=True)  # fmt: skip
    RuleFactory(pool=pool, name="Inbound", fallback=[{"kind": "holding"}])
    services.rule_publish()
    crm = api(make_token("crm", scopes=("intake", "offers", "read")))

    # 1. Two leads arrive through the API; each is owned at once, no accept step.
    with django_capture_on_commit_callbacks(execute=True):
        ids = [crm.post("/api/v1/leads", data=json.dumps({"source": "crm", "external_id": f"A-{i}"}),
                        content_type="application/json").json()["id"] for i in range(2)]  # fmt: skip
    touched, missed = (Lead.objects.get(id=i) for i in ids)
    for lead in (touched, missed):
        offer = Offer.objects.get(lead=lead)
        assert lead.owner_id == offer.rep_id and offer.mode == "assign" and lead.status == Lead.Status.OFFERED
        assert offer.deadline - offer.offered_at == dt.timedelta(minutes=SLA_MINUTES)
    first_owner = {touched.id: touched.owner_id, missed.id: missed.owner_id}
    # An accept click is not how an assigned lead's clock stops.
    rep_client = api(make_token("phone", scopes=("offers",), user=touched.owner.user))
    refused = rep_client.post(f"/api/v1/offers/{Offer.objects.get(lead=touched).id}/accept")
    assert refused.status_code == 409 and "first touch" in refused.json()["detail"]

    # 2. The CRM logs a call on the first lead before its deadline: the clock stops.
    with django_capture_on_commit_callbacks(execute=True):
        response = crm.post(f"/api/v1/leads/{touched.id}/first-touch", data=json.dumps({"channel": "call"}),
                            content_type="application/json")  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "accepted" and body["first_touch_channel"] == "call" and body["first_touch_at"]
    assert body["offers"][0]["status"] == "accepted"

    # 3. The deadline passes: only the untouched lead moves down the chain, to the other rep.
    deadline = Offer.objects.get(lead=missed).deadline
    with django_capture_on_commit_callbacks(execute=True):
        assert services.offers_expire_due(now=deadline + dt.timedelta(seconds=1)) == 1
        services.leads_route_all_pending(now=deadline + dt.timedelta(seconds=2))
    touched.refresh_from_db()
    missed.refresh_from_db()
    assert touched.status == Lead.Status.ACCEPTED and touched.owner_id == first_owner[touched.id]
    offers = list(Offer.objects.filter(lead=missed).order_by("offered_at"))
    assert [o.status for o in offers] == ["expired", "open"]
    assert offers[1].rep_id != first_owner[missed.id] and offers[1].mode == "assign" and offers[1].step == 1
    assert missed.owner_id == offers[1].rep_id  # the new owner, at once again

    # 4. All logged: each decision with its kind, readable through the API.
    kinds = list(Decision.objects.filter(lead=missed).order_by("created_at", "id").values_list("kind", flat=True))
    assert kinds == ["route", "escalation"]
    history = crm.get(f"/api/v1/leads/{missed.id}").json()
    assert [d["kind"] for d in history["decisions"]] == kinds
    assert [o["status"] for o in history["offers"]] == ["expired", "open"]

    # 5. SLA analytics: time to first touch for the touched lead, misses counted as expired.
    now = timezone.now()
    (row,) = sla_outcomes(start=now - dt.timedelta(days=1), end=deadline + dt.timedelta(days=1))
    assert row.assigned == 3 and row.expired == 1 and row.touched == 1
    assert row.touch_median_seconds is not None and row.touch_median_seconds < SLA_MINUTES * 60


def test_a_touch_after_the_deadline_is_refused_and_the_lead_moves_on() -> None:
    rep = RepFactory()
    PoolMemberFactory(pool=(pool := PoolFactory()), rep=rep)
    SegmentFactory(slug="assigned", sla_minutes=5, accept_fraction=1.0, sla_clock="calendar", mode="assign", is_default=True)
    RuleFactory(pool=pool)
    services.rule_publish()
    lead, _ = services.lead_intake(data={"source": "web", "external_id": "late"})
    services.leads_route_all_pending()
    offer = Offer.objects.get(lead=lead)
    with pytest.raises(services.OfferError, match="deadline has passed"):
        services.lead_first_touch(lead_id=lead.id, rep=rep, channel="email", now=offer.deadline)
    assert Lead.objects.get(id=lead.id).first_touch_at is None


def test_in_offer_mode_a_touch_is_recorded_only_after_the_accept() -> None:
    rep = RepFactory()
    PoolMemberFactory(pool=(pool := PoolFactory()), rep=rep)
    RuleFactory(pool=pool)
    services.rule_publish()
    lead, _ = services.lead_intake(data={"source": "web", "external_id": "offer-mode"})
    services.leads_route_all_pending()
    offer = Offer.objects.get(lead=lead)
    assert offer.mode == "offer"
    with pytest.raises(services.OfferError, match="Accept the offer first"):
        services.lead_first_touch(lead_id=lead.id, rep=rep, channel="call")
    services.offer_accept(offer_id=offer.id, rep=rep)
    touched = services.lead_first_touch(lead_id=lead.id, rep=rep, channel="call")
    again = services.lead_first_touch(lead_id=lead.id, rep=rep, channel="email")
    assert touched.first_touch_channel == again.first_touch_channel == "call"  # only the first counts
    assert Lead.objects.get(id=lead.id).status == Lead.Status.ACCEPTED


def test_the_inbox_shows_an_assigned_lead_with_a_first_touch_button() -> None:
    rep = RepFactory()
    PoolMemberFactory(pool=(pool := PoolFactory()), rep=rep)
    SegmentFactory(slug="assigned", mode="assign", is_default=True)
    RuleFactory(pool=pool)
    services.rule_publish()
    lead, _ = services.lead_intake(data={"source": "web", "external_id": "inbox"})
    services.leads_route_all_pending()
    client = Client()
    client.force_login(rep.user)
    html = client.get("/inbox/").content.decode()
    assert "Assigned to you" in html and f"/inbox/leads/{lead.id}/first-touch/" in html and ">Accept<" not in html
    response = client.post(f"/inbox/leads/{lead.id}/first-touch/", {"channel": "email"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "First touch logged" in response.content.decode()
    assert Lead.objects.get(id=lead.id).first_touch_channel == "email"
    other = RepFactory()
    client.force_login(other.user)
    assert client.post(f"/inbox/leads/{lead.id}/first-touch/", {"channel": "call"}).status_code == 403
