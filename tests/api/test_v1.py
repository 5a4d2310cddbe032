"""The v1 endpoints beyond intake: leads with their history, decisions, a rep's offers through a
personal token or the session, availability and caps, configuration, webhook deliveries; every
error as RFC 9457 problem details naming the field."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from reps.models import Absence, Rep, Role, Team
from routing import services
from routing.models import Decision, Lead, Offer, Rule, RuleSet, WebhookDelivery
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, make_token, user_with_role

pytestmark = pytest.mark.django_db


def bearer(raw: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {raw}"})


def post(client: Client, path: str, body: object = None, method: str = "post") -> object:
    return getattr(client, method)(path, data=json.dumps(body if body is not None else {}), content_type="application/json")


@pytest.fixture
def world() -> dict:
    ana, bob = RepFactory(display_name="Ana"), RepFactory(display_name="Bob")
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=ana)
    PoolMemberFactory(pool=pool, rep=bob)
    rule = RuleFactory(pool=pool, name="Everyone")
    services.rule_publish()
    leads = []
    for i in range(3):
        lead, _ = services.lead_intake(data={"source": "web", "external_id": f"L-{i}"})
        services.leads_route_all_pending()
        leads.append(Lead.objects.get(id=lead.id))
    return {"ana": ana, "bob": bob, "pool": pool, "rule": rule, "leads": leads}


def test_errors_are_problem_details_naming_the_field() -> None:
    client = bearer(make_token(scopes=("intake",)))
    response = post(client, "/api/v1/leads", {"source": "web", "external_id": "x", "email": "nope"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400 and body["type"].startswith("urn:leadops:problem:") and body["title"]
    assert body["instance"] == "/api/v1/leads" and list(body["errors"]) == ["email"]
    anonymous = Client().get("/api/v1/leads")
    assert anonymous.status_code == 401 and anonymous.json()["status"] == 401 and "WWW-Authenticate" in anonymous


def test_leads_list_filters_and_pages_with_a_cursor(world: dict) -> None:
    client = bearer(make_token(scopes=("read",)))
    first = client.get("/api/v1/leads?limit=2").json()
    assert [i["id"] for i in first["items"]] == [world["leads"][2].id, world["leads"][1].id]
    second = client.get(f"/api/v1/leads?limit=2&cursor={first['next_cursor']}").json()
    assert [i["id"] for i in second["items"]] == [world["leads"][0].id] and second["next_cursor"] is None
    owner = world["leads"][0].owner_id
    mine = client.get(f"/api/v1/leads?owner={owner}").json()["items"]
    assert mine and {i["owner"]["id"] for i in mine} == {owner}
    assert client.get("/api/v1/leads?external_id=L-1").json()["items"][0]["external_id"] == "L-1"
    bad = client.get("/api/v1/leads?cursor=zzz&status=nope&received_after=2026-01-01T00:00:00")
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"status", "received_after"}
    assert client.get("/api/v1/leads?cursor=zzz").json()["errors"] == {"cursor": ["Pass back next_cursor from the previous page unchanged."]}
    assert client.get("/api/v1/leads?source=a%00b").status_code == 400  # NUL: refused, not a database error
    typo = client.get("/api/v1/leads?stauts=open&status=offered&status=pending")
    assert typo.status_code == 400
    assert typo.json()["errors"] == {"stauts": ["Unknown query parameter."], "status": ["Give this parameter once."]}
    assert list(client.get("/api/v1/leads?received_after=1700000000").json()["errors"]) == ["received_after"]  # not Unix time


def test_a_lead_reads_with_its_whole_decision_history(world: dict) -> None:
    lead = world["leads"][0]
    offer = Offer.objects.get(lead=lead)
    services.offer_decline(offer_id=offer.id, rep=offer.rep, reason="no_capacity")
    services.leads_route_all_pending()
    body = bearer(make_token(scopes=("read",))).get(f"/api/v1/leads/{lead.id}").json()
    assert [d["kind"] for d in body["decisions"]] == ["route", "escalation"]
    assert [o["status"] for o in body["offers"]] == ["declined", "open"]
    assert body["offers"][0]["decline_reason"] == "no_capacity"
    assert body["decision"]["id"] == body["decisions"][-1]["id"]
    assert body["current_offer"]["rep"]["id"] != offer.rep_id
    candidates = body["decisions"][0]["candidates"]
    assert {c["rep_id"] for c in candidates} == {world["ana"].id, world["bob"].id}


def test_decisions_filter_by_rep_rule_outcome_and_time(world: dict) -> None:
    client = bearer(make_token(scopes=("read",)))
    ana = world["ana"].id
    items = client.get(f"/api/v1/decisions?rep={ana}").json()["items"]
    assert items and {d["chosen_rep_id"] for d in items} == {ana}
    assert items[0]["candidates"][0]["reasons"] is not None
    assert len(client.get(f"/api/v1/decisions?rule={world['rule'].id}&outcome=offer").json()["items"]) == 3
    assert client.get("/api/v1/decisions?outcome=holding").json()["items"] == []
    future = (timezone.now() + dt.timedelta(days=1)).isoformat()
    assert client.get("/api/v1/decisions", {"created_after": future}).json()["items"] == []


def test_a_rep_acts_on_their_own_offers_with_a_personal_token(world: dict) -> None:
    ana = world["ana"]
    client = bearer(make_token("ana phone", scopes=("offers",), user=ana.user))
    offers = client.get("/api/v1/offers?status=open").json()["items"]
    assert offers and {o["rep"]["id"] for o in offers} == {ana.id}
    accepted = post(client, f"/api/v1/offers/{offers[0]['id']}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert Lead.objects.get(id=offers[0]["lead_id"]).status == Lead.Status.ACCEPTED
    if len(offers) > 1:
        declined = post(client, f"/api/v1/offers/{offers[1]['id']}/decline", {"reason": "language", "note": "DE only"})
        assert declined.json()["status"] == "declined" and declined.json()["decline_note"] == "DE only"
    bad = post(client, f"/api/v1/offers/{offers[0]['id']}/decline", {"reason": "bored"})
    assert bad.status_code == 400 and list(bad.json()["errors"]) == ["reason"]
    bobs = Offer.objects.filter(rep=world["bob"]).first()
    assert post(client, f"/api/v1/offers/{bobs.id}/accept").status_code == 404  # not hers: no oracle either
    assert Offer.objects.get(id=bobs.id).status == Offer.Status.OPEN


def test_an_integration_token_cannot_act_as_a_rep(world: dict) -> None:
    response = bearer(make_token(scopes=("admin",))).get("/api/v1/offers")
    assert response.status_code == 403 and "personal token" in response.json()["detail"]


def test_the_session_works_with_the_csrf_token(world: dict) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["ana"].user)
    offer = Offer.objects.filter(rep=world["ana"], status="open").first()
    refused = client.post(f"/api/v1/offers/{offer.id}/accept")
    assert refused.status_code == 403 and "csrf" in refused.json()["errors"]
    client.get("/inbox/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post(f"/api/v1/offers/{offer.id}/accept", headers={"X-CSRFToken": token})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"


def test_availability_and_caps_go_through_the_rep_services(world: dict) -> None:
    ana = world["ana"]
    client = bearer(make_token(scopes=("reps", "read")))
    open_before = Offer.objects.filter(rep=ana, status="open").count()
    away = post(client, f"/api/v1/reps/{ana.id}/away", {"until": None})
    assert away.status_code == 200 and away.json()["unavailable_reason"] == "away"
    assert Offer.objects.filter(rep=ana, status="withdrawn").count() == open_before  # moved on at once
    assert post(client, f"/api/v1/reps/{ana.id}/back").json()["available"] is True
    past = post(client, f"/api/v1/reps/{ana.id}/away", {"until": "2020-01-01T00:00:00Z"})
    assert past.status_code == 400 and list(past.json()["errors"]) == ["until"]
    caps = post(client, f"/api/v1/reps/{ana.id}/caps", {"max_open": 3, "max_daily": None, "max_weekly": 10}, method="put")
    assert caps.json()["caps"] == {"max_open": 3, "max_daily": None, "max_weekly": 10}
    assert Rep.objects.get(id=ana.id).max_open == 3
    assert post(client, f"/api/v1/reps/{ana.id}/caps", {"max_open": -1, "max_daily": None, "max_weekly": None},
                method="put").json()["errors"] == {"max_open": ["Input should be greater than or equal to 0"]}  # fmt: skip
    start = timezone.now() + dt.timedelta(days=1)
    made = post(client, f"/api/v1/reps/{ana.id}/absences", {"starts_at": start.isoformat(),
                "ends_at": (start + dt.timedelta(days=2)).isoformat(), "reason": "vacation"})  # fmt: skip
    assert made.status_code == 201
    assert [a["id"] for a in client.get(f"/api/v1/reps/{ana.id}/absences").json()] == [made.json()["id"]]
    assert post(client, f"/api/v1/absences/{made.json()['id']}/end").status_code == 200  # not started: cancelled
    assert not Absence.objects.filter(id=made.json()["id"]).exists()
    backwards = post(client, f"/api/v1/reps/{ana.id}/absences", {"starts_at": start.isoformat(), "ends_at": start.isoformat()})
    assert backwards.status_code == 400 and "ends_at" in backwards.json()["errors"]


def test_a_manager_sees_only_their_team(world: dict) -> None:
    team = Team.objects.create(name="North")
    Rep.objects.filter(id=world["ana"].id).update(team=team)
    manager = RepFactory(team=team, user=user_with_role(Role.MANAGER)).user
    client = bearer(make_token("mgr", scopes=("read", "reps"), user=manager))
    rep_ids = {r["id"] for r in client.get("/api/v1/reps").json()["items"]}
    assert world["ana"].id in rep_ids and world["bob"].id not in rep_ids
    leads = {i["id"] for i in client.get("/api/v1/leads").json()["items"]}
    assert leads == set(Offer.objects.filter(rep=world["ana"]).values_list("lead_id", flat=True))
    bobs_lead = Offer.objects.filter(rep=world["bob"]).first().lead_id
    assert client.get(f"/api/v1/leads/{bobs_lead}").status_code == 404
    assert post(client, f"/api/v1/reps/{world['bob'].id}/away", {}).status_code == 404
    assert Rep.objects.get(id=world["bob"].id).away_until is None


def test_config_exports_imports_as_draft_diffs_and_publishes(world: dict) -> None:
    client = bearer(make_token(scopes=("config",)))
    doc = client.get("/api/v1/config").json()
    doc["rules"][0]["priority"] = 7
    dry = post(client, "/api/v1/config/import?dry_run=true", doc)
    assert dry.status_code == 200 and dry.json()["applied"] is False and Rule.objects.get().priority != 7
    done = post(client, "/api/v1/config/import", doc).json()
    assert done["applied"] is True and done["draft_differs_from_live"] is True and Rule.objects.get().priority == 7
    diff = client.get("/api/v1/config/diff").json()
    assert diff["live_version"] == 1
    old = world["rule"].priority
    assert diff["changes"] == [{"section": "rules", "key": "Everyone", "action": "change", "fields": [["priority", old, 7]]}]
    published = post(client, "/api/v1/config/publish", {"note": "from CI"})
    assert published.status_code == 201 and published.json()["version"] == 2
    assert RuleSet.objects.get(version=2).note == "from CI"
    assert client.get("/api/v1/config/diff").json()["changes"] == []


def test_a_bad_config_is_refused_whole_with_errors_keyed_by_json_path(world: dict) -> None:
    client = bearer(make_token(scopes=("config",)))
    doc = client.get("/api/v1/config").json()
    doc["rules"][0]["pool"] = "No such pool"
    doc["segments"] = [{"slug": "bad slug!", "name": "x", "sla_minutes": 0}]
    response = post(client, "/api/v1/config/import", doc)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "$.rules[0].pool" in errors and any(path.startswith("$.segments[0]") for path in errors)
    assert Rule.objects.get().pool_id == world["pool"].id  # nothing half-written


def test_webhook_deliveries_list_and_redeliver() -> None:
    now = timezone.now()
    failed = WebhookDelivery.objects.create(event="offer.created", payload={"lead_id": 1}, next_attempt_at=now,
                                            status=WebhookDelivery.Status.FAILED, attempts=8, last_error="HTTP 500")  # fmt: skip
    client = bearer(make_token(scopes=("admin",)))
    items = client.get("/api/v1/webhooks/deliveries?status=failed").json()["items"]
    assert [i["id"] for i in items] == [failed.id] and items[0]["message_id"] == f"msg_leadops_{failed.id}"
    again = post(client, f"/api/v1/webhooks/deliveries/{failed.id}/redeliver")
    assert again.status_code == 200 and again.json()["status"] == "pending" and again.json()["attempts"] == 0
    assert post(client, f"/api/v1/webhooks/deliveries/{failed.id}/redeliver").status_code == 409


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/leads/abc", "/api/v1/reps/%0A/caps", "/api/v1/leads/1%0A"])
def test_any_other_api_path_is_a_problem_not_an_html_page(client: Client, path: str) -> None:
    response = client.put(path, data="{}", content_type="application/json")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"


def test_the_docs_page_loads_swagger_from_our_static_files(client: Client) -> None:
    html = client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    assert Decision.objects.count() == 0  # GET never writes
