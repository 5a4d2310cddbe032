"""Rep availability: away markers and manager-set absences.

Lead, offer and capacity changes go through ``routing.services``: an away rep's open offers are
withdrawn there and move on along the rule's chain.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from reps.models import Absence, Rep
from routing.models import Offer
from routing.services import holding_release, offers_withdraw_for_away

# "Away now" with no end: long enough to mean "until I switch back", short enough that a
# forgotten toggle does not hide a rep forever.
AWAY_INDEFINITELY = dt.timedelta(days=30)


def rep_set_away(*, rep: Rep, until: dt.datetime | None = None, now: dt.datetime | None = None) -> int:
    """Mark ``rep`` away until ``until`` (None: until they come back). Returns offers withdrawn."""
    now = now or timezone.now()
    if until is None:
        until = now + AWAY_INDEFINITELY
    if timezone.is_naive(until):
        raise ValidationError({"until": "Give a timezone-aware time."})
    if until <= now:
        raise ValidationError({"until": "Pick a time in the future."})
    with transaction.atomic():
        rep.away_until = until
        rep.save(update_fields=["away_until"])
        return offers_withdraw_for_away(rep=rep, now=now)


def rep_clear_away(*, rep: Rep) -> None:
    """The rep is back: clear the marker and let held leads try again, since capacity appeared."""
    with transaction.atomic():
        rep.away_until = None
        rep.save(update_fields=["away_until"])
        transaction.on_commit(lambda: holding_release(limit=100))


def rep_is_away(*, rep: Rep, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return bool(rep.away_until and rep.away_until > now)


def absence_create(
    *,
    rep: Rep,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    reason: str,
    created_by,  # noqa: ANN001
    note: str = "",
    now: dt.datetime | None = None,
) -> Absence:
    """Record an absence; if it has already started, the rep's open offers move on at once."""
    now = now or timezone.now()
    if ends_at <= now:
        raise ValidationError({"ends_at": "The absence must end in the future."})
    absence = Absence(rep=rep, starts_at=starts_at, ends_at=ends_at, reason=reason, note=note, created_by=created_by)
    absence.full_clean()
    if ends_at <= starts_at:  # full_clean does not run the check constraint on every backend
        raise ValidationError({"ends_at": "The absence must end after it starts."})
    with transaction.atomic():
        absence.save()
        if starts_at <= now:
            offers_withdraw_for_away(rep=rep, now=now)
    return absence


def offers_withdraw_for_absent(*, now: dt.datetime | None = None) -> int:
    """Open offers held by reps who are away or whose absence has begun since the offer was made.

    Absences set in advance start with no event; the sweeper calls this so those offers move on.
    """
    now = now or timezone.now()
    rep_ids = set(
        Offer.objects.filter(status=Offer.Status.OPEN, rep__away_until__gt=now).values_list("rep_id", flat=True)
    ) | set(
        Offer.objects.filter(
            status=Offer.Status.OPEN, rep__absences__starts_at__lte=now, rep__absences__ends_at__gt=now
        ).values_list("rep_id", flat=True)
    )
    return sum(offers_withdraw_for_away(rep=rep, now=now) for rep in Rep.objects.filter(id__in=rep_ids))
