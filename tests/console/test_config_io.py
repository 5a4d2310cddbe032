from __future__ import annotations

import copy
import datetime as dt
import json
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from reps.models import Pool, PoolMember, Rep, Skill, Territory
from routing.config_io import ConfigImportError, config_diff, config_export, config_import
from routing.models import Rule, Segment
from tests.factories import (
    AbsenceFactory, LicenceFactory, PoolFactory, PoolMemberFactory, RepFactory, RepSkillFactory,
    RuleFactory, SegmentFactory, SkillFactory, TeamFactory, TerritoryFactory,
)  # fmt: skip

pytestmark = pytest.mark.django_db


def demo_config() -> dict:
    return {
        "format": "leadops-config",
        "format_version": 1,
        "skills": [{"kind": "product", "code": "auto", "name": "Auto"}, {"kind": "language", "code": "es", "name": "Spanish"}],
        "teams": [{"name": "West"}],
        "territories": [
            {"name": "US", "country": "US"},
            {"name": "California", "parent": "US", "country": "us", "region": "ca"},
        ],
        "reps": [
            {"username": "ana", "email": "ana@example.com", "display_name": "Ana Ruiz", "tier": 3, "team": "West",
             "manager": "bob", "timezone": "America/Los_Angeles", "working_hours": {"mon": [["09:00", "17:00"]]},
             "max_open": 10, "skills": [{"skill": "product:auto", "level": 4}, {"skill": "language:es", "level": 5}],
             "territories": ["California"],
             "licences": [{"jurisdiction": "US-CA", "product_line": "auto", "valid_from": "2025-01-01", "valid_until": None}],
             "absences": [{"starts_at": "2030-01-01T00:00:00+00:00", "ends_at": "2030-01-05T00:00:00+00:00", "reason": "vacation"}]},
            {"username": "bob", "email": "bob@example.com", "display_name": "Bob Lee", "tier": 4},
        ],
        "pools": [
            {"name": "Auto West", "manager": "bob", "members": [{"rep": "ana", "weight": 3}]},
            {"name": "Spanish speakers", "dynamic_skill": "language:es", "dynamic_min_level": 3},
        ],
        "segments": [
            {"slug": "hot", "name": "Hot", "sla_minutes": 5, "order": 1,
             "conditions": [{"field": "intent", "op": "equals", "value": "high"}]},
            {"slug": "other", "name": "Other", "sla_minutes": 240, "order": 99, "is_default": True},
        ],
        "rules": [
            {"name": "Auto CA", "priority": 1, "pool": "Auto West", "strategy": "best_match",
             "conditions": [{"field": "product_line", "op": "equals", "value": "auto"},
                            {"field": "value", "op": "gte", "value": 1000}],
             "requirements": {"skills": [{"skill": "product:auto", "min_level": 2}], "licence": True},
             "value_threshold": "50000", "high_value_min_tier": 3,
             "fallback": [{"kind": "relax"}, {"kind": "pool", "pool": "Spanish speakers"},
                          {"kind": "backup", "rep": "bob"}, {"kind": "holding"}],
             "relaxation": ["language", "territory"]},
        ],
    }  # fmt: skip


def test_it_bootstraps_an_empty_database_and_creates_rep_accounts() -> None:
    result = config_import(demo_config())
    assert result.applied and sorted(result.users_created) == ["ana", "bob"]
    ana = Rep.objects.get(user__username="ana")
    assert not ana.user.has_usable_password()
    assert ana.user.groups.filter(name="Rep").exists()
    assert ana.manager.user.username == "bob"
    assert ana.skills.get(skill__code="auto").level == 4
    assert Territory.objects.get(name="California").parent.name == "US"
    rule = Rule.objects.get(name="Auto CA")
    assert rule.fallback[1] == {"kind": "pool", "target_id": Pool.objects.get(name="Spanish speakers").id}
    assert rule.fallback[2] == {"kind": "backup", "target_id": Rep.objects.get(user__username="bob").id}
    assert PoolMember.objects.get(pool__name="Auto West").weight == 3


def test_export_then_import_round_trips() -> None:
    config_import(demo_config())
    first = config_export()
    # Import into the same database changes nothing...
    assert config_import(copy.deepcopy(first)).changes == []
    assert config_export() == first
    # ... and into a fresh one gives the same export.
    Rule.objects.all().delete()
    Segment.objects.all().delete()
    assert config_import(copy.deepcopy(first)).changes  # the rules and segments come back
    assert config_export() == first


def test_round_trip_of_factory_built_configuration() -> None:
    rep = RepFactory(team=TeamFactory(), max_daily=5)
    RepSkillFactory(rep=rep, skill=SkillFactory(code="life"), level=2)
    LicenceFactory(rep=rep, valid_until=timezone.now().date() + dt.timedelta(days=30))
    AbsenceFactory(rep=rep)
    rep.territories.add(TerritoryFactory(region="NY"))
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=rep, weight=7)
    SegmentFactory(conditions=[{"field": "country", "op": "in", "value": ["US", "CA"]}])
    RuleFactory(pool=pool, fallback=[{"kind": "backup", "target_id": rep.id}, {"kind": "manager"}])
    exported = json.loads(json.dumps(config_export()))
    assert config_import(exported).changes == []
    assert config_export() == exported


def test_a_bad_import_changes_nothing_and_names_every_path() -> None:
    config_import(demo_config())
    before = config_export()
    bad = demo_config()
    bad["reps"][1]["display_name"] = "Robert"  # a valid change that must not be kept
    bad["rules"][0]["pool"] = "X"
    bad["rules"][0]["fallback"][2]["rep"] = "nobody"
    bad["reps"][0]["skills"][0]["level"] = 9
    with pytest.raises(ConfigImportError) as info:
        config_import(bad)
    assert "rules[0].pool: no pool named 'X'" in info.value.errors
    assert "rules[0].fallback[2].rep: no rep with username named 'nobody'" in info.value.errors
    assert any(e.startswith("reps[0].skills[0].level") for e in info.value.errors)
    assert config_export() == before


def test_database_level_errors_roll_back_the_whole_import() -> None:
    bad = demo_config()
    bad["reps"][1]["timezone"] = "Mars/Olympus"  # only the model's validator knows
    with pytest.raises(ConfigImportError) as info:
        config_import(bad)
    assert any(e.startswith("reps[1].timezone:") for e in info.value.errors)
    assert not User.objects.filter(username="ana").exists()
    assert not Skill.objects.exists() and not Rule.objects.exists()


def test_condition_errors_come_from_the_engine_validator() -> None:
    bad = demo_config()
    bad["segments"][0]["conditions"][0] = {"field": "nope", "op": "equals", "value": 1}
    with pytest.raises(ConfigImportError) as info:
        config_import(bad)
    assert any(e.startswith("segments[0].conditions[0]: Unknown field 'nope'") for e in info.value.errors)


def test_objects_missing_from_the_file_are_switched_off() -> None:
    config_import(demo_config())
    smaller = demo_config()
    smaller["rules"] = []
    smaller["pools"] = smaller["pools"][:1]
    changes = config_diff(config_export(), smaller)
    assert {"section": "rules", "key": "Auto CA", "action": "archive", "fields": []} in changes
    config_import(smaller)
    assert Rule.objects.get(name="Auto CA").archived
    assert not Pool.objects.get(name="Spanish speakers").active


def test_diff_lists_changed_fields() -> None:
    config_import(demo_config())
    changed = demo_config()
    changed["segments"][0]["sla_minutes"] = 15
    changed["skills"].append({"kind": "product", "code": "home", "name": "Home"})
    diff = config_import(changed, dry_run=True).changes
    assert {"section": "segments", "key": "hot", "action": "change", "fields": [("sla_minutes", 5, 15)]} in diff
    assert {"section": "skills", "key": "product:home", "action": "add", "fields": []} in diff
    assert Segment.objects.get(slug="hot").sla_minutes == 5  # dry run kept nothing
    assert not Skill.objects.filter(code="home").exists()


def test_history_records_the_importing_user() -> None:
    ops = User.objects.create(username="ops")
    config_import(demo_config(), user=ops)
    assert Rule.history.filter(name="Auto CA").latest().history_user == ops


def test_commands_export_and_import(tmp_path) -> None:  # noqa: ANN001
    config_import(demo_config())
    path = tmp_path / "config.json"
    call_command("exportconfig", "--output", str(path), stderr=StringIO())
    assert json.loads(path.read_text())["rules"][0]["name"] == "Auto CA"
    data = json.loads(path.read_text())
    data["segments"][0]["sla_minutes"] = 7
    path.write_text(json.dumps(data))
    out = StringIO()
    call_command("importconfig", str(path), "--dry-run", stdout=out)
    assert "sla_minutes: 5 -> 7" in out.getvalue()
    assert Segment.objects.get(slug="hot").sla_minutes == 5
    call_command("importconfig", str(path), stdout=StringIO())
    assert Segment.objects.get(slug="hot").sla_minutes == 7
    data["rules"][0]["pool"] = "X"
    path.write_text(json.dumps(data))
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("importconfig", str(path), stdout=StringIO(), stderr=StringIO())


def test_an_existing_account_becomes_a_rep_with_the_rep_role() -> None:
    User.objects.create(username="bob", email="old@example.com")
    result = config_import(demo_config())
    assert result.users_created == ["ana"]
    bob = User.objects.get(username="bob")
    assert bob.rep.display_name == "Bob Lee" and bob.groups.filter(name="Rep").exists()
