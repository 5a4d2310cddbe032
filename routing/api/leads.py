"""Leads: send (intake), list and filter, read with the whole decision history, dry-run routing,
and record a rep's first touch."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Status
from pydantic import BaseModel, ConfigDict, Field

from reps.models import Role
from routing import engine
from routing.api.core import Problem, access, caller, describe, paginate, problem_responses, refuse_unknown_query
from routing.api.schemas import LeadCreated, LeadOut, LeadPage, lead_out, lead_summary
from routing.models import Lead, TokenScope, TouchChannel
from routing.services import OfferError, lead_dry_run, lead_first_touch, lead_intake
from routing.validation import ApiDateTime, DryRunLeadIn, LeadIn, StorableText, lead_fields, request_reference, request_vocabulary

router = Router(tags=["leads"])

LeadStatus = Literal[tuple(Lead.Status.values)]  # type: ignore[valid-type]


@router.post(
    "/leads", response={200: LeadCreated, 201: LeadCreated, **problem_responses(400, 401, 403)},
    auth=access(TokenScope.INTAKE, Role.OPS), operation_id="leads_create", summary="Send a lead",
    description="The same source + external_id again answers 200 with the existing lead, unchanged. "
                + describe(TokenScope.INTAKE, Role.OPS),
)  # fmt: skip
def leads_create(request: HttpRequest, payload: LeadIn) -> Status:
    reference = request_reference(request)
    data = lead_fields(payload, vocabulary=reference.vocabulary)
    lead, created = lead_intake(data=data, reference=reference)
    return Status(201 if created else 200, {"id": lead.id, "status": lead.status, "created": created})


class LeadFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: LeadStatus | None = None
    segment: StorableText | None = Field(None, max_length=60, description="Segment slug")
    owner: int | None = Field(None, ge=1, le=2**31 - 1, description="Rep id")
    source: StorableText | None = Field(None, max_length=60)
    external_id: StorableText | None = Field(None, max_length=120)
    received_after: ApiDateTime | None = Field(None, description="ISO 8601 with an offset, inclusive")
    received_before: ApiDateTime | None = Field(None, description="ISO 8601 with an offset, exclusive")
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)


@router.get(
    "/leads", response={200: LeadPage, **problem_responses(400, 401, 403)},
    auth=access(TokenScope.READ, Role.OPS, Role.MANAGER), operation_id="leads_list", summary="List leads",
    description="Newest first. A manager sees the leads offered to their team. " + describe(TokenScope.READ, Role.OPS, Role.MANAGER),
)  # fmt: skip
def leads_list(request: HttpRequest, filters: Query[LeadFilters]) -> dict:
    refuse_unknown_query(request, LeadFilters)
    qs = caller(request).visibility.leads(Lead.objects.select_related("segment", "owner"))
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.segment:
        qs = qs.filter(segment__slug=filters.segment)
    if filters.owner:
        qs = qs.filter(owner_id=filters.owner)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.external_id:
        qs = qs.filter(external_id=filters.external_id)
    if filters.received_after:
        qs = qs.filter(received_at__gte=filters.received_after)
    if filters.received_before:
        qs = qs.filter(received_at__lt=filters.received_before)
    rows, next_cursor = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    return {"items": [lead_summary(lead) for lead in rows], "next_cursor": next_cursor}


def lead_for(request: HttpRequest, lead_id: int) -> Lead:
    """The lead if the caller may see it, else Problem 404 (the same answer for a lead that does
    not exist and one outside the caller's team: no oracle)."""
    qs = caller(request).visibility.leads(Lead.objects.select_related("segment", "owner"))
    lead = qs.filter(id=lead_id).first()
    if lead is None:
        raise Problem(404, f"No lead with id {lead_id}.", {"lead_id": [f"No lead with id {lead_id}."]})
    return lead


@router.get(
    "/leads/{int:lead_id}", response={200: LeadOut, **problem_responses(401, 403, 404)},
    auth=access(TokenScope.READ, Role.OPS, Role.MANAGER), operation_id="leads_read",
    summary="A lead with its current offer, every offer and every decision (candidates and reasons)",
    description=describe(TokenScope.READ, Role.OPS, Role.MANAGER),
)  # fmt: skip
def leads_read(request: HttpRequest, lead_id: int) -> dict:
    return lead_out(lead_for(request, lead_id))


class FirstTouchIn(BaseModel):
    """A rep's first contact with the lead, e.g. a call logged in the CRM."""

    model_config = ConfigDict(extra="forbid", title="FirstTouch")

    channel: TouchChannel = Field(TouchChannel.OTHER, description="call, email, meeting, message or other")


@router.post(
    "/leads/{int:lead_id}/first-touch", response={200: LeadOut, **problem_responses(400, 401, 403, 404, 409)},
    auth=access(TokenScope.OFFERS, Role.REP), operation_id="leads_first_touch",
    summary="Record the rep's first touch (stops the SLA clock of an assigned lead)",
    description="With a personal token or a session, only the caller's own lead; an integration token (a CRM) "
                "records it for the lead's owner. A second touch changes nothing. " + describe(TokenScope.OFFERS, Role.REP),
)  # fmt: skip
def leads_first_touch(request: HttpRequest, lead_id: int, payload: FirstTouchIn) -> dict:
    who = caller(request)
    lead = Lead.objects.filter(id=lead_id).only("id", "owner_id").first()
    rep = who.rep
    if lead is None or (not who.is_integration and (rep is None or lead.owner_id != rep.id)):
        raise Problem(404, f"No lead of yours with id {lead_id}.", {"lead_id": [f"No lead of yours with id {lead_id}."]})
    try:
        lead_first_touch(lead_id=lead_id, rep=None if who.is_integration else rep, channel=payload.channel)
    except OfferError as exc:
        raise Problem(409, str(exc), {"lead_id": [str(exc)]}) from None
    return lead_out(Lead.objects.select_related("segment", "owner").get(id=lead_id))


def _dry_run_scope(request: HttpRequest) -> str:
    """Unpublished rules are ops' business: a dry run against the draft needs ``admin``."""
    return TokenScope.ADMIN if request.GET.get("draft") in ("1", "true") else TokenScope.DRY_RUN


class DryRunQuery(BaseModel):
    draft: bool = Field(False, description="Route with the unpublished draft rules (needs the admin scope)")


@router.post(
    "/route/dry-run", response={200: dict, **problem_responses(400, 401, 403)},
    auth=access(_dry_run_scope, Role.OPS), operation_id="route_dry_run",
    summary="Where would this lead go, and why? Writes nothing",
    description=describe("dry-run", Role.OPS, extra="`?draft=1` routes with the unpublished draft and needs `admin`."),
)  # fmt: skip
def route_dry_run(request: HttpRequest, payload: DryRunLeadIn, query: Query[DryRunQuery]) -> dict:
    refuse_unknown_query(request, DryRunQuery)
    data = lead_fields(payload, vocabulary=request_vocabulary(request))
    decision = lead_dry_run(data=data, draft=query.draft, now=timezone.now())
    return engine.decision_to_dict(decision)  # includes "warnings"
