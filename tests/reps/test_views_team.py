"""The manager's team page: their reps only (all reps for Sales Ops), and setting absences."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from reps.models import Absence, Role
from routing.models import Offer
from tests.factories import RepFactory, user_with_role
from tests.reps.helpers import make_world, open_offer, route_new_lead

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _fmt(when: dt.datetime) -> str:
    return timezone.localtime(when).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def world_and_manager_client(client: Client):  # noqa: ANN201
    world = make_world()
    world.manager.user.groups.add(Group.objects.get_or_create(name=Role.MANAGER.value)[0])
    client.force_login(world.manager.user)
    return world, client


def test_a_manager_sees_only_their_reports(world_and_manager_client, django_assert_max_num_queries) -> None:  # noqa: ANN001
    world, client = world_and_manager_client
    stranger = RepFactory(display_name="Somebody Else")
    with django_assert_max_num_queries(10):
        html = client.get("/team/").content.decode()
    assert world.primary.display_name in html and world.backup.display_name in html
    assert stranger.display_name not in html


def test_sales_ops_see_every_rep(client: Client) -> None:
    world = make_world()
    stranger = RepFactory(display_name="Somebody Else")
    client.force_login(user_with_role(Role.OPS))
    html = client.get("/team/").content.decode()
    assert stranger.display_name in html and world.primary.display_name in html


def test_reps_cannot_open_the_team_page(client: Client) -> None:
    client.force_login(RepFactory().user)
    assert client.get("/team/").status_code == 403


def test_an_absence_starting_now_moves_the_reps_offers_on(world_and_manager_client, django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    world, client = world_and_manager_client
    lead = route_new_lead()
    offer = open_offer(lead)
    now = timezone.now()
    data = {"rep": world.primary.id, "starts_at": _fmt(now - dt.timedelta(minutes=1)),
            "ends_at": _fmt(now + dt.timedelta(days=2)), "reason": "illness", "note": "flu"}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/team/absences/", data, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and 'id="team-reps" hx-swap-oob="true"' in html
    absence = Absence.objects.get(rep=world.primary)
    assert (absence.reason, absence.created_by) == ("illness", world.manager.user)
    offer.refresh_from_db()
    lead.refresh_from_db()
    assert offer.status == Offer.Status.WITHDRAWN
    assert lead.owner == world.backup


def test_a_manager_cannot_set_an_absence_for_someone_elses_rep(world_and_manager_client) -> None:  # noqa: ANN001
    _, client = world_and_manager_client
    stranger = RepFactory()
    now = timezone.now()
    data = {"rep": stranger.id, "starts_at": _fmt(now), "ends_at": _fmt(now + dt.timedelta(days=1)), "reason": "vacation"}
    response = client.post("/team/absences/", data, **HX)
    assert response.status_code == 422 and "Select a valid choice" in response.content.decode()
    assert not Absence.objects.exists()


def test_an_absence_must_end_after_it_starts(world_and_manager_client) -> None:  # noqa: ANN001
    world, client = world_and_manager_client
    now = timezone.now() + dt.timedelta(days=1)
    data = {"rep": world.primary.id, "starts_at": _fmt(now), "ends_at": _fmt(now - dt.timedelta(hours=1)), "reason": "vacation"}
    response = client.post("/team/absences/", data, **HX)
    assert response.status_code == 422 and "must end after it starts" in response.content.decode()
    assert not Absence.objects.exists()
