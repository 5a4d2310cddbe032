from __future__ import annotations

import pytest
from django.test import Client

from reps.models import Role
from tests.factories import user_with_role

CONSOLE_PAGES = [
    "/ops/rules/", "/ops/rules/new/", "/ops/versions/", "/ops/test/", "/ops/config/", "/ops/config/export.json",
    "/ops/pools/", "/ops/reps/", "/ops/segments/", "/ops/territories/", "/ops/skills/",
    "/ops/pools/new/", "/ops/reps/new/", "/ops/segments/new/", "/ops/territories/new/", "/ops/skills/new/",
]  # fmt: skip


@pytest.fixture
def ops_user():  # noqa: ANN201
    return user_with_role(Role.OPS, "ops")


@pytest.fixture
def ops_client(ops_user) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(ops_user)
    return client


@pytest.fixture
def htmx_client(ops_user) -> Client:  # noqa: ANN001
    client = Client(headers={"HX-Request": "true"})
    client.force_login(ops_user)
    return client


def client_for(role: Role) -> Client:
    client = Client()
    client.force_login(user_with_role(role))
    return client
