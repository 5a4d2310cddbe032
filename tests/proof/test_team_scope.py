"""Failing input 7 of issue 12: a manager of team A saw team B's capacity, away status and every
lead timeline, decline notes included. Two managers with separate teams, real routing, every
manager-facing page and export: each manager sees their own team's reps and the leads offered to
them; Sales Ops see all. The scope lives in one helper (reps/scope.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from reps import services as rep_services
from reps.models import Rep, Role
from reps.scope import visibility_for
from routing import services
from routing.dashboards.models import ReplayJob
from routing.models import Lead, Offer
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, TeamFactory, user_with_role

pytestmark = pytest.mark.django_db

NOTE = "pricing is 40% below list, do not tell anyone"


@dataclass
class Teams:
    a_manager: Rep
    b_manager: Rep
    a1: Rep
    a2: Rep
    b1: Rep
    lead_a: Lead  # offered only to team A
    lead_b: Lead  # offered only to team B
    shared: Lead  # declined (with a note) by b1, then offered to a1


def _manager(name: str, team) -> Rep:  # noqa: ANN001
    rep = RepFactory(display_name=name, team=team)
    rep.user.groups.add(Group.objects.get_or_create(name=Role.MANAGER.value)[0])
    return rep


def _route(source: str, external_id: str) -> Lead:
    lead, _ = services.lead_intake(data={"source": source, "external_id": external_id})
    services.leads_route_all_pending()
    lead.refresh_from_db()
    return lead


@pytest.fixture
def teams() -> Teams:
    team_a, team_b = TeamFactory(name="Team A"), TeamFactory(name="Team B")
    a_manager, b_manager = _manager("Ann Manager", team_a), _manager("Bea Manager", team_b)
    a1, a2 = RepFactory(display_name="Alice A1", team=team_a), RepFactory(display_name="Aaron A2", team=team_a)
    b1 = RepFactory(display_name="Bruno B1", team=team_b)
    pool_a, pool_b, shared_pool = PoolFactory(name="Pool A"), PoolFactory(name="Pool B"), PoolFactory(name="Shared")
    PoolMemberFactory(pool=pool_a, rep=a1)
    PoolMemberFactory(pool=pool_b, rep=b1)
    PoolMemberFactory(pool=shared_pool, rep=b1)
    for name, pool, source, fallback in (
        ("Team A leads", pool_a, "a", [{"kind": "holding"}]),
        ("Team B leads", pool_b, "b", [{"kind": "holding"}]),
        ("Shared leads", shared_pool, "shared", [{"kind": "backup", "target_id": a1.id}, {"kind": "holding"}]),
    ):
        RuleFactory(name=name, pool=pool, fallback=fallback, conditions=[{"field": "source", "op": "equals", "value": source}])
    services.rule_publish(note="two teams")
    lead_a, lead_b, shared = _route("a", "1"), _route("b", "2"), _route("shared", "3")
    assert (lead_a.owner_id, lead_b.owner_id, shared.owner_id) == (a1.id, b1.id, b1.id)
    services.offer_decline(offer_id=Offer.objects.get(lead=shared, rep=b1).id, rep=b1, reason="other", note=NOTE)
    services.leads_route_all_pending()
    assert Offer.objects.get(lead=shared, status=Offer.Status.OPEN).rep_id == a1.id
    rep_services.rep_set_away(rep=b1)  # team B's away status, not team A's business
    return Teams(a_manager, b_manager, a1, a2, b1, lead_a, lead_b, shared)


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _text(response) -> str:  # noqa: ANN001
    assert response.status_code == 200, response.status_code
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def test_the_helper_gives_each_manager_their_team_and_ops_everyone(teams: Teams) -> None:
    a = visibility_for(teams.a_manager.user)
    assert not a.everything and a.rep_ids == {teams.a_manager.id, teams.a1.id, teams.a2.id}
    assert visibility_for(teams.b_manager.user).rep_ids == {teams.b_manager.id, teams.b1.id}
    assert visibility_for(user_with_role(Role.OPS)).everything
    assert visibility_for(user_with_role(Role.MANAGER)).rep_ids == frozenset()  # no rep profile: no team
    assert visibility_for(teams.a1.user).rep_ids == frozenset()  # reps are not managers


def test_direct_reports_outside_the_team_are_the_managers_too(teams: Teams) -> None:
    stray = RepFactory(display_name="Stray Report", manager=teams.a_manager)  # no team, reports to Ann
    assert stray.id in visibility_for(teams.a_manager.user).rep_ids


def test_team_page_lists_only_the_managers_team(teams: Teams) -> None:
    html = _text(_client(teams.a_manager.user).get("/team/"))
    assert "Alice A1" in html and "Aaron A2" in html and "Bruno B1" not in html
    html = _text(_client(teams.b_manager.user).get("/team/"))
    assert "Bruno B1" in html and "Alice A1" not in html


def test_a_manager_cannot_set_an_absence_for_another_teams_rep(teams: Teams) -> None:
    now = timezone.now()
    response = _client(teams.a_manager.user).post("/team/absences/", {
        "rep": teams.b1.id, "starts_at": (now + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"), "reason": "vacation",
    })  # fmt: skip
    assert response.status_code == 422 and not teams.b1.absences.exists()


def test_capacity_and_away_status_are_team_only(teams: Teams) -> None:
    html = _text(_client(teams.a_manager.user).get("/dash/capacity/"))
    assert "Alice A1" in html and "Bruno B1" not in html
    html = _text(_client(teams.b_manager.user).get("/dash/capacity/"))
    assert "Bruno B1" in html and "Alice A1" not in html
    ops = _text(_client(user_with_role(Role.OPS)).get("/dash/capacity/"))
    assert "Alice A1" in ops and "Bruno B1" in ops


def test_lead_timelines_are_team_only_and_hide_other_teams_notes(teams: Teams) -> None:
    a = _client(teams.a_manager.user)
    assert a.get(f"/dash/leads/{teams.lead_b.id}/").status_code == 404
    assert a.get(f"/dash/leads/{teams.lead_a.id}/").status_code == 200
    shared = _text(a.get(f"/dash/leads/{teams.shared.id}/"))  # offered to Alice after Bruno declined
    assert "Alice A1" in shared
    assert "Bruno B1" not in shared and NOTE not in shared and "A rep outside your team" in shared
    b_view = _text(_client(teams.b_manager.user).get(f"/dash/leads/{teams.shared.id}/"))
    assert NOTE in b_view and "Bruno B1" in b_view and "Alice A1" not in b_view
    ops_view = _text(_client(user_with_role(Role.OPS)).get(f"/dash/leads/{teams.shared.id}/"))
    assert NOTE in ops_view and "Alice A1" in ops_view and "Bruno B1" in ops_view


def test_decision_explorer_and_its_export_are_team_only(teams: Teams) -> None:
    a = _client(teams.a_manager.user)
    html = _text(a.get("/dash/decisions/"))
    assert f"/dash/leads/{teams.lead_a.id}/" in html and f"/dash/leads/{teams.shared.id}/" in html
    assert f"/dash/leads/{teams.lead_b.id}/" not in html and "Bruno B1" not in html
    rows = list(csv.DictReader(io.StringIO(_text(a.get("/dash/decisions/export.csv")))))
    assert {int(r["Lead id"]) for r in rows} == {teams.lead_a.id, teams.shared.id}
    assert not any("Bruno" in value for r in rows for value in r.values())
    assert {int(r["Lead id"]) for r in csv.DictReader(io.StringIO(_text(
        _client(user_with_role(Role.OPS)).get("/dash/decisions/export.csv"))))} == {teams.lead_a.id, teams.lead_b.id, teams.shared.id}
    # Asking for another team's lead by id finds nothing.
    assert f"/dash/leads/{teams.lead_b.id}/" not in _text(a.get(f"/dash/decisions/?lead={teams.lead_b.id}"))


def test_equity_sla_and_home_are_team_only(teams: Teams) -> None:
    a = _client(teams.a_manager.user)
    pool_b = teams.lead_b.decisions.first().pool_id
    for url in (f"/dash/equity/?pool={pool_b}&window=today", f"/dash/equity/export.csv?pool={pool_b}&window=today",
                "/dash/sla/?window=today&by=rep", "/dash/"):
        assert "Bruno B1" not in _text(a.get(url)), url
    assert "Alice A1" in _text(a.get("/dash/sla/?window=today&by=rep"))
    assert "Bruno B1" in _text(_client(teams.b_manager.user).get("/dash/sla/?window=today&by=rep"))
    assert "Bruno B1" in _text(_client(user_with_role(Role.OPS)).get(f"/dash/equity/export.csv?pool={pool_b}&window=today"))


def test_replay_results_name_only_the_managers_team(teams: Teams) -> None:
    job = ReplayJob.objects.create(
        start=dt.date.today(), end=dt.date.today(), status=ReplayJob.Status.DONE, total=2, done=2,
        result={"leads": 2, "changed": 0, "truncated": False, "holding": {"actual": 0, "projected": 0}, "segments": [],
                "reps": [{"rep_id": r.id, "name": r.display_name, "actual": 1, "projected": 1, "actual_share": 0.5,
                          "projected_share": 0.5} for r in (teams.a1, teams.b1)]},
    )  # fmt: skip
    html = _text(_client(teams.a_manager.user).get(f"/dash/replay/{job.id}/"))
    assert "Alice A1" in html and "Bruno B1" not in html
