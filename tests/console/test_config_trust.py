"""Issue 11, failing input 7: the config import refuses what cannot be stored or cannot work, by
JSON path, on every path (function, console upload and confirm, command line), with the same
verdict as the rule editor; and the console's rule list says which rules can never match."""

from __future__ import annotations

import copy
import json
from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from reps.models import Pool, Rep
from routing.config_io import ConfigImportError, config_export, config_import
from routing.console import services
from routing.models import Rule
from tests.console.test_config_io import demo_config
from tests.factories import PoolFactory, RepFactory, RuleFactory

pytestmark = pytest.mark.django_db


def _variant(name: str) -> tuple[dict, str, str]:
    """(document, JSON path, words of the message) for each case of failing input 7."""
    doc = demo_config()
    rule = doc["rules"][0]
    if name == "nan":
        rule["conditions"][1]["value"] = float("nan")
        return doc, "rules[0].conditions[1].value", "NaN and infinity are refused"
    if name == "1e999":
        rule["conditions"][1]["value"] = json.loads("1e999")
        return doc, "rules[0].conditions[1].value", "NaN and infinity are refused"
    if name == "surrogate":
        rule["conditions"][0]["value"] = json.loads('"auto\\ud800"')
        return doc, "rules[0].conditions[0].value", "lone surrogate"
    if name == "holding_not_last":
        rule["fallback"] = [{"kind": "holding"}, {"kind": "manager"}]
        return doc, "rules[0].fallback[0]", "Holding ends the chain"
    if name == "relax_without_order":
        rule["relaxation"] = []
        return doc, "rules[0].fallback[0]", "A relax step needs a relaxation order"
    if name == "manager_cycle":
        doc["reps"][1]["manager"] = "ana"  # ana -> bob -> ana
        return doc, "reps[0].manager", "managers form a cycle: ana -> bob -> ana"
    if name == "login_not_a_rep":
        olga = User.objects.create(username="bob", is_staff=False)
        olga.groups.add(Group.objects.get_or_create(name="Sales Ops")[0])
        return doc, "reps[1].username", "this login has the role Sales Ops, not a rep"
    raise AssertionError(name)


CASES = ["nan", "1e999", "surrogate", "holding_not_last", "relax_without_order", "manager_cycle", "login_not_a_rep"]


@pytest.mark.parametrize("case", CASES)
def test_config_import_refuses_with_the_json_path_and_writes_nothing(case: str) -> None:
    doc, path, words = _variant(case)
    with pytest.raises(ConfigImportError) as info:
        config_import(doc)
    assert any(e.startswith(f"{path}: ") and words in e for e in info.value.errors), info.value.errors
    assert not Rule.objects.exists() and not Rep.objects.exists() and not Pool.objects.exists()


def _export_text(doc: dict) -> bytes:
    # NaN/Infinity as Python's json writes them; a lone surrogate as an escape, as JSON allows.
    return json.dumps(doc).encode()


@pytest.mark.parametrize("case", CASES)
def test_the_console_upload_and_confirm_answer_with_the_path_not_a_500(ops_client: Client, case: str) -> None:
    doc, path, words = _variant(case)
    upload = SimpleUploadedFile("config.json", _export_text(doc), content_type="application/json")
    response = ops_client.post("/ops/config/", {"file": upload})
    assert response.status_code == 200
    assert path in response.content.decode()
    confirm = ops_client.post("/ops/config/", {"confirm": "1", "payload": _export_text(doc).decode()})
    assert confirm.status_code == 200 and path in confirm.content.decode()
    assert not Rule.objects.exists()


@pytest.mark.parametrize("case", CASES)
def test_importconfig_refuses_with_the_path(tmp_path, case: str) -> None:  # noqa: ANN001
    doc, path, words = _variant(case)
    file = tmp_path / "config.json"
    file.write_bytes(_export_text(doc))
    stderr = StringIO()
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("importconfig", str(file), stdout=StringIO(), stderr=stderr)
    assert f"{path}: " in stderr.getvalue() and words in stderr.getvalue()


def test_a_json_file_with_a_5000_digit_number_is_a_clean_error(tmp_path, ops_client: Client) -> None:  # noqa: ANN001
    file = tmp_path / "config.json"
    file.write_text('{"rules": [{"name": "R", "priority": ' + "9" * 5000 + "}]}")
    with pytest.raises(CommandError, match="Not valid JSON"):
        call_command("importconfig", str(file), stdout=StringIO(), stderr=StringIO())
    upload = SimpleUploadedFile("config.json", file.read_bytes(), content_type="application/json")
    response = ops_client.post("/ops/config/", {"file": upload})
    assert response.status_code == 200 and "Not valid JSON" in response.content.decode()


def test_existing_exports_still_import() -> None:
    config_import(demo_config())
    exported = json.loads(json.dumps(config_export()))
    assert config_import(copy.deepcopy(exported)).changes == []


# --- the same verdict as the rule editor ---------------------------------------------------------


def _editor_post(pool: Pool, rep: Rep, **extra: object) -> dict:
    data = {
        "name": "Editor rule", "priority": "5", "enabled": "on", "pool": str(pool.id), "strategy": "weighted_fair",
        "value_threshold": "", "high_value_min_tier": "", "reroute_on_escalation": "on", "req_min_tier": "",
        "cond_field": ["country"], "cond_op": ["equals"], "cond_value": ["US"],
        "fb_kind": ["holding"], "fb_pool": [""], "fb_rep": [""], "action": "save",
    }  # fmt: skip
    data.update(extra)
    return data


VERDICTS = [
    # (file rule changes, editor POST changes, accepted?)
    ({}, {}, True),
    ({"fallback": [{"kind": "holding"}, {"kind": "manager"}]},
     {"fb_kind": ["holding", "manager"], "fb_pool": ["", ""], "fb_rep": ["", ""]}, False),
    ({"fallback": [{"kind": "relax"}, {"kind": "holding"}]},
     {"fb_kind": ["relax", "holding"], "fb_pool": ["", ""], "fb_rep": ["", ""]}, False),
    ({"fallback": [{"kind": "relax"}, {"kind": "holding"}], "relaxation": ["tier"]},
     {"fb_kind": ["relax", "holding"], "fb_pool": ["", ""], "fb_rep": ["", ""], "relax": ["tier"]}, True),
    ({"relaxation": ["tier", "tier"]}, {"relax": ["tier", "tier"]}, False),
    ({"conditions": [{"field": "country", "op": "equals", "value": ""}]}, {"cond_value": [""]}, False),
    ({"conditions": [{"field": "value", "op": "gte", "value": "lots"}]},
     {"cond_field": ["value"], "cond_op": ["gte"], "cond_value": ["lots"]}, False),
    ({"conditions": [{"field": "nope", "op": "equals", "value": "x"}]}, {"cond_field": ["nope"]}, False),
    ({"requirements": {"skills": [{"skill": "product:auto", "min_level": 6}]}},
     {"req_skill": ["product:auto"], "req_level": ["6"]}, False),
    ({"requirements": {"skills": [{"skill": "product:auto", "min_level": 2}, {"skill": "product:auto", "min_level": 3}]}},
     {"req_skill": ["product:auto", "product:auto"], "req_level": ["2", "3"]}, False),
    ({"requirements": {"skills": [{"skill": "product:ghost", "min_level": 2}]}},
     {"req_skill": ["product:ghost"], "req_level": ["2"]}, False),
    ({"value_threshold": "0.001"}, {"value_threshold": "0.001"}, False),
    ({"fallback": [{"kind": "backup", "rep": "ana"}, {"kind": "holding"}]},
     {"fb_kind": ["backup", "holding"], "fb_pool": ["", ""], "fb_rep": ["REP", ""]}, True),
]  # fmt: skip


@pytest.mark.parametrize(("file_change", "editor_change", "accepted"), VERDICTS)
def test_the_importer_and_the_rule_editor_give_the_same_verdict(
    ops_client: Client, file_change: dict, editor_change: dict, accepted: bool
) -> None:  # fmt: skip
    config_import(demo_config())
    pool, rep = Pool.objects.get(name="Auto West"), Rep.objects.get(user__username="ana")
    editor_change = {k: [str(rep.id) if x == "REP" else x for x in v] if isinstance(v, list) else v
                     for k, v in editor_change.items()}  # fmt: skip
    response = ops_client.post("/ops/rules/new/", _editor_post(pool, rep, **editor_change))
    editor_accepted = response.status_code == 302
    doc = demo_config()
    doc["rules"].append({"name": "File rule", "priority": 5, "pool": "Auto West",
                         "conditions": [{"field": "country", "op": "equals", "value": "US"}],
                         "fallback": [{"kind": "holding"}], **file_change})  # fmt: skip
    try:
        config_import(doc, dry_run=True)
        file_accepted = True
    except ConfigImportError:
        file_accepted = False
    assert (file_accepted, editor_accepted) == (accepted, accepted), response.content.decode()[-3000:]


def test_restoring_a_version_the_editor_would_refuse_is_refused_and_named() -> None:
    from django.core.exceptions import ValidationError

    rule = RuleFactory(fallback=[{"kind": "holding"}, {"kind": "manager"}])  # saved before the check existed
    bad = rule.history.order_by("-history_id").first()
    rule.fallback = [{"kind": "holding"}]
    rule.save()
    with pytest.raises(ValidationError, match="Holding ends the chain"):
        services.rule_restore_version(rule=rule, history_id=bad.history_id)
    rule.refresh_from_db()
    assert rule.fallback == [{"kind": "holding"}]


# --- rules that can never match; a new rule lands above the catch-all ----------------------------


def test_a_new_rule_defaults_above_the_catch_all(ops_client: Client) -> None:
    pool = PoolFactory()
    RuleFactory(pool=pool, name="Specific", priority=10, conditions=[{"field": "country", "op": "equals", "value": "US"}])
    RuleFactory(pool=pool, name="Everything else", priority=90, conditions=[])
    html = ops_client.get("/ops/rules/new/").content.decode()
    assert 'name="priority" value="89"' in html


def test_the_rule_list_flags_rules_that_can_never_match(ops_client: Client) -> None:
    pool = PoolFactory()
    RuleFactory(pool=pool, name="Everything else", priority=90, conditions=[])
    RuleFactory(pool=pool, name="Too late", priority=100, conditions=[{"field": "country", "op": "equals", "value": "US"}])
    RuleFactory(pool=pool, name="Impossible", priority=10, conditions=[
        {"field": "value", "op": "gt", "value": 100}, {"field": "value", "op": "lt", "value": 50}])  # fmt: skip
    RuleFactory(pool=pool, name="Fine", priority=20, conditions=[{"field": "country", "op": "equals", "value": "CA"}])
    html = ops_client.get("/ops/rules/").content.decode()
    assert "Never matches: below the catch-all &#x27;Everything else&#x27;" in html
    assert "Never matches: its conditions contradict each other: no value is inside the range the conditions allow" in html
    assert html.count("Never matches:") == 2


def test_a_rep_form_refuses_a_manager_cycle_and_an_ops_login(ops_client: Client) -> None:
    a = RepFactory(display_name="Ana")
    b = RepFactory(display_name="Bob", manager=a)
    a_post = {"display_name": "Ana", "tier": "2", "timezone": "UTC", "working_hours": "{}", "active": "on",
              "manager": str(b.id), "email": "ana@example.com"}  # fmt: skip
    formsets = {f"{p}-{k}": "0" for p in ("repskill", "licence", "absence") for k in ("TOTAL_FORMS", "INITIAL_FORMS")}
    response = ops_client.post(f"/ops/reps/{a.id}/", {**a_post, **formsets})
    assert response.status_code == 200 and "Managers would form a cycle" in response.content.decode()
    assert Rep.objects.get(pk=a.pk).manager_id is None
    ops = User.objects.create(username="olga")
    ops.groups.add(Group.objects.get_or_create(name="Sales Ops")[0])
    response = ops_client.post("/ops/reps/new/", {**a_post, "manager": "", "username": "olga", **formsets})
    assert response.status_code == 200 and "not a rep" in response.content.decode()
    assert not Rep.objects.filter(user=ops).exists()


# --- the admin's raw JSON boxes go through the same check ------------------------------------------


@pytest.mark.parametrize(("field", "text", "named"), [
    ("conditions", '[{"field": "value", "op": "gte", "value": NaN}]', "NaN and infinity are refused"),
    ("conditions", '[{"field": "value", "op": "gte", "value": 1e999}]', "NaN and infinity are refused"),
    ("conditions", '[{"field": "state", "op": "equals", "value": "\\ud800"}]', "lone surrogate"),
    ("fallback", '[{"kind": "holding"}, {"kind": "manager"}]', "Holding ends the chain"),
    ("fallback", '[{"kind": "relax"}]', "A relax step needs a relaxation order"),
    ("fallback", '[{"kind": "pool", "target_id": 999999}]', "Choose the pool to fall back to"),
    ("requirements", '{"licence": "yes"}', "expected true or false"),
])  # fmt: skip
def test_the_admin_rule_form_refuses_what_the_editor_refuses(client: Client, field: str, text: str, named: str) -> None:
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-for-tests-123"))
    pool = PoolFactory()
    data = {"name": "Admin rule", "priority": "5", "enabled": "on", "pool": str(pool.id), "strategy": "weighted_fair",
            "conditions": "[]", "requirements": "{}", "fallback": "[]", "relaxation": "[]", "value_threshold": "",
            "high_value_min_tier": "", "reroute_on_escalation": "on", field: text}  # fmt: skip
    response = client.post("/admin/routing/rule/add/", data)
    assert response.status_code == 200 and named in response.content.decode()
    assert not Rule.objects.exists()
    assert client.post("/admin/routing/rule/add/", {**data, field: "[]" if field != "requirements" else "{}"}).status_code == 302
    assert Rule.objects.count() == 1


def test_the_admin_rep_form_refuses_a_manager_cycle_and_a_surrogate_in_working_hours(client: Client) -> None:
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-for-tests-123"))
    a = RepFactory(display_name="Ana")
    b = RepFactory(display_name="Bob", manager=a)
    data = {"user": str(a.user_id), "display_name": "Ana", "tier": "2", "timezone": "UTC", "working_hours": "{}",
            "active": "on", "manager": str(b.id), "repskill_set-TOTAL_FORMS": "0", "repskill_set-INITIAL_FORMS": "0",
            "skills-TOTAL_FORMS": "0", "skills-INITIAL_FORMS": "0", "licences-TOTAL_FORMS": "0", "licences-INITIAL_FORMS": "0"}  # fmt: skip
    response = client.post(f"/admin/reps/rep/{a.id}/change/", data)
    assert response.status_code == 200 and "Managers would form a cycle" in response.content.decode()
    response = client.post(f"/admin/reps/rep/{a.id}/change/", {**data, "manager": "", "working_hours": '{"\\ud800": []}'})
    assert response.status_code == 200 and "lone surrogate" in response.content.decode()
    a.refresh_from_db()
    assert a.manager_id is None and a.working_hours == {}
