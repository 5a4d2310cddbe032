"""The JSON API: every malformed body is a 4xx keyed by field, and nothing is stored."""

from __future__ import annotations

import json
import unicodedata

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.models import Lead
from tests.factories import make_token
from tests.hardening.conftest import row_counts

pytestmark = pytest.mark.django_db
LEAD = {"source": "web", "external_id": "42", "country": "US", "state": "CA", "value": 1000}


@pytest.fixture
def api() -> Client:
    return Client(headers={"Authorization": f"Bearer {make_token(scopes=('intake', 'read', 'dry-run'))}"}, raise_request_exception=False)


@pytest.mark.parametrize(("body", "field"), [
    (b"[" * 20_000 + b"]" * 20_000, "__all__"), (b"\xff\xfe{", "__all__"), (b"[]", "__all__"),
    (b'{"value": NaN}', "value"), (b'{"value": Infinity}', "value"),
    (json.dumps({**LEAD, "value": "1e400"}).encode(), "value"), (json.dumps({**LEAD, "value": -1}).encode(), "value"),
    (json.dumps({**LEAD, "company": "A\x00"}).encode(), "company"),
    (json.dumps({**LEAD, "attributes": {"tag": "a\x00"}}).encode(), "attributes"),
    (json.dumps({**LEAD, "attributes": {"t\x00": 1}}).encode(), "attributes"),
    (json.dumps({**LEAD, "attributes": [1]}).encode(), "attributes"),
    (json.dumps({**LEAD, "fit_score": 10**30}).encode(), "fit_score"),
    (json.dumps({**LEAD, "external_id": "x" * 500}).encode(), "external_id"),
    (json.dumps({**LEAD, "email": "nope"}).encode(), "email"), (json.dumps({**LEAD, "\x00": 1}).encode(), "\x00"),
])  # fmt: skip
def test_intake_refuses_bad_bodies_by_field(api: Client, body: bytes, field: str) -> None:
    before = row_counts()
    for url in ("/api/v1/leads", "/api/v1/route/dry-run"):
        response = api.post(url, data=body, content_type="application/json")
        assert response.status_code == 400, (url, response.content[:200])
        assert field in response.json()["errors"]
    assert row_counts() == before


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(company=st.text(max_size=50), tag=st.text(max_size=20))
def test_intake_stores_any_text_without_nul_and_refuses_the_rest(api: Client, company: str, tag: str) -> None:
    Lead.objects.all().delete()
    body = {**LEAD, "company": company, "attributes": {"tag": tag}}
    response = api.post("/api/v1/leads", data=json.dumps(body), content_type="application/json")
    assert response.status_code in (201, 400)
    if "\x00" in company + tag or len(company.strip()) > 200:
        assert response.status_code == 400
    if response.status_code == 201:
        assert Lead.objects.get().attributes == {"tag": unicodedata.normalize("NFC", tag)}  # stored as NFC


def test_wrong_content_type_and_missing_token_are_4xx(api: Client) -> None:
    assert api.post("/api/v1/leads", data="source=web", content_type="application/x-www-form-urlencoded").status_code == 400
    assert api.post("/api/v1/leads", data=b"", content_type="application/json").status_code == 400
    assert Client().post("/api/v1/leads", data=json.dumps(LEAD), content_type="application/json").status_code == 401
    bad = Client(headers={"Authorization": "Bearer \x00" + "x" * 5000})
    assert bad.post("/api/v1/leads", data=json.dumps(LEAD), content_type="application/json").status_code == 401
    assert not Lead.objects.exists()
