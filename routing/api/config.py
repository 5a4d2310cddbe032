"""Configuration as code: export, import as the draft (errors keyed by JSON path), compare the
draft with the live rule set, publish. The same operations as ``manage.py exportconfig``,
``importconfig [--publish]`` and ``publish``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from pydantic import BaseModel, ConfigDict, Field

from reps.models import Role
from routing.api.core import JsonParser, Problem, access, caller, describe, problem_responses, refuse_unknown_query
from routing.api.schemas import ConfigDiffOut, ConfigImportOut, PublishOut
from routing.config_io import ConfigImportError, config_diff_live, config_export, config_import, errors_by_path
from routing.console.selectors import draft_differs_from_live
from routing.models import TokenScope
from routing.services import rule_publish
from routing.validation import StorableText

router = Router(tags=["configuration"])
CONFIG_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ConfigDocument"}}},
    }
}


@router.get(
    "/config", response={200: dict[str, Any], **problem_responses(401, 403)},
    auth=access(TokenScope.CONFIG, Role.OPS), operation_id="config_export",
    summary="Export the draft configuration (the format of docs/config-format.md)", description=describe(TokenScope.CONFIG, Role.OPS),
)  # fmt: skip
def config_get(request: HttpRequest) -> dict:
    return config_export()


class ImportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(False, description="Validate and list the changes; keep nothing")


def _changes(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**c, "fields": [list(f) for f in c["fields"]]} for c in changes]


@router.post(
    "/config/import", response={200: ConfigImportOut, **problem_responses(400, 401, 403)},
    auth=access(TokenScope.CONFIG, Role.OPS), operation_id="config_import", url_name="api_config_import",
    summary="Import a configuration document as the draft (all or nothing); publish separately",
    description="Every problem is reported at once in `errors`, keyed by JSON path (`$.rules[0].pool`). "
                + describe(TokenScope.CONFIG, Role.OPS),
    openapi_extra=CONFIG_BODY,
)  # fmt: skip
def config_import_draft(request: HttpRequest, query: Query[ImportQuery]) -> dict:
    # Read here, not by a typed parameter: config_validate checks the whole document and names
    # every problem by its JSON path (the document describes the body via CONFIG_BODY).
    refuse_unknown_query(request, ImportQuery)
    payload = JsonParser().read(request, exact_decimals=False)
    try:
        result = config_import(payload, user=caller(request).user, dry_run=query.dry_run)
    except ConfigImportError as exc:
        raise Problem(400, f"The configuration has {len(exc.errors)} problem(s); nothing was changed.",
                      errors_by_path(exc.errors)) from None  # fmt: skip
    return {"applied": result.applied, "summary": result.summary, "changes": _changes(result.changes),
            "users_created": result.users_created, "draft_differs_from_live": draft_differs_from_live()}  # fmt: skip


@router.get(
    "/config/diff", response={200: ConfigDiffOut, **problem_responses(401, 403)},
    auth=access(TokenScope.CONFIG, Role.OPS), operation_id="config_diff",
    summary="What publishing the draft would change (live rule set → draft)", description=describe(TokenScope.CONFIG, Role.OPS),
)  # fmt: skip
def config_diff(request: HttpRequest) -> dict:
    version, changes = config_diff_live()
    return {"live_version": version, "changes": _changes(changes)}


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Publish")

    note: StorableText = Field("", max_length=200, description="What changed, for the version list")


@router.post(
    "/config/publish", response={201: PublishOut, **problem_responses(400, 401, 403)},
    auth=access(TokenScope.CONFIG, Role.OPS), operation_id="config_publish",
    summary="Publish the draft as the next live version", description=describe(TokenScope.CONFIG, Role.OPS),
)  # fmt: skip
def config_publish(request: HttpRequest, payload: PublishIn) -> Status:
    ruleset = rule_publish(user=caller(request).user, note=payload.note)
    return Status(201, {"version": ruleset.version, "published_at": ruleset.published_at, "note": ruleset.note})
