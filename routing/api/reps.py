"""Reps: availability (away, back, absences) and caps. Every change goes through
``reps.services``, which withdraws open offers or wakes the holding pool as needed."""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Status
from pydantic import BaseModel, ConfigDict, Field

from reps import services as rep_services
from reps.models import Absence, Rep, Role
from reps.selectors import away_is_until_back
from routing.api.core import Problem, access, caller, describe, paginate, problem_responses, refuse_unknown_query
from routing.api.schemas import AbsenceOut, RepOut, RepPage, absence_out
from routing.models import TokenScope
from routing.validation import ApiDateTime, StorableText

router = Router(tags=["reps"])

MAX_CAP = 2**31 - 1
STAFF = (Role.OPS, Role.MANAGER)


def _reps(request: HttpRequest, *, with_self: bool = False):  # noqa: ANN202
    who = caller(request)
    now = timezone.now()
    current = Prefetch("absences", queryset=Absence.objects.filter(ends_at__gt=now).order_by("starts_at", "id"),
                       to_attr="current_absences")  # fmt: skip
    qs = Rep.objects.select_related("team", "load").prefetch_related(current)
    if who.visibility.everything:
        return qs
    ids = set(who.visibility.rep_ids) | ({who.rep.id} if with_self and who.rep is not None else set())
    return qs.filter(id__in=ids)


def rep_out(rep: Rep, *, now) -> dict:  # noqa: ANN001
    absences = getattr(rep, "current_absences", None)
    if absences is None:
        absences = list(rep.absences.filter(ends_at__gt=now).order_by("starts_at", "id"))
    away = rep.away_until is not None and rep.away_until > now
    absent = any(a.starts_at <= now < a.ends_at for a in absences)
    reason = "inactive" if not rep.active else "absent" if absent else "away" if away else None
    load = getattr(rep, "load", None)
    return {
        "id": rep.id, "name": rep.display_name, "active": rep.active, "team": rep.team.name if rep.team_id else None,
        "away_until": (None if away_is_until_back(rep.away_until) else rep.away_until) if away else None,
        "available": reason is None, "unavailable_reason": reason,
        "caps": {"max_open": rep.max_open, "max_daily": rep.max_daily, "max_weekly": rep.max_weekly},
        "open_count": load.open_count if load is not None else 0,
        "absences": [absence_out(a) for a in absences],
    }  # fmt: skip


def rep_for(request: HttpRequest, rep_id: int, *, with_self: bool = False) -> Rep:
    """The rep if the caller may act on it (own profile only where ``with_self``), else 404."""
    rep = _reps(request, with_self=with_self).filter(id=rep_id).first()
    if rep is None:
        raise Problem(404, f"No rep with id {rep_id} in your scope.", {"rep_id": [f"No rep with id {rep_id} in your scope."]})
    return rep


class RepFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: bool | None = None
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)


@router.get(
    "/reps", response={200: RepPage, **problem_responses(400, 401, 403)},
    auth=access(TokenScope.READ, *STAFF), operation_id="reps_list", summary="Reps with availability and caps",
    description="A manager sees their team. " + describe(TokenScope.READ, *STAFF),
)  # fmt: skip
def reps_list(request: HttpRequest, filters: Query[RepFilters]) -> dict:
    refuse_unknown_query(request, RepFilters)
    qs = _reps(request)
    if filters.active is not None:
        qs = qs.filter(active=filters.active)
    rows, next_cursor = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    now = timezone.now()
    return {"items": [rep_out(r, now=now) for r in rows], "next_cursor": next_cursor}


@router.get(
    "/reps/{int:rep_id}", response={200: RepOut, **problem_responses(401, 403, 404)},
    auth=access(TokenScope.READ, *STAFF, Role.REP), operation_id="reps_read", summary="One rep's availability and caps",
    description="A rep may read their own profile. " + describe(TokenScope.READ, *STAFF, Role.REP),
)  # fmt: skip
def reps_read(request: HttpRequest, rep_id: int) -> dict:
    return rep_out(rep_for(request, rep_id, with_self=True), now=timezone.now())


class AwayIn(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Away")

    until: ApiDateTime | None = Field(None, description="Back at this time (ISO 8601 with an offset); null: until they say they are back")


@router.post(
    "/reps/{int:rep_id}/away", response={200: RepOut, **problem_responses(400, 401, 403, 404)},
    auth=access(TokenScope.REPS, *STAFF, Role.REP), operation_id="reps_away",
    summary="Mark a rep away (their open offers move on at once)",
    description="A rep may mark themselves. " + describe(TokenScope.REPS, *STAFF, Role.REP),
)  # fmt: skip
def reps_away(request: HttpRequest, rep_id: int, payload: AwayIn) -> dict:
    rep = rep_for(request, rep_id, with_self=True)
    rep_services.rep_set_away(rep=rep, until=payload.until)
    return rep_out(rep_for(request, rep_id, with_self=True), now=timezone.now())


@router.post(
    "/reps/{int:rep_id}/back", response={200: RepOut, **problem_responses(401, 403, 404)},
    auth=access(TokenScope.REPS, *STAFF, Role.REP), operation_id="reps_back", summary="The rep is back",
    description="A rep may mark themselves. " + describe(TokenScope.REPS, *STAFF, Role.REP),
)  # fmt: skip
def reps_back(request: HttpRequest, rep_id: int) -> dict:
    rep = rep_for(request, rep_id, with_self=True)
    rep_services.rep_clear_away(rep=rep)
    return rep_out(rep_for(request, rep_id, with_self=True), now=timezone.now())


class CapsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Caps")

    max_open: int | None = Field(..., ge=0, le=MAX_CAP, description="Open leads at once; null: no cap")
    max_daily: int | None = Field(..., ge=0, le=MAX_CAP, description="New leads per local day; null: no cap")
    max_weekly: int | None = Field(..., ge=0, le=MAX_CAP, description="New leads per local ISO week; null: no cap")


@router.put(
    "/reps/{int:rep_id}/caps", response={200: RepOut, **problem_responses(400, 401, 403, 404)},
    auth=access(TokenScope.REPS, *STAFF), operation_id="reps_caps",
    summary="Set a rep's caps (raising one wakes the holding pool)", description=describe(TokenScope.REPS, *STAFF),
)  # fmt: skip
def reps_caps(request: HttpRequest, rep_id: int, payload: CapsIn) -> dict:
    rep = rep_for(request, rep_id)
    rep_services.rep_set_caps(rep=rep, max_open=payload.max_open, max_daily=payload.max_daily,
                              max_weekly=payload.max_weekly, by=caller(request).user)  # fmt: skip
    return rep_out(rep_for(request, rep_id), now=timezone.now())


class AbsenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Absence")

    starts_at: ApiDateTime
    ends_at: ApiDateTime = Field(description="After starts_at and in the future")
    reason: Absence.Reason = Absence.Reason.OTHER
    note: StorableText = Field("", max_length=200)


@router.get(
    "/reps/{int:rep_id}/absences", response={200: list[AbsenceOut], **problem_responses(401, 403, 404)},
    auth=access(TokenScope.READ, *STAFF, Role.REP), operation_id="reps_absences",
    summary="A rep's absences in progress or scheduled", description=describe(TokenScope.READ, *STAFF, Role.REP),
)  # fmt: skip
def reps_absences(request: HttpRequest, rep_id: int) -> list[dict]:
    rep = rep_for(request, rep_id, with_self=True)
    return [absence_out(a) for a in rep.current_absences]


@router.post(
    "/reps/{int:rep_id}/absences", response={201: AbsenceOut, **problem_responses(400, 401, 403, 404)},
    auth=access(TokenScope.REPS, *STAFF), operation_id="reps_absence_create",
    summary="Record an absence (if it has started, the rep's open offers move on)", description=describe(TokenScope.REPS, *STAFF),
)  # fmt: skip
def reps_absence_create(request: HttpRequest, rep_id: int, payload: AbsenceIn) -> Status:
    rep = rep_for(request, rep_id)
    absence = rep_services.absence_create(rep=rep, starts_at=payload.starts_at, ends_at=payload.ends_at,
                                          reason=payload.reason, note=payload.note, created_by=caller(request).user)  # fmt: skip
    return Status(201, absence_out(absence))


@router.post(
    "/absences/{int:absence_id}/end", response={200: RepOut, **problem_responses(400, 401, 403, 404)},
    auth=access(TokenScope.REPS, *STAFF), operation_id="absences_end",
    summary="End an absence now (or cancel one not started yet)", description=describe(TokenScope.REPS, *STAFF),
)  # fmt: skip
def absences_end(request: HttpRequest, absence_id: int) -> dict:
    rep_ids = _reps(request).values("id")
    if not Absence.objects.filter(id=absence_id, rep_id__in=rep_ids).exists():
        raise Problem(404, f"No absence with id {absence_id} in your scope.", {"absence_id": ["Not found in your scope."]})
    ended = rep_services.absence_end(absence_id=absence_id, by=caller(request).user)
    return rep_out(rep_for(request, ended.rep.id), now=timezone.now())
