"""Console lists can be searched with JavaScript switched off (plain GET form behind htmx)."""

from __future__ import annotations

import pytest

from reps.models import Role
from tests.conftest import login
from tests.factories import RepFactory, user_with_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ops_searches_reps_without_javascript(live_server, browser) -> None:  # noqa: ANN001
    user_with_role(Role.OPS, username="olga")
    RepFactory(display_name="Zelda Quartz")
    RepFactory(display_name="Other Person")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        login(page, live_server, "olga")
        page.goto(f"{live_server.url}/ops/reps/")
        page.get_by_label("Search reps").fill("Quartz")
        page.get_by_role("button", name="Search").click()
        page.wait_for_url("**/ops/reps/?q=Quartz")
        rows = page.locator("#object-table tbody tr")
        assert rows.count() == 1 and "Zelda Quartz" in rows.first.inner_text()
    finally:
        context.close()
