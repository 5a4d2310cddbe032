from __future__ import annotations

import json

import pytest
from django.test import Client

from routing.models import ApiToken, Decision, Lead
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, make_token

pytestmark = pytest.mark.django_db

GOOD = {"source": "web", "external_id": "A-1", "email": "ada@example.com", "country": "us", "state": "ca",
        "value": 52000, "product_line": "Life", "intent": "high", "attributes": {"campaign": "q4"}}  # fmt: skip


@pytest.fixture
def api() -> tuple[Client, dict[str, str]]:
    return Client(), {"HTTP_AUTHORIZATION": f"Bearer {make_token(scopes=('intake', 'read', 'dry-run'))}"}


def post(client: Client, headers: dict, body: object, **extra) -> object:  # noqa: ANN003
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post("/api/v1/leads", data=data, content_type="application/json", **headers, **extra)


def test_it_creates_a_lead_and_answers_201(api) -> None:  # noqa: ANN001
    client, headers = api
    response = post(client, headers, GOOD)
    assert response.status_code == 201
    lead = Lead.objects.get(id=response.json()["id"])
    assert (lead.country, lead.state, lead.product_line, str(lead.value)) == ("US", "CA", "life", "52000.00")
    assert lead.attributes == {"campaign": "q4"}


def test_the_same_source_and_external_id_answers_200_and_changes_nothing(api) -> None:  # noqa: ANN001
    client, headers = api
    first = post(client, headers, GOOD)
    second = post(client, headers, {**GOOD, "value": 1, "email": "other@example.com"})
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    lead = Lead.objects.get()
    assert lead.email == "ada@example.com" and str(lead.value) == "52000.00"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{not json", "__all__"),
        ("[1, 2]", "__all__"),
        ({"external_id": "x"}, "source"),
        ({"source": "web"}, "external_id"),
        ({**GOOD, "value": "lots"}, "value"),
        ({**GOOD, "value": -5}, "value"),
        ({**GOOD, "value": True}, "value"),
        ({**GOOD, "fit_score": 101}, "fit_score"),
        ({**GOOD, "fit_score": "high"}, "fit_score"),
        ({**GOOD, "email": "nope"}, "email"),
        ({**GOOD, "country": "Atlantis"}, "country"),
        ({**GOOD, "first_name": 12}, "first_name"),
        ({**GOOD, "attributes": [1]}, "attributes"),
        ({**GOOD, "source": "x" * 61}, "source"),
        ({**GOOD, "bogus": 1}, "bogus"),
        ({**GOOD, "bogus": None}, "bogus"),  # unknown is refused whatever the value (blank means absent for known fields)
        ('{"source": "web", "external_id": "n", "value": NaN}', "value"),
    ],
)
def test_it_rejects_invalid_input_with_errors_keyed_by_field(api, body, field) -> None:  # noqa: ANN001
    client, headers = api
    response = post(client, headers, body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert Lead.objects.count() == 0


def test_it_rejects_an_oversize_body(api, settings) -> None:  # noqa: ANN001
    client, headers = api
    settings.LEADOPS_MAX_BODY_BYTES = 2048
    response = post(client, headers, {**GOOD, "attributes": {"blob": "x" * 4000}})
    assert response.status_code == 400
    assert "Body larger" in response.json()["errors"]["__all__"][0]
    assert Lead.objects.count() == 0


def test_it_rejects_a_wrong_content_type(api) -> None:  # noqa: ANN001
    client, headers = api
    response = client.post("/api/v1/leads", data="source=web", content_type="text/plain", **headers)
    assert response.status_code == 400
    assert "content_type" in response.json()["errors"]


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer "])
def test_it_answers_401_without_a_valid_token(header) -> None:  # noqa: ANN001
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = post(Client(), extra, GOOD)
    assert response.status_code == 401
    assert Lead.objects.count() == 0


def test_a_revoked_token_is_refused() -> None:
    raw = make_token("crm")
    ApiToken.objects.filter(name="crm").update(revoked_at="2026-01-01T00:00:00Z")
    assert post(Client(), {"HTTP_AUTHORIZATION": f"Bearer {raw}"}, GOOD).status_code == 401


def test_tokens_are_stored_hashed() -> None:
    raw = make_token("crm")
    token = ApiToken.objects.get(name="crm")
    assert raw not in (token.digest, token.prefix) and token.digest == ApiToken.hash(raw)


def test_get_shows_status_owner_segment_offer_and_decision(api, django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    client, headers = api
    rep = RepFactory(display_name="Ana")
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=rep)
    RuleFactory(pool=pool)
    with django_capture_on_commit_callbacks(execute=True):
        lead_id = post(client, headers, GOOD).json()["id"]  # the wake-up task runs inline in tests
    body = client.get(f"/api/v1/leads/{lead_id}", **headers).json()
    assert body["status"] == "offered"
    assert body["owner"] == {"id": rep.id, "name": "Ana"}
    assert body["current_offer"]["rep"]["id"] == rep.id
    assert body["decision"]["outcome"] == "offer"
    assert body["decision"]["reasons"]["steps"][0]["candidates"][0]["eligible"] is True
    assert Decision.objects.filter(lead_id=lead_id).count() == 1


def test_get_of_an_unknown_lead_is_404(api) -> None:  # noqa: ANN001
    client, headers = api
    assert client.get("/api/v1/leads/999999", **headers).status_code == 404


def test_openapi_document_describes_the_intake(client) -> None:  # noqa: ANN001
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/leads" in doc["paths"]
    body = doc["paths"]["/api/v1/leads"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert doc["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]["required"] == ["source", "external_id"]


def test_dry_run_writes_nothing_and_explains(api) -> None:  # noqa: ANN001
    client, headers = api
    rep = RepFactory()
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=rep)
    RuleFactory(pool=pool, name="Everything")
    response = client.post("/api/v1/route/dry-run", data=json.dumps(GOOD), content_type="application/json", **headers)
    assert response.status_code == 200
    body = response.json()
    assert body["outcome"] == "offer" and body["chosen_rep_id"] == rep.id
    assert Lead.objects.count() == 0 and Decision.objects.count() == 0
