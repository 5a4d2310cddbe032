"""Fuzzing lead intake: generated payloads against POST /api/v1/leads, the dry run and CSV rows.

Inputs include text with lone surrogates, case-expanding letters (ß, İ, ŉ, ligatures), combining
marks, right-to-left scripts and emoji; nested JSON; numbers at the float and integer limits
(NaN, ±Infinity, 1e308, 5e-324, 2**63).

Properties: no input gives a server error (or, for CSV, an exception); every API rejection names
what is wrong: each error key is a key of the payload (truncated to 60 characters), a required
field the payload left out, "content_type" or "__all__"; every CSV row ends in exactly one bucket
and every row error names a column (or "attributes" for attr.* columns, "__all__" for the row
shape). CI runs a few hundred examples per surface; LEADOPS_FUZZ_EXAMPLES=10000 is the full run
(figures in docs/performance.md).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from routing.csv_import import lead_import_create, lead_import_process
from routing.validation import ALL_FIELDS, REQUIRED
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, make_token

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("LEADOPS_FUZZ_EXAMPLES", "300"))

# --- strategies ------------------------------------------------------------------------------

surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
case_expanding = st.sampled_from(list("ßİŉǰΐΰﬀﬁﬂﬃﬄﬅﬆẞ"))
combining = st.characters(categories=["Mn", "Me"])
right_to_left = st.characters(min_codepoint=0x0590, max_codepoint=0x08FF) | st.sampled_from(["\u200f", "\u202e", "\u061c"])
emoji = st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF)
sequences = st.sampled_from(["👩\u200d👩\u200d👧", "🇺🇸", "❤️", "Zu\u0308rich", "\ud83d\ude00", "\ud83d", "ﬃ" * 5])
hostile_char = st.one_of(surrogates, case_expanding, combining, right_to_left, emoji, st.characters(),
                         st.sampled_from(["\x00", "\r", "\n", ",", ";", '"', "\t", "\ufeff"]))  # fmt: skip
hostile_text = st.lists(hostile_char | sequences, max_size=40).map("".join) | st.text(max_size=300)
limit_numbers = st.sampled_from([
    sys.float_info.max, -sys.float_info.max, sys.float_info.min, 5e-324, 1e308, -0.0, float("nan"), float("inf"),
    float("-inf"), 2**53 + 1, 2**63, -(2**63) - 1, 10**18, 10**30, 999999999999.99, 999999999999.995, 1e-7,
])  # fmt: skip
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(), limit_numbers, hostile_text,
    st.sampled_from(["", " ", "NaN", "Infinity", "-1", "1e400", "1e999", "0.001", "12345678901234567", "\x00",
                     "a@b.co", "not-an-email", "US", "usa", "California", "ca", "EUR", "€", "jpy", "hot", "High",
                     "English", "en-US", "ğ" * 200, "ß" * 9, "İ" * 30, "1" * 130, "Zu\u0308rich"]),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=30,
)
deep = st.integers(min_value=1, max_value=60).map(lambda depth: json.loads('{"a": ' * depth + "1" + "}" * depth))
plausible = st.fixed_dictionaries(
    {"source": st.sampled_from(["web", "crm", "fuzz"]), "external_id": hostile_text.filter(lambda t: t.strip())},
    optional={name: values for name in sorted(ALL_FIELDS - set(REQUIRED))} | {"attributes": values | deep},
)  # fmt: skip
wild = st.dictionaries(st.one_of(st.sampled_from(sorted(ALL_FIELDS)), hostile_text), values, max_size=8)
payloads = st.one_of(plausible, wild, values)

FUZZ_SETTINGS = {
    "deadline": None, "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
}  # fmt: skip


def _allowed_keys(payload: object) -> set[str]:
    keys = {"__all__", "content_type", *REQUIRED}
    if isinstance(payload, dict):
        keys |= {str(key)[:60] for key in payload}
    return keys


@pytest.fixture
def api():  # noqa: ANN201
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=RepFactory())
    RuleFactory(pool=pool, priority=1, conditions=[{"field": "attributes.city", "op": "equals", "value": "Zürich"}])
    RuleFactory(pool=pool, priority=2, conditions=[{"field": "value", "op": "gte", "value": 50000}])
    RuleFactory(pool=pool, priority=3)
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

    @settings(max_examples=EXAMPLES, **FUZZ_SETTINGS)
    @given(payload=payloads)
    def run(payload: object) -> None:
        body = json.dumps(payload)  # NaN/Infinity as JSON's common extension; surrogates as \\udxxx escapes
        response = client.post(path, data=body, content_type="application/json", **headers)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        # What the server decodes: a surrogate pair written as two code units comes back as one character.
        _check(response, json.loads(body))

    run()
    print(f"\n{path}: {sum(statuses.values())} examples, statuses {dict(sorted(statuses.items()))}")
    # Both sides of the property were exercised: some payloads accepted, some rejected.
    assert statuses.get(400) and (statuses.get(201) or statuses.get(200)), statuses


@settings(max_examples=max(EXAMPLES // 3, 50), **FUZZ_SETTINGS)
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


# --- CSV rows --------------------------------------------------------------------------------

CSV_COLUMNS = sorted((ALL_FIELDS - {"attributes"}) | {"attr.city", "attr.note"})
cell = st.one_of(hostile_text, limit_numbers.map(repr), st.sampled_from(["", "US", "CA", "California", "52000", "hot", "JPY"]))
csv_rows = st.lists(st.fixed_dictionaries({"source": st.sampled_from(["web", "we b!", ""]), "external_id": hostile_text},
                                          optional={c: cell for c in CSV_COLUMNS if c not in REQUIRED}),  # fmt: skip
                    min_size=1, max_size=8)


def test_no_csv_row_causes_an_exception_and_every_row_is_accounted_for(api, tmp_path: Path) -> None:  # noqa: ANN001
    outcomes = {"done": 0, "refused": 0, "rows": 0, "rejected": 0}

    @settings(max_examples=EXAMPLES, **FUZZ_SETTINGS)
    @given(rows=csv_rows, encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
           delimiter=st.sampled_from([",", ";", "\t"]))  # fmt: skip
    def run(rows: list[dict[str, str]], encoding: str, delimiter: str) -> None:
        header = sorted({key for row in rows for key in row} | set(REQUIRED))
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=header, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
        content = text.getvalue().encode(encoding, errors="surrogatepass" if encoding.startswith("utf") else "replace")
        path = tmp_path / "fuzz.csv"
        path.write_bytes(content)
        job = lead_import_process(import_id=lead_import_create(path=path, file_name="fuzz.csv").id)
        assert job is not None and job.status in ("done", "refused"), (rows, job)
        outcomes[job.status] += 1
        if job.status == "refused":
            assert job.refusal, rows
            return
        outcomes["rows"] += job.rows_total
        outcomes["rejected"] += job.rejected
        assert job.created + job.already_present + job.rejected == job.rows_total, (rows, job.errors)
        named = set(header) | {"attributes", "__all__"}
        assert all(e["field"] in named and e["message"] and e["line"] >= 2 for e in job.errors), job.errors

    run()
    print(f"\nCSV: {outcomes}")
    assert outcomes["done"] and outcomes["rejected"], outcomes


# --- the console's typed test lead and the import mapping step (issue 11 leftover, issue 20) ----

# Whole page renders per example: CI runs 30 each; LEADOPS_FUZZ_FORM_EXAMPLES=10000 is the long run.
FORM_EXAMPLES = int(os.environ.get("LEADOPS_FUZZ_FORM_EXAMPLES", "30"))
TEST_LEAD_FIELDS = ("source", "country", "state", "postal_code", "language", "product_line", "value", "currency",
                    "fit_score", "account_tier", "intent", "company")  # fmt: skip
form_text = st.one_of(hostile_text, scalars.map(lambda v: v if isinstance(v, str) else json.dumps(v)))


@pytest.fixture
def ops_client(client):  # noqa: ANN001, ANN201
    from reps.models import Role
    from tests.factories import user_with_role

    client.force_login(user_with_role(Role.OPS, "ops-fuzz"))
    return client


def _form_body(data: dict[str, object]) -> str:
    from urllib.parse import urlencode

    # Lone surrogates cannot be UTF-8; a browser would send their bytes anyway: send them too.
    return urlencode(data, doseq=True, encoding="utf-8", errors="surrogatepass")


def test_the_typed_test_lead_never_errors_and_every_refusal_is_on_a_field(api, ops_client) -> None:  # noqa: ANN001
    outcomes = {"routed": 0, "refused": 0}

    @settings(max_examples=FORM_EXAMPLES, **FUZZ_SETTINGS)
    @given(typed=st.fixed_dictionaries({}, optional={name: form_text for name in TEST_LEAD_FIELDS}),
           attributes=st.one_of(st.just(""), values.map(json.dumps)))  # fmt: skip
    @example(typed={"country": "United States", "state": "California"}, attributes="")  # both sides, whatever the draw
    @example(typed={"country": "Narnia"}, attributes="")
    def run(typed: dict[str, str], attributes: str) -> None:
        response = ops_client.post("/ops/test/", _form_body({"mode": "draft", **typed, "attributes": attributes}),
                                   content_type="application/x-www-form-urlencoded")  # fmt: skip
        assert response.status_code == 200, (typed, response.status_code)
        form = response.context["form"]
        if form.errors:
            outcomes["refused"] += 1
            assert set(form.errors) <= set(form.fields) | {"__all__"}, form.errors
        else:
            assert response.context["result"] is not None, typed
            outcomes["routed"] += 1

    run()
    print(f"\ntest lead form: {outcomes}")
    assert outcomes["routed"] and outcomes["refused"], outcomes


def test_the_mapping_step_never_errors_and_never_imports_what_it_refused(api, ops_client, tmp_path: Path) -> None:  # noqa: ANN001
    from django.test import override_settings

    from routing.import_mapping import FIELD_LABELS
    from routing.models import Lead, LeadImport

    targets = st.one_of(st.sampled_from([*FIELD_LABELS, "ignore", "attributes.x", "attributes.city"]), form_text)
    outcomes = {"previewed": 0, "refused": 0, "imported": 0}

    @settings(max_examples=FORM_EXAMPLES, **FUZZ_SETTINGS)
    @given(rows=csv_rows, changed=st.dictionaries(st.integers(0, 14), targets, max_size=3),
           source=st.one_of(st.just(""), st.just("expo-2026"), form_text),
           currency=st.one_of(st.just(""), st.just("EUR"), form_text), action=st.sampled_from(["preview", "import"]))  # fmt: skip
    @example(rows=[{"source": "web", "external_id": "1"}], changed={}, source="", currency="", action="preview")
    @example(rows=[{"source": "web", "external_id": "1"}], changed={1: "ignore"}, source="", currency="", action="import")  # no source
    def run(rows: list[dict[str, str]], changed: dict[int, str], source: str, currency: str, action: str) -> None:
        header = sorted({key for row in rows for key in row})
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
        with override_settings(LEADOPS_IMPORT_DIR=tmp_path):
            upload = io.BytesIO(text.getvalue().encode("utf-8", errors="surrogatepass"))
            upload.name = "fuzz.csv"
            first = ops_client.post("/leads/import/", {"file": upload, "action": "map"})
            assert first.status_code in (200, 302), first.status_code
            if first.status_code == 200:  # refused whole at upload (e.g. empty file)
                outcomes["refused"] += 1
                return
            job = LeadImport.objects.latest("id")
            page = ops_client.get(first["Location"])
            assert page.status_code == 200
            form = page.context["form"]  # the suggestion, with a few columns changed to drawn targets
            data = {name: form[name].value() for name in form.fields if name.startswith("col_")}
            data |= {f"col_{i}": target for i, target in changed.items()}
            data |= {"source": source, "currency": currency, "action": action, "previewed": page.context.get("previewed", "")}
            leads_before = Lead.objects.count()
            response = ops_client.post(first["Location"], _form_body(data), content_type="application/x-www-form-urlencoded")
        assert response.status_code in (200, 302), (data, response.status_code)
        if response.status_code == 302:
            outcomes["imported"] += 1
            assert LeadImport.objects.get(id=job.id).status in ("done", "refused", "queued", "running")
            return
        assert LeadImport.objects.get(id=job.id).status == "mapping" and Lead.objects.count() == leads_before
        form = response.context["form"]
        outcomes["refused" if form.errors or response.context.get("refusal") else "previewed"] += 1

    run()
    print(f"\nmapping step: {outcomes}")
    assert outcomes["refused"] and (outcomes["previewed"] or outcomes["imported"]), outcomes
