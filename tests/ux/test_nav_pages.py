"""Every page reachable from the navigation opens for the role that sees the link: no 4xx/5xx, no
console errors (CSP violations included), no failed requests. Chromium driven by Playwright."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.conftest import login
from tests.ux.helpers import Probe, make_role_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAV_LINKS = "header nav a, nav.subnav a"
# What each role's main navigation must and must not offer (reps/access.py decides, base.html follows).
EXPECTED = {
    "rep": ({"/inbox/"}, {"/team/", "/dash/", "/ops/rules/", "/leads/import/"}),
    "manager": ({"/inbox/", "/team/", "/dash/", "/dash/equity/", "/dash/decisions/"}, {"/ops/rules/", "/leads/import/"}),
    "ops": ({"/team/", "/dash/", "/ops/rules/", "/ops/pools/", "/ops/reps/", "/ops/segments/", "/ops/test/", "/leads/import/"},
            {"/inbox/"}),
}  # fmt: skip


def _nav_paths(page) -> list[str]:  # noqa: ANN001
    hrefs = page.eval_on_selector_all(NAV_LINKS, "els => els.map(e => e.getAttribute('href'))")
    return [urlparse(h).path for h in hrefs if h]


@pytest.mark.parametrize("role", ["rep", "manager", "ops"])
def test_every_nav_page_opens_without_errors_for_each_role(live_server, page, role: str) -> None:  # noqa: ANN001
    world = make_role_world()
    probe = Probe().attach(page)
    login(page, live_server, world.users[role])

    top = {urlparse(h).path for h in page.eval_on_selector_all("header nav a", "els => els.map(e => e.getAttribute('href'))")}
    must, must_not = EXPECTED[role]
    assert must <= top, f"{role} misses {must - top}"
    assert not (must_not & top), f"{role} is offered {must_not & top}"

    # Breadth-first over the main navigation and every section's sub-navigation.
    queue, seen = ["/"] + sorted(top), set()
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        response = page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        assert response is not None and response.status < 400, f"{role}: {path} answered {response and response.status}"
        queue += [p for p in _nav_paths(page) if p not in seen]
    assert len(seen) >= len(must)
    assert probe.problems == [], f"{role}: {probe.problems}"


def test_a_manager_follows_a_decision_to_the_rule_history_without_ops_only_links(live_server, page) -> None:  # noqa: ANN001
    world = make_role_world()
    probe = Probe().attach(page)
    login(page, live_server, "mia")
    page.goto(f"{live_server.url}/dash/leads/{world.lead_id}/")
    page.locator("#lead-timeline a[href*='/history/']").first.click()
    page.wait_for_load_state("networkidle")
    assert "/history/" in page.url and page.locator("#version-diff").is_visible()
    # Every link on the page must open for a manager (the console sub-navigation used to show here).
    for path in sorted({urlparse(h).path for h in page.eval_on_selector_all("main a[href^='/']", "els => els.map(e => e.getAttribute('href'))")}):
        assert not path.startswith("/ops/") or "/history/" in path, path
    assert page.get_by_role("button", name="Restore this version").count() == 0
    assert probe.problems == []
