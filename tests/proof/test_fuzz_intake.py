"""Fuzzing the intake API: generated payloads against POST /api/v1/leads and the dry run.

Property: no input gives a server error, and every 400 names what is wrong: each error key is a
key of the payload (as the API truncates unknown keys, to 60 characters), a required field
the payload left out, "content_type" (the header) or "__all__". CI runs a few hundred examples per endpoint;
LEADOPS_FUZZ_EXAMPLES=10000 is the full run (see docs/performance.md).
"""

from __future__ import annotations

import json
import os

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.validation import ALL_FIELDS, REQUIRED
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, make_token

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("LEADOPS_FUZZ_EXAMPLES", "300"))

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=300),
    st.sampled_from(["", " ", "NaN", "Infinity", "-1", "1e400", "0.001", "12345678901234567", "\x00",
                     "a@b.co", "not-an-email", "US", "usa", "EUR", "€", "ğ" * 200, "1" * 130]),
)  # fmt: skip
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4), max_leaves=12)
plausible = st.fixed_dictionaries(
    {"source": st.sampled_from(["web", "crm", "fuzz"]), "external_id": st.text(min_size=1, max_size=40)},
    optional={name: values for name in sorted(ALL_FIELDS - set(REQUIRED))},
)  # fmt: skip
wild = st.dictionaries(st.one_of(st.sampled_from(sorted(ALL_FIELDS)), st.text(max_size=80)), values, max_size=8)
payloads = st.one_of(plausible, wild, values)


def _allowed_keys(payload: object) -> set[str]:
    keys = {"__all__", "content_type", *REQUIRED}
    if isinstance(payload, dict):
        keys |= {str(key)[:60] for key in payload}
    return keys


@pytest.fixture
def api():  # noqa: ANN201
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=RepFactory())
    RuleFactory(pool=pool)
    return Client(), {"HTTP_AUTHORIZATION": f"Bearer {make_token(scopes=('intake', 'read', 'dry-run'))}"}


def _check(response, payload: object) -> None:  # noqa: ANN001
    assert response.status_code < 500, (payload, response.content[:500])
    assert response.status_code in (200, 201, 400), (payload, response.status_code)
    if response.status_code == 400:
        errors = response.json()["errors"]
        assert errors and all(messages for messages in errors.values())
        assert set(errors) <= _allowed_keys(payload), (payload, errors)


@pytest.mark.parametrize("path", ["/api/v1/leads", "/api/v1/route/dry-run"])
def test_no_payload_causes_a_server_error_and_every_rejection_names_a_field(api, path: str) -> None:  # noqa: ANN001
    client, headers = api
    statuses: dict[int, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(payload=payloads)
    def run(payload: object) -> None:
        response = client.post(path, data=json.dumps(payload), content_type="application/json", **headers)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        _check(response, payload)

    run()
    # Both sides of the property were exercised: some payloads accepted, some rejected.
    assert statuses.get(400) and (statuses.get(201) or statuses.get(200)), statuses


@settings(max_examples=max(EXAMPLES // 3, 50), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
@given(body=st.binary(max_size=200))
def test_raw_bytes_never_cause_a_server_error(api, body: bytes) -> None:  # noqa: ANN001
    client, headers = api
    response = client.post("/api/v1/leads", data=body, content_type="application/json", **headers)
    assert response.status_code in (200, 201, 400)
    if response.status_code == 400:
        try:
            parsed = json.loads(body.decode("utf-8"))
        except ValueError:
            parsed = None
        assert set(response.json()["errors"]) <= _allowed_keys(parsed)
