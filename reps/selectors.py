"""Reads for the inbox and the team page: a fixed number of queries per list."""

from __future__ import annotations

import datetime as dt
import hashlib

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from leadops.datetimes import LATEST
from reps.access import user_roles
from reps.models import Absence, Rep, RepLoad, Role
from reps.scope import visibility_for
from routing.models import Lead, Offer

# "Away now" means away until the rep switches back. Rep.away_until has no indefinite value, so
# it holds this far-future sentinel (rather than NULL, which means "available"): every reader that
# asks "is away_until in the future?" keeps working, and nobody silently reappears after a while.
# Far from datetime.max so that date arithmetic on it (a day added in a report) cannot overflow.
AWAY_UNTIL_BACK = LATEST  # the latest time any input may set (leadops.datetimes)


def away_is_until_back(until: dt.datetime | None) -> bool:
    """True when an away marker means "until I come back" rather than a chosen time."""
    return until is not None and until >= AWAY_UNTIL_BACK


def offer_list_open_for_rep(*, rep: Rep, now: dt.datetime | None = None) -> list[Offer]:
    """The rep's live offers, soonest deadline first. An offer past its deadline leaves the
    inbox at once, even before the sweeper has expired it."""
    now = now or timezone.now()
    return list(
        _open_offers(rep=rep, now=now)
        .select_related("lead", "lead__segment", "decision")
        .defer("decision__detail", "decision__inputs")  # only the summary is shown
        .order_by("deadline", "id")
    )


def _open_offers(*, rep: Rep, now: dt.datetime) -> QuerySet[Offer]:
    return Offer.objects.filter(rep=rep, status=Offer.Status.OPEN, deadline__gt=now)


def offers_fingerprint_now(*, rep: Rep, now: dt.datetime | None = None) -> str:
    """The fingerprint of the rep's visible offers from one ids-only query (cheap polls)."""
    now = now or timezone.now()
    return _fingerprint(_open_offers(rep=rep, now=now).order_by("deadline", "id").values_list("id", flat=True))


def offers_fingerprint(offers: list[Offer]) -> str:
    """Changes whenever the set of visible offers changes; lets the poll answer 'no change'."""
    return _fingerprint(o.id for o in offers)


def _fingerprint(ids: object) -> str:
    return hashlib.sha1(",".join(str(i) for i in ids).encode()).hexdigest()[:16]  # noqa: S324


def lead_list_accepted_for_rep(*, rep: Rep) -> list[Lead]:
    return list(
        Lead.objects.filter(owner=rep, status=Lead.Status.ACCEPTED)
        .select_related("segment")
        .order_by("-accepted_at", "-id")
    )


def rep_list_for_manager(*, user, now: dt.datetime | None = None) -> QuerySet[Rep]:  # noqa: ANN001
    """Active reps a manager may manage: their team (reps.scope), themselves excluded; every
    active rep for Sales Ops."""
    now = now or timezone.now()
    qs = visibility_for(user).reps(Rep.objects.filter(active=True))
    if Role.OPS.value not in user_roles(user):
        qs = qs.exclude(user=user)
    upcoming = Absence.objects.filter(ends_at__gt=now).order_by("starts_at")
    return qs.select_related("load").prefetch_related(Prefetch("absences", queryset=upcoming, to_attr="upcoming_absences"))


def absence_list_scheduled_for_rep(*, rep: Rep, now: dt.datetime | None = None) -> list[Absence]:
    """The rep's current and upcoming absences, soonest first."""
    now = now or timezone.now()
    return list(Absence.objects.filter(rep=rep, ends_at__gt=now).order_by("starts_at", "id"))


def absence_get_for_manager(*, user, absence_id: int) -> Absence | None:  # noqa: ANN001
    """An absence of a rep this user may manage (see rep_list_for_manager), else None."""
    reps = rep_list_for_manager(user=user)
    return Absence.objects.select_related("rep").filter(id=absence_id, rep__in=reps.values("id")).first()


def rep_load_for(*, rep: Rep) -> RepLoad | None:
    return RepLoad.objects.filter(rep=rep).first()


def rep_unavailable_reason(*, rep_id: int, now: dt.datetime | None = None) -> str | None:
    """Why this rep cannot take a lead now (inactive, absent, away), in words for the rep, or None.

    Reads the committed rows (two small queries), never a cached snapshot: offer_accept and the
    availability services ask it right before they act.
    """
    now = now or timezone.now()
    row = Rep.objects.filter(id=rep_id).values("active", "away_until").first()
    if row is None or not row["active"]:
        return "Your account is inactive, so you cannot take leads; this offer is moving on to another rep."
    if Absence.objects.filter(rep_id=rep_id, starts_at__lte=now, ends_at__gt=now).exists():
        return "You are marked absent right now, so you cannot take leads; this offer is moving on to another rep."
    if row["away_until"] is not None and row["away_until"] > now:
        return "You are marked away, so you cannot take leads; switch to \"I'm back\" first."
    return None
