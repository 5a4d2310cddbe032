"""Growth: decisions and webhook deliveries kept by month, exported, and dropped when old.

On PostgreSQL ``routing_decision`` and ``routing_webhookdelivery`` are partitioned by
``RANGE (created_at)`` (migration 0012): one partition per UTC month, ``<table>_pYYYY_MM``, and a
``<table>_default`` partition that catches rows of a month nobody created yet. On SQLite they are
plain tables.

- ``partitions_ensure`` creates the coming months' partitions (and the partitions of any month
  found in the DEFAULT partition, moving those rows in). Run hourly by the django-q2 schedule
  ``leadops-partitions`` and after every ``migrate``.
- ``months_archive`` exports whole months to gzipped JSON Lines, one file per table per month,
  then drops them: on PostgreSQL by detaching and dropping the month's partition, on SQLite by
  deleting in batches. A month is dropped only after its file is written, fsynced and renamed
  into place, and only if no row changed since (so the file holds exactly what was dropped);
  a month with webhook deliveries still pending is neither exported nor dropped.
- ``retention_run`` is the scheduled pass: it archives the months older than
  ``LEADOPS_DECISION_RETENTION_MONTHS`` / ``LEADOPS_WEBHOOK_RETENTION_MONTHS`` into
  ``LEADOPS_ARCHIVE_DIR``.

Decisions are append-only (``routing.models.Decision``): this module is the one place that removes
them, whole months at a time, through ``DecisionQuerySet.delete_for_retention`` or by dropping
their partition. See docs/operations.md, "Retention and archive".
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gzip
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, models, transaction
from django.db.models import Count, Max, Sum
from django.utils import timezone

from routing.models import Decision, Offer, WebhookDelivery

log = logging.getLogger(__name__)

MONTHS_AHEAD = 3  # partitions made ahead of time: a missed hourly run for months costs nothing
LOCK_TIMEOUT = "5s"  # wait at most this for a table lock; the next run tries again
DELETE_BATCH = 5000  # rows per transaction when deleting (SQLite) or unlinking offers
EXPORT_CHUNK = 2000  # rows fetched per round trip while exporting
_RETENTION_LOCK = 7_316_201_216  # pg advisory lock key: one archive or retention pass at a time


@dataclasses.dataclass(frozen=True, order=True)
class Month:
    """A calendar month in UTC: rows belong to it by ``created_at``, from ``start`` (inclusive)
    to ``end`` (exclusive)."""

    year: int
    month: int

    @classmethod
    def of(cls, moment: dt.datetime) -> Month:
        moment = moment.astimezone(dt.UTC)
        return cls(moment.year, moment.month)

    @classmethod
    def parse(cls, text: str) -> Month:
        """``"2026-01"`` → Month(2026, 1). Raises ValueError on anything else."""
        match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise ValueError(f"{text!r} is not a month: use YYYY-MM, e.g. 2026-01")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> dt.datetime:
        return dt.datetime(self.year, self.month, 1, tzinfo=dt.UTC)

    @property
    def end(self) -> dt.datetime:
        return self.plus(1).start

    def plus(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)


@dataclasses.dataclass(frozen=True)
class ArchivedTable:
    """One table kept by month. ``name`` is its name on the command line and in file names;
    ``serialize`` turns a row into its archive line (the API's shape); ``changed_at`` is a
    field every change to a row moves forward (so a month's ``Max`` of it shows a change)."""

    name: str
    model: type[models.Model]
    serialize: Callable[[Any], dict[str, Any]]
    changed_at: str

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def rows(self, month: Month) -> models.QuerySet:
        return self.model.objects.filter(created_at__gte=month.start, created_at__lt=month.end)


def _decision_line(decision: Decision) -> dict[str, Any]:
    from routing.api.schemas import decision_out  # the API's shape, detail decoded as the API reads it

    return {**decision_out(decision), "inputs": decision.inputs}


def _delivery_line(delivery: WebhookDelivery) -> dict[str, Any]:
    from routing.api.schemas import delivery_out

    return delivery_out(delivery)


TABLES = {
    "decisions": ArchivedTable("decisions", Decision, _decision_line, changed_at="created_at"),
    # Every change of a delivery (claim, attempt, redeliver) sets next_attempt_at to now or later.
    "webhook-deliveries": ArchivedTable("webhook-deliveries", WebhookDelivery, _delivery_line,
                                        changed_at="next_attempt_at"),
}  # fmt: skip


class ArchiveBusy(RuntimeError):
    """Another archive or retention pass holds the lock."""


@dataclasses.dataclass(frozen=True)
class PartitionReport:
    created: list[str]  # partitions created, e.g. "routing_decision_p2027_03"
    moved: int  # rows moved out of the DEFAULT partitions into their month's
    failed: list[str]  # "<partition>: <error>" (the next run tries again)


@dataclasses.dataclass(frozen=True)
class MonthArchive:
    """What happened to one month of one table."""

    table: str  # ArchivedTable.name
    month: Month
    rows: int
    file: Path | None  # the export (None: not exported, or no rows)
    dropped: bool
    note: str = ""  # why it was kept, or what to know

    def describe(self) -> str:
        what = "dropped" if self.dropped else "kept"
        where = f" → {self.file}" if self.file else ""
        note = f" ({self.note})" if self.note else ""
        return f"{self.table} {self.month.label}: {self.rows} row(s){where}, {what}{note}"


# --- Partitions (PostgreSQL) -----------------------------------------------------------------


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def partition_name(table: str, month: Month) -> str:
    return f"{table}_p{month.year:04d}_{month.month:02d}"


def is_partitioned(table: str) -> bool:
    """True on PostgreSQL once migration 0012 has converted ``table``."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [table])
        return cursor.fetchone() is not None


def partitions(table: str) -> dict[Month, str]:
    """The monthly partitions attached to ``table``, by month (not the DEFAULT one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [table],
        )
        names = [name for (name,) in cursor.fetchall()]
    found = {}
    for name in names:
        match = re.fullmatch(re.escape(table) + r"_p(\d{4})_(\d{2})", name)
        if match:
            found[Month(int(match.group(1)), int(match.group(2)))] = name
    return found


def _default_months(table: str) -> list[Month]:
    """Months that have rows in ``table``'s DEFAULT partition (normally none)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC') FROM {_qn(table + '_default')}"
        )
        return sorted(Month(day.year, day.month) for (day,) in cursor.fetchall())


def _columns(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum",
            [table],
        )
        return ", ".join(_qn(name) for (name,) in cursor.fetchall())


def _bound(month: Month) -> str:
    """The SQL literal of a month's first instant (UTC): DDL takes no bind parameters."""
    return f"'{month.start:%Y-%m-%d} 00:00:00+00'"


def _lock_timeout(cursor: Any) -> None:
    """For the rest of the current transaction: give up on a lock after LOCK_TIMEOUT rather than
    queue every reader and writer of the table behind this statement."""
    cursor.execute("SELECT set_config('lock_timeout', %s, true)", [LOCK_TIMEOUT])


def _partition_create(table: str, month: Month) -> int:
    """Create ``month``'s partition of ``table``; rows of that month waiting in the DEFAULT
    partition are moved into it (PostgreSQL refuses the partition otherwise). Returns how many
    rows moved. One transaction; raises DatabaseError (e.g. lock timeout) with nothing changed."""
    name, default = partition_name(table, month), f"{table}_default"
    columns = _columns(table)
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_timeout(cursor)
        cursor.execute("SELECT to_regclass(%s)", [name])
        if cursor.fetchone()[0] is not None:
            return 0
        # Taken first, in the order everyone else takes them (parent, then partitions): writers
        # wait a moment, readers carry on, and no reader can deadlock with the CREATE below.
        cursor.execute(f"LOCK TABLE {_qn(table)} IN SHARE ROW EXCLUSIVE MODE")
        scratch = f"_leadops_moving_{name}"
        cursor.execute(f"CREATE TEMPORARY TABLE {_qn(scratch)} (LIKE {_qn(table)})")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {_qn(default)} WHERE created_at >= %s AND created_at < %s RETURNING {columns}) "
            f"INSERT INTO {_qn(scratch)} ({columns}) SELECT {columns} FROM moved",
            [month.start, month.end],
        )
        moved = cursor.rowcount
        cursor.execute(f"CREATE TABLE {_qn(name)} PARTITION OF {_qn(table)} "
                       f"FOR VALUES FROM ({_bound(month)}) TO ({_bound(month.plus(1))})")  # fmt: skip
        if moved:
            cursor.execute(f"INSERT INTO {_qn(table)} ({columns}) SELECT {columns} FROM {_qn(scratch)}")
        cursor.execute(f"DROP TABLE {_qn(scratch)}")
    return moved


def partitions_ensure(*, months_ahead: int = MONTHS_AHEAD, now: dt.datetime | None = None) -> PartitionReport:
    """Make sure every partitioned table has a partition for this month and the next
    ``months_ahead`` months, and for every month that has rows in its DEFAULT partition (those
    rows are moved in). Idempotent; a no-op on SQLite or before migration 0012.

    A partition that cannot be made now (a lock not granted within LOCK_TIMEOUT, say) is listed
    in ``failed`` and the others are still made; the hourly schedule tries again.
    """
    created: list[str] = []
    failed: list[str] = []
    moved = 0
    current = Month.of(now or timezone.now())
    for spec in TABLES.values():
        if not is_partitioned(spec.table):
            continue
        have = partitions(spec.table)
        wanted = {current.plus(i) for i in range(months_ahead + 1)} | set(_default_months(spec.table))
        for month in sorted(wanted - set(have)):
            name = partition_name(spec.table, month)
            try:
                moved += _partition_create(spec.table, month)
            except DatabaseError as exc:
                log.warning("could not create partition %s: %s", name, exc,
                            extra={"event": "partition.failed", "partition": name})  # fmt: skip
                failed.append(f"{name}: {exc}".strip())
                continue
            created.append(name)
            log.info("created partition %s", name, extra={"event": "partition.created", "partition": name})
    return PartitionReport(created=created, moved=moved, failed=failed)


# --- Archive ----------------------------------------------------------------------------------


def _refuse_current_month(before: Month, *, now: dt.datetime | None = None) -> None:
    """Raise ValueError when ``before`` is later than the current month: archiving would take the
    month still being written (the rule of ``months_archive`` and of its dry run alike)."""
    current = Month.of(now or timezone.now())
    if before > current:
        raise ValueError(f"--before {before.label} is after the current month {current.label}: that data is still "
                         "being written")  # fmt: skip


def archive_months_before(*, before: Month, tables: Iterable[str] = TABLES,
                          now: dt.datetime | None = None) -> dict[str, list[Month]]:  # fmt: skip
    """The months of each table that hold rows (or, on PostgreSQL, have a partition) and are
    older than ``before``, oldest first: what ``months_archive`` would take. Raises ValueError,
    as it does, for a ``before`` later than the current month."""
    _refuse_current_month(before, now=now)
    found: dict[str, list[Month]] = {}
    for key in tables:
        spec = TABLES[key]
        months: set[Month] = set()
        if is_partitioned(spec.table):
            months = {m for m in partitions(spec.table) if m < before}
            months |= {m for m in _default_months(spec.table) if m < before}
        else:
            months = {
                Month(day.year, day.month)
                for day in spec.model.objects.filter(created_at__lt=before.start).datetimes(
                    "created_at", "month", tzinfo=dt.UTC
                )
            }
        found[key] = sorted(months)
    return found


def months_archive(*, before: Month, out_dir: Path | None, tables: Iterable[str] = TABLES, drop: bool = True,
                   now: dt.datetime | None = None, batch: int = DELETE_BATCH) -> list[MonthArchive]:  # fmt: skip
    """Export every month of ``tables`` (keys of TABLES) older than ``before`` to ``out_dir``
    (``<table>-YYYY-MM.jsonl.gz``), then, with ``drop``, remove those months.

    ``out_dir=None`` with ``drop`` removes without exporting (the caller asked for it by name).
    ``before`` must not be later than the current month (the month being written is never
    archived). A month that cannot be dropped is reported with the reason and kept; the others
    go on. ``batch``: rows per DELETE on SQLite, offers unlinked per UPDATE.

    Raises ValueError for a ``before`` in the future or an unknown table, and ArchiveBusy when
    another pass is running (PostgreSQL: one at a time, by an advisory lock).
    """
    _refuse_current_month(before, now=now)
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise ValueError(f"unknown table(s) {', '.join(unknown)}: use {', '.join(TABLES)}")
    with _one_pass() as alone:
        if not alone:
            raise ArchiveBusy("another archive pass is running (manage.py archive or the hourly retention pass)")
        results = []
        for key, months in archive_months_before(before=before, tables=tables, now=now).items():
            for month in months:
                try:
                    result = _month_archive(TABLES[key], month, out_dir=out_dir, drop=drop, batch=batch)
                except (DatabaseError, OSError) as exc:  # quarantine the month, go on with the others
                    result = MonthArchive(key, month, rows=0, file=None, dropped=False, note=f"failed: {exc}")
                log.info("%s", result.describe(), extra={"event": "archive.month", "table": key, "month": month.label,
                                                   "rows": result.rows, "dropped": result.dropped})  # fmt: skip
                results.append(result)
        return results


@contextlib.contextmanager
def _one_pass() -> Iterator[bool]:
    """Yields True when this session holds the archive lock (always, on SQLite)."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_RETENTION_LOCK])
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_RETENTION_LOCK])


def _fingerprint(spec: ArchivedTable, month: Month) -> tuple[Any, ...]:
    """Row count, id sum and latest change of a month: equal before the export and at the drop
    only if the month's rows are the ones exported."""
    got = spec.rows(month).order_by().aggregate(rows=Count("id"), ids=Sum("id"), changed=Max(spec.changed_at))
    return got["rows"], got["ids"] or 0, got["changed"]


def _month_archive(spec: ArchivedTable, month: Month, *, out_dir: Path | None, drop: bool, batch: int) -> MonthArchive:
    """Steps for one month of one table:

    1. On PostgreSQL, rows still in the DEFAULT partition get their month's partition first.
    2. Webhook deliveries: a month with pending ones is left alone.
    3. Fingerprint the month, export it (file fsynced, then renamed into place), check the export
       wrote that many rows.
    4. Drop: PostgreSQL checks the fingerprint again with writers held off, then detaches and
       drops the partition; SQLite deletes in batches of ``batch`` (never a pending delivery).
    """
    partitioned = is_partitioned(spec.table)
    if partitioned and month not in partitions(spec.table):
        _partition_create(spec.table, month)
    if spec.model is WebhookDelivery:
        pending = spec.rows(month).filter(status=WebhookDelivery.Status.PENDING).count()
        if pending:
            rows = spec.rows(month).count()
            return MonthArchive(spec.name, month, rows=rows, file=None, dropped=False,
                                note=f"{pending} deliver{'y' if pending == 1 else 'ies'} still pending: not exported, not dropped")  # fmt: skip
    expected = _fingerprint(spec, month)
    rows = expected[0]
    file = None
    if out_dir is not None and rows:
        file, written = _export(spec, month, out_dir)
        if written != rows:
            return MonthArchive(spec.name, month, rows=written, file=file, dropped=False,
                                note=f"{rows} rows counted but {written} exported (rows changed): run again")  # fmt: skip
    if not drop:
        return MonthArchive(spec.name, month, rows=rows, file=file, dropped=False, note="export only")
    if spec.model is Decision:
        _offers_unlink(month, batch=batch)
    if partitioned:
        note = _partition_drop(spec, month, expected=expected)
    else:
        note = _rows_delete(spec, month, expected=expected, batch=batch)
    return MonthArchive(spec.name, month, rows=rows, file=file, dropped=not note, note=note)


def _export(spec: ArchivedTable, month: Month, out_dir: Path) -> tuple[Path, int]:
    """Write the month's rows, oldest id first, one JSON object per line, gzipped. The file
    appears under its final name only once complete and on disk (written to ``.partial``,
    fsynced, renamed, directory fsynced). A file left by an earlier run is never overwritten:
    the new one is ``<table>-YYYY-MM.2.jsonl.gz`` (and so on). Returns (path, rows written)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"{spec.name}-{month.label}.jsonl.gz"
    copy = 1
    while final.exists():
        copy += 1
        final = out_dir / f"{spec.name}-{month.label}.{copy}.jsonl.gz"
    partial = final.with_name(final.name + ".partial")
    written = 0
    encoder = _ArchiveEncoder(ensure_ascii=False, separators=(",", ":"))
    with open(partial, "wb") as raw:
        with gzip.GzipFile(filename=final.name.removesuffix(".gz"), mode="wb", fileobj=raw, mtime=0) as gz:
            for row in _rows_by_id(spec, month):
                gz.write(encoder.encode(spec.serialize(row)).encode() + b"\n")
                written += 1
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(partial, final)
    directory = os.open(out_dir, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return final, written


class _ArchiveEncoder(DjangoJSONEncoder):
    """The API's JSON (django-ninja encodes with DjangoJSONEncoder), except that date-times keep
    their microseconds: the archive may be the last copy."""

    def default(self, o: Any) -> Any:
        if isinstance(o, dt.datetime):
            text = o.isoformat()
            return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
        return super().default(o)


def _rows_by_id(spec: ArchivedTable, month: Month) -> Iterator[Any]:
    """The month's rows in id order, EXPORT_CHUNK at a time (keyset pages: no long-lived cursor
    and no transaction held open while the file is written)."""
    last = 0
    while True:
        chunk = list(spec.rows(month).filter(id__gt=last).order_by("id")[:EXPORT_CHUNK])
        yield from chunk
        if len(chunk) < EXPORT_CHUNK:
            return
        last = chunk[-1].id


def _offers_unlink(month: Month, *, batch: int) -> None:
    """Clear ``Offer.decision`` for the month's decisions (there is no database constraint to
    do it), ``batch`` decision ids per UPDATE, each its own transaction, before the drop: an
    offer of an archived decision then reads as one without a decision, not a dangling id."""
    spec = TABLES["decisions"]
    bounds = spec.rows(month).order_by().aggregate(low=models.Min("id"), high=Max("id"))
    if bounds["low"] is None:
        return
    low = bounds["low"]
    while low <= bounds["high"]:
        high = low + batch
        ids = spec.rows(month).filter(id__gte=low, id__lt=high).values("id")
        Offer.objects.filter(decision_id__gte=low, decision_id__lt=high, decision_id__in=ids).update(decision=None)
        low = high


def _partition_drop(spec: ArchivedTable, month: Month, *, expected: tuple[Any, ...]) -> str:
    """Detach and drop the month's partition in one transaction, once the month is as exported
    and (webhooks) holds no pending delivery. Returns "" when dropped, else why not."""
    name = partition_name(spec.table, month)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            _lock_timeout(cursor)
            # Deferred foreign-key checks of rows written earlier in an enclosing transaction
            # (a test's, say) run now: PostgreSQL drops no table with such checks pending.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            # Writers of the table wait from here to the commit (a moment); readers carry on.
            cursor.execute(f"LOCK TABLE {_qn(spec.table)} IN SHARE MODE")
            if _fingerprint(spec, month) != expected:
                return "rows changed since the export: kept; run again"
            if spec.model is WebhookDelivery and spec.rows(month).filter(status=WebhookDelivery.Status.PENDING).exists():
                return "a delivery became pending: kept; run again"
            cursor.execute(f"ALTER TABLE {_qn(spec.table)} DETACH PARTITION {_qn(name)}")
            cursor.execute(f"DROP TABLE {_qn(name)}")
    except DatabaseError as exc:
        return f"could not drop partition {name} now ({str(exc).strip()}): kept; run again"
    return ""


def _rows_delete(spec: ArchivedTable, month: Month, *, expected: tuple[Any, ...], batch: int) -> str:
    """Delete the month's rows ``batch`` at a time, each batch its own transaction (SQLite
    holds one writer: a long DELETE would stall routing). Pending deliveries are never deleted.
    Returns "" when the month is empty afterwards, else why not."""
    if _fingerprint(spec, month) != expected:
        return "rows changed since the export: kept; run again"
    deletable = spec.rows(month)
    if spec.model is WebhookDelivery:
        deletable = deletable.exclude(status=WebhookDelivery.Status.PENDING)
    while True:
        with transaction.atomic():
            ids = list(deletable.order_by("id").values_list("id", flat=True)[:batch])
            if not ids:
                break
            if spec.model is Decision:
                Decision.objects.filter(id__in=ids).delete_for_retention()
            else:
                spec.model.objects.filter(id__in=ids).delete()
    left = spec.rows(month).count()
    return f"{left} row(s) left (pending deliveries): kept" if left else ""


# --- Retention (the scheduled pass) -------------------------------------------------------------


def retention_run(*, now: dt.datetime | None = None) -> list[MonthArchive]:
    """The hourly pass: make the coming partitions, then archive each table's months older than
    its retention setting (``LEADOPS_DECISION_RETENTION_MONTHS``,
    ``LEADOPS_WEBHOOK_RETENTION_MONTHS``; 0 keeps everything). N months keeps the current month
    and the N before it. Months go to ``LEADOPS_ARCHIVE_DIR``; without one, nothing is dropped
    unless ``LEADOPS_RETENTION_WITHOUT_ARCHIVE`` is on (settings refuse the combination at start;
    this checks again)."""
    now = now or timezone.now()
    report = partitions_ensure(now=now)
    if report.failed:
        log.warning("partitions not created: %s", "; ".join(report.failed), extra={"event": "partition.failed"})
    out_dir = Path(settings.LEADOPS_ARCHIVE_DIR) if settings.LEADOPS_ARCHIVE_DIR else None
    if out_dir is None and not settings.LEADOPS_RETENTION_WITHOUT_ARCHIVE:
        if retention_months():
            log.error("retention is set but LEADOPS_ARCHIVE_DIR is not: nothing dropped",
                      extra={"event": "retention.no_archive_dir"})  # fmt: skip
        return []
    results = []
    try:
        for key, months in retention_months().items():
            results += months_archive(before=Month.of(now).plus(-months), out_dir=out_dir, tables=[key], now=now)
    except ArchiveBusy:
        log.info("another archive pass is running; this one stops", extra={"event": "archive.busy"})
    return results


def retention_months() -> dict[str, int]:
    """Each table's retention in months, for the tables that have one."""
    configured = {"decisions": settings.LEADOPS_DECISION_RETENTION_MONTHS,
                  "webhook-deliveries": settings.LEADOPS_WEBHOOK_RETENTION_MONTHS}  # fmt: skip
    return {key: months for key, months in configured.items() if months}


def archive_read(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of an archive file, in order (for checks and restores)."""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)
