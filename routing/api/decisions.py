"""Decisions: every routing step with its candidates and reasons, by time, rule, rep, outcome."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Query, Router
from pydantic import BaseModel, ConfigDict, Field

from reps.models import Role
from routing.api.core import access, caller, describe, paginate, problem_responses, refuse_unknown_query
from routing.api.schemas import DecisionPage, decision_out
from routing.models import Decision, TokenScope
from routing.validation import ApiDateTime

router = Router(tags=["decisions"])

MAX_ID = 2**63 - 1


class DecisionFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    created_after: ApiDateTime | None = Field(None, description="ISO 8601 with an offset, inclusive")
    created_before: ApiDateTime | None = Field(None, description="ISO 8601 with an offset, exclusive")
    rule: int | None = Field(None, ge=1, le=MAX_ID, description="Rule id")
    rep: int | None = Field(None, ge=1, le=MAX_ID, description="The chosen rep's id")
    outcome: Literal["offer", "holding"] | None = None
    kind: Literal[tuple(Decision.Kind.values)] | None = None  # type: ignore[valid-type]
    lead: int | None = Field(None, ge=1, le=MAX_ID, description="Lead id")
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)


@router.get(
    "/decisions", response={200: DecisionPage, **problem_responses(400, 401, 403)},
    auth=access(TokenScope.READ, Role.OPS, Role.MANAGER), operation_id="decisions_list",
    summary="List routing decisions, each with its candidates and reasons",
    description="Newest first. A manager sees the decisions about leads offered to their team. "
                + describe(TokenScope.READ, Role.OPS, Role.MANAGER),
)  # fmt: skip
def decisions_list(request: HttpRequest, filters: Query[DecisionFilters]) -> dict:
    refuse_unknown_query(request, DecisionFilters)
    qs = caller(request).visibility.leads(Decision.objects.all(), field="lead_id")
    if filters.created_after:
        qs = qs.filter(created_at__gte=filters.created_after)
    if filters.created_before:
        qs = qs.filter(created_at__lt=filters.created_before)
    if filters.rule:
        qs = qs.filter(rule_id=filters.rule)
    if filters.rep:
        qs = qs.filter(chosen_rep_id=filters.rep)
    if filters.outcome:
        qs = qs.filter(outcome=filters.outcome)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.lead:
        qs = qs.filter(lead_id=filters.lead)
    rows, next_cursor = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    return {"items": [decision_out(d) for d in rows], "next_cursor": next_cursor}
