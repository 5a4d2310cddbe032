"""Schema-driven fuzzing of every operation in the generated document (schemathesis): valid and
invalid requests generated from /api/v1/openapi.json must never cause a server error, must be
refused with a 4xx when invalid, and every response must match its documented status, media
type and schema.

CI runs a bounded version: 6 examples per operation and mode, derandomized. The long run sets
``LEADOPS_API_FUZZ_EXAMPLES`` (figures in docs/api.md), e.g.
``LEADOPS_API_FUZZ_EXAMPLES=250 pytest tests/api/test_fuzz.py -s``.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
import schemathesis
from django.contrib.auth.models import Group, User
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from reps.models import Role
from routing import services
from tests.factories import AbsenceFactory, PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, make_token

# PostgreSQL only: the server errors it hunts are PostgreSQL's refusals (NUL in text, offsets
# beyond +-15:59, integers past bigint), which SQLite stores or compares without complaint.
pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def keep_connection():  # noqa: ANN201
    """The WSGI handler closes the database connection after each request; the test's
    transaction lives on it (Django's test client disconnects the same signals)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(keep_connection) -> str:  # noqa: ANN001
    """A personal token of a user who holds every role and scope, so every operation is reached
    (the authorization matrix covers who is refused)."""
    boss = User.objects.create_superuser("fuzz", "fuzz@example.com", "pw-for-tests-123")
    boss.groups.add(Group.objects.get_or_create(name=Role.REP.value)[0])
    me = RepFactory(user=boss, display_name="Fuzz")
    other = RepFactory()
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=me)
    PoolMemberFactory(pool=pool, rep=other)
    RuleFactory(pool=pool)
    services.rule_publish()
    for i in range(4):
        services.lead_intake(data={"source": "fuzz", "external_id": f"seed-{i}"})
    services.leads_route_all_pending()
    AbsenceFactory(rep=other)
    return make_token("fuzz", scopes=("admin",), user=boss)


def fuzz(token: str, examples: int) -> tuple[Counter, list[str]]:
    """Run every operation ``examples`` times per mode; returns (status counts, failures)."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    statuses: Counter = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 22
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            checks = CHECKS + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            def run(case) -> None:  # noqa: ANN001
                response = case.call(headers={"Authorization": f"Bearer {token}"})
                statuses[response.status_code] += 1
                case.validate_response(response, checks=checks)

            try:
                run()
            except BaseException as exc:  # noqa: BLE001 - schemathesis' FailureGroup included: report every operation at once
                if isinstance(exc, KeyboardInterrupt):
                    raise
                failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:1500]}")
    return statuses, failures


def test_fuzzing_every_operation_finds_no_server_error_and_no_schema_mismatch(token: str) -> None:
    statuses, failures = fuzz(token, examples=int(os.environ.get("LEADOPS_API_FUZZ_EXAMPLES", "6")))
    print(f"\nfuzz: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}, failures {len(failures)}")
    assert not failures, "\n\n".join(failures)
    assert statuses[500] == 0 and sum(statuses.values()) > 200
    assert any(200 <= s < 300 for s in statuses) and statuses[400] > 0  # both kinds of request got through
