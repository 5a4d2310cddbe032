"""Every GET page, as the role that may use it, survives junk in its query string and path ids."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.hardening.conftest import JUNK, Routed, logged_in

HUGE = "99999999999999999999999"


def _survives(client: Client, url: str, params: list[str], *, extra: dict[str, str] | None = None,
              headers: dict[str, str] | None = None) -> list[str]:  # fmt: skip
    """GET ``url`` once per (param, junk) pair; return what answered with a 5xx."""
    failures = []
    for name in params:
        for junk in JUNK:
            response = client.get(url, {**(extra or {}), name: junk}, headers=headers or {})
            if response.status_code >= 500:
                failures.append(f"{url}?{name}={junk[:30]!r} -> {response.status_code}")
    return failures


def test_dashboard_filters_survive_junk(manager_client: Client, routed: Routed) -> None:
    failures = []
    window = ["pool", "window", "start", "end"]
    failures += _survives(manager_client, "/dash/equity/", window)
    failures += _survives(manager_client, "/dash/equity/", window, headers={"HX-Request": "true"})
    failures += _survives(manager_client, "/dash/equity/", ["start", "end"], extra={"window": "custom"})
    failures += _survives(manager_client, "/dash/equity/export.csv", window)
    failures += _survives(manager_client, "/dash/sla/", ["by", "window", "start", "end"])
    failures += _survives(manager_client, "/dash/sla/", ["start", "end"], extra={"window": "custom"})
    decision_params = ["start", "end", "pool", "rule", "rep", "outcome", "segment", "lead", "cursor"]
    failures += _survives(manager_client, "/dash/decisions/", decision_params)
    failures += _survives(manager_client, "/dash/decisions/", ["cursor"], headers={"HX-Request": "true"})
    failures += _survives(manager_client, "/dash/decisions/export.csv", decision_params)
    for url in ("/dash/", "/dash/capacity/", "/dash/replay/", "/team/"):
        failures += _survives(manager_client, url, ["x"])
    assert failures == []


@pytest.mark.parametrize("url", ["/dash/equity/", "/dash/sla/", "/dash/equity/export.csv"])
def test_end_before_start_is_a_named_error_not_a_500(manager_client: Client, routed: Routed, url: str) -> None:
    response = manager_client.get(url, {"window": "custom", "start": "2026-02-10", "end": "2026-02-01"})
    assert response.status_code in (200, 400)
    assert "start date must not be after the end date" in response.content.decode()


def test_an_invalid_decision_filter_names_the_field(manager_client: Client, routed: Routed) -> None:
    response = manager_client.get("/dash/decisions/export.csv", {"start": "2026-13-45", "pool": "abc"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "start" in body and "pool" in body


def test_dashboard_path_ids_unknown_or_huge_are_404(manager_client: Client, ops_client: Client, routed: Routed) -> None:
    for url in (f"/dash/leads/{HUGE}/", "/dash/leads/0/", "/dash/leads/424242/",
                f"/dash/replay/{HUGE}/", "/dash/replay/424242/"):  # fmt: skip
        assert manager_client.get(url).status_code == 404, url
    assert ops_client.get(f"/dash/leads/{routed.lead.id}/").status_code == 200
    # "boss" manages no team, so the routed lead (offered to another team) is not theirs either.
    assert manager_client.get(f"/dash/leads/{routed.lead.id}/").status_code == 404


def test_console_pages_survive_junk(ops_client: Client, routed: Routed) -> None:
    rule = routed.world.rule
    failures = []
    failures += _survives(ops_client, "/ops/rules/", ["x"])
    failures += _survives(ops_client, f"/ops/rules/{rule.id}/history/", ["version", "against"])
    for kind in ("pools", "reps", "segments", "territories", "skills"):
        failures += _survives(ops_client, f"/ops/{kind}/", ["q"])
        failures += _survives(ops_client, f"/ops/{kind}/", ["q"], headers={"HX-Request": "true"})
    for url in ("/ops/versions/", "/ops/test/", "/ops/config/", "/ops/config/export.json", "/leads/import/"):
        failures += _survives(ops_client, url, ["x"])
    assert failures == []


def test_console_path_ids_unknown_or_huge_are_404(ops_client: Client, routed: Routed) -> None:
    rule = routed.world.rule
    gets = [f"/ops/rules/{HUGE}/", "/ops/rules/424242/", f"/ops/rules/{HUGE}/history/", "/ops/rules/424242/history/",
            "/ops/pools/424242/", f"/ops/reps/{HUGE}/", f"/ops/segments/{HUGE}/", "/ops/skills/0/",
            "/ops/widgets/", "/ops/rules/abc/"]  # fmt: skip
    for url in gets:
        assert ops_client.get(url).status_code == 404, url
    posts = [f"/ops/rules/{HUGE}/toggle/", f"/ops/rules/{HUGE}/archive/", f"/ops/rules/{rule.id}/move/sideways/",
             f"/ops/rules/{HUGE}/move/up/", f"/ops/rules/{rule.id}/history/{HUGE}/restore/",
             f"/ops/versions/{HUGE}/restore/", "/ops/versions/424242/restore/",
             f"/ops/reps/{HUGE}/deactivate/", "/ops/segments/1/deactivate/"]  # fmt: skip
    for url in posts:
        assert ops_client.post(url).status_code == 404, url


def test_inbox_survives_junk(rep_client: Client, routed: Routed) -> None:
    failures = _survives(rep_client, "/inbox/", ["v", "have"], headers={"HX-Request": "true", "HX-Target": "inbox-offers"})
    failures += _survives(rep_client, "/inbox/", ["v"])
    assert failures == []


def test_inbox_posts_to_unknown_or_huge_ids_change_nothing(rep_client: Client, routed: Routed) -> None:
    for url in (f"/inbox/offers/{HUGE}/accept/", f"/inbox/offers/{HUGE}/decline/", f"/inbox/leads/{HUGE}/close/",
                f"/inbox/leads/{HUGE}/hand-back/", "/inbox/offers/424242/accept/"):  # fmt: skip
        response = rep_client.post(url, {"reason": "busy", "outcome": "converted"}, headers={"HX-Request": "true"})
        assert response.status_code == 403, url
    routed.offer.refresh_from_db()
    assert routed.offer.status == "open"


def test_api_detail_with_huge_id_is_404(routed: Routed) -> None:
    from tests.factories import make_token

    client = Client(headers={"Authorization": f"Bearer {make_token(scopes=('intake', 'read', 'dry-run'))}"})
    assert client.get(f"/api/v1/leads/{HUGE}").status_code == 404
    junk = client.post("/api/v1/route/dry-run?draft=%00", data="{}", content_type="application/json")
    assert junk.status_code == 400 and list(junk.json()["errors"]) == ["draft"]  # named, not ignored, never a 500


def test_home_and_login_survive_junk(db, routed: Routed) -> None:  # noqa: ANN001
    anonymous = Client()
    assert anonymous.get("/login/", {"next": "\x00" + "x" * 3000}).status_code < 500
    response = anonymous.post("/login/", {"username": "a\x00b", "password": "x" * 5000})
    assert response.status_code == 200
    assert logged_in(routed.rep.user).get("/", {"x": "\x00"}).status_code == 302


EDGE_DATES = ["0001-01-01", "9999-12-31"]


def test_dates_at_the_edge_of_the_calendar_do_not_overflow(manager_client: Client, routed: Routed) -> None:
    failures = []
    for day in EDGE_DATES:
        for url, params in (
            ("/dash/decisions/", {"start": day, "end": day}), ("/dash/decisions/export.csv", {"end": day}),
            ("/dash/sla/", {"window": "custom", "start": day, "end": day}),
            ("/dash/equity/", {"window": "custom", "start": day, "end": day}),
            ("/dash/equity/export.csv", {"window": "custom", "start": day, "end": day}),
            ("/dash/decisions/", {"cursor": f"{day}T00:00:00+23:59~1"}),
            ("/dash/decisions/", {"cursor": f"{day}T23:59:59-23:59~1"}),
            ("/dash/decisions/", {"cursor": f"{day}T23:59:59+00:00~{HUGE}"}),
            ("/dash/decisions/", {"cursor": f"{day}T23:59:59+00:00~-{HUGE}"}),
        ):  # fmt: skip
            response = manager_client.get(url, params)
            if response.status_code >= 500:
                failures.append((url, params))
    assert failures == []
    response = manager_client.post("/dash/replay/", {"start": "9999-12-30", "end": "9999-12-31"})
    assert response.status_code == 200
