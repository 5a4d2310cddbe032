"""A rep's own offers: list, accept, decline with a reason (personal token or session)."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Query, Router
from pydantic import BaseModel, ConfigDict, Field

from reps.models import Rep, Role
from routing.api.core import Problem, access, caller, describe, paginate, problem_responses, refuse_unknown_query
from routing.api.schemas import OfferOut, OfferPage, offer_out
from routing.models import Offer, TokenScope
from routing.services import OfferError, offer_accept, offer_decline
from routing.validation import StorableText

router = Router(tags=["offers"])


class OfferFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal[tuple(Offer.Status.values)] | None = None  # type: ignore[valid-type]
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)


def _my_rep(request: HttpRequest) -> Rep:
    rep = caller(request).rep
    if rep is None:
        raise Problem(403, "This account is not linked to a rep profile.", {"authorization": ["No rep profile."]})
    return rep


@router.get(
    "/offers", response={200: OfferPage, **problem_responses(400, 401, 403)},
    auth=access(TokenScope.OFFERS, Role.REP, integration=False), operation_id="offers_list",
    summary="My offers (open ones first to act on)", description="Newest first. " + describe(TokenScope.OFFERS, Role.REP, integration=False),
)  # fmt: skip
def offers_list(request: HttpRequest, filters: Query[OfferFilters]) -> dict:
    refuse_unknown_query(request, OfferFilters)
    qs = Offer.objects.filter(rep=_my_rep(request)).select_related("rep")
    if filters.status:
        qs = qs.filter(status=filters.status)
    rows, next_cursor = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    return {"items": [offer_out(o) for o in rows], "next_cursor": next_cursor}


def _act(request: HttpRequest, offer_id: int, action) -> dict:  # noqa: ANN001
    rep = _my_rep(request)
    if not Offer.objects.filter(id=offer_id, rep=rep).exists():
        raise Problem(404, f"No offer of yours with id {offer_id}.", {"offer_id": [f"No offer of yours with id {offer_id}."]})
    try:
        action(rep)
    except OfferError as exc:
        raise Problem(409, str(exc), {"offer_id": [str(exc)]}) from None
    return offer_out(Offer.objects.select_related("rep").get(id=offer_id))


@router.post(
    "/offers/{int:offer_id}/accept", response={200: OfferOut, **problem_responses(401, 403, 404, 409)},
    auth=access(TokenScope.OFFERS, Role.REP, integration=False), operation_id="offers_accept",
    summary="Accept one of my offers (again: no change)", description=describe(TokenScope.OFFERS, Role.REP, integration=False),
)  # fmt: skip
def offers_accept(request: HttpRequest, offer_id: int) -> dict:
    return _act(request, offer_id, lambda rep: offer_accept(offer_id=offer_id, rep=rep))


class DeclineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Decline")

    reason: Offer.DeclineReason = Field(description="Why: " + "; ".join(f"`{v}` {label}" for v, label in Offer.DeclineReason.choices))
    note: StorableText = Field("", max_length=500, description="Optional words for the manager")


@router.post(
    "/offers/{int:offer_id}/decline", response={200: OfferOut, **problem_responses(400, 401, 403, 404, 409)},
    auth=access(TokenScope.OFFERS, Role.REP, integration=False), operation_id="offers_decline",
    summary="Decline one of my offers with a reason", description=describe(TokenScope.OFFERS, Role.REP, integration=False),
)  # fmt: skip
def offers_decline(request: HttpRequest, offer_id: int, payload: DeclineIn) -> dict:
    return _act(request, offer_id, lambda rep: offer_decline(offer_id=offer_id, rep=rep, reason=payload.reason,
                                                             note=payload.note))  # fmt: skip
