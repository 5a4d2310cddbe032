"""Reads for the inbox and the team page: a fixed number of queries per list."""

from __future__ import annotations

import datetime as dt
import hashlib

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from reps.access import user_roles
from reps.models import Absence, Rep, RepLoad, Role
from routing.models import Lead, Offer


def offer_list_open_for_rep(*, rep: Rep, now: dt.datetime | None = None) -> list[Offer]:
    """The rep's live offers, soonest deadline first. An offer past its deadline leaves the
    inbox at once, even before the sweeper has expired it."""
    now = now or timezone.now()
    return list(
        Offer.objects.filter(rep=rep, status=Offer.Status.OPEN, deadline__gt=now)
        .select_related("lead", "lead__segment", "decision")
        .order_by("deadline", "id")
    )


def offers_fingerprint(offers: list[Offer]) -> str:
    """Changes whenever the set of visible offers changes; lets the poll answer 'no change'."""
    return hashlib.sha1(",".join(str(o.id) for o in offers).encode()).hexdigest()[:16]  # noqa: S324


def lead_list_accepted_for_rep(*, rep: Rep) -> list[Lead]:
    return list(
        Lead.objects.filter(owner=rep, status=Lead.Status.ACCEPTED)
        .select_related("segment")
        .order_by("-accepted_at", "-id")
    )


def rep_list_for_manager(*, user, now: dt.datetime | None = None) -> QuerySet[Rep]:  # noqa: ANN001
    """Reps a manager may manage: their direct reports, or every rep for Sales Ops."""
    now = now or timezone.now()
    qs = Rep.objects.filter(active=True)
    if Role.OPS.value not in user_roles(user):
        manager = Rep.objects.filter(user=user).first()
        if manager is None:
            return Rep.objects.none()
        qs = qs.filter(manager=manager)
    upcoming = Absence.objects.filter(ends_at__gt=now).order_by("starts_at")
    return qs.select_related("load").prefetch_related(Prefetch("absences", queryset=upcoming, to_attr="upcoming_absences"))


def rep_load_for(*, rep: Rep) -> RepLoad | None:
    return RepLoad.objects.filter(rep=rep).first()
