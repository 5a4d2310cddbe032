"""Ops maintain exchange rates and synonyms on a page (issue 11, inputs 4 and 5)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from reps.models import Role
from routing.models import ExchangeRate, LeadSynonym
from routing.reference import ReferenceDataError, exchange_rate_create, lead_synonym_create, vocabulary_load
from routing.validation import clean_lead
from tests.factories import user_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops_client(client):  # noqa: ANN001, ANN201
    client.force_login(user_with_role(Role.OPS))
    return client


def test_ops_add_a_rate_and_it_converts_the_next_lead(ops_client) -> None:  # noqa: ANN001
    response = ops_client.post("/leads/reference/", {"kind": "rate", "rate-currency": "jpy", "rate-rate": "0.0067",
                                                     "rate-as_of": "2026-01-01", "rate-note": "ECB, 2026-01-01"})  # fmt: skip
    assert response.status_code == 302
    assert ExchangeRate.objects.get().currency == "JPY"
    cleaned = clean_lead({"source": "web", "external_id": "1", "value": 60000, "currency": "JPY"},
                         vocabulary=vocabulary_load(), today=dt.date(2026, 6, 1))  # fmt: skip
    assert cleaned["value_base"] == Decimal("402.00")
    page = ops_client.get("/leads/reference/").content.decode()
    assert "JPY" in page and "0.0067" in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"rate-currency": "ZZZ", "rate-rate": "1", "rate-as_of": "2026-01-01"}, "currency", "ISO 4217"),
        ({"rate-currency": "USD", "rate-rate": "1", "rate-as_of": "2026-01-01"}, "currency", "base currency"),
        ({"rate-currency": "EUR", "rate-rate": "0", "rate-as_of": "2026-01-01"}, "rate", "greater than or equal"),
    ],
)
def test_a_bad_rate_is_refused_on_its_field(ops_client, data: dict, field: str, message: str) -> None:  # noqa: ANN001
    response = ops_client.post("/leads/reference/", {"kind": "rate", **data})
    assert response.status_code == 200 and message in response.content.decode()
    assert not ExchangeRate.objects.exists()


def test_a_second_rate_for_the_same_day_is_refused() -> None:
    exchange_rate_create(currency="EUR", rate=Decimal("1.08"), as_of=dt.date(2026, 1, 1))
    with pytest.raises(ReferenceDataError) as exc:
        exchange_rate_create(currency="eur", rate=Decimal("1.1"), as_of=dt.date(2026, 1, 1))
    assert "as_of" in exc.value.errors


def test_ops_add_and_remove_a_synonym(ops_client) -> None:  # noqa: ANN001
    response = ops_client.post("/leads/reference/", {"kind": "synonym", "syn-field": "state", "syn-alias": "Calif.",
                                                     "syn-value": "us-ca"})  # fmt: skip
    assert response.status_code == 302
    cleaned = clean_lead({"source": "web", "external_id": "1", "country": "US", "state": "calif"}, vocabulary=vocabulary_load())
    assert cleaned["state"] == "CA"
    synonym = LeadSynonym.objects.get(alias="Calif.")
    assert ops_client.post(f"/leads/reference/synonyms/{synonym.id}/delete/").status_code == 302
    assert not LeadSynonym.objects.filter(alias="Calif.").exists()


@pytest.mark.parametrize(
    ("field_name", "value"),
    [("intent", "urgent"), ("country", "XX"), ("language", "english"), ("currency", "ABC"), ("state", "CA")],
)
def test_a_synonym_must_stand_for_a_valid_value(field_name: str, value: str) -> None:
    with pytest.raises(ReferenceDataError) as exc:
        lead_synonym_create(field_name=field_name, alias="whatever", value=value)
    assert "value" in exc.value.errors


def test_reps_cannot_reach_the_page(client) -> None:  # noqa: ANN001
    client.force_login(user_with_role(Role.REP))
    assert client.get("/leads/reference/").status_code == 403
    assert client.post("/leads/reference/", {"kind": "synonym", "syn-field": "intent", "syn-alias": "x", "syn-value": "high"}).status_code == 403
    assert not LeadSynonym.objects.filter(alias="x").exists()


def test_the_admin_applies_the_same_checks(client) -> None:  # noqa: ANN001
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-for-tests-123"))
    response = client.post("/admin/routing/exchangerate/add/", {"currency": "ZZZ", "rate": "1", "as_of": "2026-01-01"})
    assert response.status_code == 200 and "ISO 4217" in response.content.decode()
    response = client.post("/admin/routing/leadsynonym/add/", {"field": "intent", "alias": "x", "value": "urgent"})
    assert response.status_code == 200 and "Intent synonyms stand for" in response.content.decode()
    assert not ExchangeRate.objects.exists() and not LeadSynonym.objects.filter(alias="x").exists()
