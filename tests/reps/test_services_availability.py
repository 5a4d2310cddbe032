"""Away markers and absences: away reps get no offers and their open offers move on."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from reps.models import Absence
from reps.selectors import AWAY_UNTIL_BACK, away_is_until_back
from reps.services import (
    absence_create,
    absence_end,
    offers_withdraw_for_absent,
    rep_clear_away,
    rep_set_away,
)
from routing import services
from routing.models import Lead, Offer
from tests.factories import AbsenceFactory
from tests.reps.helpers import make_world, open_offer, route_new_lead

pytestmark = pytest.mark.django_db


def test_going_away_withdraws_open_offers_and_they_move_along_the_chain(django_capture_on_commit_callbacks) -> None:
    world = make_world()
    lead = route_new_lead()
    offer = open_offer(lead)
    with django_capture_on_commit_callbacks(execute=True):
        assert rep_set_away(rep=world.primary, until=timezone.now() + dt.timedelta(hours=2)) == 1
    offer.refresh_from_db()
    lead.refresh_from_db()
    assert offer.status == Offer.Status.WITHDRAWN
    assert (lead.status, lead.owner) == (Lead.Status.OFFERED, world.backup)


def test_an_away_rep_gets_no_new_offers() -> None:
    world = make_world(reroute=True)
    rep_set_away(rep=world.primary)
    lead = route_new_lead()
    assert lead.owner == world.backup


def test_coming_back_lets_held_leads_retry(django_capture_on_commit_callbacks) -> None:
    world = make_world(fallback=[{"kind": "holding"}])
    rep_set_away(rep=world.primary)
    lead = route_new_lead()
    assert lead.status == Lead.Status.HOLDING
    with django_capture_on_commit_callbacks(execute=True):
        rep_clear_away(rep=world.primary)
    services.leads_route_all_pending()  # the wake-up is itself queued on commit
    lead.refresh_from_db()
    assert (lead.status, lead.owner) == (Lead.Status.OFFERED, world.primary)


def test_away_must_end_in_the_future() -> None:
    world = make_world()
    with pytest.raises(ValidationError):
        rep_set_away(rep=world.primary, until=timezone.now() - dt.timedelta(minutes=1))
    world.primary.refresh_from_db()
    assert world.primary.away_until is None


def test_a_future_absence_leaves_offers_alone_until_it_starts() -> None:
    world = make_world()
    t0 = timezone.now()
    offer = open_offer(route_new_lead(now=t0))
    absence_create(
        rep=world.primary, starts_at=t0 + dt.timedelta(minutes=1), ends_at=t0 + dt.timedelta(days=1),
        reason="vacation", created_by=world.manager.user, now=t0,
    )  # fmt: skip
    offer.refresh_from_db()
    assert offer.status == Offer.Status.OPEN
    assert offers_withdraw_for_absent(now=t0 + dt.timedelta(seconds=30)) == 0
    assert offers_withdraw_for_absent(now=t0 + dt.timedelta(minutes=1)) == 1
    offer.refresh_from_db()
    assert offer.status == Offer.Status.WITHDRAWN


@pytest.mark.parametrize(("start", "end"), [(2, 1), (-5, -1)], ids=["ends-before-start", "already-over"])
def test_invalid_absences_are_refused(start: int, end: int) -> None:
    world = make_world()
    now = timezone.now()
    with pytest.raises(ValidationError):
        absence_create(
            rep=world.primary, starts_at=now + dt.timedelta(hours=start), ends_at=now + dt.timedelta(hours=end),
            reason="vacation", created_by=None, now=now,
        )  # fmt: skip


def test_away_now_lasts_until_the_rep_comes_back() -> None:
    world = make_world()
    t0 = timezone.now()
    rep_set_away(rep=world.primary, now=t0)
    world.primary.refresh_from_db()
    assert world.primary.away_until == AWAY_UNTIL_BACK and away_is_until_back(world.primary.away_until)
    late = t0 + dt.timedelta(days=400)  # the old 30-day marker would have lapsed long before
    lead = route_new_lead(now=late)
    assert lead.owner == world.backup
    assert offers_withdraw_for_absent(now=late) == 0


def test_away_until_a_time_is_not_until_back() -> None:
    world = make_world()
    rep_set_away(rep=world.primary, until=timezone.now() + dt.timedelta(days=60))
    world.primary.refresh_from_db()
    assert not away_is_until_back(world.primary.away_until)


def test_ending_a_current_absence_early_lets_held_leads_retry(django_capture_on_commit_callbacks) -> None:
    world = make_world(fallback=[{"kind": "holding"}])
    t0 = timezone.now()
    absence = AbsenceFactory(rep=world.primary, starts_at=t0 - dt.timedelta(hours=1), ends_at=t0 + dt.timedelta(days=2))
    lead = route_new_lead(now=t0)
    services.leads_route_all_pending()
    lead.refresh_from_db()
    assert lead.status == Lead.Status.HOLDING  # nothing retries it by itself
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ended = absence_end(absence_id=absence.id, by=world.manager.user, now=t0)
    assert (ended.rep, ended.cancelled, bool(callbacks)) == (world.primary, False, True)
    absence.refresh_from_db()
    assert absence.ends_at == t0
    last = absence.history.latest()
    assert (last.history_type, last.history_user, last.ends_at) == ("~", world.manager.user, t0)
    services.leads_route_all_pending()  # the wake-up is itself queued on commit
    lead.refresh_from_db()
    assert (lead.status, lead.owner) == (Lead.Status.OFFERED, world.primary)


def test_cancelling_a_future_absence_deletes_it_with_history_and_no_retry(django_capture_on_commit_callbacks) -> None:
    world = make_world()
    t0 = timezone.now()
    absence = AbsenceFactory(rep=world.primary, starts_at=t0 + dt.timedelta(days=1), ends_at=t0 + dt.timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ended = absence_end(absence_id=absence.id, by=world.manager.user, now=t0)
    assert (ended.cancelled, callbacks) == (True, [])
    assert not Absence.objects.filter(id=absence.id).exists()
    last = Absence.history.filter(id=absence.id).latest()
    assert (last.history_type, last.history_user) == ("-", world.manager.user)


def test_an_absence_that_is_over_or_gone_cannot_be_ended() -> None:
    world = make_world()
    t0 = timezone.now()
    absence = AbsenceFactory(rep=world.primary, starts_at=t0 - dt.timedelta(days=2), ends_at=t0 - dt.timedelta(days=1))
    with pytest.raises(ValidationError, match="already over"):
        absence_end(absence_id=absence.id, by=None, now=t0)
    absence.refresh_from_db()
    assert absence.ends_at == t0 - dt.timedelta(days=1)
    with pytest.raises(ValidationError, match="no longer exists"):
        absence_end(absence_id=absence.id + 1000, by=None, now=t0)
