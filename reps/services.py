"""Rep availability: away markers and manager-set absences.

Lead, offer and capacity changes go through ``routing.services``: an away rep's open offers are
withdrawn there and move on along the rule's chain.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from reps.models import Absence, Rep
from reps.selectors import AWAY_UNTIL_BACK
from routing.models import Offer
from routing.services import holding_wake, offers_withdraw_for_away


def rep_set_away(*, rep: Rep, until: dt.datetime | None = None, now: dt.datetime | None = None) -> int:
    """Mark ``rep`` away until ``until`` (None: until they come back). Returns offers withdrawn."""
    now = now or timezone.now()
    if until is None:
        until = AWAY_UNTIL_BACK
    if timezone.is_naive(until):
        raise ValidationError({"until": "Give a timezone-aware time."})
    if until <= now:
        raise ValidationError({"until": "Pick a time in the future."})
    if until > AWAY_UNTIL_BACK:  # would read as "until you come back"; no one plans that far
        raise ValidationError({"until": "Pick a time before the year 9000, or choose Away now."})
    with transaction.atomic():
        rep.away_until = until
        rep.save(update_fields=["away_until"])
        return offers_withdraw_for_away(rep=rep, now=now)


def rep_clear_away(*, rep: Rep) -> None:
    """The rep is back: clear the marker and let held leads try again, since capacity appeared."""
    with transaction.atomic():
        rep.away_until = None
        rep.save(update_fields=["away_until"])
        holding_wake(reason="rep back from away", rep_ids={rep.id})


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


@dataclass(frozen=True)
class AbsenceEnded:
    rep: Rep
    cancelled: bool  # True: it had not started and is gone; False: it ended now


def absence_end(*, absence_id: int, by, now: dt.datetime | None = None) -> AbsenceEnded:  # noqa: ANN001
    """End an absence early, or cancel it outright if it has not started yet.

    1. Lock the row and re-check it under the lock (two managers may click at once).
    2. Not started yet: delete it (its history keeps the cancelled row and who cancelled it).
    3. In progress: it ends ``now``, validated like any edit; the rep can take leads again,
       so the holding pool retries on commit, as when a rep comes back from away.
    4. Already over: refused.
    """
    now = now or timezone.now()
    with transaction.atomic():
        absence = Absence.objects.select_for_update().select_related("rep").filter(id=absence_id).first()
        if absence is None:
            raise ValidationError("This absence no longer exists: someone may have cancelled it already.")
        if absence.ends_at <= now:
            raise ValidationError("This absence is already over.")
        absence._history_user = by  # noqa: SLF001 (simple-history's hook for the acting user)
        if absence.starts_at >= now:
            absence.delete()
            return AbsenceEnded(rep=absence.rep, cancelled=True)
        absence.ends_at = now
        absence.full_clean()
        absence.save(update_fields=["ends_at"])
        holding_wake(reason="absence ended early", rep_ids={absence.rep_id})
        return AbsenceEnded(rep=absence.rep, cancelled=False)


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
