"""What the API answers: pydantic models, so the document describes every response and the
fuzz tests check responses against it. Request bodies reuse the models that validate the same
data elsewhere (``routing.validation.LeadIn``, ``routing.engine.schema``)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field

from reps.models import Absence, Rep
from routing.models import Decision, Lead, Offer, WebhookDelivery


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RepRef(_Out):
    id: int
    name: str


class OfferOut(_Out):
    id: int
    lead_id: int
    rep: RepRef
    status: Literal["open", "accepted", "declined", "expired", "withdrawn"]
    mode: Literal["offer", "assign"] = Field(description="offer: accept or decline; assign: owned at once, the SLA stops at the first touch")
    step: int = Field(description="Escalation step: 0 is the first offer")
    offered_at: dt.datetime
    deadline: dt.datetime = Field(description="Accept (offer mode) or first touch (assign mode) by then, or the lead moves on")
    decided_at: dt.datetime | None
    decline_reason: str | None
    decline_note: str | None


class CandidateOut(_Out):
    step: str = Field(description="The engine step that considered the rep: primary, relax, pool, backup, manager")
    rep_id: int | None
    name: str | None
    eligible: bool | None
    reasons: list[Any] = Field(description="Why the rep was skipped (empty when eligible)")
    weight: float | None
    score: float | None


class DecisionOut(_Out):
    id: int
    lead_id: int
    kind: Literal["route", "escalation", "retry", "manual"]
    created_at: dt.datetime
    ruleset_version: int | None
    rule_id: int | None
    rule_history_id: int | None
    segment_id: int | None
    pool_id: int | None
    outcome: str = Field(description="offer or holding")
    step: str
    chosen_rep_id: int | None
    summary: str
    duration_us: int
    candidates: list[CandidateOut] = Field(description="Every rep considered, step by step, with the reasons")
    warnings: list[Any]
    reasons: dict[str, Any] = Field(description="The full engine explanation (steps, candidates, scores)")


class LeadSummary(_Out):
    id: int
    source: str
    external_id: str
    status: str
    high_value: bool
    value: str = Field(description="Decimal, in `currency`")
    currency: str
    value_base: str | None = Field(description="Decimal, in `base_currency`; null when the currency had no rate")
    base_currency: str
    segment: str | None = Field(description="Segment slug")
    owner: RepRef | None
    received_at: dt.datetime
    first_touch_at: dt.datetime | None
    first_touch_channel: str | None


class AccountRef(_Out):
    id: int
    external_id: str
    name: str


class LeadOut(LeadSummary):
    account: AccountRef | None = Field(description="The account routing matched; how and how sure: the decision's `detail.account`")
    duplicate_of: int | None = Field(description="The open lead with the same email this one was linked to")
    current_offer: OfferOut | None
    decision: DecisionOut | None = Field(description="The latest decision")
    decisions: list[DecisionOut] = Field(description="The full decision history, oldest first")
    offers: list[OfferOut] = Field(description="Every offer, oldest first")


class LeadCreated(_Out):
    id: int
    status: str
    created: bool = Field(description="False: the same source + external_id was already here; nothing changed")


class Page(_Out):
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class LeadPage(Page):
    items: list[LeadSummary]


class DecisionPage(Page):
    items: list[DecisionOut]


class OfferPage(Page):
    items: list[OfferOut]


class AbsenceOut(_Out):
    id: int
    rep_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: str
    note: str


class CapsOut(_Out):
    max_open: int | None = Field(description="Open leads at once; null: no cap")
    max_daily: int | None = Field(description="New leads per local day; null: no cap")
    max_weekly: int | None = Field(description="New leads per local ISO week; null: no cap")


class RepOut(_Out):
    id: int
    name: str
    active: bool
    team: str | None
    away_until: dt.datetime | None = Field(description="Away until then; null: not away")
    available: bool = Field(description="Can take a lead now (active, not away, not absent)")
    unavailable_reason: str | None
    caps: CapsOut
    open_count: int
    absences: list[AbsenceOut] = Field(description="Absences in progress or scheduled")


class RepPage(Page):
    items: list[RepOut]


class WebhookDeliveryOut(_Out):
    id: int
    message_id: str = Field(description="The Standard Webhooks webhook-id (the same on every retry)")
    event: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    delivered_at: dt.datetime | None
    last_error: str
    payload: dict[str, Any]


class WebhookDeliveryPage(Page):
    items: list[WebhookDeliveryOut]


class ConfigChange(_Out):
    section: str
    key: str
    action: Literal["add", "change", "deactivate", "archive", "delete"]
    fields: list[tuple[str, Any, Any]] = Field(description="(field, old, new) for a change")


class ConfigImportOut(_Out):
    applied: bool = Field(description="False for a dry run: nothing was kept")
    summary: str
    changes: list[ConfigChange]
    users_created: list[str]
    draft_differs_from_live: bool | None = Field(description="null: nothing published yet")


class ConfigDiffOut(_Out):
    live_version: int | None = Field(description="The published version compared with; null: none yet")
    changes: list[ConfigChange] = Field(description="From live to draft: what publishing would change")


class PublishOut(_Out):
    version: int
    published_at: dt.datetime
    note: str


# --- row -> output -----------------------------------------------------------------------------


def rep_ref(rep: Rep | None) -> dict[str, Any] | None:
    return {"id": rep.id, "name": rep.display_name} if rep is not None else None


def offer_out(offer: Offer) -> dict[str, Any]:
    return {
        "id": offer.id, "lead_id": offer.lead_id, "rep": rep_ref(offer.rep), "status": offer.status,
        "mode": offer.mode, "step": offer.step, "offered_at": offer.offered_at, "deadline": offer.deadline,
        "decided_at": offer.decided_at, "decline_reason": offer.decline_reason or None,
        "decline_note": offer.decline_note or None,
    }  # fmt: skip


def _candidates(detail: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    steps = detail.get("steps", []) if isinstance(detail, dict) else []
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        for c in step.get("candidates") or []:
            if isinstance(c, dict):
                rows.append({
                    "step": str(step.get("kind") or ""), "rep_id": c.get("rep_id"), "name": c.get("name"),
                    "eligible": c.get("eligible"), "reasons": list(c.get("reasons") or []),
                    "weight": c.get("weight"), "score": c.get("score"),
                })  # fmt: skip
    return rows


def decision_out(decision: Decision) -> dict[str, Any]:
    detail = decision.detail if isinstance(decision.detail, dict) else {}
    return {
        "id": decision.id, "lead_id": decision.lead_id, "kind": decision.kind, "created_at": decision.created_at,
        "ruleset_version": decision.ruleset_version, "rule_id": decision.rule_id,
        "rule_history_id": decision.rule_history_id, "segment_id": decision.segment_id,
        "pool_id": decision.pool_id, "outcome": decision.outcome, "step": decision.step,
        "chosen_rep_id": decision.chosen_rep_id, "summary": decision.summary, "duration_us": decision.duration_us,
        "candidates": _candidates(detail), "warnings": list(detail.get("warnings") or []), "reasons": detail,
    }  # fmt: skip


def lead_summary(lead: Lead) -> dict[str, Any]:
    return {
        "id": lead.id, "source": lead.source, "external_id": lead.external_id, "status": lead.status,
        "high_value": lead.high_value, "value": str(lead.value), "currency": lead.currency,
        "value_base": str(lead.value_base) if lead.value_base is not None else None,
        "base_currency": settings.LEADOPS_BASE_CURRENCY,
        "segment": lead.segment.slug if lead.segment_id else None, "owner": rep_ref(lead.owner),
        "received_at": lead.received_at, "first_touch_at": lead.first_touch_at,
        "first_touch_channel": lead.first_touch_channel or None,
    }  # fmt: skip


def lead_out(lead: Lead) -> dict[str, Any]:
    """The lead with its current offer and its whole history (three queries)."""
    offers = list(lead.offers.select_related("rep").order_by("offered_at", "id"))
    decisions = list(Decision.objects.filter(lead_id=lead.id).order_by("created_at", "id"))
    current = next((o for o in offers if o.status == Offer.Status.OPEN), None)
    return {
        **lead_summary(lead),
        "account": {"id": lead.account.id, "external_id": lead.account.external_id, "name": lead.account.name}
        if lead.account_id and lead.account else None,
        "duplicate_of": lead.duplicate_of_id,
        "current_offer": offer_out(current) if current else None,
        "decision": decision_out(decisions[-1]) if decisions else None,
        "decisions": [decision_out(d) for d in decisions],
        "offers": [offer_out(o) for o in offers],
    }


def absence_out(absence: Absence) -> dict[str, Any]:
    return {"id": absence.id, "rep_id": absence.rep_id, "starts_at": absence.starts_at, "ends_at": absence.ends_at,
            "reason": absence.reason, "note": absence.note}  # fmt: skip


def delivery_out(delivery: WebhookDelivery) -> dict[str, Any]:
    payload = delivery.payload if isinstance(delivery.payload, dict) else {"value": delivery.payload}
    return {
        "id": delivery.id, "message_id": delivery.message_id, "event": delivery.event, "status": delivery.status,
        "attempts": delivery.attempts, "created_at": delivery.created_at, "next_attempt_at": delivery.next_attempt_at,
        "delivered_at": delivery.delivered_at, "last_error": delivery.last_error, "payload": payload,
    }  # fmt: skip
