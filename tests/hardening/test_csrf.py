"""CSRF on every form and HTMX post: without the token a signed-in user's POST is a 403 that changes
nothing; with the token from the page (form field or the hx-headers X-CSRFToken) it is accepted."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from reps.models import Role
from routing.models import Offer, Rule, RuleSet
from tests.factories import AbsenceFactory, user_with_role
from tests.hardening.conftest import Routed, row_counts


def _client(user) -> Client:  # noqa: ANN001
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _post_urls(routed: Routed, absence_id: int) -> dict[str, list[str]]:
    rule, rep, lead, offer = routed.world.rule, routed.rep, routed.lead, routed.offer
    history_id = rule.history.latest().history_id
    version = RuleSet.objects.latest("version").version
    return {
        "ops": [
            "/leads/import/", "/ops/rules/new/", f"/ops/rules/{rule.id}/", f"/ops/rules/{rule.id}/move/up/",
            f"/ops/rules/{rule.id}/toggle/", f"/ops/rules/{rule.id}/archive/",
            f"/ops/rules/{rule.id}/history/{history_id}/restore/", "/ops/versions/", f"/ops/versions/{version}/restore/",
            "/ops/test/", "/ops/config/", "/ops/pools/new/", f"/ops/pools/{routed.world.pool.id}/",
            f"/ops/reps/{rep.id}/deactivate/", "/ops/segments/new/", "/ops/skills/new/", "/ops/territories/new/",
        ],
        "manager": ["/dash/replay/", "/team/absences/", f"/team/absences/{absence_id}/end/"],
        "rep": [f"/inbox/offers/{offer.id}/accept/", f"/inbox/offers/{offer.id}/decline/",
                f"/inbox/leads/{lead.id}/close/", f"/inbox/leads/{lead.id}/hand-back/", "/inbox/away/"],
        "anyone": ["/logout/"],
    }  # fmt: skip


def test_every_post_without_a_token_is_refused_and_changes_nothing(routed: Routed) -> None:
    manager = routed.world.manager.user
    manager.groups.add(Group.objects.get_or_create(name=Role.MANAGER.value)[0])
    clients = {"ops": _client(user_with_role(Role.OPS, "ops")), "manager": _client(manager),
               "rep": _client(routed.rep.user), "anyone": _client(routed.rep.user)}  # fmt: skip
    absence = AbsenceFactory(rep=routed.world.backup)
    before = row_counts()
    refused = []
    for role, urls in _post_urls(routed, absence.id).items():
        for url in urls:
            for headers in ({}, {"HX-Request": "true"}):
                response = clients[role].post(url, {"reason": "busy", "mode": "now", "note": "x"}, headers=headers)
                refused.append((url, response.status_code))
    assert {status for _, status in refused} == {403}, [r for r in refused if r[1] != 403]
    assert row_counts() == before
    routed.offer.refresh_from_db()
    assert routed.offer.status == Offer.Status.OPEN


def _token(client: Client, page: str) -> str:
    html = client.get(page).content.decode()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html) or re.search(r'"X-CSRFToken": "([^"]+)"', html)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


@pytest.mark.django_db
def test_the_token_from_the_page_is_accepted_as_form_field_and_htmx_header(routed: Routed) -> None:
    ops = _client(user_with_role(Role.OPS, "ops"))
    token = _token(ops, "/ops/rules/")
    response = ops.post(f"/ops/rules/{routed.world.rule.id}/toggle/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Rule.objects.get(pk=routed.world.rule.id).enabled is False
    response = ops.post(f"/ops/rules/{routed.world.rule.id}/toggle/", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 200 and Rule.objects.get(pk=routed.world.rule.id).enabled is True

    rep = _client(routed.rep.user)
    token = _token(rep, "/inbox/")
    response = rep.post(f"/inbox/offers/{routed.offer.id}/accept/", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 200
    routed.offer.refresh_from_db()
    assert routed.offer.status == Offer.Status.ACCEPTED
    response = rep.post("/inbox/away/", {"mode": "now", "csrfmiddlewaretoken": token})
    assert response.status_code == 302


@pytest.mark.django_db
def test_the_api_trusts_a_session_only_with_the_csrf_token(routed: Routed) -> None:
    """A signed-in browser may call the API (issue 17: a rep's offers through the session), but an
    unsafe request without the CSRF token is a 403 that changes nothing; bearer tokens need none."""
    from routing.models import Lead

    client = _client(user_with_role(Role.OPS, "ops"))
    body = '{"source": "web", "external_id": "csrf-x"}'
    before = Lead.objects.count()
    response = client.post("/api/v1/leads", data=body, content_type="application/json")
    assert response.status_code == 403 and "csrf" in response.json()["errors"]
    assert Lead.objects.count() == before
    client.get("/ops/rules/")  # a page with a form sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post("/api/v1/leads", data=body, content_type="application/json", headers={"X-CSRFToken": token})
    assert accepted.status_code == 201 and Lead.objects.count() == before + 1
