"""The test harness itself (tests/conftest.py): in every test process, no test that leaves the
browser alone runs after one that drives it (Playwright leaves its event loop marked as running
in the thread, which changes the database connection Django hands out and stops async views
under the test Client)."""

from __future__ import annotations

from collections import defaultdict

import pytest
from django.test import Client

from tests.conftest import _drives_the_browser


def test_tests_that_drive_the_browser_run_last(request: pytest.FixtureRequest) -> None:
    items = request.session.items
    kinds = [_drives_the_browser(item) for item in items]
    assert kinds == sorted(kinds) and any(kinds) and not all(kinds)
    # Each pytest-xdist group is one file's tests of one kind.
    groups = defaultdict(set)
    for item in items:
        groups[item.get_closest_marker("xdist_group").args[0]].add((item.nodeid.split("::")[0], _drives_the_browser(item)))
    assert all(len(members) == 1 for members in groups.values())


def test_an_async_view_answers_through_the_test_client() -> None:
    assert Client().get("/inbox/events/").status_code == 403  # reps.views.inbox_events is async


@pytest.mark.browser
def test_a_browser_test(page) -> None:  # noqa: ANN001
    page.set_content("<p id='probe'>probe</p>")
    assert page.locator("#probe").inner_text() == "probe"


def test_a_test_written_after_the_browser_test_still_runs_before_it(request: pytest.FixtureRequest) -> None:
    names = [item.name for item in request.session.items if item.nodeid.startswith("tests/test_harness.py::")]
    assert names.index("test_a_test_written_after_the_browser_test_still_runs_before_it") < names.index("test_a_browser_test")
