from __future__ import annotations

import pytest
from django.test import Client

from routing import services
from routing.models import Rule, RuleSet
from tests.factories import PoolFactory, RuleFactory, SegmentFactory

pytestmark = pytest.mark.django_db


def test_history_page_shows_a_readable_diff_between_two_versions(ops_client: Client) -> None:
    pool_a, pool_b = PoolFactory(name="Alpha"), PoolFactory(name="Beta")
    rule = RuleFactory(name="R", pool=pool_a, conditions=[{"field": "state", "op": "equals", "value": "CA"}])
    first = rule.history.latest().history_id
    rule.pool = pool_b
    rule.conditions = [{"field": "state", "op": "equals", "value": "NY"}]
    rule.save()
    latest = rule.history.latest().history_id
    html = ops_client.get(f"/ops/rules/{rule.id}/history/?version={latest}&against={first}").content.decode()
    assert "Alpha" in html and "Beta" in html
    assert "state is CA" in html and "state is NY" in html


def test_decision_links_to_a_rule_version_work(ops_client: Client) -> None:
    rule = RuleFactory(name="Linked")
    history_id = rule.history.latest().history_id
    response = ops_client.get(f"/ops/rules/{rule.id}/history/?version={history_id}")
    assert response.status_code == 200
    assert "Version 1 " in response.content.decode()  # the rule's own version number, not the history id
    assert ops_client.get(f"/ops/rules/{rule.id}/history/?version=999999").status_code == 200  # falls back to latest


def test_restoring_a_version_saves_its_values_as_a_new_draft_version(ops_client: Client) -> None:
    rule = RuleFactory(name="Original", enabled=True)
    first = rule.history.latest().history_id
    rule.name, rule.enabled = "Changed", False
    rule.save()
    response = ops_client.post(f"/ops/rules/{rule.id}/history/{first}/restore/")
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "Original" and rule.enabled
    assert rule.history.count() == 3
    assert rule.history.latest().history_user.username == "ops"


def test_publish_creates_a_version_with_note_and_user(ops_client: Client) -> None:
    RuleFactory()
    response = ops_client.post("/ops/versions/", {"note": "first go-live"})
    assert response.status_code == 302
    ruleset = RuleSet.objects.get()
    assert (ruleset.version, ruleset.note, ruleset.published_by.username) == (1, "first go-live", "ops")
    html = ops_client.get("/ops/versions/").content.decode()
    assert "first go-live" in html and "v1" in html


def test_saving_a_rule_changes_the_draft_not_the_live_version(ops_client: Client) -> None:
    rule = RuleFactory(name="Live name")
    services.rule_publish()
    rule.name = "Draft name"
    rule.save()
    assert RuleSet.objects.get().snapshot["rules"][0]["name"] == "Live name"
    assert "unpublished changes" in ops_client.get("/ops/versions/").content.decode()


def test_restore_published_version_loads_its_rules_and_publishes(ops_client: Client) -> None:
    SegmentFactory(slug="s1", sla_minutes=30)
    old_rule = RuleFactory(name="Old rule")
    services.rule_publish()
    old_rule.archived = True
    old_rule.save()
    new_rule = RuleFactory(name="New rule")
    services.rule_publish()
    response = ops_client.post("/ops/versions/1/restore/")
    assert response.status_code == 302
    latest = RuleSet.objects.order_by("-version").first()
    assert latest.version == 3 and latest.published_by.username == "ops"
    assert [r["name"] for r in latest.snapshot["rules"]] == ["Old rule"]
    assert not Rule.objects.get(pk=old_rule.pk).archived and Rule.objects.get(pk=new_rule.pk).archived


def test_versions_list_query_count_does_not_grow(ops_client: Client, django_assert_max_num_queries) -> None:  # noqa: ANN001
    RuleFactory()
    services.rule_publish()
    with django_assert_max_num_queries(20) as few:
        ops_client.get("/ops/versions/")
    for _ in range(10):
        services.rule_publish()
    with django_assert_max_num_queries(len(few.captured_queries)):
        ops_client.get("/ops/versions/")


def test_history_page_query_count_does_not_grow(ops_client: Client, django_assert_max_num_queries) -> None:  # noqa: ANN001
    rule = RuleFactory()
    rule.save()
    with django_assert_max_num_queries(20) as few:
        ops_client.get(f"/ops/rules/{rule.id}/history/")
    for i in range(10):
        rule.name = f"n{i}"
        rule.save()
    with django_assert_max_num_queries(len(few.captured_queries)):
        ops_client.get(f"/ops/rules/{rule.id}/history/")


def test_history_diff_shows_requirements_strategy_and_relaxation_in_words(ops_client: Client) -> None:
    rule = RuleFactory(name="Words", requirements={}, strategy="weighted_fair", relaxation=[])
    first = rule.history.latest().history_id
    rule.requirements = {"skills": [{"skill": "product:auto", "min_level": 2}], "licence": True, "language": True}
    rule.strategy = "best_match"
    rule.relaxation = ["skill_level", "working_hours"]
    rule.save()
    latest = rule.history.latest().history_id
    html = ops_client.get(f"/ops/rules/{rule.id}/history/?version={latest}&against={first}").content.decode()
    assert "<ins>Skills: product:auto ≥ 2; licence required; language</ins>" in html
    assert "<del>Weighted fair</del>" in html and "<ins>Best match</ins>" in html
    assert "<ins>skill level, working hours</ins>" in html and "<del>nothing relaxed</del>" in html
    assert 'title="{&quot;language&quot;: true, &quot;licence&quot;: true' in html  # the stored JSON, in a title
    assert "<ins>{" not in html and "best_match</ins>" not in html
