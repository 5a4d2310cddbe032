"""JSON API: intake, lead status, dry run and the OpenAPI description.

Bearer tokens (``manage.py createapitoken --scope ...`` or /ops/security/tokens/) are stored as
SHA-256 digests, revocable and scoped (``TokenScope``): intake, read, dry-run, admin.
Every client error is a 4xx with errors keyed by field; no input causes a 500.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import wraps
from typing import Any, Callable

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from routing import engine
from routing.models import ApiToken, Decision, Lead, Offer, TokenScope
from routing.openapi import openapi_document
from routing.services import lead_dry_run, lead_intake
from routing.services_tokens import apitoken_authenticate
from routing.reference import vocabulary_load
from routing.validation import LeadInputError, clean_lead


def _error(status: int, errors: dict[str, list[str]]) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=status)


def token_required(scope: str | Callable[[HttpRequest], str]) -> Callable:
    """Bearer-token check for an API view: 401 without a valid active token, 403 when the token
    lacks ``scope`` (a ``TokenScope`` value, or a function of the request returning one; ``admin``
    holds every scope). The one place the API checks tokens and scopes."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> JsonResponse:  # noqa: ANN002, ANN003
            token, denied = _token_for(request, scope(request) if callable(scope) else scope)
            if denied is not None:
                return denied
            request.api_token = token
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _token_for(request: HttpRequest, scope: str) -> tuple[ApiToken | None, JsonResponse | None]:
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None, _error(401, {"authorization": ["Send 'Authorization: Bearer <token>'."]})
    token = apitoken_authenticate(raw=raw.strip())
    if token is None:
        return None, _error(401, {"authorization": ["Unknown or revoked token."]})
    if not token.allows(scope):
        return None, _error(403, {"authorization": [f"This token lacks the '{scope}' scope."]})
    return token, None


def _json_body(request: HttpRequest) -> Any:
    """Parse the body, or raise LeadInputError naming what is wrong with it."""
    if request.content_type != "application/json":
        raise LeadInputError({"content_type": ["Send Content-Type: application/json."]})
    length = request.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > settings.LEADOPS_MAX_BODY_BYTES:
        raise LeadInputError({"__all__": [f"Body larger than {settings.LEADOPS_MAX_BODY_BYTES} bytes."]})
    body = request.body
    if len(body) > settings.LEADOPS_MAX_BODY_BYTES:
        raise LeadInputError({"__all__": [f"Body larger than {settings.LEADOPS_MAX_BODY_BYTES} bytes."]})
    try:
        # Decimal keeps 0.1 exact for ``value``; the normaliser refuses 1e999 (infinite) by field.
        # NaN and Infinity become floats so the normaliser refuses them by field name.
        return json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=float)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise LeadInputError({"__all__": [f"Malformed JSON: {str(exc)[:120]}"]}) from None


def lead_payload(lead: Lead) -> dict[str, Any]:
    offer = lead.offers.filter(status=Offer.Status.OPEN).select_related("rep").first()
    decision = lead.decisions.order_by("-created_at", "-id").first()
    return {
        "id": lead.id,
        "source": lead.source,
        "external_id": lead.external_id,
        "status": lead.status,
        "high_value": lead.high_value,
        "value": str(lead.value),
        "currency": lead.currency,
        "value_base": str(lead.value_base) if lead.value_base is not None else None,  # in LEADOPS_BASE_CURRENCY
        "base_currency": settings.LEADOPS_BASE_CURRENCY,
        "segment": lead.segment.slug if lead.segment_id else None,
        "owner": {"id": lead.owner_id, "name": lead.owner.display_name} if lead.owner_id else None,
        "received_at": lead.received_at.isoformat(),
        "current_offer": {
            "id": offer.id,
            "rep": {"id": offer.rep_id, "name": offer.rep.display_name},
            "offered_at": offer.offered_at.isoformat(),
            "deadline": offer.deadline.isoformat(),
            "step": offer.step,
        } if offer else None,
        "decision": decision_payload(decision) if decision else None,
    }  # fmt: skip


def decision_payload(decision: Decision) -> dict[str, Any]:
    return {
        "id": decision.id,
        "kind": decision.kind,
        "created_at": decision.created_at.isoformat(),
        "ruleset_version": decision.ruleset_version,
        "rule_id": decision.rule_id,
        "rule_history_id": decision.rule_history_id,
        "outcome": decision.outcome,
        "step": decision.step,
        "chosen_rep_id": decision.chosen_rep_id,
        "summary": decision.summary,
        "duration_us": decision.duration_us,
        "reasons": decision.detail,
        "warnings": (decision.detail or {}).get("warnings", []) if isinstance(decision.detail, dict) else [],
    }


@csrf_exempt
@require_http_methods(["POST"])
@token_required(TokenScope.INTAKE)
def leads_create(request: HttpRequest) -> JsonResponse:
    try:
        data = clean_lead(_json_body(request), vocabulary=vocabulary_load())
    except LeadInputError as exc:
        return _error(400, exc.errors)
    lead, created = lead_intake(data=data)
    return JsonResponse({"id": lead.id, "status": lead.status, "created": created}, status=201 if created else 200)


@require_GET
@token_required(TokenScope.READ)
def leads_detail(request: HttpRequest, lead_id: int) -> JsonResponse:
    lead = Lead.objects.select_related("segment", "owner").filter(id=lead_id).first()
    if lead is None:
        return _error(404, {"id": [f"No lead with id {lead_id}."]})
    return JsonResponse(lead_payload(lead))


def _is_draft(request: HttpRequest) -> bool:
    return request.GET.get("draft") == "1"


def _dry_run_scope(request: HttpRequest) -> str:
    """Unpublished rules are ops' business: a dry run against the draft needs ``admin``."""
    return TokenScope.ADMIN if _is_draft(request) else TokenScope.DRY_RUN


@csrf_exempt
@require_http_methods(["POST"])
@token_required(_dry_run_scope)
def route_dry_run(request: HttpRequest) -> JsonResponse:
    draft = _is_draft(request)
    try:
        payload = _json_body(request)
        if isinstance(payload, dict) and not payload.get("external_id"):
            payload = {**payload, "external_id": "dry-run"}
        if isinstance(payload, dict) and not payload.get("source"):
            payload = {**payload, "source": "dry-run"}
        data = clean_lead(payload, vocabulary=vocabulary_load())
    except LeadInputError as exc:
        return _error(400, exc.errors)
    decision = lead_dry_run(data=data, draft=draft, now=timezone.now())
    return JsonResponse(engine.decision_to_dict(decision))  # includes "warnings"


@require_GET
def openapi(request: HttpRequest) -> JsonResponse:
    return JsonResponse(openapi_document())


urlpatterns = [
    path("leads", leads_create, name="api-leads-create"),
    path("leads/<int:lead_id>", leads_detail, name="api-leads-detail"),
    path("route/dry-run", route_dry_run, name="api-route-dry-run"),
    path("openapi.json", openapi, name="api-openapi"),
]
