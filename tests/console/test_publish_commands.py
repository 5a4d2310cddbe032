"""Config as code in pipelines: ``importconfig --publish`` and ``publish`` (issue 17)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from routing.config_io import config_export
from routing.models import Rule, RuleSet
from tests.factories import PoolFactory, RuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def config_file(tmp_path):  # noqa: ANN001, ANN201
    RuleFactory(pool=PoolFactory(name="General"), name="Everyone", priority=5)
    path = tmp_path / "config.json"
    data = config_export()
    data["rules"][0]["priority"] = 3
    path.write_text(json.dumps(data))
    return path


def test_importconfig_publish_imports_and_publishes_in_one_go(config_file) -> None:  # noqa: ANN001
    out = StringIO()
    call_command("importconfig", str(config_file), "--publish", "--note", "deploy abc123", stdout=out)
    live = RuleSet.objects.get()
    assert "Published v1." in out.getvalue() and live.note == "deploy abc123"
    assert [r["priority"] for r in live.snapshot["rules"]] == [3]


def test_a_refused_import_publishes_nothing(config_file) -> None:  # noqa: ANN001
    data = json.loads(config_file.read_text())
    data["rules"][0]["pool"] = "Nope"
    config_file.write_text(json.dumps(data))
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("importconfig", str(config_file), "--publish", stdout=StringIO(), stderr=StringIO())
    assert not RuleSet.objects.exists() and Rule.objects.get().priority == 5


def test_publish_and_dry_run_together_are_refused(config_file) -> None:  # noqa: ANN001
    with pytest.raises(CommandError, match="contradict"):
        call_command("importconfig", str(config_file), "--publish", "--dry-run", stdout=StringIO())


def test_publish_prints_the_changes_and_if_changed_skips_an_identical_draft() -> None:
    rule = RuleFactory(pool=PoolFactory(), name="Everyone", priority=5)
    call_command("publish", stdout=StringIO())
    rule.priority = 4
    rule.save()
    out = StringIO()
    call_command("publish", "--if-changed", "--note", "ci", stdout=out)
    assert "priority: 5 -> 4" in out.getvalue() and "Published v2." in out.getvalue()
    out = StringIO()
    call_command("publish", "--if-changed", stdout=out)
    assert "Nothing to publish" in out.getvalue() and RuleSet.objects.count() == 2
