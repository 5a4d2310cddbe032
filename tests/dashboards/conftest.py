from __future__ import annotations

import pytest
from django.test import Client

from reps.models import Role
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, user_with_role


@pytest.fixture
def ops_client(db) -> Client:  # noqa: ANN001
    """Sales Ops, who see every team: these tests check the dashboards' content. What a manager
    sees (their team only) is tested in tests/proof/test_team_scope.py."""
    client = Client()
    client.force_login(user_with_role(Role.OPS))
    return client


@pytest.fixture
def pool_of_three(db):  # noqa: ANN001, ANN201
    pool = PoolFactory(name="Inbound")
    reps = [RepFactory(display_name=n) for n in ("Ann", "Bob", "Cat")]
    for rep, weight in zip(reps, (1, 1, 2), strict=True):
        PoolMemberFactory(pool=pool, rep=rep, weight=weight)
    return pool, reps
