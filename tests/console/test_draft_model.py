"""One model of drafted and live: the whole draft as a diff before publishing, no empty publishes,
per-rule version numbers, restores recorded as restores, and every form saying what it changes."""

from __future__ import annotations

import pytest
from django.test import Client

from routing import services
from routing.models import RuleSet
from tests.console.conftest import CONSOLE_PAGES
from tests.factories import PoolFactory, RuleFactory, SegmentFactory

pytestmark = pytest.mark.django_db


def test_an_unchanged_draft_cannot_be_published(ops_client: Client) -> None:
    RuleFactory(name="Only")
    services.rule_publish(note="v1")
    page = ops_client.get("/ops/versions/").content.decode()
    assert "there is nothing to publish" in page and "disabled" in page[page.index('id="publish-form"'):]
    response = ops_client.post("/ops/versions/", {"note": "again"}, follow=True)
    assert RuleSet.objects.count() == 1
    assert "nothing to publish" in response.content.decode()


def test_the_versions_page_shows_the_whole_draft_as_a_diff_in_words(ops_client: Client) -> None:
    alpha, beta = PoolFactory(name="Alpha"), PoolFactory(name="Beta")
    moved = RuleFactory(name="Moved", pool=alpha, conditions=[{"field": "value", "op": "gte", "value": 50000}])
    gone = RuleFactory(name="Gone", pool=alpha)
    SegmentFactory(slug="vip", name="VIP", sla_minutes=5)
    services.rule_publish(note="v1")
    moved.pool = beta
    moved.conditions = [{"field": "state", "op": "in", "value": ["TX", "FL"]}]
    moved.save()
    gone.archived = True
    gone.save()
    RuleFactory(name="Brand new", pool=beta)
    html = ops_client.get("/ops/versions/").content.decode()
    diff = html[html.index('id="draft-diff"'):html.index('id="publish-form"')]
    assert "“Moved”" in diff and "Alpha" in diff and "Beta" in diff
    assert "value is at least 50,000" in diff and "state is TX or FL" in diff
    assert "“Gone”" in diff and "removed" in diff and "“Brand new”" in diff and "added" in diff
    assert "“VIP”" not in diff  # unchanged segments are not listed
    assert ops_client.post("/ops/versions/", {"note": "v2"}).status_code == 302
    assert RuleSet.objects.count() == 2


def test_a_rule_edited_four_times_shows_version_five_and_a_restore_reads_as_one(ops_client: Client) -> None:
    RuleFactory.create_batch(3)  # other rules' history ids come first: numbers must not be global ids
    rule = RuleFactory(name="v1")
    for n in (2, 3, 4, 5):
        rule.name = f"v{n}"
        rule.save()
    first = rule.history.earliest().history_id
    html = ops_client.get(f"/ops/rules/{rule.id}/history/").content.decode()
    assert "Version 5 " in html and f"#{first}" not in html
    assert ops_client.post(f"/ops/rules/{rule.id}/history/{first}/restore/").status_code == 302
    latest = rule.history.latest()
    assert latest.history_change_reason == "Restored version 1"
    html = ops_client.get(f"/ops/rules/{rule.id}/history/").content.decode()
    assert "Version 6 " in html and "restored" in html and "Restored version 1" in html


@pytest.mark.parametrize("path", [p for p in CONSOLE_PAGES if p.endswith("/new/")])
def test_every_console_form_says_whether_it_is_drafted_or_live_at_once(ops_client: Client, path: str) -> None:
    html = ops_client.get(path).content.decode()
    assert 'id="draft-model"' in html
    drafted = path.startswith(("/ops/rules/", "/ops/segments/"))
    assert ("Saved to the draft" in html) is drafted
    assert ("Applies to routing as soon as you save" in html) is not drafted
