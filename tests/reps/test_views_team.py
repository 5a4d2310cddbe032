"""The manager's team page: their reps only (all reps for Sales Ops), and setting absences."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from reps.models import Absence, Role
from routing.models import Lead, Offer
from tests.factories import AbsenceFactory, RepFactory, user_with_role
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


def _in(days: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)


def test_the_team_page_lists_current_and_upcoming_absences_with_the_right_action(world_and_manager_client) -> None:  # noqa: ANN001
    world, client = world_and_manager_client
    current = AbsenceFactory(rep=world.primary, starts_at=_in(-1), ends_at=_in(1), reason="illness")
    upcoming = AbsenceFactory(rep=world.backup, starts_at=_in(3), ends_at=_in(5), note="wedding")
    past = AbsenceFactory(rep=world.backup, starts_at=_in(-5), ends_at=_in(-4))
    html = client.get("/team/").content.decode()
    assert f'action="/team/absences/{current.id}/end/"' in html and f'action="/team/absences/{upcoming.id}/end/"' in html
    assert f"absence-{past.id}" not in html
    def block(absence: Absence) -> str:
        start = html.index(f'id="absence-{absence.id}"')
        return html[start:html.index("</form>", start)]

    assert ">End now<" in block(current) and ">Cancel<" not in block(current)
    assert ">Cancel<" in block(upcoming) and ">End now<" not in block(upcoming) and "wedding" in block(upcoming)
    assert "Absent (illness) until" in html  # the status column says why the rep gets nothing


def test_times_on_the_team_page_are_in_the_managers_timezone_and_labelled(world_and_manager_client) -> None:  # noqa: ANN001
    world, client = world_and_manager_client
    world.manager.timezone = "Asia/Kolkata"
    world.manager.save()
    AbsenceFactory(rep=world.primary, starts_at=dt.datetime(2999, 3, 1, 6, 0, tzinfo=dt.UTC),
                   ends_at=dt.datetime(2999, 3, 2, 6, 0, tzinfo=dt.UTC))  # fmt: skip
    html = client.get("/team/").content.decode()
    assert "1 Mar 11:30 – " in html and "2 Mar 11:30" in html  # UTC+05:30
    assert "Times are shown in Asia/Kolkata" in html and "Times are in Asia/Kolkata" in html


def test_sales_ops_without_a_rep_profile_see_utc(client: Client) -> None:
    world = make_world()
    AbsenceFactory(rep=world.primary, starts_at=dt.datetime(2999, 3, 1, 6, 0, tzinfo=dt.UTC),
                   ends_at=dt.datetime(2999, 3, 2, 6, 0, tzinfo=dt.UTC))  # fmt: skip
    client.force_login(user_with_role(Role.OPS))
    html = client.get("/team/").content.decode()
    assert "1 Mar 06:00 – " in html and "Times are shown in UTC" in html


def test_an_absence_is_read_in_the_managers_timezone(world_and_manager_client) -> None:  # noqa: ANN001
    world, client = world_and_manager_client
    world.manager.timezone = "Asia/Kolkata"
    world.manager.save()
    data = {"rep": world.primary.id, "starts_at": "2999-03-01T11:30", "ends_at": "2999-03-02T11:30", "reason": "vacation"}
    assert client.post("/team/absences/", data, **HX).status_code == 200
    absence = Absence.objects.get(rep=world.primary)
    assert absence.starts_at == dt.datetime(2999, 3, 1, 6, 0, tzinfo=dt.UTC)


def test_a_manager_cancels_an_upcoming_absence(world_and_manager_client) -> None:  # noqa: ANN001
    world, client = world_and_manager_client
    absence = AbsenceFactory(rep=world.primary, starts_at=_in(2), ends_at=_in(3))
    response = client.post(f"/team/absences/{absence.id}/end/", **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and html.lstrip().startswith('<section id="team-reps"')
    assert f"Absence for {world.primary} cancelled." in html and f"absence-{absence.id}" not in html
    assert not Absence.objects.filter(id=absence.id).exists()
    assert Absence.history.filter(id=absence.id).latest().history_user == world.manager.user


def test_a_manager_ends_a_current_absence_and_held_leads_retry(client: Client, django_capture_on_commit_callbacks) -> None:
    world = make_world(fallback=[{"kind": "holding"}])
    world.manager.user.groups.add(Group.objects.get_or_create(name=Role.MANAGER.value)[0])
    client.force_login(world.manager.user)
    absence = AbsenceFactory(rep=world.primary, starts_at=_in(-1), ends_at=_in(1))
    lead = route_new_lead()
    assert lead.status == Lead.Status.HOLDING
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/team/absences/{absence.id}/end/", **HX)
    assert response.status_code == 200 and "new offers can reach them again" in response.content.decode()
    absence.refresh_from_db()
    assert absence.ends_at <= timezone.now()
    from routing import services

    services.leads_route_all_pending()
    lead.refresh_from_db()
    assert (lead.status, lead.owner) == (Lead.Status.OFFERED, world.primary)


def test_ending_without_htmx_redirects_back_with_a_message(world_and_manager_client) -> None:  # noqa: ANN001
    world, client = world_and_manager_client
    absence = AbsenceFactory(rep=world.primary, starts_at=_in(2), ends_at=_in(3))
    response = client.post(f"/team/absences/{absence.id}/end/", follow=True)
    assert response.redirect_chain == [("/team/", 302)]
    assert "cancelled" in response.content.decode()


def test_an_absence_already_over_is_refused_with_a_message(world_and_manager_client) -> None:  # noqa: ANN001
    world, client = world_and_manager_client
    absence = AbsenceFactory(rep=world.primary, starts_at=_in(-2), ends_at=_in(-1))
    response = client.post(f"/team/absences/{absence.id}/end/", **HX)
    assert response.status_code == 409 and "already over" in response.content.decode()


@pytest.mark.parametrize("who", ["other_manager", "rep"])
def test_only_the_reps_manager_or_ops_may_end_an_absence(world_and_manager_client, who: str) -> None:  # noqa: ANN001
    world, _ = world_and_manager_client
    absence = AbsenceFactory(rep=world.primary, starts_at=_in(2), ends_at=_in(3))
    if who == "other_manager":
        user = RepFactory(user__role=Role.MANAGER.value).user  # a manager with reports of their own
        RepFactory(manager=user.rep)
    else:
        user = world.primary.user  # the absent rep cannot cancel it themselves
    client = Client()
    client.force_login(user)
    response = client.post(f"/team/absences/{absence.id}/end/", **HX)
    assert response.status_code == (404 if who == "other_manager" else 403)
    assert Absence.objects.filter(id=absence.id).exists()


def test_sales_ops_may_end_anyones_absence(client: Client) -> None:
    world = make_world()
    absence = AbsenceFactory(rep=world.primary, starts_at=_in(2), ends_at=_in(3))
    client.force_login(user_with_role(Role.OPS))
    assert client.post(f"/team/absences/{absence.id}/end/", **HX).status_code == 200
    assert not Absence.objects.filter(id=absence.id).exists()


def test_the_status_column_says_away_until_they_come_back(world_and_manager_client) -> None:  # noqa: ANN001
    from reps.services import rep_set_away

    world, client = world_and_manager_client
    rep_set_away(rep=world.primary)
    rep_set_away(rep=world.backup, until=dt.datetime(2999, 3, 1, 6, 0, tzinfo=dt.UTC))
    html = client.get("/team/").content.decode()
    assert "Away until they come back" in html and "Away until Fri 1 Mar 06:00" in html
