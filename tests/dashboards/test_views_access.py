"""Who may open the dashboards: managers and Sales Ops; reps get 403; anonymous users log in."""

from __future__ import annotations

import pytest
from django.test import Client

from reps.models import Role
from tests.factories import LeadFactory, user_with_role

PAGES = [
    "/dash/", "/dash/equity/", "/dash/equity/export.csv", "/dash/sla/", "/dash/capacity/", "/dash/decisions/",
    "/dash/decisions/export.csv", "/dash/replay/",
]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES + ["/dash/leads/{lead}/"])
def test_anonymous_users_are_sent_to_login(client: Client, url: str) -> None:
    response = client.get(url.format(lead=LeadFactory().id))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES + ["/dash/leads/{lead}/"])
def test_reps_are_refused(client: Client, url: str) -> None:
    client.force_login(user_with_role(Role.REP))
    assert client.get(url.format(lead=LeadFactory().id)).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.MANAGER, Role.OPS])
@pytest.mark.parametrize("url", PAGES)
def test_managers_and_sales_ops_see_every_dashboard(client: Client, role: Role, url: str) -> None:
    client.force_login(user_with_role(role))
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_sales_ops_open_any_lead_and_managers_only_their_teams(client: Client) -> None:
    """A lead never offered to the manager's team is not theirs to read (tests/proof/test_team_scope.py)."""
    lead = LeadFactory()
    client.force_login(user_with_role(Role.OPS))
    assert client.get(f"/dash/leads/{lead.id}/").status_code == 200
    client.force_login(user_with_role(Role.MANAGER))
    assert client.get(f"/dash/leads/{lead.id}/").status_code == 404


@pytest.mark.django_db
def test_htmx_fragments_are_refused_to_reps_too(client: Client) -> None:
    client.force_login(user_with_role(Role.REP))
    assert client.get("/dash/equity/", headers={"HX-Request": "true"}).status_code == 403
    assert client.get("/dash/decisions/", headers={"HX-Request": "true"}).status_code == 403


@pytest.mark.django_db
def test_replay_post_is_refused_to_reps(client: Client) -> None:
    from routing.dashboards.models import ReplayJob

    client.force_login(user_with_role(Role.REP))
    assert client.post("/dash/replay/", {"start": "2026-01-01", "end": "2026-01-02"}).status_code == 403
    assert not ReplayJob.objects.exists()


@pytest.mark.django_db
def test_unknown_lead_is_404(ops_client: Client) -> None:
    assert ops_client.get("/dash/leads/999999/").status_code == 404
