"""Issue 11, lead side, through the API: checks after normalisation (input 2), normalised text
in conditions (input 3), amounts in one base currency (input 4), ISO codes and enumerations with
ops' synonyms (input 5), and named warnings in decisions (deliver 3)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.test import Client

from reps.models import Role
from routing.models import Decision, ExchangeRate, Lead, LeadSynonym
from routing.api import api as leadops_api
from routing.services import leads_route_pending
from routing.validation import LeadIn
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, make_token, user_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> tuple[Client, dict[str, str]]:
    return Client(), {"HTTP_AUTHORIZATION": f"Bearer {make_token(scopes=('intake', 'read', 'dry-run'))}"}


def post(api: tuple[Client, dict[str, str]], body: object, path: str = "/api/v1/leads") -> object:
    client, headers = api
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json", **headers)


def lead(**fields: object) -> dict[str, object]:
    return {"source": "web", "external_id": "t-1", **fields}


# --- input 2: checks after normalisation, on every text field; nothing the database cannot store ----


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (lead(country="US", state="ßßßßßßßßß"), "state"),  # 9 characters, 18 upper-cased
        (lead(state="ßßßßßßßßß"), "state"),
        (lead(product_line="İ" * 30), "product_line"),  # 30 characters, 60 once case-folded
        (lead(account_tier="ß" * 20), "account_tier"),
        (lead(company="Acme \ud800"), "company"),  # a lone surrogate
        (lead(last_name="Mu\u0000ñoz"), "last_name"),
        (lead(attributes={"city": "\udfff"}), "attributes"),
        (lead(attributes={"\ud83d": 1}), "attributes"),
        (lead(attributes={"note": "a\u0000b"}), "attributes"),
    ],
)
def test_text_is_checked_after_normalisation_and_unstorable_text_is_refused_by_field(api, body, field: str) -> None:  # noqa: ANN001
    response = post(api, body)
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [field]
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"source": "web", "external_id": "n", "value": NaN}', "value"),
        ('{"source": "web", "external_id": "n", "value": Infinity}', "value"),
        ('{"source": "web", "external_id": "n", "value": 1e999}', "value"),
        ('{"source": "web", "external_id": "n", "attributes": {"x": 1e999}}', "attributes"),
        ('{"source": "web", "external_id": "n", "attributes": {"x": -Infinity}}', "attributes"),
        ('{"source": "web", "external_id": "n", "attributes": {"x": 123456789012345678901234567890}}', "attributes"),
        ('{"source": "web", "external_id": "n", "attributes": ' + '{"a": ' * 20 + "1" + "}" * 20 + "}", "attributes"),
        ('{"source": "web", "external_id": "n", "fit_score": 1e2}', "fit_score"),
    ],
)
def test_json_values_the_database_cannot_store_are_refused_by_field(api, raw: str, field: str) -> None:  # noqa: ANN001
    response = post(api, raw)
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [field]
    assert not Lead.objects.exists()


def test_the_dry_run_applies_the_same_normaliser(api) -> None:  # noqa: ANN001
    response = post(api, {"country": "US", "state": "ßßßßßßßßß"}, path="/api/v1/route/dry-run")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["state"]


# --- input 5: ISO codes, enumerations, synonyms ------------------------------------------------


def test_countries_and_states_are_stored_as_iso_codes(api) -> None:  # noqa: ANN001
    response = post(api, lead(country="United States", state="California", language="Spanish"))
    assert response.status_code == 201
    stored = Lead.objects.get()
    assert (stored.country, stored.state, stored.language, stored.jurisdiction) == ("US", "CA", "es", "US-CA")


def test_a_california_lead_spelled_out_matches_a_ca_licence_and_is_not_dumped_on_the_manager(api) -> None:  # noqa: ANN001
    from tests.factories import LicenceFactory

    manager = RepFactory(display_name="Manager")
    licensed = RepFactory(display_name="Licensed in CA")
    LicenceFactory(rep=licensed, jurisdiction="US-CA", product_line="life")
    pool = PoolFactory(manager=manager)
    PoolMemberFactory(pool=pool, rep=licensed)
    RuleFactory(pool=pool, requirements={"licence": True}, fallback=[{"kind": "manager"}, {"kind": "holding"}])
    assert post(api, lead(country="US", state="California", product_line="Life", value=52000)).status_code == 201
    leads_route_pending()
    assert Decision.objects.get().chosen_rep_id == licensed.id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (lead(country="Atlantis"), "country"),
        (lead(country="US", state="Narnia"), "state"),
        (lead(country="US", state="ON"), "state"),  # Ontario is in CA, not US
        (lead(intent="scorching"), "intent"),
        (lead(language="Klingon"), "language"),  # ISO 639-2 only: no two-letter code
        (lead(currency="ABC"), "currency"),
    ],
)
def test_unknown_codes_and_values_are_refused_naming_the_field(api, body, field: str) -> None:  # noqa: ANN001
    response = post(api, body)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_intent_synonyms_are_configured_by_ops(api) -> None:  # noqa: ANN001
    # Seeded by the migration; made sure of here because transactional tests empty every table.
    LeadSynonym.objects.get_or_create(field="intent", alias="hot", defaults={"value": "high"})
    assert post(api, lead(external_id="hot", intent="HOT")).status_code == 201
    assert Lead.objects.get(external_id="hot").intent == "high"
    assert post(api, lead(external_id="s1", intent="Scorching")).status_code == 400
    LeadSynonym.objects.create(field="intent", alias="scorching", value="high")
    assert post(api, lead(external_id="s2", intent="Scorching")).status_code == 201
    assert Lead.objects.get(external_id="s2").intent == "high"


# --- input 4: one base currency, ops' exchange rates ------------------------------------------


@pytest.fixture
def high_value_world():  # noqa: ANN201
    junior, senior = RepFactory(display_name="Junior", tier=1), RepFactory(display_name="Senior", tier=3)
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=junior)
    PoolMemberFactory(pool=pool, rep=senior)
    RuleFactory(pool=pool, value_threshold=Decimal("50000"), high_value_min_tier=3)
    ExchangeRate.objects.create(currency="JPY", rate=Decimal("0.0067"), as_of=dt.date(2026, 1, 1))
    return junior, senior


def test_a_60000_jpy_lead_is_not_high_value_under_a_50000_threshold(api, high_value_world) -> None:  # noqa: ANN001
    assert post(api, lead(external_id="jpy", value=60000, currency="JPY")).status_code == 201
    assert post(api, lead(external_id="usd", value=60000, currency="USD")).status_code == 201
    jpy, usd = Lead.objects.get(external_id="jpy"), Lead.objects.get(external_id="usd")
    assert (jpy.value, jpy.currency, jpy.value_base, jpy.high_value) == (Decimal("60000.00"), "JPY", Decimal("402.00"), False)
    assert (usd.value_base, usd.high_value) == (Decimal("60000.00"), True)
    leads_route_pending()
    assert Decision.objects.get(lead=jpy).detail["high_value"] is False
    assert Decision.objects.get(lead=usd).detail["high_value"] is True


def test_a_rate_applies_from_its_as_of_date(api, high_value_world) -> None:  # noqa: ANN001
    ExchangeRate.objects.create(currency="JPY", rate=Decimal("1"), as_of=dt.date(2999, 1, 1))  # not yet
    assert post(api, lead(value=60000, currency="JPY")).status_code == 201
    assert Lead.objects.get().value_base == Decimal("402.00")


def test_a_lead_in_a_currency_without_a_rate_is_flagged_in_its_decision(api, high_value_world) -> None:  # noqa: ANN001
    response = post(api, lead(value=900000, currency="BRL"))
    assert response.status_code == 201
    stored = Lead.objects.get()
    assert (stored.value_base, stored.high_value) == (None, False)  # the documented policy
    leads_route_pending()
    client, headers = api
    body = client.get(f"/api/v1/leads/{stored.id}", **headers).json()
    warnings = body["decision"]["warnings"]
    assert [(w["kind"], w["field"]) for w in warnings] == [("no_exchange_rate", "value")]
    assert "BRL" in warnings[0]["message"] and body["decision"]["reasons"]["high_value"] is False
    assert (body["value"], body["currency"], body["value_base"], body["base_currency"]) == ("900000.00", "BRL", None, "USD")


# --- input 3 end to end, and deliver 3: warnings on every surface ------------------------------------


def test_a_city_with_a_combining_diaeresis_routes_by_the_zurich_rule(api) -> None:  # noqa: ANN001
    zurich_rep = RepFactory(display_name="Zürich desk")
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=zurich_rep)
    zurich = RuleFactory(pool=pool, priority=1, conditions=[{"field": "attributes.city", "op": "equals", "value": "Zürich"}])
    RuleFactory(priority=2)  # a catch-all that would take it otherwise
    response = post(api, {"country": "CH", "attributes": {"city": "Zu\u0308rich"}}, path="/api/v1/route/dry-run")
    assert response.status_code == 200
    assert response.json()["rule"]["id"] == zurich.id and response.json()["chosen_rep_id"] == zurich_rep.id


def test_a_condition_over_a_missing_attribute_warns_in_the_dry_run_the_decision_the_api_and_the_lead_page(api) -> None:  # noqa: ANN001
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=RepFactory())
    RuleFactory(pool=pool, name="Zurich desk", priority=1,
                conditions=[{"field": "attributes.city", "op": "equals", "value": "Zürich"}])  # fmt: skip
    RuleFactory(pool=pool, name="Everyone", priority=2)
    dry = post(api, {"country": "CH"}, path="/api/v1/route/dry-run").json()
    assert [(w["kind"], w["field"], w["sources"]) for w in dry["warnings"]] == [
        ("missing_field", "attributes.city", ["rule:Zurich desk"])]
    assert post(api, lead(country="CH")).status_code == 201
    leads_route_pending()
    decision = Decision.objects.get()
    assert decision.detail["warnings"][0]["field"] == "attributes.city"
    client, headers = api
    assert client.get(f"/api/v1/leads/{decision.lead_id}", **headers).json()["decision"]["warnings"][0]["kind"] == "missing_field"
    page = Client()
    page.force_login(user_with_role(Role.OPS))
    html = page.get(f"/dash/leads/{decision.lead_id}/").content.decode()
    assert "decision-warning" in html and "The lead has no city" in html


def test_the_console_test_lead_shows_warnings_and_normaliser_errors() -> None:
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=RepFactory())
    RuleFactory(pool=pool, name="Scored", priority=1, conditions=[{"field": "attributes.score", "op": "gt", "value": 5}])
    RuleFactory(pool=pool, name="Everyone", priority=2)
    client = Client()
    client.force_login(user_with_role(Role.OPS))
    html = client.post("/ops/test/", {"mode": "live", "lead_json": json.dumps({"attributes": {"score": "high"}})}).content.decode()
    assert "decision-warning" in html and "attributes.score" in html and "wrong_type" in html
    html = client.post("/ops/test/", {"mode": "live", "lead_json": json.dumps({"country": "US", "state": "ßßßßßßßßß"})}).content.decode()
    assert "This lead cannot be routed: state:" in html


def test_the_api_description_is_generated_from_the_lead_schema() -> None:
    document = leadops_api.get_openapi_schema()
    body = document["paths"]["/api/v1/leads"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    described = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    model = LeadIn.model_json_schema(ref_template="#/components/schemas/{model}")["properties"]
    without_null_defaults = {name: {k: v for k, v in field.items() if (k, v) != ("default", None)} for name, field in model.items()}
    assert described["properties"] == without_null_defaults
    assert set(described["properties"]) == set(LeadIn.model_fields)
