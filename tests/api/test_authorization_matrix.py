"""Authorization matrix of the API: every operation in the generated document × every token
scope × every role, through integration tokens, personal tokens and the session; and two managers
on each other's team ids.

The expectations below are written out by hand, independently of the code's ``access(...)``
declarations, and the table must list exactly the document's operations: a new endpoint fails
this test until someone decides who may call it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from reps.models import Absence, Rep, Role, Team
from routing import services
from routing.api import api
from routing.models import Offer, TokenScope, WebhookDelivery
from tests.factories import AbsenceFactory, PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, make_token, user_with_role

pytestmark = pytest.mark.django_db

OPS, MANAGER, REP = "ops", "manager", "rep"
STAFF = frozenset({OPS, MANAGER})
SCOPES = tuple(TokenScope.values)

# (method, path template) -> (scope a token needs, roles a user needs, whether an integration
# token without a user may call it).
EXPECTED: dict[tuple[str, str], tuple[str, frozenset[str], bool]] = {
    ("POST", "/api/v1/leads"): ("intake", frozenset({OPS}), True),
    ("GET", "/api/v1/leads"): ("read", STAFF, True),
    ("GET", "/api/v1/leads/{lead_id}"): ("read", STAFF, True),
    ("POST", "/api/v1/leads/{lead_id}/first-touch"): ("offers", frozenset({REP}), True),
    ("POST", "/api/v1/route/dry-run"): ("dry-run", frozenset({OPS}), True),
    ("GET", "/api/v1/decisions"): ("read", STAFF, True),
    ("GET", "/api/v1/offers"): ("offers", frozenset({REP}), False),
    ("POST", "/api/v1/offers/{offer_id}/accept"): ("offers", frozenset({REP}), False),
    ("POST", "/api/v1/offers/{offer_id}/decline"): ("offers", frozenset({REP}), False),
    ("GET", "/api/v1/reps"): ("read", STAFF, True),
    ("GET", "/api/v1/reps/{rep_id}"): ("read", STAFF | {REP}, True),
    ("POST", "/api/v1/reps/{rep_id}/away"): ("reps", STAFF | {REP}, True),
    ("POST", "/api/v1/reps/{rep_id}/back"): ("reps", STAFF | {REP}, True),
    ("PUT", "/api/v1/reps/{rep_id}/caps"): ("reps", STAFF, True),
    ("GET", "/api/v1/reps/{rep_id}/absences"): ("read", STAFF | {REP}, True),
    ("POST", "/api/v1/reps/{rep_id}/absences"): ("reps", STAFF, True),
    ("POST", "/api/v1/absences/{absence_id}/end"): ("reps", STAFF, True),
    ("GET", "/api/v1/config"): ("config", frozenset({OPS}), True),
    ("POST", "/api/v1/config/import"): ("config", frozenset({OPS}), True),
    ("GET", "/api/v1/config/diff"): ("config", frozenset({OPS}), True),
    ("POST", "/api/v1/config/publish"): ("config", frozenset({OPS}), True),
    ("GET", "/api/v1/webhooks/deliveries"): ("admin", frozenset({OPS}), True),
    ("POST", "/api/v1/webhooks/deliveries/{delivery_id}/redeliver"): ("admin", frozenset({OPS}), True),
    ("PUT", "/api/v1/accounts/{external_id}"): ("accounts", frozenset({OPS}), True),
}
# Variants the document lists under one operation: unpublished rules need admin.
VARIANTS = {("POST", "/api/v1/route/dry-run?draft=1"): ("admin", frozenset({OPS}), True)}


def _bodies(ids: dict) -> dict[str, object]:
    start = timezone.now() + dt.timedelta(days=2)
    return {
        "/api/v1/leads": {"source": "matrix", "external_id": "m"},
        "/api/v1/route/dry-run": {"country": "US"},
        "/api/v1/leads/{lead_id}/first-touch": {"channel": "call"},
        "/api/v1/offers/{offer_id}/decline": {"reason": "other"},
        "/api/v1/reps/{rep_id}/away": {"until": None},
        "/api/v1/reps/{rep_id}/caps": {"max_open": 5, "max_daily": None, "max_weekly": None},
        "/api/v1/reps/{rep_id}/absences": {"starts_at": start.isoformat(), "ends_at": (start + dt.timedelta(days=1)).isoformat()},
        # Refused by the validator (400): an accepted one would replace the whole configuration.
        "/api/v1/config/import": {"format": "not-leadops"},
        "/api/v1/config/publish": {"note": "matrix"},
        "/api/v1/accounts/{external_id}": {"name": "Matrix Ltd", "domains": ["matrix.example"]},
    }


@pytest.fixture
def world() -> dict:
    team = Team.objects.create(name="Matrix team")
    rep = RepFactory(team=team, display_name="Rita")
    other = RepFactory(display_name="Otto")
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=rep)
    PoolMemberFactory(pool=pool, rep=other)
    RuleFactory(pool=pool)
    services.rule_publish()
    for i in range(2):
        services.lead_intake(data={"source": "matrix", "external_id": f"seed-{i}"})
        services.leads_route_all_pending()
    offer = Offer.objects.get(rep=rep)
    users = {
        REP: rep.user,
        MANAGER: RepFactory(team=team, user=user_with_role(Role.MANAGER, "mona")).user,
        OPS: user_with_role(Role.OPS, "olga"),
        "superuser": User.objects.create_superuser("root", "root@example.com", "pw-for-tests-123"),
    }  # fmt: skip
    delivery = WebhookDelivery.objects.create(event="t", payload={}, next_attempt_at=timezone.now(), status="failed")
    ids = {"lead_id": offer.lead_id, "offer_id": offer.id, "rep_id": rep.id,
           "absence_id": AbsenceFactory(rep=rep).id, "delivery_id": delivery.id, "external_id": "crm-matrix"}  # fmt: skip
    return {"users": users, "ids": ids, "rep": rep, "other": other}


def _call(client: Client, method: str, template: str, ids: dict) -> int:
    path = template.format(**ids)
    body = _bodies(ids).get(template.split("?")[0])
    if method == "GET":
        response = client.get(path)
    else:
        response = getattr(client, method.lower())(path, data=json.dumps(body or {}), content_type="application/json")
    assert response.status_code < 500, f"{method} {path}: {response.status_code}"
    if response.status_code in (401, 403):
        assert response["Content-Type"] == "application/problem+json"
    return response.status_code


def _document_operations() -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, ops in api.get_openapi_schema()["paths"].items() for m in ops}


def test_the_table_lists_exactly_the_documented_operations_and_the_urlconf_serves_only_those() -> None:
    assert _document_operations() == set(EXPECTED)
    documented = {re.sub(r"\{(\w+)\}", lambda m: f"<{m[1]}>" if m[1] == "external_id" else f"<int:{m[1]}>", p)
                  .removeprefix("/api/v1/") for _, p in EXPECTED}  # fmt: skip

    def walk(patterns, prefix=""):  # noqa: ANN001, ANN202
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)

    served = {p.removeprefix("api/v1/") for p in walk(get_resolver().url_patterns) if p.startswith("api/v1/")}
    assert served - documented == {"openapi.json", "docs", "", r"^[\s\S]*\Z"}  # the document, its docs, 404s


def _table() -> list[tuple[str, str, str, frozenset[str], bool]]:
    rows = [(m, p, *rule) for (m, p), rule in EXPECTED.items()]
    return rows + [(m, p, *rule) for (m, p), rule in VARIANTS.items()]


def _callers(world: dict) -> list[tuple[str, Client, Callable[[str, frozenset[str], bool], bool]]]:
    """(label, client, whether it may call an operation with this (scope, roles, integration))."""
    callers: list[tuple[str, Client, Callable[[str, frozenset[str], bool], bool]]] = [
        ("anonymous", Client(), lambda needed, roles, integration: False),
    ]
    for scope in SCOPES:  # every scope on its own: integration tokens
        raw = make_token(f"integration {scope}", scopes=(scope,))
        callers.append((f"integration token {scope}", Client(headers={"Authorization": f"Bearer {raw}"}),
                        lambda needed, roles, integration, scope=scope: integration and scope in (needed, "admin")))
    for role in (REP, MANAGER, OPS):  # both conditions at once: personal tokens of each role
        for scope in SCOPES:
            raw = make_token(f"{role} {scope}", scopes=(scope,), user=world["users"][role])
            callers.append((f"{role} token {scope}", Client(headers={"Authorization": f"Bearer {raw}"}),
                            lambda needed, roles, integration, scope=scope, role=role:
                            scope in (needed, "admin") and role in roles))  # fmt: skip
    for role in (REP, MANAGER, OPS, "superuser"):  # sessions: the role alone
        client = Client()
        client.force_login(world["users"][role])
        held = {OPS, MANAGER} if role == "superuser" else {role}  # a superuser holds the staff roles
        callers.append((f"{role} session", client, lambda needed, roles, integration, held=held: bool(held & roles)))
    return callers


def test_every_operation_by_every_caller_token_scope_and_role(world: dict) -> None:
    """Anonymous callers get 401; an integration token needs the scope; a personal token needs
    the scope and its user's role; a session needs the role. Refusals are 401/403 problem
    details; an allowed call may still answer 400/404/409 about the data, never 401/403."""
    wrong = []
    checked = 0
    for label, client, may in _callers(world):
        for method, path, needed, roles, integration in _table():
            status = _call(client, method, path, world["ids"])
            checked += 1
            allowed = may(needed, roles, integration)
            if label == "anonymous" and status != 401:
                wrong.append(f"{label} {method} {path}: {status}")
            elif (status in (401, 403)) == allowed:
                wrong.append(f"{label:28} {method} {path}: {status} (expected {'allowed' if allowed else 'refused'})")
    assert checked == len(_table()) * (1 + len(SCOPES) * 4 + 4)
    assert not wrong, "\n".join(wrong)


def test_a_deactivated_users_personal_token_stops_working(world: dict) -> None:
    raw = make_token("ops", scopes=("read",), user=world["users"][OPS])
    User.objects.filter(id=world["users"][OPS].id).update(is_active=False)
    assert Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/v1/leads").status_code == 401


def test_two_managers_each_reach_only_their_own_teams_reps_leads_and_absences(world: dict) -> None:
    """Every operation taking a lead, rep or absence id that managers may call, with each team's ids."""
    team_b = Team.objects.create(name="B")
    Rep.objects.filter(id=world["other"].id).update(team=team_b)
    manager_b = RepFactory(team=team_b, user=user_with_role(Role.MANAGER, "bea")).user
    by_team = {
        "A": {**world["ids"], "absence_id": AbsenceFactory(rep=world["rep"]).id},
        "B": {**world["ids"], "lead_id": Offer.objects.get(rep=world["other"]).lead_id, "rep_id": world["other"].id,
              "absence_id": AbsenceFactory(rep=world["other"]).id},
    }  # fmt: skip
    managers = {"A": world["users"][MANAGER], "B": manager_b}
    team_ops = [(m, p) for (m, p), (_s, roles, _i) in EXPECTED.items()
                if MANAGER in roles and re.search(r"\{(lead_id|rep_id|absence_id)\}", p)]  # fmt: skip
    assert len(team_ops) == 8
    wrong = []
    for method, path in team_ops:
        for owner in ("A", "B"):
            for viewer in ("A", "B"):
                raw = make_token(f"{viewer}-{owner}-{path}", scopes=("admin",), user=managers[viewer])
                before = (Absence.objects.count(), list(Rep.objects.order_by("id").values_list("away_until", "max_open")))
                status = _call(Client(headers={"Authorization": f"Bearer {raw}"}), method, path, by_team[owner])
                if viewer == owner and status in (401, 403, 404):
                    wrong.append(f"manager {viewer} refused on own team's {method} {path}: {status}")
                if viewer != owner:
                    after = (Absence.objects.count(), list(Rep.objects.order_by("id").values_list("away_until", "max_open")))
                    if status != 404 or after != before:
                        wrong.append(f"manager {viewer} reached team {owner}'s {method} {path}: {status}")
    assert not wrong, "\n".join(wrong)
