"""The test harness itself (tests/conftest.py): in every test process, no test that leaves the
browser alone runs after one that drives it (Playwright leaves its event loop marked as running
in the thread, which changes the database connection Django hands out and stops async views
under the test Client). Checked on the whole collection, before -m or -k deselect anything."""

from __future__ import annotations

from collections import defaultdict

import pytest
from django.test import Client

from tests.conftest import COLLECTED_ORDER


def test_tests_that_drive_the_browser_run_last(request: pytest.FixtureRequest) -> None:
    order = request.config.stash[COLLECTED_ORDER]
    kinds = [browser for _nodeid, browser, _group in order]
    assert kinds == sorted(kinds)
    # Each pytest-xdist group is one file's tests of one kind.
    groups = defaultdict(set)
    for nodeid, browser, group in order:
        groups[group].add((nodeid.split("::")[0], browser))
    assert all(len(members) == 1 for members in groups.values())
    # This file's browser test, written before the next test, is sorted after it.
    names = [nodeid.split("::")[1] for nodeid, _browser, _group in order if nodeid.startswith("tests/test_harness.py::")]
    if not {"test_a_browser_test", "test_a_test_written_after_the_browser_test_still_runs_before_it"} <= set(names):
        pytest.skip("collect the whole file (a node id selects at collection)")
    assert names.index("test_a_test_written_after_the_browser_test_still_runs_before_it") < names.index("test_a_browser_test")


def test_an_async_view_answers_through_the_test_client() -> None:
    assert Client().get("/inbox/events/").status_code == 403  # reps.views.inbox_events is async


@pytest.mark.browser
def test_a_browser_test(page) -> None:  # noqa: ANN001
    page.set_content("<p id='probe'>probe</p>")
    assert page.locator("#probe").inner_text() == "probe"


def test_a_test_written_after_the_browser_test_still_runs_before_it() -> None:
    assert Client().get("/inbox/events/").status_code == 403
