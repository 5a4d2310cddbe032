"""Rep availability: the one write path for whether a rep can take leads.

A rep's availability is made of: ``active``, the caps (``max_open``, ``max_daily``,
``max_weekly``), manager-set absences and the self-service away marker. Every writer (console
forms and formsets, config import, Django admin, the team page, the inbox, the sweeper) changes
them only through the functions here, and each function ends in the same two effects:

- the rep can no longer take leads (deactivated, an absence covering now, away): their open
  offers are withdrawn and the leads move on at once (``_withdraw_open_offers``);
- the rep can take leads again, or more of them (reactivated, absence ended or cancelled, back
  from away, a cap raised): the holding pool is woken for them (``routing.services.holding_wake``).

Offers, leads and capacity counters themselves change only in ``routing.services``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from leadops.datetimes import validate_readable_datetime
from reps.models import Absence, Rep
from reps.selectors import AWAY_UNTIL_BACK, rep_unavailable_reason
from routing.models import Offer
from routing.services import capacity_lock, holding_wake, offers_withdraw_for_away

CAP_FIELDS = ("max_open", "max_daily", "max_weekly")


# --- the two effects ------------------------------------------------------------------------


def _withdraw_open_offers(*, rep: Rep, now: dt.datetime) -> int:
    """Withdraw the open offers of a rep who cannot take leads now (inside the caller's transaction).

    1. Withdraw the offers already there (offer rows first, then capacity: the order expiry uses).
    2. Lock the rep's capacity row: a routing batch that read the rep before this change holds it
       until its offers are committed; one that takes it after our commit reads the new state.
    3. Withdraw any offer such a batch made meanwhile.
    """
    withdrawn = offers_withdraw_for_away(rep=rep, now=now)
    capacity_lock(rep_ids={rep.id})
    return withdrawn + offers_withdraw_for_away(rep=rep, now=now)


def _after_change(*, rep: Rep, now: dt.datetime, reason: str, gained: bool) -> int:
    """Apply the effect of a change to ``rep``'s availability; returns offers withdrawn.

    ``gained``: the change can let the rep take a lead it could not take before (back, caps up).
    Whatever the change, a rep who cannot take leads now keeps no open offer.
    """
    if rep_unavailable_reason(rep_id=rep.id, now=now) is not None:
        return _withdraw_open_offers(rep=rep, now=now)
    if gained:
        holding_wake(reason=reason, rep_ids={rep.id})
    return 0


def _locked(rep: Rep) -> Any:
    """The rep's row locked FOR NO KEY UPDATE (see rep_save)."""
    return Rep.objects.select_for_update(no_key=True).filter(pk=rep.pk)


def _caps_raised(before: dict[str, Any], rep: Rep) -> bool:
    for name in CAP_FIELDS:
        old, new = before[name], getattr(rep, name)
        if old is not None and (new is None or new > old):
            return True
    return False


# --- the rep row ------------------------------------------------------------------------------


def rep_save(*, rep: Rep, by: Any = None, now: dt.datetime | None = None, exclude: list[str] | None = None) -> Rep:
    """Create or update a rep from an edited (unsaved) instance: every writer of a rep row uses this.

    1. ``full_clean`` (``exclude``: fields the caller sets later, e.g. ``manager`` in an import);
       raises ``ValidationError`` keyed by field.
    2. Lock the stored row and read the availability it had.
    3. Save (django-simple-history records ``by``).
    4. Effects: deactivated, or set away, withdraws the open offers; reactivated, back from away,
       a cap raised (or removed) or a new active rep wakes the holding pool.
    """
    now = now or timezone.now()
    rep.full_clean(exclude=exclude)
    with transaction.atomic():
        before = None
        if rep.pk is not None:
            # NO KEY: a routing batch inserting an offer for this rep takes KEY SHARE on the row
            # while holding the rep's capacity lock, which we take next; FOR UPDATE would deadlock.
            before = _locked(rep).filter(pk=rep.pk).values("active", "away_until", *CAP_FIELDS).first()
        if by is not None:
            rep._history_user = by  # noqa: SLF001 (simple-history's hook for the acting user)
        rep.save()
        if before is None:
            gained, reason = rep.active, "rep_added"
        else:
            was_away = before["away_until"] is not None and before["away_until"] > now
            is_away = rep.away_until is not None and rep.away_until > now
            back = (rep.active and not before["active"]) or (was_away and not is_away)
            gained = back or _caps_raised(before, rep)
            reason = "rep_available" if back else "caps_raised"
        _after_change(rep=rep, now=now, reason=reason, gained=gained)
    return rep


def rep_set_active(*, rep: Rep, active: bool, by: Any = None, now: dt.datetime | None = None) -> Rep:
    """Deactivate (open offers withdrawn at once) or reactivate (holding pool woken) a rep."""
    rep.active = active
    return rep_save(rep=rep, by=by, now=now)


def rep_set_caps(
    *, rep: Rep, max_open: int | None, max_daily: int | None, max_weekly: int | None, by: Any = None,
    now: dt.datetime | None = None,
) -> Rep:  # fmt: skip
    """Change a rep's caps (None = no cap). Raising one wakes the holding pool; lowering one keeps
    the offers already made (the cap binds new offers)."""
    rep.max_open, rep.max_daily, rep.max_weekly = max_open, max_daily, max_weekly
    return rep_save(rep=rep, by=by, now=now)


def away_until_check(*, until: dt.datetime | None, now: dt.datetime | None = None) -> dt.datetime:
    """The end of an away spell as ``rep_set_away`` stores it (None: until the rep comes back).

    Raises ``ValidationError`` on ``until`` when it is naive, not in the future or out of the
    storable range (leadops.datetimes). Views call it before asking the rep to confirm.
    """
    now = now or timezone.now()
    if until is None:
        return AWAY_UNTIL_BACK
    if timezone.is_naive(until):
        raise ValidationError({"until": "Give a timezone-aware time."})
    if until <= now:
        raise ValidationError({"until": "Pick a time in the future."})
    try:
        validate_readable_datetime(until)
    except ValidationError as exc:
        raise ValidationError({"until": f"{exc.messages[0]} Or choose Away now."}) from None
    return until


def rep_set_away(*, rep: Rep, until: dt.datetime | None = None, now: dt.datetime | None = None) -> int:
    """Mark ``rep`` away until ``until`` (None: until they come back). Returns offers withdrawn.

    Raises ``ValidationError`` on ``until`` when it is naive, not in the future or out of the
    storable range (leadops.datetimes).
    """
    now = now or timezone.now()
    until = away_until_check(until=until, now=now)
    with transaction.atomic():
        _locked(rep).first()
        rep.away_until = until
        rep.save(update_fields=["away_until"])
        return _withdraw_open_offers(rep=rep, now=now)


def rep_clear_away(*, rep: Rep, now: dt.datetime | None = None) -> None:
    """The rep is back: clear the marker and wake the holding pool for them."""
    now = now or timezone.now()
    with transaction.atomic():
        _locked(rep).first()
        rep.away_until = None
        rep.save(update_fields=["away_until"])
        _after_change(rep=rep, now=now, reason="rep_back", gained=True)


def rep_is_away(*, rep: Rep, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return bool(rep.away_until and rep.away_until > now)


# --- absences ---------------------------------------------------------------------------------


def _covers(absence: Absence | dict[str, Any] | None, now: dt.datetime) -> bool:
    if absence is None:
        return False
    if isinstance(absence, dict):
        return absence["starts_at"] <= now < absence["ends_at"]
    return absence.starts_at <= now < absence.ends_at


def absence_save(*, absence: Absence, by: Any = None, now: dt.datetime | None = None) -> Absence:
    """Create or edit an absence (console formset, admin, config import, team page).

    Raises ``ValidationError`` keyed by field (``ends_at`` before ``starts_at``, a time out of
    the storable range). If it covers now, the rep's open offers are withdrawn at once; if an
    edit ends an absence that covered now, the holding pool is woken for the rep.
    """
    now = now or timezone.now()
    # Before full_clean: its check-constraint message names no field ("Constraint ... is violated").
    if absence.ends_at and absence.starts_at and absence.ends_at <= absence.starts_at:
        raise ValidationError({"ends_at": "The absence must end after it starts."})
    absence.full_clean()
    with transaction.atomic():
        before = None
        if absence.pk is not None:
            before = Absence.objects.select_for_update().filter(pk=absence.pk).values("starts_at", "ends_at").first()
        if by is not None:
            absence._history_user = by  # noqa: SLF001
        absence.save()
        _after_change(rep=absence.rep, now=now, reason="absence_ended",
                      gained=_covers(before, now) and not _covers(absence, now))  # fmt: skip
    return absence


def absence_delete(*, absence: Absence, by: Any = None, now: dt.datetime | None = None) -> None:
    """Delete an absence (history keeps the row); if it covered now, wake the holding pool for the rep."""
    now = now or timezone.now()
    with transaction.atomic():
        rep = absence.rep
        covered = _covers(absence, now)
        if by is not None:
            absence._history_user = by  # noqa: SLF001
        absence.delete()
        _after_change(rep=rep, now=now, reason="absence_cancelled", gained=covered)


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
    """Record an absence from the team page; if it has already started, the rep's open offers
    move on at once. Raises ``ValidationError`` keyed by field."""
    now = now or timezone.now()
    if ends_at <= now:
        raise ValidationError({"ends_at": "The absence must end in the future."})
    absence = Absence(rep=rep, starts_at=starts_at, ends_at=ends_at, reason=reason, note=note, created_by=created_by)
    return absence_save(absence=absence, by=created_by, now=now)


@dataclass(frozen=True)
class AbsenceEnded:
    rep: Rep
    cancelled: bool  # True: it had not started and is gone; False: it ended now


def absence_end(*, absence_id: int, by, now: dt.datetime | None = None) -> AbsenceEnded:  # noqa: ANN001
    """End an absence early, or cancel it outright if it has not started yet.

    1. Lock the row and re-check it under the lock (two managers may click at once).
    2. Not started yet: delete it (its history keeps the cancelled row and who cancelled it).
    3. In progress: it ends ``now``, validated like any edit; the rep can take leads again,
       so the holding pool is woken for them, as when a rep comes back from away.
    4. Already over: refused.
    """
    now = now or timezone.now()
    with transaction.atomic():
        absence = Absence.objects.select_for_update().select_related("rep").filter(id=absence_id).first()
        if absence is None:
            raise ValidationError("This absence no longer exists: someone may have cancelled it already.")
        if absence.ends_at <= now:
            raise ValidationError("This absence is already over.")
        if absence.starts_at >= now:
            absence_delete(absence=absence, by=by, now=now)
            return AbsenceEnded(rep=absence.rep, cancelled=True)
        absence.ends_at = now
        absence_save(absence=absence, by=by, now=now)
        return AbsenceEnded(rep=absence.rep, cancelled=False)


def offers_withdraw_for_absent(*, now: dt.datetime | None = None) -> int:
    """Open offers held by reps who cannot take leads now: an absence set in advance that has
    begun (it starts with no event), or away or inactive by any path. The sweeper runs this."""
    now = now or timezone.now()
    open_offers = Offer.objects.filter(status=Offer.Status.OPEN)
    rep_ids = (
        set(open_offers.filter(rep__away_until__gt=now).values_list("rep_id", flat=True))
        | set(open_offers.filter(rep__active=False).values_list("rep_id", flat=True))
        | set(open_offers.filter(rep__absences__starts_at__lte=now, rep__absences__ends_at__gt=now)
              .values_list("rep_id", flat=True))
    )  # fmt: skip
    withdrawn = 0
    for rep in Rep.objects.filter(id__in=rep_ids).order_by("id"):
        with transaction.atomic():
            withdrawn += _withdraw_open_offers(rep=rep, now=now)
    return withdrawn
