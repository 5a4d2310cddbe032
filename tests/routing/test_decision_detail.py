"""Compact decision details in the database (``routing.decision_detail``): routing stores them
compact, every reader gets the engine's dict, pages, exports and the API render byte for byte as
they did for a plain row, and the legend stays right under concurrent writers."""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from reps.models import Role
from routing import detail_codec, services
from routing.decision_detail import details_compact, legend_cache_clear, legend_ensure
from routing.models import Decision, DecisionLegend, Lead
from tests.factories import (
    AbsenceFactory,
    LeadFactory,
    PoolFactory,
    PoolMemberFactory,
    RepFactory,
    RuleFactory,
    SegmentFactory,
    make_token,
    user_with_role,
)


def _stored(decision_id: int) -> Any:
    """What the detail column holds, read past the field."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT detail FROM routing_decision WHERE id = %s", [decision_id])
        (raw,) = cursor.fetchone()
    return json.loads(raw) if isinstance(raw, str) else raw


def _store_plain(decision_id: int, detail: dict[str, Any]) -> None:
    """Rewrite a row's detail as a plain dict, as routing wrote it before compaction (decisions
    are append-only through the ORM, so past it)."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE routing_decision SET detail = %s WHERE id = %s", [json.dumps(detail), decision_id])


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The plain details the routing batch hands to ``details_compact`` (copies, in order)."""
    seen: list[dict[str, Any]] = []

    def spy(*, decisions: list[Any], **kwargs: Any) -> None:
        seen.extend(copy.deepcopy(dict(d.detail)) for d in decisions)
        details_compact(decisions=decisions, **kwargs)

    monkeypatch.setattr(services, "details_compact", spy)
    return seen


def _world() -> dict[str, Any]:
    """A segment, a rule over a pool of three (one absent, so reasons show), a fallback pool."""
    segment = SegmentFactory(slug="hot", name="Hot", conditions=[{"field": "intent", "op": "equals", "value": "high"}])
    reps = [RepFactory(display_name=name) for name in ("Ana Ruiz", "Ben Okafor", "Cleo Park")]
    pool, spare = PoolFactory(name="Inbound"), PoolFactory(name="Spare")
    for rep, weight in zip(reps, (1, 2, 3), strict=True):
        PoolMemberFactory(pool=pool, rep=rep, weight=weight)
    PoolMemberFactory(pool=spare, rep=reps[0])
    AbsenceFactory(rep=reps[2])
    rule = RuleFactory(name="Hot to inbound", pool=pool, conditions=[{"field": "segment", "op": "equals", "value": "hot"}],
                       fallback=[{"kind": "pool", "target_id": spare.id}, {"kind": "holding"}])  # fmt: skip
    services.rule_publish(note="compact detail test")
    return {"segment": segment, "reps": reps, "pool": pool, "rule": rule}


def _route(**fields: Any) -> Lead:
    lead = LeadFactory(intent="high", value=Decimal("5000"), **fields)
    services.leads_route_all_pending()
    return Lead.objects.get(id=lead.id)


@pytest.mark.django_db
def test_routing_stores_the_detail_compact_and_every_read_gives_the_engine_dict(written: list[dict[str, Any]]) -> None:
    _world()
    lead = _route()
    decision = Decision.objects.get(lead=lead)
    [plain] = written
    stored = _stored(decision.id)
    assert detail_codec.is_compact(stored) and json.loads(stored)[0] == detail_codec.VERSION
    assert len(json.dumps(stored)) * 3 < len(json.dumps(plain))
    assert decision.detail == plain
    assert Decision.objects.values("detail").get(id=decision.id)["detail"] == plain
    assert Decision.objects.values_list("detail", flat=True).get(id=decision.id) == plain
    assert decision.detail["steps"][0]["candidates"][2]["reasons"] == ["absent"]
    # The texts it names are in the legend, once each.
    assert set(DecisionLegend.objects.values_list("code", flat=True)) >= detail_codec.codes(stored)


@pytest.mark.django_db
def test_a_plain_row_from_before_and_a_compact_row_read_alike() -> None:
    _world()
    lead = _route()
    compact = Decision.objects.get(lead=lead)
    old = Decision.objects.create(lead=lead, created_at=compact.created_at, outcome="holding", summary="old",
                                  detail={"steps": [], "rule": {"name": "Old rule"}, "made": "by hand"})  # fmt: skip
    assert isinstance(_stored(old.id), dict)
    details = dict(Decision.objects.filter(lead=lead).values_list("id", "detail"))
    assert details[old.id] == {"steps": [], "rule": {"name": "Old rule"}, "made": "by hand"}
    assert details[compact.id]["rule"]["name"] == "Hot to inbound"


# Per-request values: the masked CSRF token and the CSP nonce. (The inbox is compared by its
# "why" paragraphs: its countdown and resume times move with the clock.)
_CSRF = re.compile(r'(csrfmiddlewaretoken" value="|X-CSRFToken": "|nonce=")[^"]+')
_WHY = re.compile(r'<p class="why">.*?</p>', re.S)


def _clients(chosen_rep: Any) -> dict[str, Client]:
    ops = Client()
    ops.force_login(user_with_role(Role.OPS))
    rep = Client()
    rep.force_login(chosen_rep.user)
    return {"ops": ops, "rep": rep, "api": Client(headers={"Authorization": f"Bearer {make_token(scopes=('read',))}"})}


def _outputs(lead: Lead, clients: dict[str, Client]) -> dict[str, str]:
    """Every reader of a decision's detail, as its user gets it."""
    ops, api = clients["ops"], clients["api"]
    csv = ops.get("/dash/decisions/export.csv")
    pages = {
        "lead page": ops.get(f"/dash/leads/{lead.id}/").content.decode(),
        "explorer": ops.get("/dash/decisions/").content.decode(),
        "explorer csv": b"".join(csv.streaming_content).decode(),
        "api decisions": api.get(f"/api/v1/decisions?lead={lead.id}").content.decode(),
        "api lead": api.get(f"/api/v1/leads/{lead.id}").content.decode(),
        "inbox why": "\n".join(_WHY.findall(clients["rep"].get("/inbox/").content.decode())),
    }
    return {name: _CSRF.sub(r"\1…", body) for name, body in pages.items()}


@pytest.mark.django_db
def test_pages_exports_and_the_api_render_exactly_as_for_the_plain_row(written: list[dict[str, Any]]) -> None:
    world = _world()
    lead = _route()
    decision = Decision.objects.get(lead=lead)
    assert detail_codec.is_compact(_stored(decision.id))
    clients = _clients(next(r for r in world["reps"] if r.id == decision.chosen_rep_id))
    after = _outputs(lead, clients)
    api = json.loads(after["api decisions"])["items"][0]
    [plain] = written
    # The API hands out the detail the engine wrote: as the dict, in the database's key order.
    expected = detail_codec.jsonb_like(plain) if connection.vendor == "postgresql" else plain
    assert json.dumps(api["reasons"]) == json.dumps(json.loads(json.dumps(expected)))
    assert "Cleo Park: absent" in after["explorer csv"]  # the reason code, in words
    assert "could not take it" in after["inbox why"]  # the absent rep, told to the chosen one

    _store_plain(decision.id, plain)  # the same row as routing wrote it before compaction
    assert isinstance(_stored(decision.id), dict)
    before = _outputs(lead, clients)
    for name in after:
        assert after[name] == before[name], name


@pytest.mark.postgres
@pytest.mark.django_db
def test_jsonb_like_is_what_postgresql_gives_back_for_a_plain_dict() -> None:
    """The emulation compact rows are decoded with, against the real column."""
    _world()
    lead = _route()
    odd = {"score": 1e16, "big": -1.5e20, "zero": -0.0, "tiny": 1e-05, "int": 7, "x": [{"bb": 1, "a": 2.5}],
           "ccc": {"dd": None, "b": True}, "é": "→", "": "empty key"}  # fmt: skip
    row = Decision.objects.create(lead=lead, created_at=lead.received_at, outcome="holding", summary="odd", detail=odd)
    back = Decision.objects.get(id=row.id).detail
    assert json.dumps(back) == json.dumps(detail_codec.jsonb_like(odd))
    assert type(back["score"]) is int and back["zero"] == 0.0 and str(back["zero"]) == "0.0"


@pytest.mark.django_db
def test_a_detail_naming_a_code_taken_by_another_text_is_stored_plain(written: list[dict[str, Any]]) -> None:
    """A 63-bit hash collision is not expected in practice; if one happens the decision keeps
    its whole detail instead of naming the other text."""
    world = _world()
    _route()  # learn the segment and rule's legend text
    [first] = written
    specs_code = detail_codec.legend_code(detail_codec.legend_text([first["segment"], first["rule"]]))
    with connection.cursor() as cursor:  # another text under the specs' code (past the guard)
        cursor.execute("UPDATE routing_decisionlegend SET text = %s WHERE code = %s", ['"another text"', specs_code])
    legend_cache_clear()
    lead = _route()
    decision = Decision.objects.get(lead=lead)
    assert isinstance(_stored(decision.id), dict)
    assert decision.detail == written[-1] and decision.detail["rule"]["name"] == world["rule"].name


@pytest.mark.django_db
def test_a_cold_process_reads_the_legend_once_then_from_its_cache() -> None:
    _world()
    lead = _route()
    legend_cache_clear()
    with CaptureQueriesContext(connection) as cold:
        first = Decision.objects.get(lead=lead).detail
    with CaptureQueriesContext(connection) as warm:
        assert Decision.objects.get(lead=lead).detail == first
    assert len(cold) == 2 and "routing_decisionlegend" in cold[1]["sql"]
    assert len(warm) == 1


@pytest.mark.django_db
def test_committed_codes_are_not_inserted_again(django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    _world()
    with django_capture_on_commit_callbacks(execute=True):
        _route()
    with CaptureQueriesContext(connection) as second:
        _route()
    assert not [q for q in second if "routing_decisionlegend" in q["sql"]]


@pytest.mark.django_db
def test_a_missing_legend_row_fails_loudly() -> None:
    _world()
    lead = _route()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM routing_decisionlegend")
    legend_cache_clear()
    with pytest.raises(detail_codec.DecodeError, match="legend codes missing"):
        Decision.objects.get(lead=lead)


@pytest.mark.django_db
def test_the_legend_is_append_only() -> None:
    row = DecisionLegend.objects.create(code=1, text='"x"')
    with pytest.raises(ValidationError):
        row.save()
    with pytest.raises(ValidationError):
        row.delete()
    with pytest.raises(ValidationError):
        DecisionLegend.objects.filter(code=1).update(text='"y"')
    with pytest.raises(ValidationError):
        DecisionLegend.objects.all().delete()


# --- concurrent writers (PostgreSQL) ---------------------------------------------------------


def _entries(*names: str) -> dict[int, str]:
    texts = [detail_codec.legend_text({"name": name}) for name in names]
    return {detail_codec.legend_code(text): text for text in texts}


def _waiting_on_a_lock(pid: int) -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


def _run_writer(entries: dict[int, str], *, started: threading.Event, release: threading.Event | None, rollback: bool,
                results: dict[str, Any], name: str) -> None:  # fmt: skip
    try:
        with transaction.atomic():
            results[f"{name} pid"] = connection.connection.info.backend_pid
            started.set()
            results[f"{name} taken"] = legend_ensure(entries)
            results[f"{name} inserted"] = True
            if release is not None:
                release.wait(30)
            if rollback:
                transaction.set_rollback(True)
    except BaseException as exc:  # noqa: BLE001 - reported to the test thread
        results[f"{name} error"] = exc
    finally:
        connections.close_all()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first_commits", [True, False], ids=["first commits", "first rolls back"])
def test_a_second_writer_waits_for_the_first_and_the_text_is_stored_once(first_commits: bool) -> None:
    """Two workers insert the same new texts at once: the second waits on the first's
    uncommitted row, then finds it (first commits) or inserts it itself (first rolls back)."""
    entries = _entries("Rule A", "Roster B")
    results: dict[str, Any] = {}
    first_started, second_started, release = threading.Event(), threading.Event(), threading.Event()
    first = threading.Thread(target=_run_writer, args=(entries,), kwargs=dict(
        started=first_started, release=release, rollback=not first_commits, results=results, name="first"))
    first.start()
    while "first inserted" not in results and "first error" not in results:
        time.sleep(0.01)
    second = threading.Thread(target=_run_writer, args=(entries,), kwargs=dict(
        started=second_started, release=None, rollback=False, results=results, name="second"))
    second.start()
    second_started.wait(30)
    deadline = time.monotonic() + 30
    while not _waiting_on_a_lock(results["second pid"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _waiting_on_a_lock(results["second pid"]), "the second writer should wait for the first"
    assert "second inserted" not in results
    release.set()
    first.join(30)
    second.join(30)
    assert "first error" not in results and "second error" not in results, results
    assert results["first taken"] == set() and results["second taken"] == set()
    assert dict(DecisionLegend.objects.values_list("code", "text")) == entries


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_writers_with_overlapping_texts_never_deadlock_or_duplicate() -> None:
    names = [f"Text {i}" for i in range(12)]
    results: dict[str, Any] = {}
    barrier = threading.Barrier(6)

    def writer(index: int) -> None:
        mine = _entries(*names[index:] + names[:index])  # each in its own order
        try:
            barrier.wait(30)
            for _ in range(3):
                with transaction.atomic():
                    results[index] = legend_ensure(mine)
        except BaseException as exc:  # noqa: BLE001
            results[f"{index} error"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not [k for k in results if isinstance(k, str)], results
    assert all(results[i] == set() for i in range(6))
    assert dict(DecisionLegend.objects.values_list("code", "text")) == _entries(*names)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_workers_routing_at_once_store_details_every_process_can_read() -> None:
    """Four workers route a burst of leads at once, each inserting the same new legend texts;
    afterwards a process that has cached nothing reads every decision back."""
    _world()
    for i in range(40):
        LeadFactory(intent="high", value=Decimal("5000"), external_id=f"burst-{i}")
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(30)
            services.leads_route_pending(limit=5)
            services.leads_route_all_pending()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    legend_cache_clear()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    legend_cache_clear()
    details = list(Decision.objects.values_list("id", "detail"))
    assert len(details) == 40
    assert all(detail["rule"]["name"] == "Hot to inbound" and detail["steps"] for _, detail in details)
    assert all(detail_codec.is_compact(_stored(decision_id)) for decision_id, _ in details)
