"""The test harness itself: an async view answers through Django's test Client. It would not in
a test process where a Playwright test had run before (Playwright's sync API leaves its event
loop marked as running in the thread), which is why `make test` runs browser tests in a pytest
run of their own (Makefile)."""

from __future__ import annotations

from django.test import Client


def test_an_async_view_answers_through_the_test_client() -> None:
    assert Client().get("/inbox/events/").status_code == 403  # reps.views.inbox_events is async
