"""The bench's worker processes: fresh `manage.py routeloop` processes on the test database."""

from __future__ import annotations

import pytest

from routing.bench import data, invariants
from routing.bench.workers import route_with_processes
from routing.models import Decision, Lead

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_worker_processes_route_every_pending_lead_and_report_each_batch() -> None:
    config = data.build_config(reps=10, rules=2, max_open=50)
    data.make_leads(config, 60, prefix="workers")

    result = route_with_processes(2, batch=7)

    assert result.routed == 60
    assert len(result.batch_seconds_per_lead) >= 60 // 7
    assert not Lead.objects.filter(status=Lead.Status.PENDING).exists()
    assert Decision.objects.count() == 60
    assert invariants.check(expected_leads=60) == []


def test_workers_route_what_arrives_while_the_work_runs_and_stop_when_nothing_is_pending() -> None:
    """``route_during`` (the bench's CSV phase): leads created by ``work`` in three waves are all
    routed by the running workers, and the call returns only once none is pending."""
    import time

    from routing.bench.workers import route_during

    config = data.build_config(reps=10, rules=2, max_open=50)

    def work() -> None:
        for wave in range(3):
            data.make_leads(config, 20, prefix=f"during-{wave}")
            time.sleep(0.3)

    def pending() -> int:
        return Lead.objects.filter(status=Lead.Status.PENDING).count()

    worked, total = route_during(2, work=work, pending=pending, batch=7)

    assert 0 < worked <= total
    assert pending() == 0
    assert Decision.objects.count() == 60
    assert invariants.check(expected_leads=60) == []
