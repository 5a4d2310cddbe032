"""Shared fixtures: roles, users, a published configuration, and the CI skip guards.

LEADOPS_REQUIRE_POSTGRES=1 turns the skip of a ``postgres`` test into a failure, and
LEADOPS_REQUIRE_BROWSER=1 does the same for ``browser`` tests, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("LEADOPS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _require(flag: str) -> bool:
    return os.environ.get(flag, "") not in ("", "0", "false")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):  # noqa: ANN001, ANN201
    """The test database, on PostgreSQL without waiting for each commit's WAL flush
    (``synchronous_commit = off`` for every connection to it, worker subprocesses included).
    Commits stay atomic and visible at once; only a crash of the server could lose the last
    ones, which no test relies on (tests that stop PostgreSQL run a cluster of their own).
    The suite commits often (flushes after transactional and browser tests, worker processes)."""
    from django.db import connection

    if connection.vendor == "postgresql" and os.environ.get("LEADOPS_TEST_SYNC_COMMIT", "off") == "off":
        with django_db_blocker.unblock():
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER DATABASE {connection.ops.quote_name(connection.settings_dict['NAME'])} "
                               "SET synchronous_commit = off")  # fmt: skip
            connection.close()  # later connections start with it
    return django_db_setup


@pytest.fixture(autouse=True)
def _fresh_routing_caches() -> None:
    """Routing caches parsed rule sets and the rep/pool directory per process. Test databases
    roll back between tests and SQLite then reuses ids, so a cache entry from one test could
    match the next test's different rows; production databases never rewind like that."""
    from routing import services, snapshots

    snapshots._CONFIG_CACHE.clear()
    snapshots._INDEX_CACHE.clear()
    snapshots._DIRECTORY = None
    snapshots._INTAKE_REFERENCE = None
    from routing import accounts

    accounts._CACHE.clear()  # the account match index (routing.accounts)
    services._LAST_SEEN.clear()  # what this process's last sweep pass saw (holding wake-ups)
    from calendars.selectors import calendar_cache_clear

    calendar_cache_clear()
    from routing.decision_detail import legend_cache_clear

    legend_cache_clear()  # decision detail legend codes this process saw committed


@pytest.fixture(autouse=True)
def _postgres_guard(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("postgres") is None:
        return
    from django.db import connection

    if connection.vendor != "postgresql":
        message = "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadops"
        if _require("LEADOPS_REQUIRE_POSTGRES"):
            pytest.fail(f"LEADOPS_REQUIRE_POSTGRES=1 but {message}")
        pytest.skip(message)


@pytest.fixture(scope="session")
def browser():  # noqa: ANN201
    """A headless Debian Chromium driven by Playwright (no browser download)."""
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        message = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
        if _require("LEADOPS_REQUIRE_BROWSER"):
            pytest.fail(f"LEADOPS_REQUIRE_BROWSER=1 but {message}")
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if _require("LEADOPS_REQUIRE_BROWSER"):
            pytest.fail("LEADOPS_REQUIRE_BROWSER=1 but playwright is not installed")
        pytest.skip("playwright is not installed")
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):  # noqa: ANN001, ANN201
    context = browser.new_context()
    context.set_default_timeout(30_000)  # generous for a loaded CI machine; waits end as soon as the page is ready
    pg = context.new_page()
    yield pg
    context.close()


def login(page, live_server, username: str, password: str = "pw-for-tests-123") -> None:  # noqa: ANN001
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
