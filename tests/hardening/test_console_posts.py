"""Console writes as Sales Ops: junk is refused with an error on the field and leaves every table as it was."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reps.models import Pool, PoolMember, Rep
from routing.models import Rule, Segment
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, SegmentFactory, SkillFactory
from tests.hardening.conftest import row_counts

pytestmark = pytest.mark.django_db
NUL_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=30).map(lambda s: s + "\x00")
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def rule_post(rule_pool: Pool, **extra: object) -> dict:
    data = {
        "name": "Insurance CA", "priority": "5", "enabled": "on", "pool": str(rule_pool.id), "strategy": "weighted_fair",
        "value_threshold": "", "high_value_min_tier": "", "reroute_on_escalation": "on", "req_min_tier": "",
        "cond_field": ["state"], "cond_op": ["equals"], "cond_value": ["CA"],
        "fb_kind": ["holding"], "fb_pool": [""], "fb_rep": [""], "action": "save",
    }  # fmt: skip
    data.update(extra)
    return data


def rejected(client: Client, url: str, data: dict, *, errors_on: str) -> str:
    """POST, expect a re-rendered form (200/400/422) whose errors mention ``errors_on``; nothing written."""
    before = row_counts()
    response = client.post(url, data)
    assert response.status_code in (200, 400, 422), (url, response.status_code)
    html = response.content.decode()
    assert errors_on in html, f"{errors_on!r} not named in the response to {url}"
    assert row_counts() == before, f"{url} wrote rows although it refused the input"
    return html


# --- rule editor ---------------------------------------------------------------------------


@pytest.mark.parametrize(("extra", "named"), [
    ({"name": ""}, "This field is required"),
    ({"name": "x" * 500}, "at most 120 characters"),
    ({"name": "bad\x00name"}, "Null characters are not allowed"),
    ({"priority": "-5"}, "greater than or equal to 0"),
    ({"priority": "abc"}, "Enter a whole number"),
    ({"priority": "99999999999999999999"}, "less than or equal to"),
    ({"pool": "abc"}, "Select a valid choice"),
    ({"pool": "99999999999999999999"}, "Select a valid choice"),
    ({"strategy": "random\x00"}, "Select a valid choice"),
    ({"value_threshold": "1e400"}, "no more than 14 digits"),
    ({"value_threshold": "NaN"}, "Enter a number"),
    ({"value_threshold": "123456789012345678"}, "no more than"),
    ({"high_value_min_tier": "9"}, "Select a valid choice"),
    ({"cond_value": ["CA\x00"]}, "NUL"),
    ({"cond_field": ["state\x00"], "cond_value": ["CA"]}, "cond_field"),
    ({"cond_field": ["value"], "cond_op": ["gte"], "cond_value": ["lots"]}, "number"),
    ({"cond_field": ["value"], "cond_op": ["between"], "cond_value": ["1e999999, 2"]}, "between"),
    ({"cond_op": ["explode"]}, "cond_op"),
    ({"fb_kind": ["pool"], "fb_pool": ["²"]}, "Choose the pool to fall back to"),
    ({"fb_kind": ["backup"], "fb_rep": ["99999999999999999999"]}, "Choose the backup rep"),
    ({"fb_kind": ["holding", "manager"], "fb_pool": ["", ""], "fb_rep": ["", ""]}, "Holding ends the chain"),
    ({"fb_kind": ["\x00"]}, "NUL"),
    ({"fb_kind": ["elsewhere"]}, "unknown fallback"),
    ({"req_skill": ["nope:nope"], "req_level": ["3"]}, "no skill &#x27;nope:nope&#x27;"),
    ({"req_skill": [""], "req_level": ["3"]}, "skill: is required"),
    ({"req_skill": ["product:auto"], "req_level": ["9"]}, "must be at most 5"),
    ({"relax": ["language", "language"]}, "listed twice"),
    ({"relax": ["\x00"]}, "NUL"),
    ({"relax": ["mood"]}, "unknown value"),
    ({"fb_kind": ["relax", "holding"], "fb_pool": ["", ""], "fb_rep": ["", ""]}, "A relax step needs a relaxation order"),
])  # fmt: skip
def test_rule_editor_refuses_junk_with_a_named_error(ops_client: Client, extra: dict, named: str) -> None:
    pool = PoolFactory()
    rule = RuleFactory(pool=pool, name="Existing")
    rejected(ops_client, "/ops/rules/new/", rule_post(pool, **extra), errors_on=named)
    rejected(ops_client, f"/ops/rules/{rule.id}/", rule_post(pool, **extra), errors_on=named)
    assert Rule.objects.get().name == "Existing"


def test_rule_editor_with_missing_fields_and_ragged_rows_does_not_fail(ops_client: Client) -> None:
    pool = PoolFactory()
    for data in ({}, {"action": "save"}, {"action": "remove_condition:²"}, {"action": "fallback_up:-1"},
                 {"action": "\x00"}, {"cond_field": ["a", "b", "c"], "cond_op": ["equals"], "action": "save"},
                 {"req_skill": ["x", "y"], "req_level": ["\x00"], "action": "save"},
                 {"fb_kind": ["pool", "backup"], "action": "save"}):  # fmt: skip
        before = row_counts()
        response = ops_client.post("/ops/rules/new/", data)
        assert response.status_code == 200, data
        assert row_counts() == before
    response = ops_client.post("/ops/rules/new/", rule_post(pool, fb_kind=["pool"]))  # fb_pool list shorter: no KeyError
    assert response.status_code < 500


@FUZZ
@given(field=st.sampled_from(["name", "cond_value", "relax", "fb_pool", "req_level", "value_threshold"]), text=NUL_TEXT)
def test_rule_editor_never_stores_a_nul(ops_client: Client, field: str, text: str) -> None:
    pool = Pool.objects.first() or PoolFactory()
    skill = SkillFactory(code="life")
    before = row_counts()
    data = rule_post(pool, **{field: [text] if field in ("cond_value", "relax", "fb_pool", "req_level") else text})
    data.update({"req_skill": [skill.key], "req_level": data.get("req_level", ["3"])} if field == "req_level" else {})
    data.update({"fb_kind": ["pool"]} if field == "fb_pool" else {})
    response = ops_client.post("/ops/rules/new/", data)
    assert response.status_code == 200
    assert row_counts() == before


@FUZZ
@given(text=st.text(max_size=60))
def test_rule_conditions_accept_any_printable_unicode(ops_client: Client, text: str) -> None:
    """Anything without a NUL is either saved as typed (stripped) or refused with a named error."""
    pool = Pool.objects.first() or PoolFactory()
    Rule.objects.all().delete()
    response = ops_client.post("/ops/rules/new/", rule_post(pool, cond_value=[text]))
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert Rule.objects.get().conditions[0]["value"] == text.strip()


# --- versions, history, test-a-lead ----------------------------------------------------------


def test_publish_note_is_validated(ops_client: Client) -> None:
    RuleFactory()
    for note in ("x" * 500, "why\x00"):
        rejected(ops_client, "/ops/versions/", {"note": note}, errors_on="note")


def test_rule_history_survives_odd_digits(ops_client: Client) -> None:
    from django.test import Client as DjangoClient

    rule = RuleFactory()
    client = DjangoClient(raise_request_exception=False)
    client.cookies = ops_client.cookies
    for raw in ("²", "١٢", "99999999999999999999", "-1"):
        assert client.get(f"/ops/rules/{rule.id}/history/", {"version": raw, "against": raw}).status_code == 200, raw


DEEP = "[" * 20_000 + "]" * 20_000  # past the recursion limit, under the 64 KB cap


@pytest.mark.parametrize("lead_json", [
    DEEP, '{"value": 1e400}', '{"value": NaN}', '{"value": "lots"}', '{"value": [1]}', '{"fit_score": "x"}',
    '{"state": "\\u0000"}', '{"attributes": "x"}', '{"country": 12}', "[1, 2]", '{"intent": {"a": 1}}',
    '{"received_at": "2026-13-45"}', '{"language": null}', '"' + "x" * 10_000 + '"',
])  # fmt: skip
def test_test_a_lead_refuses_odd_json_without_a_500(ops_client: Client, lead_json: str) -> None:
    RuleFactory()
    before = row_counts()
    response = ops_client.post("/ops/test/", {"mode": "draft", "lead_json": lead_json})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Lead JSON" in html or "cannot be routed" in html
    assert row_counts() == before


@pytest.mark.parametrize(("extra", "named"), [
    ({"mode": "weird"}, "mode"), ({"value": "-1"}, "value"), ({"value": "1e400"}, "value"),
    ({"fit_score": "101"}, "fit_score"), ({"recent_lead": "999999999999999999999"}, "recent_lead"),
    ({"attributes": "[1]"}, "Attributes are a JSON object"), ({"attributes": DEEP}, "nested too deeply"),
    ({"attributes": '{"a": "\\u0000"}'}, "NUL"), ({"country": "USA"}, "country"), ({"state": "\x00"}, "state"),
])  # fmt: skip
def test_test_a_lead_form_fields_name_their_errors(ops_client: Client, extra: dict, named: str) -> None:
    response = ops_client.post("/ops/test/", {"mode": "draft", **extra})
    assert response.status_code == 200
    assert named in response.context["form"].errors or named in response.content.decode()


# --- everything a rule refers to -----------------------------------------------------------

EMPTY_REP_SETS = {f"{p}-{k}": v for p in ("repskill", "licence", "absence") for k, v in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))}


def rep_post(**extra: object) -> dict:
    return {"username": "carla", "email": "carla@example.com", "display_name": "Carla", "tier": "2",
            "timezone": "UTC", "working_hours": "", "active": "on", **EMPTY_REP_SETS, **extra}  # fmt: skip


@pytest.mark.parametrize(("extra", "named"), [
    # The weekly hours grid: working_hours_<n>, n = (day * 2 + shift) * 2 + (0 from | 1 to).
    ({"working_hours_0": "09:00", "working_hours_1": ""}, "give both times as HH:MM"),
    ({"working_hours_0": "9am", "working_hours_1": "17:00"}, "give both times as HH:MM"),
    ({"working_hours_4": "09:00", "working_hours_5": "09:00"}, "starts and ends at 09:00"),
    ({"working_hours_0": "09:00\x00", "working_hours_1": "17:00"}, "Null characters"),
    ({"working_hours_0": "[" * 70_000, "working_hours_1": "17:00"}, "give both times as HH:MM"),
    ({"max_open": "-1"}, "greater than or equal to 0"),
    ({"max_daily": "99999999999999999999"}, "less than or equal to"),
    ({"max_weekly": "lots"}, "Enter a whole number"),
    ({"timezone": "Mars/Base"}, "Select a valid choice"),
    ({"timezone": "UTC\x00"}, "Select a valid choice"),
    ({"username": "has space"}, "username"),
    ({"username": ""}, "A new rep needs a username"),
    ({"email": "nope"}, "Enter a valid email"),
    ({"tier": "77"}, "Select a valid choice"),
    ({"territories": ["abc"]}, "territories"),
    ({"repskill-TOTAL_FORMS": "abc"}, "ManagementForm data is missing or has been tampered with"),
    ({"repskill-TOTAL_FORMS": "100000"}, "Please submit at most 100 forms"),
    ({"licence-TOTAL_FORMS": "1", "licence-0-jurisdiction": "US-CA", "licence-0-product_line": "life",
      "licence-0-valid_from": "2026-05-01", "licence-0-valid_until": "2026-01-01"}, "licence_valid_range"),
    ({"absence-TOTAL_FORMS": "1", "absence-0-starts_at": "2026-05-02T09:00", "absence-0-ends_at": "2026-05-01T09:00",
      "absence-0-reason": "vacation"}, "absence_ends_after_start"),
    ({"absence-TOTAL_FORMS": "1", "absence-0-starts_at": "2026-13-45T99:00", "absence-0-ends_at": "x",
      "absence-0-reason": "vacation"}, "Enter a valid date/time"),
])  # fmt: skip
def test_rep_form_refuses_junk(ops_client: Client, extra: dict, named: str) -> None:
    rejected(ops_client, "/ops/reps/new/", rep_post(**extra), errors_on=named)
    if "username" not in extra:
        rep = RepFactory(display_name="Dan")
        rejected(ops_client, f"/ops/reps/{rep.id}/", rep_post(**extra), errors_on=named)
        rep.refresh_from_db()
        assert rep.display_name == "Dan"


def test_a_duplicate_rep_username_is_refused(ops_client: Client) -> None:
    RepFactory(user__username="carla")
    rejected(ops_client, "/ops/reps/new/", rep_post(), errors_on="already belongs to a rep")


def test_a_rep_skill_listed_twice_is_refused(ops_client: Client) -> None:
    skill = SkillFactory()
    data = rep_post(**{"repskill-TOTAL_FORMS": "2", "repskill-0-skill": str(skill.id), "repskill-0-level": "3",
                       "repskill-1-skill": str(skill.id), "repskill-1-level": "9"})  # fmt: skip
    rejected(ops_client, "/ops/reps/new/", data, errors_on="Ensure this value is less than or equal to 5")
    data["repskill-1-level"] = "2"
    rejected(ops_client, "/ops/reps/new/", data, errors_on="Please correct the duplicate data")


def _pool_post(**extra: object) -> dict:
    return {"name": "P2", "active": "on", "dynamic_min_level": "1", "dynamic_weight": "1",
            "poolmember-TOTAL_FORMS": "0", "poolmember-INITIAL_FORMS": "0", **extra}  # fmt: skip


def test_pool_form_refuses_negative_huge_and_duplicate_weights(ops_client: Client) -> None:
    PoolFactory(name="Taken")
    rep = RepFactory()
    member = {"poolmember-TOTAL_FORMS": "1", "poolmember-0-rep": str(rep.id)}
    rejected(ops_client, "/ops/pools/new/", _pool_post(name="Taken"), errors_on="Pool with this Name already exists")
    rejected(ops_client, "/ops/pools/new/", _pool_post(**member, **{"poolmember-0-weight": "-3"}), errors_on="greater than or equal to")
    rejected(ops_client, "/ops/pools/new/", _pool_post(**member, **{"poolmember-0-weight": "5000"}), errors_on="must be at most 1000")
    rejected(ops_client, "/ops/pools/new/", _pool_post(dynamic_weight="0"), errors_on="must be at least 1")
    rejected(ops_client, "/ops/pools/new/", _pool_post(dynamic_min_level="9"), errors_on="must be at most 5")
    twice = {"poolmember-TOTAL_FORMS": "2", "poolmember-0-rep": str(rep.id), "poolmember-0-weight": "1",
             "poolmember-1-rep": str(rep.id), "poolmember-1-weight": "2"}  # fmt: skip
    rejected(ops_client, "/ops/pools/new/", _pool_post(**twice), errors_on="Please correct the duplicate data")


def test_editing_a_pool_with_a_bad_member_row_keeps_the_pool_as_it_was(ops_client: Client) -> None:
    pool = PoolFactory(name="Keep")
    member = PoolMemberFactory(pool=pool, weight=3)
    data = _pool_post(name="Renamed", **{"poolmember-TOTAL_FORMS": "2", "poolmember-INITIAL_FORMS": "1",
                                         "poolmember-0-id": str(member.id), "poolmember-0-rep": str(member.rep_id),
                                         "poolmember-0-weight": "7", "poolmember-1-rep": "abc",
                                         "poolmember-1-weight": "1"})  # fmt: skip
    rejected(ops_client, f"/ops/pools/{pool.id}/", data, errors_on="Select a valid choice")
    assert Pool.objects.get().name == "Keep" and PoolMember.objects.get().weight == 3


def _segment_post(**extra: object) -> dict:
    return {"slug": "hot", "name": "Hot", "sla_minutes": "5", "accept_fraction": "0.5", "priority": "1",
            "order": "1", "cond_field": ["intent"], "cond_op": ["equals"], "cond_value": ["high"], "action": "save",
            **extra}  # fmt: skip


@pytest.mark.parametrize(("extra", "named"), [
    ({"slug": "taken"}, "Segment with this Slug already exists"), ({"slug": "not a slug"}, "slug"),
    ({"sla_minutes": "-5"}, "greater than or equal to"), ({"accept_fraction": "inf"}, "Enter a number"),
    ({"accept_fraction": "2"}, "must be at most 1"), ({"cond_value": ["hi\x00"]}, "NUL"),
    ({"cond_op": ["gte"], "cond_value": ["x"]}, "number"), ({"order": "-1"}, "greater than or equal to 0"),
    ({"is_default": "on", "slug": "second"}, "default"),
])  # fmt: skip
def test_segment_form_refuses_junk(ops_client: Client, extra: dict, named: str) -> None:
    SegmentFactory(slug="taken", is_default=True)
    rejected(ops_client, "/ops/segments/new/", _segment_post(**extra), errors_on=named)


def test_territory_and_skill_forms_refuse_junk(ops_client: Client) -> None:
    from tests.factories import TerritoryFactory

    parent = TerritoryFactory(name="West")
    child = TerritoryFactory(name="Cal", parent=parent)
    rejected(ops_client, f"/ops/territories/{parent.id}/", {"name": "West", "country": "US", "parent": str(child.id)},
             errors_on="cannot be its own ancestor")  # fmt: skip
    rejected(ops_client, "/ops/territories/new/", {"name": "West", "country": "US"}, errors_on="already exists")
    rejected(ops_client, "/ops/territories/new/", {"name": "X", "country": "Narnia"}, errors_on="Unknown country")
    rejected(ops_client, "/ops/territories/new/", {"name": "X", "country": "x" * 101}, errors_on="at most 100 characters")
    SkillFactory(kind="product", code="home")
    rejected(ops_client, "/ops/skills/new/", {"kind": "product", "code": "home", "name": "Home"}, errors_on="already exists")
    rejected(ops_client, "/ops/skills/new/", {"kind": "magic", "code": "x y", "name": "\x00"}, errors_on="Select a valid choice")


def test_object_search_with_a_nul_is_a_400_naming_the_field(ops_client: Client) -> None:
    response = ops_client.get("/ops/reps/", {"q": "a\x00"})
    assert response.status_code == 400
    assert "q" in response.content.decode() and "Null characters" in response.content.decode()
    assert ops_client.get("/ops/reps/", {"q": "💥" * 50}).status_code == 200


def test_segment_condition_json_round_trips(ops_client: Client) -> None:
    assert ops_client.post("/ops/segments/new/", _segment_post(cond_value=["hôt 💥"])).status_code == 302
    assert Segment.objects.get().conditions == [{"field": "intent", "op": "equals", "value": "hôt 💥"}]
    assert json.dumps(Segment.objects.get().conditions)


def test_deactivating_twice_or_an_unknown_kind_is_harmless(ops_client: Client) -> None:
    rep = RepFactory()
    assert ops_client.post(f"/ops/reps/{rep.id}/deactivate/").status_code == 302
    assert ops_client.post(f"/ops/reps/{rep.id}/deactivate/").status_code == 302
    assert Rep.objects.get().active is False
