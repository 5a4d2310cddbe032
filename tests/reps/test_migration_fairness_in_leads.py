"""The data migration that moves FairnessState credits from weight units to leads (issue 19)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from reps.models import FairnessState

BEFORE = [("reps", "0002_role_groups")]
AFTER = [("reps", "0003_fairness_credit_in_leads")]


def migrate(targets: list[tuple[str, str]]):  # noqa: ANN201
    """Migrate to ``targets``; returns the historical apps at that state (rows made before the
    migration must use them: later migrations add columns the current models expect)."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def migrate_to_latest() -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_credits_are_divided_by_the_pool_weight_and_held_to_one_lead() -> None:
    apps = migrate(BEFORE)
    try:
        User, Rep = apps.get_model("auth", "User"), apps.get_model("reps", "Rep")
        Pool, PoolMember = apps.get_model("reps", "Pool"), apps.get_model("reps", "PoolMember")
        OldFairness = apps.get_model("reps", "FairnessState")
        a, b, c, gone = (Rep.objects.create(user=User.objects.create(username=f"m{i}"), display_name=f"Rep {i}")
                         for i in range(4))  # fmt: skip
        pool = Pool.objects.create(name="Migrated pool")
        for rep, weight in ((a, 1), (b, 3), (c, 4)):  # total member weight 8
            PoolMember.objects.create(pool=pool, rep=rep, weight=weight)
        old = {a: 6.0, b: -4.0, c: -20.0, gone: 5.0}  # weight units; `gone` left the pool
        for rep, credit in old.items():
            OldFairness.objects.create(pool=pool, rep=rep, credit=credit)
        migrate(AFTER)
    finally:
        migrate_to_latest()
    credits = dict(FairnessState.objects.filter(pool_id=pool.id).values_list("rep_id", "credit"))
    # 6/8 and -4/8 carried over; -20/8 = -2.5 held to one lead; a former member restarts at 0.
    assert credits == {a.id: 0.75, b.id: -0.5, c.id: -1.0, gone.id: 0.0}
