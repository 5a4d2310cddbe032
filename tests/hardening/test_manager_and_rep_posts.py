"""Replay, team absences and the rep inbox: junk posts are refused by field and change nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reps.models import Absence, Role
from routing.dashboards.models import ReplayJob
from routing.models import Offer
from tests.factories import RepFactory, user_with_role
from tests.hardening.conftest import JUNK, Routed, logged_in, row_counts

FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
HTMX = {"HX-Request": "true"}


def _refused(client: Client, url: str, data: dict, *, status: tuple[int, ...] = (200, 400, 422),
             headers: dict | None = None) -> str:  # fmt: skip
    before = row_counts()
    response = client.post(url, data, headers=headers or {})
    assert response.status_code in status, (url, data, response.status_code)
    assert row_counts() == before, f"{url} wrote rows for {data!r}"
    return response.content.decode()


# --- replay -------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "named"), [
    ({}, "This field is required"), ({"start": "2026-13-45", "end": "2026-01-01"}, "Enter a valid date"),
    ({"start": "2026-02-10", "end": "2026-02-01"}, "start date must not be after the end date"),
    ({"start": "2020-01-01", "end": "2026-01-01"}, "at most 93 days"), ({"start": "2999-01-01", "end": "2999-01-02"}, "past window"),
    ({"start": "2026-01-01", "end": "2026-01-02", "pool": "abc"}, "Select a valid choice"),
    ({"start": "2026-01-01", "end": "2026-01-02", "pool": "99999999999999999999999"}, "Select a valid choice"),
    ({"start": "\x00", "end": "x" * 5000}, "Enter a valid date"),
])  # fmt: skip
def test_replay_refuses_junk(manager_client: Client, routed: Routed, data: dict, named: str) -> None:
    assert named in _refused(manager_client, "/dash/replay/", data)
    assert not ReplayJob.objects.exists()


# --- team absences (manager) ----------------------------------------------------------------


def _absence(rep_id: object, **extra: object) -> dict:
    return {"rep": str(rep_id), "starts_at": "2026-03-01T09:00", "ends_at": "2026-03-02T09:00", "reason": "vacation",
            "note": "", **extra}  # fmt: skip


@pytest.fixture
def team_manager(routed: Routed) -> Client:
    """The manager of the routed world's reps (a manager sees their own team)."""
    user = routed.world.manager.user
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get_or_create(name=Role.MANAGER.value)[0])
    return logged_in(user)


@pytest.mark.parametrize(("extra", "named"), [
    ({"rep": "abc"}, "Select a valid choice"), ({"rep": "99999999999999999999999"}, "Select a valid choice"),
    ({"starts_at": "2026-13-45T09:00"}, "Enter a valid date/time"), ({"ends_at": "2026-02-01T09:00"}, "must end after it starts"),
    ({"reason": "party"}, "Select a valid choice"), ({"note": "x" * 201}, "at most 200 characters"),
    ({"note": "a\x00b"}, "Null characters are not allowed"), ({"starts_at": ""}, "This field is required"),
])  # fmt: skip
def test_absence_form_refuses_junk(team_manager: Client, routed: Routed, extra: dict, named: str) -> None:
    for headers in ({}, HTMX):
        html = _refused(team_manager, "/team/absences/", _absence(routed.rep.id, **extra), status=(422,), headers=headers)
        assert named in html


def test_a_manager_cannot_add_an_absence_to_someone_elses_rep(team_manager: Client, routed: Routed) -> None:
    stranger = RepFactory(display_name="Not yours")
    assert "Select a valid choice" in _refused(team_manager, "/team/absences/", _absence(stranger.id), status=(422,))
    assert not Absence.objects.filter(rep=stranger).exists()


# --- rep inbox ----------------------------------------------------------------------------


def test_decline_with_junk_reason_keeps_the_offer_open(rep_client: Client, routed: Routed) -> None:
    url = f"/inbox/offers/{routed.offer.id}/decline/"
    for junk in [*JUNK, ""]:
        for headers in ({}, HTMX):
            response = rep_client.post(url, {"reason": junk, "note": junk}, headers=headers)
            assert response.status_code in (302, 422), junk
    assert rep_client.post(url, {"reason": "busy", "note": "x" * 501}, headers=HTMX).status_code == 422
    assert rep_client.post(url, {"reason": "busy", "note": "a\x00b"}, headers=HTMX).status_code == 422
    routed.offer.refresh_from_db()
    assert routed.offer.status == Offer.Status.OPEN


def test_close_with_junk_outcome_keeps_the_lead(rep_client: Client, routed: Routed) -> None:
    assert rep_client.post(f"/inbox/offers/{routed.offer.id}/accept/", headers=HTMX).status_code == 200
    url = f"/inbox/leads/{routed.lead.id}/close/"
    before = row_counts()
    for junk in [*JUNK, ""]:
        assert rep_client.post(url, {"outcome": junk}, headers=HTMX).status_code == 422, junk
    assert row_counts() == before
    routed.lead.refresh_from_db()
    assert routed.lead.status == "accepted"


def test_hand_back_with_a_junk_note_is_refused_naming_the_note(rep_client: Client, routed: Routed) -> None:
    rep_client.post(f"/inbox/offers/{routed.offer.id}/accept/", headers=HTMX)
    for note, message in (("a\x00b", "Null characters are not allowed"), ("x" * 401, "Ensure this value has at most 400 characters")):
        html = _refused(rep_client, f"/inbox/leads/{routed.lead.id}/hand-back/", {"note": note}, status=(422,), headers=HTMX)
        assert f"Note: {message}" in html
    routed.lead.refresh_from_db()
    assert routed.lead.owner_id == routed.rep.id
    response = rep_client.post(f"/inbox/leads/{routed.lead.id}/hand-back/", {"note": "wrong product"}, headers=HTMX)
    assert response.status_code == 200


@pytest.mark.parametrize(("data", "named"), [
    ({}, "This field is required"), ({"mode": "sleep"}, "Select a valid choice"),
    ({"mode": "until"}, "Pick the time you will be back"), ({"mode": "until", "until": "2026-13-45T99:99"}, "Enter a valid date/time"),
    ({"mode": "until", "until": "\x00"}, "Enter a valid date/time"), ({"mode": "until", "until": "2000-01-01T09:00"}, "until"),
])  # fmt: skip
def test_away_refuses_junk(rep_client: Client, routed: Routed, data: dict, named: str) -> None:
    html = _refused(rep_client, "/inbox/away/", data, status=(422,), headers=HTMX)
    assert named in html
    routed.rep.refresh_from_db()
    assert routed.rep.away_until is None


@FUZZ
@given(text=st.text(max_size=40))
def test_away_until_never_fails(rep_client: Client, routed: Routed, text: str) -> None:
    response = rep_client.post("/inbox/away/", {"mode": "until", "until": text}, headers=HTMX)
    assert response.status_code in (200, 422)


def test_a_rep_without_a_profile_and_a_manager_get_403_on_the_inbox(routed: Routed) -> None:
    for user in (user_with_role(Role.REP, "orphan"), user_with_role(Role.MANAGER, "mgr2")):
        client = logged_in(user)
        assert client.get("/inbox/").status_code == 403
        assert client.post(f"/inbox/offers/{routed.offer.id}/accept/").status_code == 403
    routed.offer.refresh_from_db()
    assert routed.offer.status == Offer.Status.OPEN
