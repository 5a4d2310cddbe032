"""The test harness itself: a test that runs after a browser test in the same process can still
call an async view through Django's test Client (tests/conftest.py clears the running-loop mark
Playwright's sync API leaves behind; without it this file's second test fails in asgiref)."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.mark.browser
def test_a_browser_test_runs_first(page) -> None:  # noqa: ANN001
    page.set_content("<p id='probe'>probe</p>")
    assert page.locator("#probe").inner_text() == "probe"


def test_an_async_view_answers_through_the_test_client_after_it() -> None:
    assert Client().get("/inbox/events/").status_code == 403  # reps.views.inbox_events is async
