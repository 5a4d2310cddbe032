"""Accounts (issue 14): a CRM keeps them in sync by upserting each by its own id. Every write goes
through ``routing.services.account_upsert``; the body is the one account schema
(``routing.engine.schema.AccountFile``), its problems named by field."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status
from pydantic import BaseModel, Field

from reps.models import Role
from routing.api.core import JsonParser, Problem, access, caller, describe, problem_responses
from routing.engine.schema import AccountFile
from routing.models import Account, TokenScope
from routing.services import AccountError, account_upsert, account_validate

router = Router(tags=["accounts"])


def _account_body_schema() -> dict[str, Any]:
    """The account schema as the body of ``PUT /accounts/{external_id}``: ``external_id`` comes from
    the path, so the body may leave it out (the schemathesis long run sent bodies without it)."""
    schema = AccountFile.model_json_schema()
    schema["required"] = [name for name in schema.get("required", []) if name != "external_id"]
    return schema


ACCOUNT_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": _account_body_schema()}}}}


class AccountOut(BaseModel):
    id: int
    external_id: str
    name: str
    domains: list[str]
    owner: str | None = Field(description="the owner's username")
    tier: str
    territory: str
    status: str = Field(description="customer or prospect")
    attributes: dict[str, Any]
    created: bool = Field(description="true when this call created the account")


def account_out(account: Account, *, created: bool) -> dict[str, Any]:
    return {
        "id": account.id, "external_id": account.external_id, "name": account.name,
        "domains": sorted(account.domains.values_list("domain", flat=True)),
        "owner": account.owner.user.get_username() if account.owner_id else None,
        "tier": account.tier, "territory": account.territory, "status": account.status,
        "attributes": account.attributes, "created": created,
    }  # fmt: skip


@router.put(
    "/accounts/{external_id}", response={200: AccountOut, 201: AccountOut, **problem_responses(400, 401, 403)},
    auth=access(TokenScope.ACCOUNTS, Role.OPS), operation_id="account_put", url_name="api_account_put",
    summary="Create or update the account with this CRM id (the same body again changes nothing)",
    description="The body is the account (`external_id` may be left out; if given it must be the one in the "
                "path). 201 when created, 200 when updated or unchanged. " + describe(TokenScope.ACCOUNTS, Role.OPS),
    openapi_extra=ACCOUNT_BODY,
)  # fmt: skip
def account_put(request: HttpRequest, external_id: str) -> Status:
    body = JsonParser().read(request, exact_decimals=False)
    if not isinstance(body, dict):
        raise Problem(400, "Send a JSON object.", {"__all__": ["Send a JSON object."]})
    if body.get("external_id", external_id) != external_id:
        message = "Differs from the id in the path; leave it out or send the same."
        raise Problem(400, message, {"external_id": [message]})
    try:
        data = account_validate({**body, "external_id": external_id})
        account, created = account_upsert(data=data, by=caller(request).user)
    except AccountError as exc:
        raise Problem(400, "The account was not saved.", exc.errors) from None
    account = Account.objects.select_related("owner__user").get(id=account.id)
    return Status(201 if created else 200, account_out(account, created=created))
