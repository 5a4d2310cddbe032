"""Issue 10, rep availability: every path that changes whether a rep can take leads has the same
effect, and every date-time any path accepts can be read back.

Failing input 1: an absence ending 9999-12-31T23:59 in America/New_York (10000-01-01 04:59 UTC)
was stored and then every read of it failed. Failing input 3: deactivating a rep with an open
offer by import, the rep form or the admin left the offer open and acceptable.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from leadops.datetimes import LATEST, validate_readable_datetime
from reps import services as rep_services
from reps.models import Absence, Rep, RepLoad, Role
from reps.selectors import AWAY_UNTIL_BACK
from routing import services
from routing.config_io import ConfigImportError, config_export, config_import
from routing.dashboards.selectors import capacity_now
from routing.models import Lead, Offer
from tests.factories import AbsenceFactory, user_with_role
from tests.reps.helpers import make_world, open_offer, route_new_lead

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
END_OF_TIME = "9999-12-31T23:59"


# --- failing input 1: a date-time that cannot be read back ----------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-5))), False),  # 10000-01-01 UTC
        (dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC), False),
        (LATEST + dt.timedelta(seconds=1), False),
        (dt.datetime(1, 1, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=5))), False),  # year 0 in UTC
        (dt.datetime(1899, 12, 31, 23, 59, tzinfo=dt.UTC), False),
        (AWAY_UNTIL_BACK, True),  # "away until I come back" stays storable
        (dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC), True),
    ],
)
def test_only_date_times_that_read_back_are_accepted(value: dt.datetime, ok: bool) -> None:
    if ok:
        validate_readable_datetime(value)
    else:
        with pytest.raises(ValidationError, match="between the years 1900 and 8999"):
            validate_readable_datetime(value)


@pytest.fixture
def world_and_manager(client: Client):  # noqa: ANN201
    world = make_world()
    world.manager.user.groups.add(Group.objects.get_or_create(name=Role.MANAGER.value)[0])
    world.manager.timezone = "America/New_York"
    world.manager.save()
    client.force_login(world.manager.user)
    return world, client


def test_an_absence_ending_9999_12_31_in_new_york_is_refused_naming_ends_at(world_and_manager) -> None:  # noqa: ANN001
    world, client = world_and_manager
    lead = route_new_lead()
    data = {"rep": world.primary.id, "starts_at": "2026-12-24T09:00", "ends_at": END_OF_TIME, "reason": "vacation"}
    response = client.post("/team/absences/", data, **HX)
    html = response.content.decode()
    assert response.status_code == 422
    field = html[html.index('id="field-ends_at"'):]
    assert "between the years 1900 and 8999" in field[: field.index("</div>")]  # the error sits on ends_at
    assert not Absence.objects.exists()
    # Routing and every page that reads the rep keep working.
    assert client.get("/team/").status_code == 200
    assert open_offer(lead).rep == world.primary
    assert services.leads_route_all_pending() == 0


def test_the_service_refuses_it_too_and_the_database_as_the_last_line() -> None:
    world = make_world()
    new_york = dt.timezone(dt.timedelta(hours=-5))
    with pytest.raises(ValidationError) as info:
        rep_services.absence_create(
            rep=world.primary, starts_at=timezone.now(), reason="vacation", created_by=None,
            ends_at=dt.datetime(9999, 12, 31, 23, 59, tzinfo=new_york),
        )  # fmt: skip
    assert "ends_at" in info.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():  # a path that skipped validation
        Absence.objects.create(rep=world.primary, starts_at=timezone.now(), ends_at=LATEST + dt.timedelta(days=1))
    with pytest.raises(IntegrityError), transaction.atomic():
        Rep.objects.filter(id=world.primary.id).update(away_until=LATEST + dt.timedelta(days=1))


def test_config_import_refuses_an_unreadable_absence_with_its_path() -> None:
    world = make_world()
    doc = json.loads(json.dumps(config_export()))
    row = next(r for r in doc["reps"] if r["username"] == world.primary.user.username)
    row["absences"] = [{"starts_at": "2026-12-24T09:00:00-05:00", "ends_at": "9999-12-31T23:59:00-05:00",
                        "reason": "vacation", "note": ""}]  # fmt: skip
    index = doc["reps"].index(row)
    with pytest.raises(ConfigImportError) as info:
        config_import(doc)
    assert any(e.startswith(f"reps[{index}].absences[0].ends_at: Pick a date between") for e in info.value.errors)
    assert not Absence.objects.exists()


def test_the_console_rep_form_refuses_it_on_the_absence_row(client: Client) -> None:
    world = make_world()
    client.force_login(user_with_role(Role.OPS, "ops"))
    rep = world.primary
    data = {
        "display_name": rep.display_name, "tier": "2", "timezone": "UTC", "working_hours": "{}", "active": "on",
        "repskill-TOTAL_FORMS": "0", "repskill-INITIAL_FORMS": "0", "licence-TOTAL_FORMS": "0",
        "licence-INITIAL_FORMS": "0", "absence-TOTAL_FORMS": "1", "absence-INITIAL_FORMS": "0",
        "absence-0-starts_at": "2026-12-24T09:00", "absence-0-ends_at": END_OF_TIME, "absence-0-reason": "vacation",
    }  # fmt: skip
    response = client.post(f"/ops/reps/{rep.id}/", data)
    assert response.status_code == 200  # the form again, with the error on the row
    assert "between the years 1900 and 8999" in response.content.decode()
    assert not Absence.objects.exists()


def test_the_admin_refuses_it(client: Client) -> None:
    world = make_world()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-for-tests-123"))
    data = {"rep": world.primary.id, "starts_at_0": "2026-12-24", "starts_at_1": "09:00",
            "ends_at_0": "9999-12-31", "ends_at_1": "23:59", "reason": "vacation", "note": ""}  # fmt: skip
    response = client.post("/admin/reps/absence/add/", data)
    assert response.status_code == 200
    assert "between the years 1900 and 8999" in response.content.decode()
    assert not Absence.objects.exists()


def test_away_until_the_end_of_time_is_refused_and_away_now_still_works(client: Client) -> None:
    world = make_world()
    world.primary.timezone = "America/New_York"
    world.primary.save()
    client.force_login(world.primary.user)
    response = client.post("/inbox/away/", {"mode": "until", "until": END_OF_TIME}, **HX)
    assert response.status_code == 422 and "between the years 1900 and 8999" in response.content.decode()
    world.primary.refresh_from_db()
    assert world.primary.away_until is None
    assert client.post("/inbox/away/", {"mode": "now"}, **HX).status_code == 200
    world.primary.refresh_from_db()
    assert world.primary.away_until == AWAY_UNTIL_BACK


# --- failing input 3: every path that makes a rep unavailable moves the offer on --------------


def _import_without(rep: Rep, *, drop: bool) -> None:
    doc = json.loads(json.dumps(config_export()))
    row = next(r for r in doc["reps"] if r["username"] == rep.user.username)
    if drop:
        doc["reps"].remove(row)
        for pool in doc["pools"]:
            pool["members"] = [m for m in pool["members"] if m["rep"] != rep.user.username]
            if pool["manager"] == rep.user.username:
                pool["manager"] = None
        for r in doc["reps"]:
            if r["manager"] == rep.user.username:
                r["manager"] = None
    else:
        row["active"] = False
    config_import(doc)


def _import_absence(rep: Rep) -> None:
    doc = json.loads(json.dumps(config_export()))
    row = next(r for r in doc["reps"] if r["username"] == rep.user.username)
    now = timezone.now()
    row["absences"] = [{"starts_at": (now - dt.timedelta(hours=1)).isoformat(),
                        "ends_at": (now + dt.timedelta(days=1)).isoformat(), "reason": "illness", "note": ""}]  # fmt: skip
    config_import(doc)


def _importconfig_command(rep: Rep, tmp_path) -> None:  # noqa: ANN001
    doc = config_export()
    next(r for r in doc["reps"] if r["username"] == rep.user.username)["active"] = False
    path = tmp_path / "config.json"
    path.write_text(json.dumps(doc))
    call_command("importconfig", str(path), stdout=open("/dev/null", "w"))  # noqa: SIM115, PTH123


def _console_form(rep: Rep, *, untick: bool = True, absence: bool = False) -> None:
    client = Client()
    client.force_login(user_with_role(Role.OPS, "ops"))
    data = {"display_name": rep.display_name, "tier": "2", "timezone": "UTC", "working_hours": "{}",
            "repskill-TOTAL_FORMS": "0", "repskill-INITIAL_FORMS": "0", "licence-TOTAL_FORMS": "0",
            "licence-INITIAL_FORMS": "0", "absence-TOTAL_FORMS": "0", "absence-INITIAL_FORMS": "0"}  # fmt: skip
    if not untick:
        data["active"] = "on"
    if absence:
        now = timezone.now()
        data.update({"absence-TOTAL_FORMS": "1", "absence-0-reason": "illness",
                     "absence-0-starts_at": (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
                     "absence-0-ends_at": (now + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")})  # fmt: skip
    response = client.post(f"/ops/reps/{rep.id}/", data)
    assert response.status_code == 302, response.content.decode()[:2000]


def _console_deactivate(rep: Rep) -> None:
    client = Client()
    client.force_login(user_with_role(Role.OPS, "ops"))
    assert client.post(f"/ops/reps/{rep.id}/deactivate/").status_code == 302


def _admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-for-tests-123"))
    return client


def _admin_form(rep: Rep) -> None:
    data = {"user": rep.user_id, "display_name": rep.display_name, "tier": "2", "timezone": "UTC",
            "working_hours": "{}", "manager": rep.manager_id or "", "team": "", "max_open": "", "max_daily": "",
            "max_weekly": "", "away_until_0": "", "away_until_1": "",
            "skills-TOTAL_FORMS": "0", "skills-INITIAL_FORMS": "0", "licences-TOTAL_FORMS": "0",
            "licences-INITIAL_FORMS": "0"}  # "active" left out: unticked
    response = _admin_client().post(f"/admin/reps/rep/{rep.id}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]


def _admin_action(rep: Rep) -> None:
    response = _admin_client().post("/admin/reps/rep/", {"action": "deactivate", "_selected_action": [rep.id]})
    assert response.status_code == 302


def _admin_absence(rep: Rep) -> None:
    now = timezone.now()
    start, end = now - dt.timedelta(hours=1), now + dt.timedelta(days=1)
    data = {"rep": rep.id, "starts_at_0": start.strftime("%Y-%m-%d"), "starts_at_1": start.strftime("%H:%M:%S"),
            "ends_at_0": end.strftime("%Y-%m-%d"), "ends_at_1": end.strftime("%H:%M:%S"), "reason": "illness"}  # fmt: skip
    assert _admin_client().post("/admin/reps/absence/add/", data).status_code == 302


def _team_absence(rep: Rep) -> None:
    client = Client()
    client.force_login(user_with_role(Role.OPS, "ops2"))
    now = timezone.now()
    data = {"rep": rep.id, "starts_at": (now - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (now + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"), "reason": "illness"}  # fmt: skip
    assert client.post("/team/absences/", data).status_code == 302


def _away(rep: Rep) -> None:
    client = Client()
    client.force_login(rep.user)
    question = client.post("/inbox/away/", {"mode": "now"})  # open offers: the rep is asked first
    assert question.status_code == 200 and "Go away and release" in question.content.decode()
    confirm = question.content.decode().split('name="confirm" value="')[1].split('"')[0]
    assert client.post("/inbox/away/", {"mode": "now", "confirm": confirm}).status_code == 302


PATHS = {
    "importconfig active false": lambda rep, tmp: _import_without(rep, drop=False),
    "importconfig rep left out": lambda rep, tmp: _import_without(rep, drop=True),
    "importconfig command": _importconfig_command,
    "importconfig absence now": lambda rep, tmp: _import_absence(rep),
    "console: untick Active": lambda rep, tmp: _console_form(rep),
    "console: deactivate button": lambda rep, tmp: _console_deactivate(rep),
    "console: absence row covering now": lambda rep, tmp: _console_form(rep, untick=False, absence=True),
    "admin: untick Active": lambda rep, tmp: _admin_form(rep),
    "admin: deactivate action": lambda rep, tmp: _admin_action(rep),
    "admin: absence covering now": lambda rep, tmp: _admin_absence(rep),
    "team page: absence covering now": lambda rep, tmp: _team_absence(rep),
    "inbox: away now": lambda rep, tmp: _away(rep),
}


@pytest.mark.parametrize("path", list(PATHS))
def test_a_rep_made_unavailable_by_any_path_loses_the_open_offer_at_once(
    path: str, tmp_path, django_capture_on_commit_callbacks  # noqa: ANN001
) -> None:  # fmt: skip
    world = make_world()
    lead = route_new_lead()
    offer = open_offer(lead)
    assert offer.rep == world.primary
    with django_capture_on_commit_callbacks(execute=True):
        PATHS[path](world.primary, tmp_path)
    offer.refresh_from_db()
    lead.refresh_from_db()
    assert offer.status == Offer.Status.WITHDRAWN
    assert (lead.status, lead.owner) == (Lead.Status.OFFERED, world.backup)  # moved on along the chain
    assert RepLoad.objects.get(rep=world.primary).open_count == 0
    with pytest.raises(services.OfferError):
        services.offer_accept(offer_id=offer.id, rep=world.primary)


@pytest.mark.parametrize(
    ("make_unavailable", "message"),
    [
        (lambda rep: Rep.objects.filter(id=rep.id).update(active=False), "Your account is inactive"),
        (lambda rep: AbsenceFactory(rep=rep), "You are marked absent"),
        (lambda rep: Rep.objects.filter(id=rep.id).update(away_until=AWAY_UNTIL_BACK), "You are marked away"),
    ],
)
def test_an_unavailable_reps_accept_is_refused_with_a_clear_message(make_unavailable, message: str) -> None:  # noqa: ANN001
    """Even when the offer is still open (a change that bypassed the services, or an absence that
    began with no event, before the sweeper ran)."""
    world = make_world()
    offer = open_offer(route_new_lead())
    make_unavailable(world.primary)
    with pytest.raises(services.OfferError, match=message):
        services.offer_accept(offer_id=offer.id, rep=world.primary)
    offer.refresh_from_db()
    assert offer.status == Offer.Status.OPEN
    assert rep_services.offers_withdraw_for_absent() == 1  # the sweeper moves it on
    offer.refresh_from_db()
    assert offer.status == Offer.Status.WITHDRAWN


def test_a_routing_batch_never_offers_to_a_rep_whose_deactivation_it_did_not_see_cached() -> None:
    """The directory caches reps between batches; availability is read live after the locks."""
    world = make_world(fallback=[{"kind": "holding"}])
    route_new_lead()  # warms the directory with Pat active
    Rep.objects.filter(id=world.primary.id).update(active=False)  # no history row: the fingerprint is unchanged
    lead = route_new_lead()
    assert lead.status == Lead.Status.HOLDING


# --- becoming available again wakes the holding pool ---------------------------------------------


def _inactive(rep: Rep, offer: Offer) -> None:
    services.offer_decline(offer_id=offer.id, rep=rep, reason="other")
    rep_services.rep_set_active(rep=rep, active=False)


def _away_now(rep: Rep, offer: Offer) -> None:
    rep_services.rep_set_away(rep=rep)


def _absent_now(rep: Rep, offer: Offer) -> None:
    now = timezone.now()
    rep_services.absence_create(rep=rep, starts_at=now - dt.timedelta(hours=1), ends_at=now + dt.timedelta(days=1),
                                reason="illness", created_by=None)  # fmt: skip


def _at_cap(rep: Rep, offer: Offer) -> None:
    pass  # max_open=1 and the first lead's offer is open


AVAILABLE_AGAIN = {
    "reactivated": (_inactive, lambda rep: rep_services.rep_set_active(rep=rep, active=True)),
    "cap raised": (_at_cap, lambda rep: rep_services.rep_set_caps(rep=rep, max_open=2, max_daily=None, max_weekly=None)),
    "back from away": (_away_now, lambda rep: rep_services.rep_clear_away(rep=rep)),
    "absence ended": (_absent_now, lambda rep: rep_services.absence_end(absence_id=rep.absences.get().id, by=None)),
    "absence cancelled in the console": (_absent_now, lambda rep: rep_services.absence_delete(absence=rep.absences.get())),
}


@pytest.mark.parametrize("case", list(AVAILABLE_AGAIN))
def test_a_rep_available_again_takes_a_held_lead(case: str, django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    world = make_world(fallback=[{"kind": "holding"}], max_open=1)
    pat = world.primary
    first = route_new_lead(value="100")
    assert first.owner == pat
    make_unavailable, make_available = AVAILABLE_AGAIN[case]
    make_unavailable(pat, open_offer(first))
    held = route_new_lead(value="200", external_id="held")
    assert held.status == Lead.Status.HOLDING
    pat.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        make_available(pat)
    held.refresh_from_db()
    assert (held.status, held.owner) == (Lead.Status.OFFERED, pat)


def test_the_capacity_dashboard_counts_the_weekly_cap() -> None:
    world = make_world(fallback=[{"kind": "holding"}])
    rep_services.rep_set_caps(rep=world.primary, max_open=None, max_daily=None, max_weekly=1)
    route_new_lead()
    row = next(r for r in capacity_now() if r.rep_id == world.primary.id)
    assert (row.week, row.max_weekly, row.at_cap) == (1, 1, True)
    assert route_new_lead(external_id="second").status == Lead.Status.HOLDING  # the router agrees
