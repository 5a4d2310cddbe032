"""Fault injection (CI size): 4 routing processes, SIGKILLed at random mid-batch, must lose
nothing, double-assign nothing, exceed no cap and keep every counter exact.

The full-size run (100,000 leads, plus a PostgreSQL restart) is `manage.py bench --faults`.
"""

from __future__ import annotations

import pytest

from routing.bench import data, invariants
from routing.bench.workers import route_with_faults
from routing.models import Lead

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_killing_workers_mid_batch_loses_no_lead_and_breaks_no_invariant() -> None:
    # 40 reps x 30 open leads = 1,200 places for 2,000 leads: caps bind and the rest waits.
    config = data.build_config(reps=40, rules=4, max_open=30, max_daily=45)
    data.make_leads(config, 2000, prefix="fault")

    result = route_with_faults(
        4, pending=lambda: Lead.objects.filter(status=Lead.Status.PENDING).count(),
        batch=25, kill_every=(0.05, 0.4), max_kills=6, timeout=240,
    )  # fmt: skip

    assert result.kills >= 1
    assert invariants.check(expected_leads=2000) == []
    assert Lead.objects.filter(status=Lead.Status.OFFERED).count() == 1200
    assert Lead.objects.filter(status=Lead.Status.HOLDING).count() == 800


def test_the_invariant_check_catches_a_broken_counter() -> None:
    """The checker itself can fail: a counter that drifted from reality is reported."""
    from reps.models import RepLoad
    from routing.services import leads_route_all_pending

    config = data.build_config(reps=4, rules=2, max_open=5)
    data.make_leads(config, 10, prefix="drift")
    leads_route_all_pending()
    assert invariants.check(expected_leads=10) == []
    load = RepLoad.objects.order_by("rep_id").first()
    load.open_count += 1
    load.save(update_fields=["open_count"])
    assert any("open_count" in problem for problem in invariants.check(expected_leads=10))
