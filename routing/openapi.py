"""The OpenAPI 3.1 description of the public API; the lead schema is generated from ``LeadIn``."""

from __future__ import annotations

from typing import Any

from routing.validation import LeadIn


def lead_schema() -> dict[str, Any]:
    """The request body of intake and the dry run: generated from the normaliser's pydantic model,
    so the description cannot drift from what the API accepts."""
    return LeadIn.model_json_schema(ref_template="#/components/schemas/{model}")


def openapi_document() -> dict[str, Any]:
    errors = {
        "type": "object",
        "properties": {"errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}},
    }
    err = {"content": {"application/json": {"schema": errors}}}
    lead_body = {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Lead"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "LeadOps API", "version": "1"},
        "components": {
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "A token with scopes: intake (default), read, dry-run, admin (all). "
                               "A call without its scope answers 403.",
            }},
            "schemas": {"Lead": lead_schema(), "Errors": errors},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/leads": {
                "post": {
                    "summary": "Submit a lead; the same source + external_id again returns the existing lead. Scope: intake",
                    "requestBody": lead_body,
                    "responses": {
                        "201": {"description": "Created"},
                        "200": {"description": "Duplicate: the existing lead, unchanged"},
                        "400": {"description": "Invalid input, errors keyed by field", **err},
                        "401": {"description": "Missing or unknown token", **err},
                        "403": {"description": "The token lacks the intake scope", **err},
                    },
                }
            },
            "/api/v1/leads/{id}": {
                "get": {
                    "summary": "Status, owner, segment, current offer and the latest decision with reasons. Scope: read",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                    "responses": {"200": {"description": "The lead"}, "401": {"description": "Unauthorized", **err},
                                  "403": {"description": "The token lacks the read scope", **err},
                                  "404": {"description": "Not found", **err}},
                }
            },
            "/api/v1/route/dry-run": {
                "post": {
                    "summary": "Where would this lead go, and why? Writes nothing. Scope: dry-run; "
                               "?draft=1 uses the unpublished draft rules and needs admin",
                    "requestBody": lead_body,
                    "responses": {"200": {"description": "Decision"}, "400": {"description": "Invalid", **err},
                                  "401": {"description": "Unauthorized", **err},
                                  "403": {"description": "The token lacks dry-run (or admin for draft=1)", **err}},
                }
            },
        },
    }  # fmt: skip
