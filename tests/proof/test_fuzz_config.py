"""Fuzzing the configuration paths: the console's config upload and its rule editor.

Strategies cover text with lone surrogates, case-expanding letters (ß, ﬁ, İ), combining marks,
right-to-left scripts and controls, emoji sequences, NUL; numbers at float limits (NaN, ±infinity,
1e308, 5e-324, -0.0, integers past 64 bits); nested JSON.

Properties: no input gives a server error; every rejection names where: a config error starts
with a JSON path in a section of the document; a refused rule form shows its problem on a field
or a row of the editor. CI runs a bounded number of examples per surface;
LEADOPS_FUZZ_CONFIG_EXAMPLES=10000 is the long run (figures in docs/performance.md).
"""

from __future__ import annotations

import copy
import json
import os
import re
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import QueryDict
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reps.models import Role
from routing.config_io import SECTIONS, ConfigImportError, config_import
from routing.console import services as console_services
from routing.console.forms import RuleEditor
from routing.engine.conditions import LEAD_FIELDS
from routing.engine.types import Criterion, Op, Strategy
from routing.models import Rule
from tests.console.test_config_io import demo_config
from tests.console.test_config_reference_data import REFERENCE
from tests.factories import PoolFactory, RepFactory, SkillFactory, user_with_role

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("LEADOPS_FUZZ_CONFIG_EXAMPLES", "80"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])  # fmt: skip

TRICKY = ["\ud800", "\udfff", "ß", "ﬁ", "İ", "ŉ", "e\u0301", "\u0308", "Zu\u0308rich", "Zürich", "שלום", "مرحبا",
          "\u202e", "\u200f", "👩🏽‍💻", "🇺🇸", "\x00", " ", "\t", "\ufeff", "ǅ", "ΐ"]  # fmt: skip
tricky_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(TRICKY),
    st.lists(st.sampled_from(TRICKY), max_size=12).map("".join),
    st.text(alphabet=st.characters(codec=None, categories=None), max_size=20),  # includes surrogates
)
numbers = st.one_of(
    st.floats(),  # NaN and ±infinity included
    st.sampled_from([1.7976931348623157e308, -1.7976931348623157e308, 5e-324, -0.0, 0.1, 1e16]),
    st.integers(), st.sampled_from([2**63, -(2**63) - 1, 10**30, 0, 1, 5, -1]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, tricky_text)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tricky_text, inner, max_size=4), max_leaves=10,
)
ops = st.one_of(st.sampled_from([o.value for o in Op]), tricky_text)
fields = st.one_of(st.sampled_from(sorted(LEAD_FIELDS)), st.just("attributes.city"), tricky_text)
conditions = st.lists(st.fixed_dictionaries({"field": fields, "op": ops}, optional={"value": json_values}), max_size=3)
steps = st.fixed_dictionaries(
    {"kind": st.one_of(st.sampled_from(["relax", "pool", "backup", "manager", "holding"]), tricky_text)},
    optional={"pool": st.one_of(st.just("Auto West"), tricky_text), "rep": st.one_of(st.just("bob"), tricky_text)},
)  # fmt: skip
rules = st.fixed_dictionaries(
    {"name": tricky_text, "pool": st.one_of(st.just("Auto West"), tricky_text)},
    optional={
        "priority": st.one_of(numbers, tricky_text), "enabled": scalars, "conditions": st.one_of(conditions, json_values),
        "strategy": st.one_of(st.sampled_from([s.value for s in Strategy]), tricky_text),
        "requirements": st.one_of(st.fixed_dictionaries({}, optional={
            "skills": st.lists(st.fixed_dictionaries({"skill": st.one_of(st.just("product:auto"), tricky_text)},
                                                     optional={"min_level": scalars}), max_size=3),
            "licence": scalars, "min_tier": scalars, "future": scalars}), json_values),
        "value_threshold": scalars, "high_value_min_tier": scalars,
        "fallback": st.one_of(st.lists(steps, max_size=4), json_values),
        "relaxation": st.one_of(st.lists(st.one_of(st.sampled_from([c.value for c in Criterion]), tricky_text), max_size=4), json_values),
        "reroute_on_escalation": scalars, "surprise": json_values,
    },
)  # fmt: skip
segments = st.fixed_dictionaries(
    {"slug": tricky_text, "name": tricky_text, "sla_minutes": st.one_of(numbers, tricky_text)},
    optional={"accept_fraction": scalars, "priority": scalars, "order": scalars, "conditions": st.one_of(conditions, json_values),
              "is_default": scalars},
)  # fmt: skip
pools = st.fixed_dictionaries(
    {"name": tricky_text},
    optional={"description": scalars, "active": scalars, "manager": scalars, "dynamic_skill": scalars,
              "dynamic_min_level": scalars, "dynamic_weight": scalars,
              "members": st.lists(st.fixed_dictionaries({"rep": st.one_of(st.just("ana"), tricky_text)},
                                                        optional={"weight": scalars}), max_size=3)},
)  # fmt: skip
reps = st.fixed_dictionaries(
    {"username": tricky_text, "display_name": tricky_text},
    optional={"manager": st.one_of(st.sampled_from(["ana", "bob"]), scalars), "tier": scalars, "timezone": tricky_text,
              "working_hours": json_values, "max_open": scalars, "email": tricky_text},
)  # fmt: skip


territories = st.fixed_dictionaries(
    {"name": tricky_text, "country": st.one_of(st.just("US"), tricky_text)},
    optional={"region": st.one_of(st.just("ßßßßßßßßß"), tricky_text), "parent": scalars, "postal_prefix": scalars,
              "active": scalars},
)  # fmt: skip
licences = st.fixed_dictionaries(
    {"jurisdiction": st.one_of(st.just("US-ßßßßßßßßß"), tricky_text), "product_line": tricky_text},
    optional={"valid_from": st.one_of(st.just("2025-01-01"), tricky_text), "valid_until": scalars},
)  # fmt: skip


exchange_rates = st.fixed_dictionaries(
    {"currency": st.one_of(st.sampled_from(["JPY", "EUR", "USD", "jpy", "XYZ"]), tricky_text),
     "rate": st.one_of(st.sampled_from(["0.0067", "1.0842", "0", "-1", "NaN", "1e-11", "1e10"]), numbers, tricky_text),
     "as_of": st.one_of(st.sampled_from(["2026-11-01", "2026-13-01", "20261101"]), scalars)},
    optional={"note": scalars},
)  # fmt: skip
lead_synonyms = st.fixed_dictionaries(
    {"field": st.one_of(st.sampled_from(["intent", "country", "state", "language", "currency", "product_line"]), tricky_text),
     "alias": tricky_text,
     "value": st.one_of(st.sampled_from(["high", "DE", "US-CA", "es", "EUR", "auto", "ßßßßßßßßß"]), tricky_text)},
)  # fmt: skip
import_mappings = st.fixed_dictionaries(
    {"name": tricky_text},
    optional={"columns": st.one_of(st.dictionaries(tricky_text, st.one_of(
                  st.sampled_from(["email", "first_name", "ignore", "attributes.city", "value", "currency"]), tricky_text),
                  max_size=4), json_values),
              "source": st.one_of(st.just("crm-export"), scalars), "currency": st.one_of(st.just("EUR"), scalars)},
)  # fmt: skip


@st.composite
def documents(draw: st.DrawFn) -> object:
    """A valid document with a few sections or rows replaced or added by wild ones, or wild JSON."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    doc = demo_config()
    if draw(st.booleans()):  # the valid reference data, so that its rows also reach the apply step
        doc |= copy.deepcopy(REFERENCE)
    if draw(st.integers(0, 3)) == 0:
        doc["reps"][0]["licences"] = draw(st.lists(licences, max_size=2))
    for section, strategy in (("rules", rules), ("segments", segments), ("pools", pools), ("reps", reps),
                              ("territories", territories), ("exchange_rates", exchange_rates),
                              ("lead_synonyms", lead_synonyms), ("import_mappings", import_mappings)):  # fmt: skip
        if draw(st.integers(0, 3)) == 0:
            rows = draw(st.lists(strategy, max_size=2))
            doc[section] = (doc.get(section, []) + rows) if draw(st.booleans()) else rows
    if draw(st.integers(0, 5)) == 0:
        doc[draw(st.sampled_from(SECTIONS))] = draw(json_values)
    return doc


PATH = re.compile(r'^(\$|[A-Za-z_][A-Za-z0-9_]*)(\[\d+\]|\["(?:[^"\\]|\\.)*"\]|\.[A-Za-z_][A-Za-z0-9_]*)*: \S')


@pytest.fixture
def ops_client(db) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(user_with_role(Role.OPS, "ops"))
    return client


def _progress(surface: str, counts: dict) -> None:
    """Long runs: the running counts in LEADOPS_FUZZ_PROGRESS (a file), every 250 examples."""
    path = os.environ.get("LEADOPS_FUZZ_PROGRESS")
    if path and sum(counts.values()) % 250 == 0:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{surface} {json.dumps(counts)}\n")


def _check_config_errors(errors: list[str], doc: object) -> None:
    """Every error starts with a JSON path whose first step is the document or one of its keys."""
    assert errors
    keys = {k for k in doc if isinstance(k, str)} if isinstance(doc, dict) else set()
    for error in errors:
        first = error.split(":", 1)[0].split("[", 1)[0].split(".", 1)[0]
        assert first in {*SECTIONS, *keys, "$", "format", "format_version"} and PATH.match(error), error


@pytest.mark.parametrize("via", ["http", "direct"])
def test_config_upload_never_errors_and_every_refusal_names_a_path(ops_client: Client, via: str) -> None:
    """``http``: the console's upload page (JSON text, as a browser sends it); ``direct``: the
    decoded value straight into ``config_import`` (NaN floats and lone surrogates arrive as such)."""
    counts = {"accepted": 0, "refused": 0}

    @FUZZ
    @given(doc=documents())
    @example(doc=demo_config())  # both sides are always exercised, whatever the draw
    @example(doc={"A": "\ud800"})  # found by the long run: a path may start at any key of the document
    @example(doc={**demo_config(), "rules": [{"name": "R", "pool": "Auto West", "fallback": [{"kind": "holding"}, {"kind": "relax"}]}]})
    def run(doc: object) -> None:
        if via == "direct":
            try:
                config_import(doc, dry_run=True)  # type: ignore[arg-type]
                counts["accepted"] += 1
            except ConfigImportError as exc:
                counts["refused"] += 1
                _check_config_errors(exc.errors, doc)
            _progress(f"config-{via}", counts)
            assert not Rule.objects.exists()
            return
        body = json.dumps(doc).encode()  # NaN/Infinity written as Python does; surrogates as \\u escapes
        response = ops_client.post("/ops/config/", {"file": SimpleUploadedFile("c.json", body, "application/json")})
        assert response.status_code == 200, (doc, response.status_code)
        errors = response.context.get("errors")
        form = response.context["form"]
        if errors:
            counts["refused"] += 1
            _check_config_errors(errors, doc)
        elif form.errors:
            counts["refused"] += 1
            assert set(form.errors) == {"file"}, form.errors
        else:
            counts["accepted"] += 1
            assert response.context.get("changes") is not None
        _progress(f"config-{via}", counts)
        assert not Rule.objects.exists()  # an upload only previews

    run()
    print(f"config {via}: {counts['accepted']} accepted, {counts['refused']} refused, 0 server errors")
    assert counts["refused"] and counts["accepted"], counts


# --- the rule editor -------------------------------------------------------------------------


VALID_POST = {
    "name": "Fuzz rule", "priority": "5", "enabled": "on", "pool": "POOL", "strategy": "weighted_fair",
    "value_threshold": "", "high_value_min_tier": "", "req_min_tier": "", "req_licence": "",
    "cond_field": ["country"], "cond_op": ["equals"], "cond_value": ["Zu\u0308rich"],
    "fb_kind": ["backup", "holding"], "fb_pool": ["", ""], "fb_rep": ["REP", ""],
    "req_skill": ["product:auto"], "req_level": ["2"], "relax": [], "action": "save",
}  # fmt: skip


def mostly(valid: st.SearchStrategy, wild: st.SearchStrategy) -> st.SearchStrategy:
    """Three times in four a valid value, so that both saves and refusals are explored."""
    return st.one_of(valid, valid, valid, wild)


@st.composite
def rule_posts(draw: st.DrawFn) -> dict:
    n = draw(st.integers(0, 3))
    m = draw(st.integers(0, 3))
    text = st.one_of(tricky_text, numbers.map(str))
    countries = st.sampled_from(["US", "CA", "Zürich", "Zu\u0308rich", "ßtraße", "שלום", "👩🏽‍💻"])
    return {
        "name": draw(mostly(st.just("Fuzz rule"), text)), "priority": draw(mostly(st.just("5"), text)),
        "enabled": draw(st.sampled_from(["on", ""])), "pool": draw(mostly(st.just("POOL"), text)),
        "strategy": draw(mostly(st.sampled_from([s.value for s in Strategy]), text)),
        "value_threshold": draw(mostly(st.sampled_from(["", "50000", "0.5"]), text)),
        "high_value_min_tier": draw(st.sampled_from(["", "3", "9"])),
        "req_min_tier": draw(st.sampled_from(["", "2", "x"])), "req_licence": draw(st.sampled_from(["on", ""])),
        "cond_field": draw(st.lists(mostly(st.just("country"), st.one_of(st.sampled_from(sorted(LEAD_FIELDS)), text)),
                                    min_size=n, max_size=n)),
        "cond_op": draw(st.lists(mostly(st.just("equals"), st.one_of(st.sampled_from([o.value for o in Op]), text)),
                                 min_size=n, max_size=n)),
        "cond_value": draw(st.lists(mostly(countries, text), min_size=n, max_size=n)),
        "fb_kind": draw(st.lists(mostly(st.sampled_from(["pool", "backup", "manager"]),
                                        st.one_of(st.sampled_from(["relax", "holding"]), text)), min_size=m, max_size=m)),
        "fb_pool": draw(st.lists(mostly(st.just("POOL"), text), min_size=m, max_size=m)),
        "fb_rep": draw(st.lists(mostly(st.just("REP"), text), min_size=m, max_size=m)),
        "req_skill": draw(st.lists(mostly(st.just("product:auto"), text), max_size=1)),
        "req_level": draw(st.lists(mostly(st.just("2"), text), min_size=1, max_size=1)),
        "relax": draw(st.lists(mostly(st.sampled_from([c.value for c in Criterion]), text), max_size=1)),
        "action": "save",
    }  # fmt: skip


@pytest.mark.parametrize("via", ["http", "direct"])
def test_rule_editor_never_errors_and_every_refusal_is_shown_where_it_belongs(ops_client: Client, via: str) -> None:
    """``http``: POST to the editor (lone surrogates sent as their bytes, which Django decodes to
    U+FFFD); ``direct``: the same fields straight into ``RuleEditor`` (surrogates arrive as such)."""
    pool, rep = PoolFactory(name="Fuzz pool"), RepFactory()
    SkillFactory(kind="product", code="auto")
    counts = {"saved": 0, "refused": 0}

    def check_refusal(form: object, rows: list[str], data: dict) -> None:
        assert form.errors or rows, data  # type: ignore[attr-defined]
        for name, messages in form.errors.items():  # type: ignore[attr-defined]
            assert name in form.fields or all(re.match(r"^\S+: ", m) for m in messages), (name, messages)  # type: ignore[attr-defined]

    @FUZZ
    @given(post=rule_posts())
    @example(post=VALID_POST)  # both sides are always exercised, whatever the draw
    @example(post={**VALID_POST, "fb_kind": ["holding", "manager"], "fb_pool": ["", ""], "fb_rep": ["", ""]})
    def run(post: dict) -> None:
        data = {k: ([str(pool.id) if x == "POOL" else str(rep.id) if x == "REP" else x for x in v] if isinstance(v, list)
                    else str(pool.id) if v == "POOL" else v) for k, v in post.items()}  # fmt: skip
        before = Rule.objects.count()
        if via == "direct":
            query = QueryDict(mutable=True)
            for key, value in data.items():
                query.setlist(key, value if isinstance(value, list) else [value])
            editor = RuleEditor(rule=None, data=query)
            if editor.is_valid():
                console_services.rule_save(rule=None, values=editor.values)
                counts["saved"] += 1
                assert Rule.objects.count() == before + 1
            else:
                counts["refused"] += 1
                context = editor.context()
                rows = [e for key in ("condition_rows", "skill_rows", "fallback_rows", "relax_rows")
                        for row in context[key] for e in row["errors"]]  # fmt: skip
                check_refusal(editor.form, rows, data)
                assert Rule.objects.count() == before
            _progress(f"editor-{via}", counts)
            return
        # Lone surrogates cannot be UTF-8; a browser would send their bytes anyway: send them too.
        body = urlencode(data, doseq=True, encoding="utf-8", errors="surrogatepass")
        response = ops_client.post("/ops/rules/new/", body, content_type="application/x-www-form-urlencoded",
                                   HTTP_HX_REQUEST="true")  # the fragment: the same validation, less to render
        assert response.status_code in (200, 302), (data, response.status_code)
        if response.status_code == 302 or response.headers.get("HX-Redirect"):
            counts["saved"] += 1
            assert Rule.objects.count() == before + 1
        else:
            counts["refused"] += 1
            context = response.context
            rows = [e for key in ("condition_rows", "skill_rows", "fallback_rows", "relax_rows")
                    for row in context[key] for e in row["errors"]]  # fmt: skip
            check_refusal(context["form"], rows, data)
            assert Rule.objects.count() == before
        _progress(f"editor-{via}", counts)

    run()
    print(f"rule editor {via}: {counts['saved']} saved, {counts['refused']} refused, 0 server errors")
    assert counts["saved"] and counts["refused"], counts
