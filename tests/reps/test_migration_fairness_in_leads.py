"""The data migration that moves FairnessState credits from weight units to leads (issue 19)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from reps.models import FairnessState
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory

BEFORE = [("reps", "0002_role_groups")]
AFTER = [("reps", "0003_fairness_credit_in_leads")]


def migrate(targets: list[tuple[str, str]] | None = None) -> None:
    """Migrate to ``targets``; None: to the latest migration of every app (what the suite expects)."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets if targets is not None else executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_credits_are_divided_by_the_pool_weight_and_held_to_one_lead() -> None:
    migrate(BEFORE)
    try:
        a, b, c, gone = RepFactory(), RepFactory(), RepFactory(), RepFactory()
        pool = PoolFactory()
        for rep, weight in ((a, 1), (b, 3), (c, 4)):  # total member weight 8
            PoolMemberFactory(pool=pool, rep=rep, weight=weight)
        old = {a: 6.0, b: -4.0, c: -20.0, gone: 5.0}  # weight units; `gone` left the pool
        for rep, credit in old.items():
            FairnessState.objects.create(pool=pool, rep=rep, credit=credit)
        migrate(AFTER)
    finally:  # back to the full schema: later reps migrations were unapplied with BEFORE
        migrate()
    credits = dict(FairnessState.objects.filter(pool=pool).values_list("rep_id", "credit"))
    # 6/8 and -4/8 carried over; -20/8 = -2.5 held to one lead; a former member restarts at 0.
    assert credits == {a.id: 0.75, b.id: -0.5, c.id: -1.0, gone.id: 0.0}
