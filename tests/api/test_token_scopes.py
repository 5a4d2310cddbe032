"""Failing input 2 of issue 12: an intake token must not read leads, dry-run routing or see
unpublished rules. Tokens carry scopes (intake by default), record their last use (at most once
a minute) and are created, inspected and revoked by ops."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from reps.models import Role
from routing import services
from routing.models import ApiToken, Lead
from routing.services_tokens import LAST_USED_RESOLUTION, apitoken_authenticate, apitoken_create
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, make_token, user_with_role

pytestmark = pytest.mark.django_db

LEAD = {"source": "web", "external_id": "S-1", "country": "US", "state": "CA", "value": 100}


def _call(token: str, method: str, path: str, body: object | None = None) -> tuple[int, dict]:
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if method == "GET":
        response = client.get(path, **headers)
    else:
        response = client.post(path, data=json.dumps(body), content_type="application/json", **headers)
    return response.status_code, response.json()


@pytest.fixture
def lead_id() -> int:
    PoolMemberFactory(pool=PoolFactory(name="General"), rep=RepFactory(display_name="Bob"))
    return services.lead_intake(data={"source": "web", "external_id": "existing"})[0].id


def test_a_new_token_is_intake_only(lead_id: int) -> None:
    token = make_token("website form")
    assert ApiToken.objects.get(name="website form").scopes == ["intake"]
    assert _call(token, "POST", "/api/v1/leads", LEAD)[0] == 201
    status, body = _call(token, "GET", f"/api/v1/leads/{lead_id}")
    assert status == 403 and "'read' scope" in body["errors"]["authorization"][0]
    assert _call(token, "POST", "/api/v1/route/dry-run", LEAD)[0] == 403  # no list of reps and skip reasons
    assert _call(token, "POST", "/api/v1/route/dry-run?draft=1", LEAD)[0] == 403


def test_walking_lead_ids_with_an_intake_token_reads_nothing(lead_id: int) -> None:
    token = make_token()
    statuses = {_call(token, "GET", f"/api/v1/leads/{i}")[0] for i in range(lead_id, lead_id + 5)}
    assert statuses == {403}  # existing and missing ids alike: no oracle either


def test_each_scope_opens_only_its_endpoint(lead_id: int) -> None:
    read, dry = make_token("crm", scopes=("read",)), make_token("ops tool", scopes=("dry-run",))
    assert _call(read, "GET", f"/api/v1/leads/{lead_id}")[0] == 200
    assert _call(read, "POST", "/api/v1/leads", LEAD)[0] == 403
    assert _call(dry, "POST", "/api/v1/route/dry-run", LEAD)[0] == 200
    assert _call(dry, "GET", f"/api/v1/leads/{lead_id}")[0] == 403
    assert Lead.objects.count() == 1  # the refused intake wrote nothing


def test_unpublished_rules_need_the_admin_scope() -> None:
    pool = PoolFactory(name="Draft pool")
    PoolMemberFactory(pool=pool, rep=RepFactory(display_name="Dee"))
    RuleFactory(name="Unpublished rule", pool=pool)  # draft only: never published
    dry, admin = make_token("d", scopes=("dry-run",)), make_token("a", scopes=("admin",))
    status, body = _call(dry, "POST", "/api/v1/route/dry-run?draft=1", LEAD)
    assert status == 403 and "'admin' scope" in body["errors"]["authorization"][0]
    status, body = _call(admin, "POST", "/api/v1/route/dry-run?draft=1", LEAD)
    assert status == 200 and "Unpublished rule" in json.dumps(body)
    assert _call(admin, "POST", "/api/v1/leads", LEAD)[0] == 201  # admin holds every scope


def test_unknown_scopes_are_refused_by_name() -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="Unknown scope.*superuser"):
        apitoken_create(name="x", scopes=["read", "superuser"])
    assert not ApiToken.objects.exists()


def test_last_use_is_recorded_at_most_once_a_minute() -> None:
    token, raw = apitoken_create(name="crm")
    assert token.last_used_at is None
    t0 = timezone.now()
    apitoken_authenticate(raw=raw, now=t0)
    assert ApiToken.objects.get(id=token.id).last_used_at == t0
    apitoken_authenticate(raw=raw, now=t0 + dt.timedelta(seconds=30))
    assert ApiToken.objects.get(id=token.id).last_used_at == t0  # not rewritten within the minute
    later = t0 + LAST_USED_RESOLUTION
    apitoken_authenticate(raw=raw, now=later)
    assert ApiToken.objects.get(id=token.id).last_used_at == later


def test_authenticating_reads_the_token_alone_and_the_user_only_for_a_personal_token(django_assert_num_queries) -> None:
    """Intake runs on integration tokens, once per lead: one query (no join, no ordering); a
    personal token also reads its user, and a deactivated user's token is refused."""
    token, raw = apitoken_create(name="crm")
    apitoken_authenticate(raw=raw)  # records the first use
    with django_assert_num_queries(1):
        assert apitoken_authenticate(raw=raw).id == token.id
    user = user_with_role(Role.MANAGER, username="pat")
    personal, personal_raw = apitoken_create(name="pat's", user=user)
    apitoken_authenticate(raw=personal_raw)
    with django_assert_num_queries(2):
        assert apitoken_authenticate(raw=personal_raw).user == user
    user.is_active = False
    user.save()
    assert apitoken_authenticate(raw=personal_raw) is None
    personal.revoked_at = timezone.now()
    personal.save()
    user.is_active = True
    user.save()
    assert apitoken_authenticate(raw=personal_raw) is None
    assert apitoken_authenticate(raw="lo_not-a-token") is None


def test_the_token_read_for_a_request_holds_what_the_orm_reads() -> None:
    """Authentication reads the token with its own statement (built once); every field comes
    back as the ORM gives it: scopes a list, times aware, the user's id."""
    user = user_with_role(Role.MANAGER, username="pat")
    token, raw = apitoken_create(name="pat's", user=user, scopes=["read", "intake"])
    apitoken_authenticate(raw=raw)
    read = apitoken_authenticate(raw=raw)
    expected = ApiToken.objects.get(id=token.id)
    for field in ApiToken._meta.concrete_fields:
        assert getattr(read, field.attname) == getattr(expected, field.attname), field.name
    assert read.scopes == ["intake", "read"] and timezone.is_aware(read.last_used_at)
    assert read._state.adding is False and read.allows("read") and not read.allows("admin")


def test_a_request_records_last_use() -> None:
    raw = make_token()
    _call(raw, "POST", "/api/v1/leads", LEAD)
    assert ApiToken.objects.get().last_used_at is not None


def test_createapitoken_takes_scopes(capsys) -> None:  # noqa: ANN001
    call_command("createapitoken", "crm", "--scope", "read", "--scope", "intake")
    out = capsys.readouterr().out
    raw = out.split()[-1]
    assert "intake, read" in out and ApiToken.objects.get(name="crm").scopes == ["intake", "read"]
    assert ApiToken.objects.get(name="crm").digest == ApiToken.hash(raw)
    call_command("createapitoken", "plain")
    assert ApiToken.objects.get(name="plain").scopes == ["intake"]


def test_ops_create_a_scoped_token_see_its_last_use_and_revoke_it(lead_id: int) -> None:
    ops = Client()
    ops.force_login(user_with_role(Role.OPS, "olga"))
    assert ops.get("/ops/security/tokens/").status_code == 200
    page = ops.post("/ops/security/tokens/", {"name": "CRM sync", "scopes": ["read"]})
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    raw = page.content.decode().split('id="new-token-value">', 1)[1].split("<", 1)[0]
    token = ApiToken.objects.get(name="CRM sync")
    assert token.scopes == ["read"] and token.digest == ApiToken.hash(raw) and token.created_by.username == "olga"
    assert raw not in ops.get("/ops/security/tokens/").content.decode()  # shown once only

    assert _call(raw, "GET", f"/api/v1/leads/{lead_id}")[0] == 200
    listing = ops.get("/ops/security/tokens/").content.decode()
    row = listing.split(f'id="token-{token.id}"', 1)[1].split("</tr>", 1)[0]
    assert "Read leads" in row and "never" not in row  # last use shown

    assert ops.post(f"/ops/security/tokens/{token.id}/revoke/").status_code == 302
    assert _call(raw, "GET", f"/api/v1/leads/{lead_id}")[0] == 401


def test_the_token_form_refuses_an_empty_name_and_unknown_scopes() -> None:
    ops = Client()
    ops.force_login(user_with_role(Role.OPS))
    response = ops.post("/ops/security/tokens/", {"name": " ", "scopes": ["root"]})
    assert response.status_code == 422
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REP])
def test_only_ops_manage_tokens(role: Role) -> None:
    client = Client()
    client.force_login(user_with_role(role))
    assert client.get("/ops/security/tokens/").status_code == 403
    assert client.post("/ops/security/tokens/", {"name": "mine", "scopes": ["admin"]}).status_code == 403
    assert not ApiToken.objects.exists()


def test_ops_create_a_personal_token_that_acts_as_a_rep() -> None:
    rep = RepFactory(display_name="Ana")
    ops = Client()
    ops.force_login(user_with_role(Role.OPS))
    page = ops.post("/ops/security/tokens/", {"name": "Ana's phone", "scopes": ["offers"], "acts_as": rep.user.username})
    raw = page.content.decode().split('id="new-token-value">', 1)[1].split("<", 1)[0]
    assert ApiToken.objects.get(name="Ana's phone").user == rep.user
    status, body = _call(raw, "GET", "/api/v1/offers")
    assert status == 200 and body["items"] == []
    refused = ops.post("/ops/security/tokens/", {"name": "ghost", "scopes": ["offers"], "acts_as": "nobody"})
    assert refused.status_code == 422 and not ApiToken.objects.filter(name="ghost").exists()
