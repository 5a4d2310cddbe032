"""The what-if replay names each lead the draft would send to a different rep, and why."""

from __future__ import annotations

import pytest
from django.test import Client

from routing.dashboards.models import ReplayJob
from routing.models import Decision, Rule
from tests.dashboards.test_replay_capacity import routed_history  # noqa: F401 - the shared fixture
from tests.dashboards.helpers import noon
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, RuleFactory


def _replay(ops_client: Client, capture) -> ReplayJob:  # noqa: ANN001
    day = noon(1).date().isoformat()
    with capture(execute=True):
        ops_client.post("/dash/replay/", {"start": day, "end": day})
    job = ReplayJob.objects.get()
    assert job.status == ReplayJob.Status.DONE, job.error
    return job


def test_the_replay_lists_each_moved_lead_with_the_skip_reason(
    ops_client: Client, routed_history, django_capture_on_commit_callbacks  # noqa: ANN001, F811
) -> None:
    pool, ann, bob, rule = routed_history
    Rule.objects.filter(id=rule.id).update(requirements={"skills": [{"skill": "product:auto"}]})
    job = _replay(ops_client, django_capture_on_commit_callbacks)
    moved = {d.lead_id for d in Decision.objects.filter(chosen_rep=bob)}
    changes = job.result["changes"]
    assert {c["lead_id"] for c in changes} == moved and len(changes) == job.result["changed"] == 2
    assert all(c["actual"] == "Bob" and c["projected"] == "Ann" for c in changes)
    assert all(c["why"] == "Bob would be skipped: missing a required skill" for c in changes)
    html = ops_client.get(f"/dash/replay/{job.id}/").content.decode()
    table = html[html.index('id="replay-changes"'):]
    assert all(f"/dash/leads/{lead_id}/" in table for lead_id in moved) and "missing a required skill" in table


def test_the_replay_names_the_draft_rule_that_takes_a_lead_first(
    ops_client: Client, routed_history, django_capture_on_commit_callbacks  # noqa: ANN001, F811
) -> None:
    pool, ann, bob, rule = routed_history
    other = PoolFactory(name="Night shift")
    PoolMemberFactory(pool=other, rep=RepFactory(display_name="Nia"))
    RuleFactory(name="Night first", priority=1, pool=other)
    job = _replay(ops_client, django_capture_on_commit_callbacks)
    assert job.result["changed"] == 4
    assert {c["why"] for c in job.result["changes"]} == {"the draft rule “Night first” matches it before “Everyone”"}
    assert {c["projected"] for c in job.result["changes"]} == {"Nia"}


@pytest.fixture(autouse=True)
def _db(db) -> None:  # noqa: ANN001
    return None
