"""The API's plumbing: who is calling (bearer token or session), what they may do, errors as
RFC 9457 problem details, the JSON body parser and cursor pagination.

Library: django-ninja (pydantic v2). It validates every request against the same pydantic
models it writes into the OpenAPI document (``LeadIn`` for leads, ``routing.engine.schema`` for
configuration), so the description cannot drift from what the API accepts; Django REST
framework with drf-spectacular would describe serializers that duplicate those models.

Authorization, the one place it happens (``access``): every operation names the token scope it
needs and the roles (``reps.models.Role``) that may call it.

- An integration token (no user): needs the scope; sees every team. Operations that act as a
  rep ("my offers") refuse it.
- A personal token (``ApiToken.user``): needs the scope AND one of the roles; the user's team
  scope (``reps.scope.visibility_for``) applies.
- A browser session: needs one of the roles; team scope applies; unsafe methods need the CSRF
  token (``X-CSRFToken``), as every form in the app does.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja.parser import Parser
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf
from pydantic import BaseModel, Field

from reps.access import user_roles
from reps.models import Rep, Role
from reps.scope import EVERYTHING, Visibility, visibility_for
from routing.engine import schema
from routing.models import ApiToken
from routing.services_tokens import apitoken_authenticate

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPES = {
    400: ("invalid-request", "The request is not valid"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "The request conflicts with the current state"),
    413: ("too-large", "The request body is too large"),
    415: ("unsupported-media-type", "Send JSON"),
}


class Problem(Exception):
    """An error answered as RFC 9457 problem details: ``{"type", "title", "status", "detail",
    "instance", "errors": {field or JSON path: [message, ...]}}``. ``errors`` is the extension
    member that names each field (``__all__``: the request as a whole)."""

    def __init__(self, status: int, detail: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors or {}


class ProblemOut(BaseModel):
    """RFC 9457 problem details, with ``errors`` naming each field that is wrong."""

    type: str = Field(description="A URI naming the kind of problem, e.g. urn:leadops:problem:invalid-request")
    title: str
    status: int
    detail: str
    instance: str = Field(description="The path that was requested")
    errors: dict[str, list[str]] = Field(default_factory=dict, description="Messages by field or JSON path")


def problem_response(request: HttpRequest, status: int, detail: str,
                     errors: dict[str, list[str]] | None = None) -> HttpResponse:  # fmt: skip
    slug, title = PROBLEM_TYPES.get(status, ("error", "Error"))
    body = {"type": f"urn:leadops:problem:{slug}", "title": title, "status": status, "detail": detail,
            "instance": request.path, "errors": errors or {}}  # fmt: skip
    response = HttpResponse(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="leadops"'
    return response


def problem_responses(*statuses: int) -> dict[int, type[ProblemOut]]:
    """The ``response=`` entries of an operation's error statuses, for the document."""
    return dict.fromkeys(statuses, ProblemOut)


# --- request bodies ---------------------------------------------------------------------------


class JsonParser(Parser):
    """JSON bodies: ``Content-Type: application/json``, at most ``LEADOPS_MAX_BODY_BYTES`` (the
    configuration import: ``LEADOPS_MAX_CONFIG_BYTES``). Numbers with a fraction are read as
    Decimal so 0.1 stays exact; NaN and Infinity are read as floats, so the field's own
    validator refuses them by name."""

    def parse_body(self, request: HttpRequest) -> Any:
        return self.read(request, exact_decimals=True)

    def read(self, request: HttpRequest, *, exact_decimals: bool) -> Any:
        """The decoded body, or Problem 400 naming what is wrong with it. ``exact_decimals``:
        fractions as Decimal (leads); else floats, as ``routing.engine.schema.load_json`` reads
        configuration files (its strict models take floats)."""
        if request.content_type != "application/json":
            raise Problem(400, "Send Content-Type: application/json.", {"content_type": ["Send Content-Type: application/json."]})
        match = getattr(request, "resolver_match", None)
        config = match is not None and match.url_name == "api_config_import"
        limit = settings.LEADOPS_MAX_CONFIG_BYTES if config else settings.LEADOPS_MAX_BODY_BYTES
        length = request.headers.get("Content-Length")
        too_big = {"__all__": [f"Body larger than {limit} bytes."]}
        if length and length.isdigit() and int(length) > limit:
            raise Problem(400, f"Body larger than {limit} bytes.", too_big)
        body = request.body
        if len(body) > limit:
            raise Problem(400, f"Body larger than {limit} bytes.", too_big)
        try:
            if exact_decimals:
                return json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=float)
            return schema.load_json(body)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
            raise Problem(400, "Malformed JSON.", {"__all__": [f"Malformed JSON: {str(exc)[:120]}"]}) from None


# --- callers ------------------------------------------------------------------------------------


@dataclass
class Caller:
    """Who is calling: a token (integration or personal) or a session user."""

    token: ApiToken | None
    user: Any  # django.contrib.auth User or None (an integration token)

    @property
    def is_integration(self) -> bool:
        return self.user is None

    @cached_property
    def visibility(self) -> Visibility:
        return EVERYTHING if self.user is None else visibility_for(self.user)

    @cached_property
    def rep(self) -> Rep | None:
        """The caller's own rep profile (None for an integration or a user without one)."""
        if self.user is None:
            return None
        return Rep.objects.filter(user=self.user).first()

    def roles(self) -> frozenset[str]:
        return frozenset() if self.user is None else user_roles(self.user)


@dataclass(frozen=True)
class Rule:
    """What one operation needs. ``scope``: a TokenScope value, or a function of the request
    returning one. ``roles``: who may call it as a user. ``integration``: whether a token
    without a user may call it."""

    scope: Any
    roles: frozenset[str]
    integration: bool = True

    def scope_for(self, request: HttpRequest) -> str:
        return self.scope(request) if callable(self.scope) else str(self.scope)

    def check(self, request: HttpRequest, caller: Caller) -> Caller:
        """The caller, or Problem 403 naming what is missing."""
        if caller.token is not None:
            scope = self.scope_for(request)
            if not caller.token.allows(scope):
                raise Problem(403, f"This token lacks the '{scope}' scope.", {"authorization": [f"This token lacks the '{scope}' scope."]})
        if caller.user is None:
            if not self.integration:
                message = "This acts as a rep: use a personal token (created for a user) or sign in."
                raise Problem(403, message, {"authorization": [message]})
            return caller
        if not caller.roles() & self.roles:
            wanted = ", ".join(sorted(Role(r).label for r in self.roles))
            message = f"Your role does not allow this (needs: {wanted})."
            raise Problem(403, message, {"authorization": [message]})
        return caller


class BearerAuth(HttpBearer):
    """``Authorization: Bearer <token>``; a present but unknown token is a 401 (never falls back
    to the session)."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        super().__init__()

    def __call__(self, request: HttpRequest) -> Caller | None:
        header = request.headers.get("Authorization")
        if header is None:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise Problem(401, "Send 'Authorization: Bearer <token>'.", {"authorization": ["Send 'Authorization: Bearer <token>'."]})
        return self.authenticate(request, raw.strip())

    def authenticate(self, request: HttpRequest, token: str) -> Caller:
        row = apitoken_authenticate(raw=token)
        if row is None:
            raise Problem(401, "Unknown or revoked token.", {"authorization": ["Unknown or revoked token."]})
        return self.rule.check(request, Caller(token=row, user=row.user))


class SessionAuth(APIKeyCookie):
    """A signed-in browser session (the ``sessionid`` cookie); unsafe methods need the CSRF
    token. Anonymous requests fall through to 401, never to a CSRF 403."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        super().__init__(csrf=True)

    def __call__(self, request: HttpRequest) -> Caller | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if check_csrf(request) is not None:
            raise Problem(403, "CSRF check failed: send the X-CSRFToken header.", {"csrf": ["Send the X-CSRFToken header."]})
        return self.authenticate(request, None)

    def authenticate(self, request: HttpRequest, key: str | None) -> Caller:
        return self.rule.check(request, Caller(token=None, user=request.user))


def access(scope: Any, *roles: Role, integration: bool = True) -> list[Any]:
    """The ``auth=`` of an operation: a token with ``scope`` or a session, for users with one of
    ``roles``; see the module docstring. The scope and roles also go into the operation's
    description in the document (``describe``)."""
    rule = Rule(scope=scope, roles=frozenset(r.value for r in roles), integration=integration)
    return [BearerAuth(rule), SessionAuth(rule)]


def describe(scope: str, *roles: Role, integration: bool = True, extra: str = "") -> str:
    """The authorization sentence of an operation's description."""
    who = ", ".join(Role(r).label for r in roles)
    tokens = "integration or personal tokens" if integration else "personal tokens only (acts as the rep)"
    return f"Scope: `{scope}` ({tokens}). Roles: {who}.{(' ' + extra) if extra else ''}"


def caller(request: HttpRequest) -> Caller:
    return request.auth  # type: ignore[attr-defined]


def refuse_unknown_query(request: HttpRequest, *models: type[BaseModel]) -> None:
    """Problem 400 naming every query parameter no model declares (a typo such as ``stauts``
    would otherwise be ignored and the whole list returned) or given more than once (only one
    of the values would count)."""
    known = set().union(*(model.model_fields for model in models))
    errors = {name[:60]: ["Unknown query parameter."] for name in sorted(set(request.GET) - known)}
    errors |= {name: ["Give this parameter once."] for name in sorted(known) if len(request.GET.getlist(name)) > 1}
    if errors:
        raise Problem(400, f"Invalid query parameter(s): {', '.join(errors)[:200]}.", errors)


# --- pagination ---------------------------------------------------------------------------------

MAX_LIMIT = 200


def cursor_encode(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": last_id}).encode()).decode().rstrip("=")


def cursor_decode(cursor: str | None) -> int | None:
    """The id a cursor continues before, or Problem 400 naming ``cursor``."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        before = data["before"]
        if isinstance(before, bool) or not isinstance(before, int) or not 1 <= before <= 2**63 - 1:
            raise ValueError(before)
        return before
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
        raise Problem(400, "Invalid cursor.", {"cursor": ["Pass back next_cursor from the previous page unchanged."]}) from None


def paginate(qs: Any, *, cursor: str | None, limit: int) -> tuple[list[Any], str | None]:
    """Newest first by id: a page of ``limit`` rows before the cursor and the next page's cursor
    (None on the last page). Keyset pagination, so rows arriving meanwhile never shift a page."""
    before = cursor_decode(cursor)
    if before is not None:
        qs = qs.filter(id__lt=before)
    rows = list(qs.order_by("-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (cursor_encode(rows[-1].id) if more and rows else None)


__all__ = [
    "Caller", "JsonParser", "Problem", "ProblemOut", "access", "caller", "describe", "paginate", "problem_response",
    "problem_responses", "refuse_unknown_query",
]  # fmt: skip
