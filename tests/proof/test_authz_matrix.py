"""Authorization matrix: every URL in the URLconf, as anonymous, rep, manager, ops and superuser;
every API endpoint with every token scope; and two managers with separate teams on every page
that takes a lead or an absence id.

The URLconf is walked, so a new page is covered the day it lands, and the expectation table is
strict: a URL that no row classifies fails the test until someone decides who may see it.
Integer path parameters are filled with real ids from the fixtures (the rep's own offer and
lead), so "allowed" means the view really served that user.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from ops.models import Component
from ops.services import heartbeat_record
from reps.models import OutboundEmail, Role, Team
from routing import services
from routing.models import WebhookDelivery
from routing.services_tokens import apitoken_create
from routing.dashboards.models import ReplayJob
from routing.models import Lead, LeadImport, LeadSynonym, Offer, Rule, RuleSet
from tests.factories import AbsenceFactory, PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, make_token, user_with_role

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "rep", "manager", "ops", "superuser")
PUBLIC = frozenset(ROLES)
SIGNED_IN = frozenset(ROLES) - {"anonymous"}
# The API's operations (tokens with scopes, personal tokens, sessions, team scope) have their own
# matrix over the generated document: tests/api/test_authorization_matrix.py.
API_OPERATIONS = frozenset()

# Pages a manager may open for their own team's ids only (test_two_managers_each_open_only_...).
TEAM_LEAD_PAGE = r"~^/dash/leads/\d+/$"
TEAM_ABSENCE_END = r"~^/team/absences/\d+/end/$"

# First matching row wins. "=" marks an exact path, "~" a regular expression, else a prefix.
EXPECTED: list[tuple[str, frozenset[str]]] = [
    # Read-only rule history is open to managers too (console decision; the rest of /ops/ is not).
    (r"~^/ops/rules/\d+/history/$", frozenset({"manager", "ops"})),
    ("=/", SIGNED_IN),
    ("/login/", PUBLIC),
    ("/logout/", PUBLIC),
    ("/password/", SIGNED_IN),
    ("/api/v1/openapi.json", PUBLIC),
    ("/api/v1/docs", PUBLIC),  # the interactive docs of that public document
    ("/admin/login/", PUBLIC),
    ("/admin/logout/", PUBLIC),
    ("=/ops/", PUBLIC),  # a bare redirect to /ops/rules/, which is ops only
    ("/health/", PUBLIC),  # load-balancer probes: status only, no data
    # Guarded by a bearer token or the allowed networks, not by role: the test client's 127.0.0.1
    # is allowed (tests/ops/test_metrics.py covers the refusals).
    ("=/metrics", PUBLIC),
    ("/api/", API_OPERATIONS),
    ("/admin/", frozenset({"superuser"})),
    ("/ops/", frozenset({"ops"})),
    ("/leads/import/", frozenset({"ops"})),
    # Retrying a quarantined lead changes routing: ops only (managers see the lead page).
    (r"~^/dash/leads/\d+/retry/$", frozenset({"ops"})),
    # A manager opens only leads offered to their team (test_two_managers_each_open_only_...);
    # the matrix's manager has no team, so only ops (every lead) are served here.
    (TEAM_LEAD_PAGE, frozenset({"ops"})),
    ("/leads/reference/", frozenset({"ops"})),
    ("/dash/", frozenset({"manager", "ops"})),
    ("/calendars/", frozenset({"manager", "ops"})),
    ("/inbox/", frozenset({"rep"})),
    # A manager may end only their own reports' absences (tests/reps/test_views_team.py); the
    # matrix's manager has no reports, so only ops (every rep) are served here.
    (TEAM_ABSENCE_END, frozenset({"ops"})),
    ("/team/", frozenset({"manager", "ops"})),
]


def expected_for(path: str) -> frozenset[str] | None:
    for prefix, allowed in EXPECTED:
        if prefix.startswith("="):
            hit = path == prefix[1:]
        elif prefix.startswith("~"):
            hit = re.match(prefix[1:], path) is not None
        else:
            hit = path.startswith(prefix)
        if hit:
            return allowed
    return None


def _walk(patterns, namespace: str = ""):  # noqa: ANN001, ANN202
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            regex = pattern.pattern.regex
            yield f"{namespace}{pattern.name}", list(regex.groupindex), regex.groups - len(regex.groupindex)


@pytest.fixture
def world(settings):  # noqa: ANN001, ANN201
    rep_a, rep_b = RepFactory(), RepFactory()
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=rep_a)
    PoolMemberFactory(pool=pool, rep=rep_b, weight=1)
    rule = RuleFactory(pool=pool)
    services.rule_publish()
    leads = {}
    for rep in (rep_a, rep_b):  # route until each rep holds one offer
        lead, _ = services.lead_intake(data={"source": "authz", "external_id": f"for-{rep.id}"})
        services.leads_route_all_pending()
        lead.refresh_from_db()
        leads[lead.owner_id] = lead
    assert set(leads) == {rep_a.id, rep_b.id}
    users = {
        "rep": rep_a.user, "manager": user_with_role(Role.MANAGER), "ops": user_with_role(Role.OPS),
        "superuser": User.objects.create_superuser("root", "root@example.com", "pw-for-tests-123"),
    }  # fmt: skip
    # A sweeper heartbeat fresh for the whole (slow) walk, so /health/ready answers 200, not 503.
    heartbeat_record(component=Component.SWEEPER, force=True, now=timezone.now() + dt.timedelta(hours=1))
    job = ReplayJob.objects.create(start=dt.date.today(), end=dt.date.today(), pool=pool)
    own_offer = Offer.objects.get(lead=leads[rep_a.id])
    absence = AbsenceFactory(rep=rep_b)  # in progress: ops end it, then the superuser is told it is over
    token, _ = apitoken_create(name="matrix")
    now = timezone.now()
    email = OutboundEmail.objects.create(kind="test", to="x@example.com", subject="s", body="b", next_attempt_at=now,
                                         status=OutboundEmail.Status.FAILED)  # fmt: skip
    delivery = WebhookDelivery.objects.create(event="test", payload={}, next_attempt_at=now, status=WebhookDelivery.Status.FAILED)
    ids = {
        "token_id": token.id, "email_id": email.id, "delivery_id": delivery.id,
        "absence_id": absence.id, "lead_id": leads[rep_a.id].id, "offer_id": own_offer.id, "rep_id": rep_a.id, "job_id": job.id, "pk": rule.id,
        "history_id": Rule.history.filter(id=rule.id).values_list("history_id", flat=True).first(),
        "version": RuleSet.objects.values_list("version", flat=True).first(), "direction": "up", "kind": "pools",
        "object_id": "1", "id": "1", "app_label": "routing", "content_type_id": "1", "url": "x",
        "import_id": LeadImport.objects.create(file_name="x.csv", path="/nonexistent.csv", created_at=timezone.now()).id,
        "synonym_id": LeadSynonym.objects.get_or_create(field="intent", alias="hot", defaults={"value": "high"})[0].id,
    }  # fmt: skip
    account, _ = services.account_upsert(data=services.account_validate({"external_id": "crm-authz", "name": "Authz Ltd"}))
    doomed, _ = services.account_upsert(data=services.account_validate({"external_id": "crm-doomed", "name": "Doomed"}))
    ids["external_id"] = account.external_id
    ids["rest"] = "no-such-path"  # the API's catch-all 404 (api:not_found)
    # URLs whose ``pk`` is not a rule's: the console's object pages (kind "pools" above), accounts.
    ids_by_url = {"console:object_edit": {"pk": pool.id}, "console:object_deactivate": {"pk": pool.id},
                  "console:account_edit": {"pk": account.id}, "console:account_delete": {"pk": doomed.id}}
    return {"users": users, "ids": ids, "ids_by_url": ids_by_url, "rep_a": rep_a, "rep_b": rep_b, "leads": leads,
            "pool": pool}  # fmt: skip


def _paths(ids: dict, ids_by_url: dict[str, dict]) -> list[str]:
    paths = []
    for name, params, positional in _walk(get_resolver().url_patterns):
        named_ids = {**ids, **ids_by_url.get(name, {})}
        try:
            if positional:  # unnamed groups (admin's history views): ids of existing rows are not needed
                paths.append(reverse(name, args=["1"] * positional))
            else:
                paths.append(reverse(name, kwargs={p: named_ids[p] for p in params}) if params else reverse(name))
        except Exception as exc:  # a parameter this table does not know: classify it
            raise AssertionError(f"cannot fill the parameters {params} of URL {name!r}: add them to the fixture") from exc
    return sorted(set(paths))


def _outcome(client: Client, path: str) -> str:
    response = client.get(path)
    if response.status_code == 405:
        response = client.post(path, {})
    status = response.status_code
    assert status < 500, f"{path} answered {status}"
    location = response.get("Location", "")
    if status in (401, 403, 404) or (status in (301, 302) and "login" in location and "next=" in location):
        return "deny"
    return "allow"


def test_every_url_allows_exactly_the_declared_roles(world) -> None:  # noqa: ANN001
    paths = _paths(world["ids"], world["ids_by_url"])
    unclassified = [p for p in paths if expected_for(p) is None]
    assert not unclassified, f"URLs with no row in EXPECTED (decide who may see them): {unclassified}"
    wrong = []
    for role in ROLES:
        client = Client()
        for path in paths:
            if expected_for(path) is API_OPERATIONS:
                continue  # tests/api/test_authorization_matrix.py
            if role != "anonymous":
                client.force_login(world["users"][role])  # again each time: /logout/ signs out
            allowed = expected_for(path)
            # A superuser holds every staff role (reps.access), so sees what ops and managers see.
            want = "allow" if role in allowed or (role == "superuser" and allowed & {"ops", "manager"}) else "deny"
            if role == "superuser" and want == "allow" and path.startswith("/admin/") and path != "/admin/":
                # The admin's own object rules apply (read-only models refuse add, missing ids 404):
                # only check that it does not fail; everyone else must be refused.
                _outcome(client, path)
                continue
            got = _outcome(client, path)
            if got != want:
                wrong.append(f"{role:10} {path}: expected {want}, got {got}")
    assert not wrong, "\n".join(wrong)


def test_two_managers_each_open_only_their_own_teams_leads_and_absences(world) -> None:  # noqa: ANN001
    """Every URL taking a lead or absence id that managers may open, with team A's and team B's ids."""
    team_a, team_b = Team.objects.create(name="A"), Team.objects.create(name="B")
    managers = {}
    for team, rep in ((team_a, world["rep_a"]), (team_b, world["rep_b"])):
        rep.team = team
        rep.save()
        manager = RepFactory(team=team, user=user_with_role(Role.MANAGER))
        managers[team.name] = manager.user
    absences = {"A": AbsenceFactory(rep=world["rep_a"]), "B": AbsenceFactory(rep=world["rep_b"])}
    by_team = {
        name: {**world["ids"], "lead_id": world["leads"][rep.id].id, "absence_id": absences[name].id}
        for name, rep in (("A", world["rep_a"]), ("B", world["rep_b"]))
    }  # fmt: skip
    checked, wrong = 0, []
    for url_name, params, _ in _walk(get_resolver().url_patterns):
        if not {"lead_id", "absence_id"} & set(params):
            continue
        for owner in ("A", "B"):
            path = reverse(url_name, kwargs={p: by_team[owner][p] for p in params})
            allowed = expected_for(path) or frozenset()
            team_scoped = any(re.match(r[1:], path) for r in (TEAM_LEAD_PAGE, TEAM_ABSENCE_END))
            if not team_scoped and "manager" not in allowed and "ops" not in allowed:
                continue
            for viewer in ("A", "B"):
                client = Client()
                client.force_login(managers[viewer])
                got = _outcome(client, path)
                checked += 1
                # Team pages: the owner's manager only; ops-only pages (a retry): neither manager.
                want = "allow" if viewer == owner and (team_scoped or "manager" in allowed) else "deny"
                if got != want:
                    wrong.append(f"manager {viewer} on team {owner}'s {path}: {got}")
    assert checked >= 8  # lead timeline and absence end, both teams, both managers
    assert not wrong, "\n".join(wrong)


def test_the_api_serves_a_bearer_token_and_refuses_without(world) -> None:  # noqa: ANN001
    token = {"HTTP_AUTHORIZATION": f"Bearer {make_token(scopes=('read',))}"}
    lead_id = world["ids"]["lead_id"]
    assert Client().get(f"/api/v1/leads/{lead_id}", **token).status_code == 200
    assert Client().get(f"/api/v1/leads/{lead_id}").status_code == 401
    assert Client().get(f"/api/v1/leads/{lead_id}", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


@pytest.mark.parametrize("action", ["accept", "decline"])
def test_a_rep_cannot_act_on_another_reps_offer(world, action: str) -> None:  # noqa: ANN001
    other = Offer.objects.get(lead=world["leads"][world["rep_b"].id])
    client = Client()
    client.force_login(world["rep_a"].user)
    response = client.post(f"/inbox/offers/{other.id}/{action}/", {"reason": "other"})
    assert response.status_code in (403, 404)
    other.refresh_from_db()
    assert other.status == Offer.Status.OPEN and other.rep_id == world["rep_b"].id


@pytest.mark.parametrize("action", ["close", "hand-back"])
def test_a_rep_cannot_act_on_another_reps_lead(world, action: str) -> None:  # noqa: ANN001
    lead = world["leads"][world["rep_b"].id]
    offer = Offer.objects.get(lead=lead)
    # The fixture's absence is in progress: an absent rep's accept is refused (issue 10), so it is
    # set before the absence here.
    for absence in world["rep_b"].absences.all():
        absence.starts_at, absence.ends_at = timezone.now() + dt.timedelta(days=1), timezone.now() + dt.timedelta(days=2)
        absence.save()
    services.offer_accept(offer_id=offer.id, rep=world["rep_b"])
    client = Client()
    client.force_login(world["rep_a"].user)
    response = client.post(f"/inbox/leads/{lead.id}/{action}/", {"outcome": "converted"})
    assert response.status_code in (403, 404)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.ACCEPTED and lead.owner_id == world["rep_b"].id


def test_a_rep_cannot_open_another_reps_lead_timeline(world) -> None:  # noqa: ANN001
    client = Client()
    client.force_login(world["rep_a"].user)
    assert client.get(f"/dash/leads/{world['leads'][world['rep_b'].id].id}/").status_code == 403
