"""Concurrency proofs on PostgreSQL: duplicates, many workers routing at once, tight caps."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import close_old_connections, connection, connections
from django.db.models import Count
from django.utils import timezone

from reps.models import FairnessState, RepLoad
from routing import services
from routing.models import Decision, Lead, Offer
from tests.factories import LeadFactory, PoolFactory, PoolMemberFactory, RepFactory, RuleFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _in_thread(fn):  # noqa: ANN001, ANN202
    def run(*args):  # noqa: ANN002, ANN202
        try:
            return fn(*args)
        finally:
            connections.close_all()

    return run


def test_concurrent_duplicate_posts_create_one_lead() -> None:
    barrier = threading.Barrier(8)
    data = {"source": "web", "external_id": "dup-1", "email": "d@example.com"}

    @_in_thread
    def submit(_: int) -> tuple[int, bool]:
        close_old_connections()
        barrier.wait()
        lead, created = services.lead_intake(data=dict(data))
        return lead.id, created

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(submit, range(8)))
    assert Lead.objects.count() == 1
    assert len({lead_id for lead_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1


@pytest.mark.parametrize("narrow", [True, False], ids=["narrow locks", "every row locked"])
def test_2000_leads_through_4_workers_never_double_assign_or_exceed_caps(settings, narrow: bool) -> None:  # noqa: ANN001
    """Route 2,000 leads with 4 concurrent workers into two pools with tight caps, with narrow
    locks (the default) and with every reachable row locked before deciding."""
    assert connection.vendor == "postgresql"
    settings.LEADOPS_ROUTE_NARROW_LOCKS = narrow
    now = timezone.now()
    pools = [PoolFactory(name="Alpha"), PoolFactory(name="Beta")]
    caps = {}
    for index in range(12):
        rep = RepFactory(max_open=60 + index * 5, max_daily=80 + index * 3)
        caps[rep.id] = (rep.max_open, rep.max_daily)
        PoolMemberFactory(pool=pools[index % 2], rep=rep, weight=1 + index % 4)
        if index % 3 == 0:  # some reps sit in both pools, so pools contend for their capacity
            PoolMemberFactory(pool=pools[(index + 1) % 2], rep=rep, weight=2)
    RuleFactory(pool=pools[0], priority=1, conditions=[{"field": "product_line", "op": "equals", "value": "life"}],
                fallback=[{"kind": "pool", "target_id": pools[1].id}, {"kind": "holding"}])  # fmt: skip
    RuleFactory(pool=pools[1], priority=2, fallback=[{"kind": "holding"}])
    services.rule_publish()
    leads = [
        Lead(source="load", external_id=f"L{i}", product_line="life" if i % 3 else "auto", value=1000 + i,
             high_value=i % 10 == 0, received_at=now - dt.timedelta(seconds=2000 - i))
        for i in range(2000)
    ]  # fmt: skip
    Lead.objects.bulk_create(leads)

    @_in_thread
    def worker(_: int) -> int:
        close_old_connections()
        routed = 0
        while batch := services.leads_route_pending(limit=25, now=now):
            routed += batch
        return routed

    with ThreadPoolExecutor(4) as pool:
        routed = sum(pool.map(worker, range(4)))

    # Every lead routed exactly once.
    assert routed == 2000
    assert not Lead.objects.filter(status=Lead.Status.PENDING).exists()
    assert Decision.objects.count() == 2000
    assert set(Decision.objects.values_list("lead_id", flat=True)) == set(Lead.objects.values_list("id", flat=True))
    per_lead = Counter(Offer.objects.values_list("lead_id", flat=True))
    assert per_lead and max(per_lead.values()) == 1
    offered = Lead.objects.filter(status=Lead.Status.OFFERED)
    assert offered.count() == len(per_lead)
    assert Lead.objects.filter(status=Lead.Status.HOLDING).count() == 2000 - len(per_lead)
    # Caps are never exceeded and the counters match reality.
    open_by_rep = dict(offered.values("owner_id").annotate(n=Count("id")).values_list("owner_id", "n"))
    for rep_id, (max_open, max_daily) in caps.items():
        assert open_by_rep.get(rep_id, 0) <= min(max_open, max_daily)
        load = RepLoad.objects.get(rep_id=rep_id)
        assert load.open_count == open_by_rep.get(rep_id, 0)
        assert load.daily_count == open_by_rep.get(rep_id, 0)
    # The caps were the binding constraint: everyone is full, the rest waits in holding.
    assert all(open_by_rep.get(r, 0) == min(c) for r, c in caps.items())
    # Fairness state was never lost: one credited assignment per offer.
    assert sum(FairnessState.objects.values_list("assigned", flat=True)) == len(per_lead)
    # High value first: no normal lead got an offer while a high-value lead went to holding.
    held_high = Lead.objects.filter(status=Lead.Status.HOLDING, high_value=True).count()
    assert held_high == 0


def test_a_lead_whose_wakeup_was_lost_is_recovered_by_the_sweep(settings) -> None:  # noqa: ANN001
    rep = RepFactory()
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=rep)
    RuleFactory(pool=pool)
    # Stored, but its task never ran (lost broker message / dead worker).
    lead = LeadFactory(received_at=timezone.now() - dt.timedelta(seconds=settings.LEADOPS_RECOVERY_AFTER_SECONDS + 5))
    fresh = LeadFactory()
    from routing.tasks import sweep

    result = sweep(release_holding=False)
    lead.refresh_from_db()
    fresh.refresh_from_db()
    assert result["recovered"] == 2
    assert lead.status == Lead.Status.OFFERED and lead.owner_id == rep.id
    assert fresh.status == Lead.Status.OFFERED
