"""What-if replay (background, writes nothing but its job row) and capacity now."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from reps.models import RepLoad
from reps.selectors import AWAY_UNTIL_BACK
from routing.dashboards.models import ReplayJob
from routing.models import Decision, Lead, Offer, Rule
from routing.services import leads_route_all_pending
from tests.dashboards.helpers import noon
from tests.factories import (
    AbsenceFactory,
    LeadFactory,
    PoolFactory,
    PoolMemberFactory,
    RepFactory,
    RepSkillFactory,
    RuleFactory,
    SkillFactory,
)


@pytest.fixture
def routed_history(db):  # noqa: ANN001, ANN201
    pool = PoolFactory(name="Inbound")
    ann, bob = RepFactory(display_name="Ann"), RepFactory(display_name="Bob")
    RepSkillFactory(rep=ann, skill=SkillFactory(code="auto"))
    PoolMemberFactory(pool=pool, rep=ann)
    PoolMemberFactory(pool=pool, rep=bob)
    rule = RuleFactory(pool=pool, name="Everyone")
    for _ in range(4):
        LeadFactory(received_at=noon(1))
    leads_route_all_pending(now=noon(1))
    return pool, ann, bob, rule


def test_replay_projects_the_draft_rules_without_touching_leads(
    ops_client: Client, routed_history, django_capture_on_commit_callbacks  # noqa: ANN001
) -> None:
    pool, ann, bob, rule = routed_history
    # Draft edit (not published): only reps with product:auto, i.e. Ann.
    Rule.objects.filter(id=rule.id).update(requirements={"skills": [{"skill": "product:auto"}]})
    before = (Decision.objects.count(), Offer.objects.count(), list(Lead.objects.values_list("id", "status", "owner_id")))
    day = noon(1).date().isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post("/dash/replay/", {"start": day, "end": day, "pool": pool.id})
    job = ReplayJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/dash/replay/{job.id}/"
    assert job.status == ReplayJob.Status.DONE, job.error
    reps = {r["name"]: r for r in job.result["reps"]}
    assert reps["Ann"]["projected"] == 4 and reps["Bob"]["projected"] == 0
    assert reps["Ann"]["actual"] == 2 and reps["Bob"]["actual"] == 2
    # Under the draft only Ann could take these leads: her fair count is all 4, Bob's 0.
    assert reps["Ann"]["projected_expected"] == 4.0 and reps["Bob"]["projected_expected"] == 0.0
    assert job.result["changed"] == 2 and job.done == job.total == 4
    after = (Decision.objects.count(), Offer.objects.count(), list(Lead.objects.values_list("id", "status", "owner_id")))
    assert after == before

    html = ops_client.get(f"/dash/replay/{job.id}/").content.decode()
    assert "<svg" in html and 'id="replay-table"' in html and "every 1s" not in html


def test_replay_reports_sla_risk_when_draft_rules_leave_leads_unassigned(
    ops_client: Client, routed_history, django_capture_on_commit_callbacks  # noqa: ANN001
) -> None:
    _, ann, bob, rule = routed_history
    Rule.objects.filter(id=rule.id).update(requirements={"skills": [{"skill": "product:boats"}]})
    day = noon(1).date().isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        ops_client.post("/dash/replay/", {"start": day, "end": day})
    job = ReplayJob.objects.get()
    assert job.result["holding"] == {"actual": 0, "projected": 4}
    assert job.result["segments"][0]["risk"] == 1.0


def test_running_replay_fragment_keeps_polling_and_stops_when_done(ops_client: Client) -> None:
    job = ReplayJob.objects.create(start=noon(1).date(), end=noon(1).date(), status=ReplayJob.Status.RUNNING, total=10, done=4)
    html = ops_client.get(f"/dash/replay/{job.id}/", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in html and html.strip().startswith('<div id="replay-progress"')
    assert 'hx-trigger="every 1s"' in html and 'value="40"' in html
    ReplayJob.objects.filter(id=job.id).update(status=ReplayJob.Status.DONE, done=10)
    html = ops_client.get(f"/dash/replay/{job.id}/", headers={"HX-Request": "true"}).content.decode()
    assert "every 1s" not in html and 'value="100"' in html


def test_replay_form_rejects_an_inverted_window(ops_client: Client) -> None:
    response = ops_client.post("/dash/replay/", {"start": "2026-02-02", "end": "2026-02-01"})
    assert response.status_code == 200 and "must not be after" in response.content.decode()
    assert not ReplayJob.objects.exists()


def test_running_a_replay_task_twice_is_harmless(routed_history) -> None:  # noqa: ANN001
    from routing.dashboards.tasks import replay_run

    job = ReplayJob.objects.create(start=noon(1).date(), end=noon(1).date())
    replay_run(job.id)
    job.refresh_from_db()
    first = (job.status, job.result, job.finished_at)
    replay_run(job.id)
    job.refresh_from_db()
    assert (job.status, job.result, job.finished_at) == first


@pytest.mark.django_db
def test_capacity_shows_load_against_caps_and_who_is_away(ops_client: Client) -> None:
    now = dt.datetime.now(dt.UTC)
    busy = RepFactory(display_name="Busy Bee", max_open=2, max_daily=5)
    RepLoad.objects.create(rep=busy, open_count=2, day=now.date(), daily_count=3)
    away = RepFactory(display_name="Away Amy")
    AbsenceFactory(rep=away)
    RepFactory(display_name="Free Fred")
    RepFactory(display_name="Gone Gus", away_until=AWAY_UNTIL_BACK)  # "away now", until he comes back
    LeadFactory(status=Lead.Status.HOLDING, received_at=now - dt.timedelta(hours=3))
    html = ops_client.get("/dash/capacity/").content.decode()
    assert "2 / 2" in html and "3 / 5" in html and "at cap" in html
    assert "away until" in html and "available" in html
    assert "away until they come back" in html and "9000" not in html
    assert "Holding pool: <strong>1</strong>" in html


@pytest.mark.django_db
def test_capacity_query_count_does_not_grow_with_reps(ops_client: Client, django_assert_num_queries) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        AbsenceFactory(rep=RepFactory())
    with CaptureQueriesContext(connection) as ctx:
        ops_client.get("/dash/capacity/")
    for _ in range(20):
        AbsenceFactory(rep=RepFactory(max_open=3))
    with django_assert_num_queries(len(ctx.captured_queries)):
        ops_client.get("/dash/capacity/")


def test_replay_decides_with_the_routing_batch_code_and_reports_a_lead_routing_would_quarantine(
    routed_history, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    """Replay runs ``routing.batch.decide_batch``, the decide step of every routing batch: an
    engine fault on one lead shows as "(routing failed)" there, as routing would quarantine it."""
    from routing import engine
    from routing.dashboards.tasks import replay_run

    pool, ann, bob, rule = routed_history
    bad = Lead.objects.order_by("id").first()
    real = engine.route

    def route(lead, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if lead.id == bad.id:
            raise ZeroDivisionError("engine bug")
        return real(lead, *args, **kwargs)

    monkeypatch.setattr(engine, "route", route)
    day = noon(1).date()
    job = ReplayJob.objects.create(start=day, end=day)
    replay_run(job.id)
    job.refresh_from_db()
    assert job.status == ReplayJob.Status.DONE, job.error
    segments = {s["segment"]: s for s in job.result["segments"]}
    assert segments["(routing failed)"]["leads"] == 1
    assert sum(r["projected"] for r in job.result["reps"]) == 3


def test_replay_restarts_daily_caps_each_local_day(db) -> None:  # noqa: ANN001
    from routing.dashboards.tasks import replay_run

    pool = PoolFactory()
    capped = RepFactory(display_name="Capped", max_daily=1)
    PoolMemberFactory(pool=pool, rep=capped)
    RuleFactory(pool=pool)
    for day in (1, 2):
        for hour in (0, 1):
            LeadFactory(received_at=noon(day) + dt.timedelta(hours=hour))
    job = ReplayJob.objects.create(start=noon(2).date(), end=noon(1).date())
    replay_run(job.id)
    job.refresh_from_db()
    rows = {r["name"]: r for r in job.result["reps"]}
    assert rows["Capped"]["projected"] == 2  # one per day: the cap, each day
    assert job.result["holding"]["projected"] == 2
