"""Webhook deliveries: list (dead letters first to look at) and redeliver."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Query, Router
from pydantic import BaseModel, ConfigDict, Field

from reps.models import Role
from reps.notifications import webhook_redeliver
from routing.api.core import Problem, access, describe, paginate, problem_responses, refuse_unknown_query
from routing.api.schemas import WebhookDeliveryOut, WebhookDeliveryPage, delivery_out
from routing.models import TokenScope, WebhookDelivery
from routing.validation import StorableText

router = Router(tags=["webhooks"])


class DeliveryFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal[tuple(WebhookDelivery.Status.values)] | None = None  # type: ignore[valid-type]
    event: StorableText | None = Field(None, max_length=50)
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)


@router.get(
    "/webhooks/deliveries", response={200: WebhookDeliveryPage, **problem_responses(400, 401, 403)},
    auth=access(TokenScope.ADMIN, Role.OPS), operation_id="webhooks_list", summary="Webhook deliveries",
    description="Newest first; `status=failed` lists the dead letters. " + describe(TokenScope.ADMIN, Role.OPS),
)  # fmt: skip
def webhooks_list(request: HttpRequest, filters: Query[DeliveryFilters]) -> dict:
    refuse_unknown_query(request, DeliveryFilters)
    qs = WebhookDelivery.objects.all()
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.event:
        qs = qs.filter(event=filters.event)
    rows, next_cursor = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    return {"items": [delivery_out(d) for d in rows], "next_cursor": next_cursor}


@router.post(
    "/webhooks/deliveries/{int:delivery_id}/redeliver", response={200: WebhookDeliveryOut, **problem_responses(401, 403, 404, 409)},
    auth=access(TokenScope.ADMIN, Role.OPS), operation_id="webhooks_redeliver",
    summary="Send a delivery again (queued now, same webhook-id)", description=describe(TokenScope.ADMIN, Role.OPS),
)  # fmt: skip
def webhooks_redeliver(request: HttpRequest, delivery_id: int) -> dict:
    if not WebhookDelivery.objects.filter(id=delivery_id).exists():
        raise Problem(404, f"No delivery with id {delivery_id}.", {"delivery_id": [f"No delivery with id {delivery_id}."]})
    if not webhook_redeliver(delivery_id=delivery_id):
        message = "Only a failed (dead-lettered) delivery can be redelivered; this one is not."
        raise Problem(409, message, {"delivery_id": [message]})
    return delivery_out(WebhookDelivery.objects.get(id=delivery_id))
