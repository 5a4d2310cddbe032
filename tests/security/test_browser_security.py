"""Chromium at phone width (390 px) through the security journeys: a rep locked out after too many
wrong passwords reads why, Sales Ops unlock them, create a read-only API token and revoke it."""

from __future__ import annotations

import pytest
from django.conf import settings

from reps.models import Role
from routing.models import ApiToken
from tests.conftest import login
from tests.factories import PASSWORD, UserFactory, user_with_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def _fits(page) -> bool:  # noqa: ANN001
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_lockout_unlock_and_a_scoped_token_at_phone_width(live_server, browser) -> None:  # noqa: ANN001
    UserFactory(username="ana", role=Role.REP.value)
    user_with_role(Role.OPS, username="olga")
    ana_ctx, ops_ctx = browser.new_context(viewport=PHONE), browser.new_context(viewport=PHONE)
    csp_errors: list[str] = []
    try:
        ana, ops = ana_ctx.new_page(), ops_ctx.new_page()
        for pg in (ana, ops):
            pg.set_default_timeout(15_000)
            pg.on("console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
        # Olga signs in first: the browsers share 127.0.0.1, and Ana's failures lock that address too
        # (sessions already open go on; new logins from it wait for the unlock).
        login(ops, live_server, "olga")
        for _ in range(settings.AXES_FAILURE_LIMIT):
            login(ana, live_server, "ana", "not-my-password")
        assert "Too many failed logins" in ana.content() and _fits(ana)
        login(ana, live_server, "ana", PASSWORD)  # the right password is refused while locked
        assert "Too many failed logins" in ana.content()

        ops.goto(f"{live_server.url}/ops/security/logins/")
        assert _fits(ops)
        ops.click("button:has-text('Unlock ana')")
        ops.locator(".messages", has_text="Unlocked account ana").wait_for()
        login(ana, live_server, "ana", PASSWORD)
        assert ana.url.endswith("/inbox/")

        ops.goto(f"{live_server.url}/ops/security/tokens/")
        ops.fill("input[name=name]", "CRM sync")
        ops.uncheck("input[name=scopes][value=intake]")
        ops.check("input[name=scopes][value=read]")
        ops.click("button:has-text('Create token')")
        raw = ops.locator("#new-token-value").inner_text()
        assert raw.startswith("lo_") and _fits(ops)
        token = ApiToken.objects.get(name="CRM sync")
        assert token.scopes == ["read"] and token.digest == ApiToken.hash(raw)
        ops.click("button:has-text('Revoke CRM sync')")
        ops.locator(".messages", has_text="Token revoked").wait_for()
        token.refresh_from_db()
        assert token.revoked_at is not None
        assert csp_errors == []
    finally:
        ana_ctx.close()
        ops_ctx.close()
