"""The navigation follows reps/access.py: each role is offered exactly the sections it may open,
and read-only pages shared with managers carry no ops-only links."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.ux.helpers import make_role_world

pytestmark = pytest.mark.django_db

HREF = re.compile(r'href="(/[^"]*)"')


def _client(username: str) -> Client:
    from django.contrib.auth.models import User

    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def _header_links(html: str) -> set[str]:
    header = html.split('<header class="topbar">', 1)[1].split("</header>", 1)[0]
    return set(HREF.findall(header)) - {"/"}


@pytest.mark.parametrize("role", ["rep", "manager", "ops"])
def test_every_header_link_opens_for_the_role_that_sees_it(role: str) -> None:
    world = make_role_world()
    client = _client(world.users[role])
    links = _header_links(client.get("/", follow=True).content.decode())
    assert links
    for path in sorted(links):
        assert client.get(path).status_code == 200, path


def test_the_header_offers_each_role_its_sections_only() -> None:
    world = make_role_world()
    rep, manager, ops = (_header_links(_client(world.users[r]).get("/", follow=True).content.decode()) for r in ("rep", "manager", "ops"))
    assert all("/password/" in links for links in (rep, manager, ops))  # everyone may change their password
    assert rep == {"/inbox/", "/password/"}
    assert {"/inbox/", "/team/", "/dash/"} <= manager and not any(p.startswith(("/ops/", "/leads/")) for p in manager)
    assert {"/ops/rules/", "/leads/import/", "/team/", "/dash/"} <= ops and "/inbox/" not in ops  # ops has no rep profile


def test_the_current_section_is_marked_in_the_header() -> None:
    make_role_world()
    html = _client("olga").get("/dash/equity/").content.decode()
    assert re.search(r'<a href="/dash/equity/" aria-current="page">Equity</a>', html)
    assert html.count('aria-current="page"') == 2  # header and the dashboards sub-navigation


def test_managers_read_rule_history_with_the_dashboards_navigation() -> None:
    world = make_role_world()
    path = f"/ops/rules/{world.world.rule.id}/history/"
    manager_html = _client("mia").get(path).content.decode()
    assert 'aria-label="Dashboards"' in manager_html and 'aria-label="Routing console"' not in manager_html
    assert not [h for h in HREF.findall(manager_html) if h.startswith("/ops/") and "/history/" not in h]
    assert "Restore this version" not in manager_html
    ops_html = _client("olga").get(path).content.decode()
    assert 'aria-label="Routing console"' in ops_html and "Restore this version" in ops_html


def test_the_csv_import_page_is_in_the_console_navigation() -> None:
    make_role_world()
    html = _client("olga").get("/ops/rules/").content.decode()
    assert 'href="/leads/import/"' in html.split('aria-label="Routing console"', 1)[1]
    assert 'aria-label="Routing console"' in _client("olga").get("/leads/import/").content.decode()
