"""Roles are enforced by the views, pages and fragments alike: the wrong role gets a 403 and changes
nothing; an anonymous visitor is sent to the login page."""

from __future__ import annotations

from django.test import Client

from reps.models import Absence, Role
from routing.models import Offer, RuleSet
from tests.factories import AbsenceFactory, user_with_role
from tests.hardening.conftest import Routed, logged_in, row_counts


def _urls(routed: Routed, absence_id: int) -> dict[str, list[tuple[str, str]]]:
    rule, rep, lead, offer = routed.world.rule, routed.rep, routed.lead, routed.offer
    history_id = rule.history.latest().history_id
    version = RuleSet.objects.latest("version").version
    ops = [("get", u) for u in ("/ops/rules/", "/ops/rules/new/", f"/ops/rules/{rule.id}/", "/ops/versions/", "/ops/test/",
                                "/ops/config/", "/ops/config/export.json", "/ops/reps/", f"/ops/reps/{rep.id}/",
                                "/leads/import/")]  # fmt: skip
    ops += [("post", u) for u in (f"/ops/rules/{rule.id}/toggle/", f"/ops/rules/{rule.id}/archive/",
                                  f"/ops/rules/{rule.id}/move/up/", f"/ops/rules/{rule.id}/history/{history_id}/restore/",
                                  f"/ops/versions/{version}/restore/", "/ops/versions/", f"/ops/reps/{rep.id}/deactivate/",
                                  "/ops/skills/new/", "/leads/import/", "/ops/config/")]  # fmt: skip
    manager = [("get", u) for u in ("/dash/", "/dash/equity/", "/dash/equity/export.csv", "/dash/sla/", "/dash/capacity/",
                                    "/dash/decisions/", "/dash/decisions/export.csv", f"/dash/leads/{lead.id}/",
                                    "/dash/replay/", "/team/", f"/ops/rules/{rule.id}/history/")]  # fmt: skip
    manager += [("post", "/dash/replay/"), ("post", "/team/absences/"), ("post", f"/team/absences/{absence_id}/end/")]
    rep_urls = [("get", "/inbox/")] + [("post", u) for u in (
        f"/inbox/offers/{offer.id}/accept/", f"/inbox/offers/{offer.id}/decline/", f"/inbox/leads/{lead.id}/close/",
        f"/inbox/leads/{lead.id}/hand-back/", "/inbox/away/")]  # fmt: skip
    return {"ops": ops, "manager": manager, "rep": rep_urls}


def test_every_page_refuses_the_wrong_role_and_anonymous_visitors(routed: Routed) -> None:
    users = {"ops": user_with_role(Role.OPS, "ops"), "manager": user_with_role(Role.MANAGER, "boss"), "rep": routed.rep.user}
    allowed_for = {"ops": {"ops"}, "manager": {"manager", "ops"}, "rep": {"rep"}}
    absence = AbsenceFactory(rep=routed.world.backup)
    before = row_counts()
    wrong = []
    for area, urls in _urls(routed, absence.id).items():
        for role, user in users.items():
            if role in allowed_for[area]:
                continue
            client = logged_in(user)
            for method, url in urls:
                for headers in ({}, {"HX-Request": "true"}):
                    status = getattr(client, method)(url, {"mode": "now", "reason": "busy"}, headers=headers).status_code
                    if status != 403:
                        wrong.append((role, method, url, status))
        for method, url in urls:
            response = getattr(Client(), method)(url)
            if response.status_code != 302 or "/login/" not in response["Location"]:
                wrong.append(("anonymous", method, url, response.status_code))
    assert wrong == []
    assert row_counts() == before
    routed.offer.refresh_from_db()
    assert routed.offer.status == Offer.Status.OPEN
    assert Absence.objects.get(id=absence.id).ends_at == absence.ends_at  # not ended by a refused post
