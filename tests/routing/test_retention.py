"""Retention and archive (routing.services_retention) on either database: whole old months of
decisions and webhook deliveries exported to gzipped JSON Lines, then removed; pending
deliveries never; the month being written never. The PostgreSQL partitions themselves are in
test_partitions.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from routing.models import Decision, Offer, WebhookDelivery
from routing.services_retention import (
    TABLES,
    Month,
    _fingerprint,
    _rows_delete,
    archive_read,
    months_archive,
    retention_run,
)
from tests.factories import make_token
from tests.reps.helpers import make_world, route_new_lead
from tests.test_env import _settings_in_subprocess

pytestmark = pytest.mark.django_db

CURRENT = Month.of(timezone.now())
OLD, OLDER = CURRENT.plus(-2), CURRENT.plus(-3)


def _at(month: Month, day: int = 10) -> dt.datetime:
    return month.start.replace(day=day, hour=12)


def _delivery(month: Month, status: str = WebhookDelivery.Status.DELIVERED) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(event="lead.offered", payload={"lead_id": 1}, status=status,
                                              next_attempt_at=_at(month))  # fmt: skip
    # created_at is auto_now_add: moved into the month afterwards (on PostgreSQL, into its partition).
    WebhookDelivery.objects.filter(id=delivery.id).update(created_at=_at(month))
    return WebhookDelivery.objects.get(id=delivery.id)


@pytest.fixture
def history() -> dict[Month, list[int]]:
    """Decisions routed the normal way in two old months and this one, each with its offer."""
    make_world()
    ids: dict[Month, list[int]] = {}
    for month, count in ((OLDER, 2), (OLD, 3), (CURRENT, 1)):
        for i in range(count):
            lead = route_new_lead(now=min(_at(month, day=1 + i), timezone.now()))
            ids.setdefault(month, []).append(Decision.objects.get(lead=lead).id)
    return ids


def test_it_exports_old_months_readably_then_removes_exactly_them(history: dict[Month, list[int]], tmp_path: Path) -> None:
    client = Client(headers={"Authorization": f"Bearer {make_token(scopes=('read',))}"})
    api = {d: client.get(f"/api/v1/decisions?lead={Decision.objects.get(id=d).lead_id}").json()["items"][0]
           for d in history[OLD] + history[OLDER]}  # fmt: skip
    inputs = {d.id: d.inputs for d in Decision.objects.filter(id__in=api)}

    results = months_archive(before=CURRENT, out_dir=tmp_path)

    decisions = {r.month: r for r in results if r.table == "decisions"}
    assert set(decisions) == {OLDER, OLD} and all(r.dropped for r in decisions.values())
    for month in (OLDER, OLD):
        path = tmp_path / f"decisions-{month.label}.jsonl.gz"
        assert decisions[month].file == path and decisions[month].rows == len(history[month])
        rows = list(archive_read(path))
        assert [r["id"] for r in rows] == sorted(history[month])
        for row in rows:  # the API's shape, plus the facts the engine was given
            assert {k: v for k, v in row.items() if k != "inputs"} == api[row["id"]]
            assert row["inputs"] == inputs[row["id"]] and row["reasons"]["steps"]
    assert set(Decision.objects.values_list("id", flat=True)) == set(history[CURRENT])
    # Offers of dropped decisions no longer point at them; this month's still do.
    assert not Offer.objects.filter(decision_id__in=history[OLD] + history[OLDER]).exists()
    assert Offer.objects.filter(decision_id__in=history[CURRENT]).count() == 1
    assert not list(tmp_path.glob("*.partial"))


def test_a_month_with_a_pending_delivery_is_neither_exported_nor_dropped(tmp_path: Path) -> None:
    kept = [_delivery(OLD), _delivery(OLD, WebhookDelivery.Status.PENDING), _delivery(OLD, WebhookDelivery.Status.FAILED)]
    gone = _delivery(OLDER)

    results = months_archive(before=CURRENT, out_dir=tmp_path, tables=["webhook-deliveries"])

    by_month = {r.month: r for r in results}
    assert by_month[OLDER].dropped and by_month[OLDER].rows == 1
    assert not by_month[OLD].dropped and "1 delivery still pending" in by_month[OLD].note and by_month[OLD].file is None
    assert set(WebhookDelivery.objects.values_list("id", flat=True)) == {d.id for d in kept}
    assert [r["id"] for r in archive_read(tmp_path / f"webhook-deliveries-{OLDER.label}.jsonl.gz")] == [gone.id]
    assert not (tmp_path / f"webhook-deliveries-{OLD.label}.jsonl.gz").exists()


def test_a_month_that_changed_since_its_export_is_kept() -> None:
    delivery = _delivery(OLD, WebhookDelivery.Status.FAILED)
    spec = TABLES["webhook-deliveries"]
    exported = _fingerprint(spec, OLD)
    # Ops redeliver it after the export was written: the archive no longer says what is dropped.
    WebhookDelivery.objects.filter(id=delivery.id).update(status=WebhookDelivery.Status.DELIVERED,
                                                         next_attempt_at=timezone.now())  # fmt: skip
    assert _rows_delete(spec, OLD, expected=exported, batch=10) == "rows changed since the export: kept; run again"
    assert WebhookDelivery.objects.filter(id=delivery.id).exists()


def test_rows_are_deleted_in_batches(history: dict[Month, list[int]]) -> None:
    """The SQLite path (a plain table): one DELETE per batch, each its own transaction."""
    spec = TABLES["decisions"]
    with CaptureQueriesContext(connection) as queries:
        assert _rows_delete(spec, OLD, expected=_fingerprint(spec, OLD), batch=2) == ""
    deletes = [q["sql"] for q in queries if q["sql"].startswith('DELETE FROM "routing_decision"')]
    assert len(deletes) == 2  # 3 rows, 2 at a time
    assert not Decision.objects.filter(id__in=history[OLD]).exists()
    assert Decision.objects.filter(id__in=history[OLDER]).count() == 2


def test_a_second_export_of_a_month_never_overwrites_the_first(history: dict[Month, list[int]], tmp_path: Path) -> None:
    first = months_archive(before=CURRENT, out_dir=tmp_path, tables=["decisions"], drop=False)
    second = months_archive(before=CURRENT, out_dir=tmp_path, tables=["decisions"], drop=False)
    assert [r.file.name for r in first] == [f"decisions-{OLDER.label}.jsonl.gz", f"decisions-{OLD.label}.jsonl.gz"]
    assert [r.file.name for r in second] == [f"decisions-{OLDER.label}.2.jsonl.gz", f"decisions-{OLD.label}.2.jsonl.gz"]
    assert Decision.objects.count() == 6  # export only


def test_the_month_being_written_is_never_archived(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="still being written"):
        months_archive(before=CURRENT.plus(1), out_dir=tmp_path)
    with pytest.raises(CommandError, match="still being written"):
        call_command("archive", "--before", CURRENT.plus(1).label, "--out", str(tmp_path))


def test_decisions_stay_append_only_outside_retention(history: dict[Month, list[int]]) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        Decision.objects.filter(id__in=history[OLD]).delete()
    with pytest.raises(ValidationError):
        Decision.objects.filter(id__in=history[OLD]).update(summary="edited")
    assert Decision.objects.count() == 6


def test_the_command_archives_and_says_what_it_did(history: dict[Month, list[int]], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    call_command("archive", "--before", CURRENT.label, "--dry-run")
    assert f"decisions: {OLDER.label}, {OLD.label} before {CURRENT.label}" in capsys.readouterr().out
    # The dry run refuses what the real run refuses: the month still being written.
    with pytest.raises(CommandError, match="after the current month"):
        call_command("archive", "--before", CURRENT.plus(1).label, "--dry-run")
    with pytest.raises(CommandError, match="--out"):
        call_command("archive", "--before", CURRENT.label)
    call_command("archive", "--before", OLD.label, "--out", str(tmp_path), "--only", "decisions")
    out = capsys.readouterr().out
    assert f"decisions {OLDER.label}: 2 row(s) → {tmp_path / f'decisions-{OLDER.label}.jsonl.gz'}, dropped" in out
    assert Decision.objects.filter(id__in=history[OLD]).count() == 3  # not before OLD


def test_the_retention_pass_archives_months_past_the_setting(history: dict[Month, list[int]], tmp_path: Path,
                                                              settings) -> None:  # noqa: ANN001  # fmt: skip
    settings.LEADOPS_ARCHIVE_DIR = str(tmp_path)
    settings.LEADOPS_DECISION_RETENTION_MONTHS = 2  # keep this month and the two before it
    results = retention_run()
    assert [(r.month, r.dropped) for r in results] == [(OLDER, True)]
    assert (tmp_path / f"decisions-{OLDER.label}.jsonl.gz").exists()
    assert set(Decision.objects.values_list("id", flat=True)) == set(history[OLD] + history[CURRENT])


def test_the_retention_pass_drops_nothing_without_an_archive_dir(history: dict[Month, list[int]], settings) -> None:  # noqa: ANN001
    settings.LEADOPS_ARCHIVE_DIR = ""
    settings.LEADOPS_DECISION_RETENTION_MONTHS = 1
    assert retention_run() == [] and Decision.objects.count() == 6


def test_retention_without_an_archive_dir_is_refused_at_start(tmp_path: Path) -> None:
    base = {"LEADOPS_VAR_DIR": str(tmp_path), "LEADOPS_DECISION_RETENTION_MONTHS": "12"}
    refused = _settings_in_subprocess(base, "settings.LEADOPS_DECISION_RETENTION_MONTHS")
    assert refused.returncode != 0 and "LEADOPS_ARCHIVE_DIR" in refused.stderr
    accepted = _settings_in_subprocess({**base, "LEADOPS_ARCHIVE_DIR": str(tmp_path)}, "settings.LEADOPS_DECISION_RETENTION_MONTHS")
    assert accepted.returncode == 0 and accepted.stdout.strip() == "12", accepted.stderr
    relative = _settings_in_subprocess({**base, "LEADOPS_ARCHIVE_DIR": "archive"}, "1")
    assert relative.returncode != 0 and "absolute" in relative.stderr


def test_the_hourly_schedule_runs_the_retention_pass() -> None:
    from django_q.models import Schedule

    call_command("setup_schedules", stdout=None)
    schedule = Schedule.objects.get(name="leadops-partitions")
    assert (schedule.func, schedule.minutes) == ("routing.tasks.retention_pass", 60)
    assert "timeout" in schedule.kwargs


def test_months_are_utc_calendar_months() -> None:
    assert Month.parse("2026-01").plus(-1) == Month(2025, 12) and Month(2025, 12).plus(13) == Month(2027, 1)
    assert Month(2026, 12).end == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert Month.of(dt.datetime(2026, 3, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == Month(2026, 2)
    for bad in ("2026-13", "2026-1", "26-01", ""):
        with pytest.raises(ValueError):
            Month.parse(bad)
