from __future__ import annotations

import pytest
from django.test import Client

from routing.models import Rule
from tests.factories import PoolFactory, RepFactory, RuleFactory, SkillFactory

pytestmark = pytest.mark.django_db


def rule_post(pool, **extra) -> dict:  # noqa: ANN001, ANN003
    data = {
        "name": "Insurance CA", "priority": "5", "enabled": "on", "pool": str(pool.id), "strategy": "weighted_fair",
        "value_threshold": "", "high_value_min_tier": "", "reroute_on_escalation": "on", "req_min_tier": "",
        "cond_field": ["state", "value"], "cond_op": ["equals", "gte"], "cond_value": ["CA", "1000"],
        "fb_kind": ["relax", "holding"], "fb_pool": ["", ""], "fb_rep": ["", ""], "relax": ["language"],
        "action": "save",
    }  # fmt: skip
    data.update(extra)
    return data


def test_ops_creates_a_rule_with_conditions_requirements_and_fallback(ops_client: Client) -> None:
    pool, backup_pool = PoolFactory(), PoolFactory()
    rep = RepFactory()
    skill = SkillFactory(kind="vertical", code="insurance")
    response = ops_client.post("/ops/rules/new/", rule_post(
        pool, req_licence="on", req_skill=[skill.key], req_level=["3"], value_threshold="50000", high_value_min_tier="3",
        fb_kind=["relax", "pool", "backup", "manager", "holding"], fb_pool=["", str(backup_pool.id), "", "", ""],
        fb_rep=["", "", str(rep.id), "", ""],
    ))  # fmt: skip
    assert response.status_code == 302
    rule = Rule.objects.get(name="Insurance CA")
    assert rule.conditions == [{"field": "state", "op": "equals", "value": "CA"},
                               {"field": "value", "op": "gte", "value": 1000}]  # fmt: skip
    assert rule.requirements["skills"] == [{"skill": "vertical:insurance", "min_level": 3}]
    assert rule.requirements["licence"] is True and rule.high_value_min_tier == 3
    assert rule.fallback == [{"kind": "relax"}, {"kind": "pool", "target_id": backup_pool.id},
                             {"kind": "backup", "target_id": rep.id}, {"kind": "manager"}, {"kind": "holding"}]  # fmt: skip
    assert rule.relaxation == ["language"]
    assert rule.history.latest().history_user.username == "ops"


def test_invalid_rule_rerenders_the_fragment_with_errors_next_to_the_fields(htmx_client: Client) -> None:
    pool = PoolFactory()
    response = htmx_client.post("/ops/rules/new/", rule_post(
        pool, name="", cond_field=["nope", "value"], cond_op=["equals", "gte"], cond_value=["x", "lots"],
        fb_kind=["holding", "pool"], fb_pool=["", ""], fb_rep=["", ""],
    ))  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="rule-form"' in html
    assert "This field is required" in html
    assert "Unknown field &#x27;nope&#x27;" in html
    assert "&#x27;gte&#x27; needs a number" in html
    assert "Choose the pool to fall back to." in html and "Holding ends the chain" in html
    assert not Rule.objects.exists()


def test_builder_buttons_add_and_remove_rows_without_saving(htmx_client: Client) -> None:
    pool = PoolFactory()
    added = htmx_client.post("/ops/rules/new/", rule_post(pool, action="add_condition")).content.decode()
    assert added.count('name="cond_field"') == 3 and "<html" not in added
    removed = htmx_client.post("/ops/rules/new/", rule_post(pool, action="remove_condition:0")).content.decode()
    assert removed.count('name="cond_field"') == 1 and 'value="value"' in removed
    moved = htmx_client.post("/ops/rules/new/", rule_post(pool, action="fallback_down:0")).content.decode()
    assert moved.index('value="holding" selected') < moved.index('value="relax" selected')
    assert not Rule.objects.exists()


def test_value_inputs_fit_the_field_and_operator(htmx_client: Client) -> None:
    pool = PoolFactory()
    html = htmx_client.post("/ops/rules/new/", rule_post(
        pool, cond_field=["value", "country", "state"], cond_op=["gte", "in", "is_set"], cond_value=["1", "", ""],
        action="refresh",
    )).content.decode()  # fmt: skip
    assert 'type="number"' in html and 'placeholder="a, b, c"' in html and 'type="hidden"' in html


def test_editing_a_rule_changes_the_draft_and_keeps_history(ops_client: Client) -> None:
    rule = RuleFactory(name="Old", conditions=[{"field": "country", "op": "in", "value": ["US", "CA"]}])
    page = ops_client.get(f"/ops/rules/{rule.id}/").content.decode()
    assert 'value="US, CA"' in page
    response = ops_client.post(f"/ops/rules/{rule.id}/", rule_post(rule.pool, name="New", cond_field=["country"],
                                                                  cond_op=["in"], cond_value=["US, CA, MX"]))  # fmt: skip
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "New" and rule.conditions[0]["value"] == ["US", "CA", "MX"]
    assert rule.history.count() == 2


def test_reorder_swaps_neighbours_and_returns_the_table_fragment(htmx_client: Client) -> None:
    first, second, third = RuleFactory(priority=1), RuleFactory(priority=2), RuleFactory(priority=3)
    response = htmx_client.post(f"/ops/rules/{third.id}/move/up/")
    html = response.content.decode()
    assert "<html" not in html and html.lstrip().startswith('<table id="rule-table"')
    order = list(Rule.objects.order_by("priority").values_list("id", flat=True))
    assert order == [first.id, third.id, second.id]
    assert html.index(f'id="rule-{third.id}"') < html.index(f'id="rule-{second.id}"')


def test_toggle_disables_and_enables_a_rule(htmx_client: Client) -> None:
    rule = RuleFactory(enabled=True)
    htmx_client.post(f"/ops/rules/{rule.id}/toggle/")
    rule.refresh_from_db()
    assert not rule.enabled
    htmx_client.post(f"/ops/rules/{rule.id}/toggle/")
    rule.refresh_from_db()
    assert rule.enabled


def test_rule_list_query_count_does_not_grow_with_rules(ops_client: Client, django_assert_max_num_queries) -> None:  # noqa: ANN001
    RuleFactory.create_batch(2)
    with django_assert_max_num_queries(12) as few:
        ops_client.get("/ops/rules/")
    RuleFactory.create_batch(15)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = ops_client.get("/ops/rules/")
    assert response.content.decode().count('<tr id="rule-') == 17


def test_a_condition_without_a_value_is_refused(htmx_client: Client) -> None:
    html = htmx_client.post("/ops/rules/new/", rule_post(PoolFactory(), cond_value=["", "5"])).content.decode()
    assert "Enter a value, or use" in html
    assert not Rule.objects.exists()


def _fallback_rows(html: str) -> list[str]:
    rows = html.split('<tr class="fallback-row"')[1:]
    return [row.split("</tr>")[0] for row in rows]


def test_a_new_rules_holding_step_shows_no_pool_or_rep_select(ops_client: Client) -> None:
    PoolFactory()
    RepFactory()
    [row] = _fallback_rows(ops_client.get("/ops/rules/new/").content.decode())
    assert 'select name="fb_pool"' not in row and 'select name="fb_rep"' not in row
    assert '<input type="hidden" name="fb_pool" value="">' in row and '<input type="hidden" name="fb_rep" value="">' in row
    assert "parks the lead" in row


def test_changing_a_steps_kind_rerenders_the_form_with_only_the_input_it_needs(htmx_client: Client) -> None:
    pool, rep = PoolFactory(name="Overflow"), RepFactory(display_name="Bea Backup")
    response = htmx_client.post("/ops/rules/new/", rule_post(
        pool, action="refresh", fb_kind=["pool", "backup", "manager", "holding"],
        fb_pool=[str(pool.id), "", "", ""], fb_rep=["", str(rep.id), "", ""],
    ))  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and html.lstrip().startswith('<form id="rule-form"')
    pool_row, backup_row, manager_row, holding_row = _fallback_rows(html)
    assert 'select name="fb_pool"' in pool_row and 'select name="fb_rep"' not in pool_row
    assert f'<option value="{pool.id}" selected>Overflow</option>' in pool_row
    assert 'select name="fb_rep"' in backup_row and 'select name="fb_pool"' not in backup_row
    assert f'<option value="{rep.id}" selected>Bea Backup</option>' in backup_row
    for row in (manager_row, holding_row):
        assert 'select name="fb_pool"' not in row and 'select name="fb_rep"' not in row
    assert 'hx-post="/ops/rules/new/" hx-trigger="change"' in pool_row  # the kind select asks for the re-render
    assert not Rule.objects.exists()  # a refresh never saves


def test_a_target_chosen_before_switching_kind_survives_switching_back(htmx_client: Client) -> None:
    pool = PoolFactory(name="Overflow")
    html = htmx_client.post("/ops/rules/new/", rule_post(
        pool, action="refresh", fb_kind=["manager"], fb_pool=[str(pool.id)], fb_rep=[""],
    )).content.decode()  # fmt: skip
    assert f'<input type="hidden" name="fb_pool" value="{pool.id}">' in _fallback_rows(html)[0]
    html = htmx_client.post("/ops/rules/new/", rule_post(
        pool, action="refresh", fb_kind=["pool"], fb_pool=[str(pool.id)], fb_rep=[""],
    )).content.decode()  # fmt: skip
    assert f'<option value="{pool.id}" selected>Overflow</option>' in _fallback_rows(html)[0]


def test_a_missing_target_is_named_by_step_and_marks_its_select(htmx_client: Client) -> None:
    pool = PoolFactory()
    RepFactory()
    html = htmx_client.post("/ops/rules/new/", rule_post(
        pool, fb_kind=["manager", "backup", "pool", "holding"], fb_pool=["", "", "", ""], fb_rep=["", "", "", ""],
    )).content.decode()  # fmt: skip
    assert "Step 2: Choose the backup rep." in html and "Step 3: Choose the pool to fall back to." in html
    rows = _fallback_rows(html)
    assert 'aria-invalid="true" aria-describedby="fb-errors-1"' in rows[1]
    assert 'aria-invalid="true" aria-describedby="fb-errors-2"' in rows[2]
    assert "aria-invalid" not in rows[0]
    assert not Rule.objects.exists()


def test_editing_a_rule_shows_its_saved_targets(ops_client: Client) -> None:
    pool, rep = PoolFactory(name="Overflow"), RepFactory(display_name="Bea Backup")
    rule = RuleFactory(fallback=[{"kind": "backup", "target_id": rep.id}, {"kind": "pool", "target_id": pool.id}, {"kind": "holding"}])
    backup_row, pool_row, _ = _fallback_rows(ops_client.get(f"/ops/rules/{rule.id}/").content.decode())
    assert f'<option value="{rep.id}" selected>Bea Backup</option>' in backup_row and "fb_pool\" value=\"\"" in backup_row
    assert f'<option value="{pool.id}" selected>Overflow</option>' in pool_row
