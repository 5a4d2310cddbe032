"""Every page, as each role, speaks words where a label exists: no operator codes (gte, not_in),
no Python list, dict or boolean reprs, no ORM paths (lead__first_name), no raw reason, step,
strategy or criterion codes (at_open_cap, weighted_fair), no "attributes.<key>".

The pages are found by resolving the URL patterns, so a new page is walked without touching this
file; a new URL parameter must be given a value in ``PARAMS`` (the test says which).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from routing.engine.types import Criterion, Op, Outcome, Reason, StepKind, Strategy
from tests.ux.demo_world import DemoWorld, make_demo_world

pytestmark = pytest.mark.django_db

# Not pages a person reads: the JSON API and its schema, admin, probes, the event stream.
SKIP_PREFIXES = ("/admin/", "/api/", "/health/", "/metrics", "/inbox/events/", "/logout/")

ENGINE_CODES = sorted({str(m.value) for enum in (Reason, Criterion, Strategy, StepKind, Op) for m in enum if "_" in str(m.value)}
                      | {"gte", "lte"})  # fmt: skip
ENGLISH_OPS = {Op.IN, Op.CONTAINS, Op.BETWEEN}
FIELDS = "value|state|country|language|product_line|fit_score|intent|segment|postal_code|company|source|account_tier"
PROBLEMS = {
    # "in", "contains" and "between" are also English ("value in currency"): only before a list.
    "operator code": re.compile(rf"\b(?:attributes\.\w+|{FIELDS})\s+(?:{'|'.join(o.value for o in Op if o not in ENGLISH_OPS)}"
                                rf"|(?:in|between)(?=\s*\[))\b"),
    "engine code": re.compile(rf"\b(?:{'|'.join(map(re.escape, ENGINE_CODES))})\b"),
    "custom attribute path": re.compile(r"\battributes\.[a-z_]+"),
    "Python list": re.compile(r"\[(?:'[^']*'|\"[^\"]*\"|-?\d+(?:\.\d+)?)(?:, (?:'[^']*'|\"[^\"]*\"|-?\d+(?:\.\d+)?))*\]"),
    "Python dict": re.compile(r"\{'[^']+': "),
    "Python boolean": re.compile(r"(?<![\w-])(?:True|False)(?![\w-])"),
    "Python None": re.compile(r"(?<![\w-])None(?![\w:-])"),
    "ORM path": re.compile(r"\b[a-z]+__[a-z_]+\b"),
}
assert "at_open_cap" in ENGINE_CODES and "weighted_fair" in ENGINE_CODES and "not_in" in ENGINE_CODES


class VisibleText(HTMLParser):
    """Text a person sees: no scripts, styles or attribute values (titles keep raw codes for
    the curious, on purpose)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style", "template"):
            self._hidden += 1
        elif tag in ("br", "p", "div", "li", "tr", "td", "th", "option", "h1", "h2", "h3", "dt", "dd", "summary", "label"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return "".join(parser.parts)


def problems_in(text: str) -> list[str]:
    found = []
    for kind, pattern in PROBLEMS.items():
        for match in pattern.finditer(text):
            line = text[text.rfind("\n", 0, match.start()) + 1 : text.find("\n", match.end())].strip()
            found.append(f"{kind} {match.group(0)!r} in: {line[:160]}")
    return found


def url_patterns(patterns=None, prefix: str = "", namespace: str | None = None):  # noqa: ANN001, ANN201
    """(route text, name, parameter names) of every URL, by resolving the URLconf."""
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            yield from url_patterns(p.url_patterns, prefix + str(p.pattern), p.namespace or namespace)
        elif isinstance(p, URLPattern):
            regex = p.pattern.regex
            yield prefix + str(p.pattern), f"{namespace}:{p.name}" if namespace else p.name, list(regex.groupindex)


def params(world: DemoWorld) -> dict[str, list[dict]]:
    """Values for every URL parameter: several for ``kind`` (each console list), one otherwise."""
    from calendars.models import BusinessCalendar
    from reps.models import Pool, Rep, Skill, Territory
    from routing.models import Segment

    kinds = {"pools": Pool, "reps": Rep, "segments": Segment, "territories": Territory, "skills": Skill,
             "calendars": BusinessCalendar}  # fmt: skip
    objects = [{"kind": k, "pk": m.objects.order_by("pk").values_list("pk", flat=True).first()} for k, m in kinds.items()]
    return {
        "pk": [{"pk": world.rule_id}], "kind": [{"kind": k} for k in kinds], "kind+pk": objects,
        "direction+pk": [{"pk": world.rule_id, "direction": "up"}], "history_id+pk": [{"pk": world.rule_id, "history_id": 1}],
        "lead_id": [{"lead_id": world.lead_id}], "job_id": [{"job_id": world.job_id}],
        "history_id": [{"history_id": 1}], "version": [{"version": 1}], "direction": [{"direction": "up"}],
        "import_id": [{"import_id": world.import_id}], "offer_id": [{"offer_id": 1}], "absence_id": [{"absence_id": 1}],
        "token_id": [{"token_id": 1}], "email_id": [{"email_id": 1}], "delivery_id": [{"delivery_id": 1}],
        "synonym_id": [{"synonym_id": 1}],
    }  # fmt: skip


def params_by_name() -> dict[str, list[dict]]:
    """URLs whose ``pk`` is not a rule's."""
    from routing.models import Account

    return {name: [{"pk": Account.objects.order_by("pk").values_list("pk", flat=True).first()}]
            for name in ("console:account_edit", "console:account_delete")}  # fmt: skip


def urls(world: DemoWorld) -> tuple[list[str], list[str]]:
    """Every concrete URL to walk, and the routes whose parameters ``params`` cannot fill."""
    from django.urls import reverse

    values, out, unknown, by_name = params(world), [], [], params_by_name()
    for route, name, names in url_patterns():
        if ("/" + route).startswith(SKIP_PREFIXES):
            continue
        key = "+".join(sorted(names, key=lambda n: (n != "kind", n)))
        if key and key not in values:
            unknown.append(route)
            continue
        for kwargs in by_name.get(name) or (values[key] if key else [{}]):
            try:
                out.append(reverse(name, kwargs=kwargs or None))
            except Exception:  # noqa: BLE001 - an unnamed route, or a value its converter refuses
                unknown.append(route)
    return sorted(set(out)), unknown


def test_no_page_speaks_engine_codes_to_any_role() -> None:
    world = make_demo_world()
    pages, unknown = urls(world)
    assert not unknown, f"Give these URL parameters a value in tests/ux/test_no_engine_codes.py PARAMS: {unknown}"
    assert len(pages) >= 40
    found, walked = [], {}
    for role, username in world.users.items():
        client = Client()
        client.force_login(get_user_model().objects.get(username=username))
        walked[role] = 0
        for path in pages:
            response = client.get(path)
            # Sales Ops may open every page: a 404 for them means the walk filled a parameter wrongly.
            assert not (role == "ops" and response.status_code == 404), f"ops {path}: 404 (fix its parameter in params)"
            if response.status_code in (302, 403, 404, 405):
                continue  # not this role's page, or an action that only takes POST
            assert response.status_code == 200, f"{role} {path}: {response.status_code}"
            walked[role] += 1
            body = b"".join(response.streaming_content) if response.streaming else response.content
            text = body.decode()
            kind = response.get("Content-Type", "")
            if "csv" in kind:
                header = text.splitlines()[0] if text else ""
                found += [f"{role} {path}: CSV header {p}" for p in problems_in(header.replace(",", "\n"))]
            elif "html" in kind:
                found += [f"{role} {path}: {p}" for p in problems_in(visible_text(text))]
    assert walked["ops"] >= 35 and walked["manager"] >= 10 and walked["rep"] >= 2, walked
    assert not found, "\n".join(found)


@pytest.mark.parametrize(("text", "kind"), [
    ("value gte 50000", "operator code"), ("state in ['TX', 'FL']", "Python list"), ("state in ['TX']", "operator code"),
    ("attributes.vertical equals insurance", "custom attribute path"), ("Enabled: True", "Python boolean"),
    ("lead__first_name", "ORM path"), ("skipped: at_open_cap", "engine code"), ("weighted_fair", "engine code"),
    ("calendar: None", "Python None"), ("{'skill': 'x'}", "Python dict"),
])  # fmt: skip
def test_the_probe_catches_each_kind_of_engine_code(text: str, kind: str) -> None:
    assert any(p.startswith(kind) for p in problems_in(text)), problems_in(text)


@pytest.mark.parametrize("text", [
    "value is at least 50,000", "state is TX or FL", "Vertical is insurance", "Enabled: yes", "First name",
    "at open-lead cap", "Weighted fair", "None: the draft sends every lead to the same rep.", "lead in holding",
])  # fmt: skip
def test_the_probe_accepts_words(text: str) -> None:
    assert problems_in(text) == []
