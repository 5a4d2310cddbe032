"""The integration API under /api/v1 (django-ninja): leads, decisions, offers, reps,
configuration and webhook deliveries, described by the generated document at
/api/v1/openapi.json and browsable at /api/v1/docs.

How callers authenticate and what each may do: ``routing.api.core``; each operation's scope and
roles are also in its description in the document. Every error is RFC 9457 problem details
naming the field (``core.Problem``); no input causes a 500.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from routing.api.core import PROBLEM_CONTENT_TYPE, JsonParser, Problem, problem_response
from routing.models import TokenScope
from routing.validation import LeadInputError, error_messages

DESCRIPTION = f"""LeadOps' API for integrations: send leads, read them with every routing decision,
act on a rep's offers, manage availability and caps, deploy configuration, inspect webhooks.

**Authentication.** `Authorization: Bearer <token>` (tokens: `/ops/security/tokens/` or
`manage.py createapitoken NAME --scope SCOPE [--user USERNAME]`), or a signed-in session (send
the `X-CSRFToken` header on POST and PUT). Scopes: {", ".join(f"`{s}`" for s in TokenScope.values)}
(`admin` holds every scope). A *personal* token (`--user`) acts as its user: that user's role
and team apply on top of the scopes. An *integration* token (no user) sees every team but cannot
act as a rep.

**Errors** are RFC 9457 problem details (`application/problem+json`) with an `errors` member
naming each field (or JSON path) that is wrong.

**Lists** are newest first with cursor pagination: pass `next_cursor` back as `cursor`.
"""

class LeadOpsAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        """ninja's document, plus the configuration document's schema (generated from the
        engine's models: the import body is validated by ``config_validate``, which reports
        problems by JSON path, so it is declared through ``openapi_extra``)."""
        from routing.config_io import ConfigDocument

        document = super().get_openapi_schema(*args, **kwargs)
        extra = ConfigDocument.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(extra.pop("$defs", {}))
        schemas["ConfigDocument"] = extra
        problem = "#/components/schemas/ProblemOut"
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                for response in operation.get("responses", {}).values():
                    content = response.get("content", {})
                    if content.get("application/json", {}).get("schema", {}).get("$ref") == problem:
                        response["content"] = {PROBLEM_CONTENT_TYPE: content["application/json"]}
        return document


api = LeadOpsAPI(
    title="LeadOps API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    parser=JsonParser(),
    openapi_url="/openapi.json",
    docs_url="/docs",
)

_SOURCES = ("body", "query", "path", "header", "cookie", "form")


def _field_errors(errors: list[dict]) -> dict[str, list[str]]:
    """ninja's error locations ("body", "payload", "email") as field names ("email")."""
    trimmed = []
    for error in errors:
        loc = tuple(error.get("loc") or ())
        if loc and loc[0] in _SOURCES:
            loc = loc[1:]
        if loc and loc[0] == "payload":
            loc = loc[1:]
        trimmed.append({**error, "loc": (".".join(str(p) for p in loc),) if loc else ()})
    return error_messages(trimmed)


@api.exception_handler(Problem)
def _problem(request: HttpRequest, exc: Problem) -> HttpResponse:
    return problem_response(request, exc.status, exc.detail, exc.errors)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = _field_errors(exc.errors)
    return problem_response(request, 400, "Invalid input: see errors, keyed by field.", errors)


@api.exception_handler(LeadInputError)
def _invalid_lead(request: HttpRequest, exc: LeadInputError) -> HttpResponse:
    return problem_response(request, 400, "Invalid input: see errors, keyed by field.", exc.errors)


@api.exception_handler(DjangoValidationError)
def _invalid_model(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    if hasattr(exc, "error_dict"):
        errors = {name: [str(m) for e in items for m in e.messages] for name, items in exc.error_dict.items()}
    else:
        errors = {"__all__": list(exc.messages)}
    return problem_response(request, 400, "Invalid input: see errors, keyed by field.", errors)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    message = "Send 'Authorization: Bearer <token>' or sign in."
    return problem_response(request, 401, message, {"authorization": [message]})


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    cause = exc.__cause__
    if isinstance(cause, Problem):  # raised by JsonParser; ninja wraps parser errors in HttpError
        return problem_response(request, cause.status, cause.detail, cause.errors)
    return problem_response(request, exc.status_code, str(exc), {"__all__": [str(exc)]})


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem_response(request, 404, "Not found.", {"__all__": ["Not found."]})


@api.exception_handler(PermissionDenied)
def _denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return problem_response(request, 403, str(exc) or "Not allowed.", {"authorization": [str(exc) or "Not allowed."]})


def _register() -> None:
    from routing.api import accounts, config, decisions, leads, offers, reps, webhooks

    for module in (leads, decisions, offers, reps, config, webhooks, accounts):
        api.add_router("", module.router)


_register()


@csrf_exempt  # it never acts: a CSRF refusal would answer an HTML page instead of the problem
def not_found(request: HttpRequest) -> HttpResponse:
    """Any other path under /api/v1/ (or an id that is not a number): a problem, not an HTML page."""
    return problem_response(request, 404, "No such API path.", {"__all__": [f"No such API path: {request.path[:200]}"]})


_patterns, _app_name, _namespace = api.urls
# [\s\S] and \Z: "." and "$" would let a path with an encoded newline (%0A) fall through to Django's HTML 404.
urlpatterns = ([*_patterns, re_path(r"^[\s\S]*\Z", not_found)], _app_name, _namespace)


__all__ = ["api", "urlpatterns"]
