"""Several sweepers at once on PostgreSQL: every due offer is expired and re-routed exactly once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from routing import services
from routing.models import Decision, Offer
from tests.reps.helpers import make_world, route_new_lead

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

THREADS = 6
LEADS = 5


def test_concurrent_sweeps_escalate_each_offer_exactly_once() -> None:
    world = make_world(pool_size=1)
    t0 = timezone.now()
    leads = [route_new_lead(now=t0) for _ in range(LEADS)]
    due = t0 + dt.timedelta(minutes=3, seconds=1)
    barrier = threading.Barrier(THREADS)
    counts: list[int] = []
    errors: list[BaseException] = []

    def sweeper() -> None:
        try:
            barrier.wait(timeout=10)
            # Expire, then (on commit, via the inbox listener) re-route: what one sweep pass does.
            counts.append(services.offers_expire_due(now=due))
            services.leads_route_all_pending(now=due)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeper) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(counts) == LEADS
    for lead in leads:
        offers = list(lead.offers.order_by("id").values_list("rep_id", "status"))
        assert offers == [(world.primary.id, Offer.Status.EXPIRED), (world.backup.id, Offer.Status.OPEN)]
        kinds = list(lead.decisions.order_by("id").values_list("kind", flat=True))
        assert kinds == [Decision.Kind.ROUTE, Decision.Kind.ESCALATION]
