"""CSV import of leads: the whole file is decoded or refused, every row is accounted for, and a
large file is imported in the background from a checkpoint.

1. ``csv_inspect`` reads the whole file once: it picks the encoding (a BOM says UTF-8 or UTF-16;
   otherwise UTF-8 if every byte decodes as UTF-8, else Windows-1252, which is what Excel's
   "CSV (Comma delimited)" writes on Windows), the separator (comma, semicolon, tab or pipe,
   from the header line) and counts the rows. A file that does not decode, or whose header is
   wrong, is refused as a whole, naming the line; nothing is imported.
2. ``lead_import_process`` imports rows in chunks. Each chunk's leads, the checkpoint
   (``LeadImport.rows_done``), the counters and the row errors are committed in one
   transaction, so a killed worker resumes after the last committed row and no row is imported
   twice; (source, external_id) is unique as a second guard.
3. Every row ends in exactly one bucket: imported, already present (same source and external id,
   from an earlier import, the API, or earlier in this file) or rejected with its line and field.
   ``created + already_present + rejected == rows_total`` when the import is done.
4. Files with other headers (CRM exports, badge scanners) are read through a column mapping
   (``routing.import_mapping``): each row is turned into the normaliser's payload by
   ``mapping_apply`` and row errors name the lead field and the file's column.
   ``lead_import_dry_run`` runs steps 1 and 3 without writing anything.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from routing.import_mapping import ATTRIBUTE_PREFIX, ColumnMapping, mapping_apply, mapping_check
from routing.models import ImportMapping, Lead, LeadImport
from routing.reference import Vocabulary, vocabulary_load
from routing.services import _wake_router, bulk_insert_new, lead_build
from routing.snapshots import intake_reference
from routing.validation import ALL_FIELDS, REQUIRED, LeadInputError, clean_lead

log = logging.getLogger(__name__)
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
MAX_ERRORS_KEPT = 1000
csv.field_size_limit(128 * 1024)


class CsvRefused(Exception):
    """The whole file is refused; the message names the line and what to do."""


@dataclass(frozen=True)
class CsvLayout:
    encoding: str
    delimiter: str
    header: tuple[str, ...]
    rows_total: int


def encoding_name(name: str) -> str:
    """The codec name for ``name`` ("UTF8", "windows-1252", "latin1"); raises CsvRefused if unknown."""
    try:
        return codecs.lookup(name.strip()).name
    except (LookupError, ValueError):
        raise CsvRefused(f"Unknown encoding {name!r}: use utf-8, utf-16 or cp1252 (Windows Excel).") from None


def _candidate_encodings(path: Path) -> list[str]:
    with path.open("rb") as handle:
        head = handle.read(4096)
    if head.startswith(codecs.BOM_UTF8):
        return ["utf-8-sig"]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return ["utf-16"]
    sample = head[: len(head) - len(head) % 2]
    if len(sample) >= 4:
        odd_nuls, even_nuls = sample[1::2].count(0), sample[0::2].count(0)
        if odd_nuls > len(sample) // 4 and even_nuls == 0:
            return ["utf-16-le"]
        if even_nuls > len(sample) // 4 and odd_nuls == 0:
            return ["utf-16-be"]
    return ["utf-8", "cp1252"]


def _open_text(path: Path, encoding: str) -> IO[str]:
    return path.open("r", encoding=encoding, errors="strict", newline="")


def _detect_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _scan(path: Path, encoding: str, delimiter: str | None, mapping: ColumnMapping | None, check: bool) -> CsvLayout:
    """One pass over the file: raises UnicodeDecodeError (with the line in ``args``) or CsvRefused."""
    line_no = 0
    with _open_text(path, encoding) as handle:
        try:
            first = handle.readline()
            line_no = 1
            chosen = delimiter or _detect_delimiter(first)
            handle.seek(0)
            reader = csv.reader(handle, delimiter=chosen)
            header: list[str] = []
            rows = 0
            for record in reader:
                line_no = reader.line_num
                if not header:
                    header = [cell.strip().lstrip("\ufeff") for cell in record]  # a BOM the codec kept
                    continue
                if record:
                    rows += 1
        except csv.Error as exc:
            raise CsvRefused(f"Unreadable CSV at line {line_no + 1}: {exc}. Nothing was imported.") from None
    if check:
        _check_header(header, chosen, guessed=delimiter is None, mapping=mapping)
    elif not header or header == [""]:
        raise CsvRefused("The file is empty or has no header row.")
    return CsvLayout(encoding=encoding, delimiter=chosen, header=tuple(header), rows_total=rows)


def _check_header(header: list[str], delimiter: str, *, guessed: bool, mapping: ColumnMapping | None = None) -> None:
    read_as = f"read as {DELIMITERS.get(delimiter, repr(delimiter))}-separated"
    hint = f" ({read_as}; choose the separator if that is wrong)" if guessed else f" ({read_as})"
    if not header or header == [""]:
        raise CsvRefused("The file is empty or has no header row.")
    if mapping is not None:
        problems = mapping_check(mapping, header)
        if problems:
            raise CsvRefused(" ".join(m for messages in problems.values() for m in messages) + hint)
        return
    unknown = [h for h in header if h not in ALL_FIELDS and not h.startswith("attr.")]
    if unknown:
        shown = ", ".join(repr(h[:40]) if not h.isprintable() else h[:40] for h in unknown[:10])
        raise CsvRefused(f"Unknown column(s): {shown}{hint}. Use lead field names, or attr.<key> for custom attributes, "
                         "or map the file's columns (the import page's mapping step, importleads --mapping).")
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise CsvRefused(f"The header must include source and external_id (missing: {', '.join(missing)}){hint}.")


def _undecodable_line(path: Path, encoding: str) -> int | str:
    """The 1-based line holding the first byte that ``encoding`` cannot decode (text readers
    decode ahead in blocks, so their position is not the line)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    lines = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 16):
            try:
                lines += decoder.decode(block).count("\n")
            except UnicodeDecodeError as exc:
                good = block[: exc.start]
                return lines + good.decode(encoding, errors="replace").count("\n") + 1
    return "?"


def csv_inspect(path: Path, *, encoding: str | None = None, delimiter: str | None = None,
                mapping: ColumnMapping | None = None, check_header: bool = True) -> CsvLayout:  # fmt: skip
    """Decode the whole file and read its layout, or raise CsvRefused naming the line.

    ``encoding``/``delimiter``: what the user chose; None detects them (see the module docstring).
    ``mapping``: the header is checked against it (``mapping_check``) instead of against LeadOps'
    own column names. ``check_header=False``: any header is read (the mapping step shows it).
    """
    candidates = [encoding_name(encoding)] if encoding else _candidate_encodings(path)
    if delimiter is not None and delimiter not in DELIMITERS:
        raise CsvRefused("Choose comma, semicolon, tab or pipe as the separator.")
    for index, candidate in enumerate(candidates):
        try:
            return _scan(path, candidate, delimiter, mapping, check_header)
        except UnicodeDecodeError as exc:
            if index + 1 < len(candidates):
                continue
            line = _undecodable_line(path, candidate)
            raise CsvRefused(
                f"Could not read line {line} as {candidate} text ({exc.reason}). Nothing was imported. "
                "Save the file as CSV UTF-8, or choose its encoding."
            ) from None
    raise CsvRefused("Could not read the file.")  # pragma: no cover - candidates is never empty


# --- import ----------------------------------------------------------------------------------


def lead_import_create(*, path: Path, file_name: str, encoding: str = "", delimiter: str = "", user: Any = None,
                       mapping: ColumnMapping | None = None, mapping_name: str = "",
                       awaiting_mapping: bool = False) -> LeadImport:  # fmt: skip
    """Record an import of the CSV at ``path`` (already stored), waiting to start.

    ``mapping``: the column mapping for every row (None: the file uses LeadOps' column names).
    ``awaiting_mapping``: uploaded on the page, whose mapping step comes first; nothing runs the
    import until ``lead_import_start``.
    """
    return LeadImport.objects.create(
        file_name=file_name[:255], path=str(path), size_bytes=path.stat().st_size if path.exists() else 0,
        encoding=encoding, delimiter=delimiter, created_by=user if getattr(user, "is_authenticated", False) else None,
        created_at=timezone.now(), mapping=mapping.model_dump() if mapping is not None else None,
        mapping_name=mapping_name[:100],
        status=LeadImport.Status.MAPPING if awaiting_mapping else LeadImport.Status.QUEUED,
    )  # fmt: skip


def lead_import_start(*, job: LeadImport, mapping: ColumnMapping | None, mapping_name: str = "",
                      encoding: str | None = None, delimiter: str | None = None) -> bool:  # fmt: skip
    """Start an import waiting for its mapping: record the mapping (and the encoding and separator
    chosen on the mapping page) and queue it. False when it was already started (a second click)."""
    values: dict[str, Any] = {"mapping": mapping.model_dump() if mapping is not None else None,
                              "mapping_name": mapping_name[:100], "status": LeadImport.Status.QUEUED}  # fmt: skip
    if encoding is not None:
        values["encoding"] = encoding
    if delimiter is not None:
        values["delimiter"] = delimiter
    started = LeadImport.objects.filter(id=job.id, status=LeadImport.Status.MAPPING).update(**values)
    if started:
        transaction.on_commit(lambda: lead_import_enqueue(import_id=job.id))
    return bool(started)


def lead_import_enqueue(*, import_id: int) -> None:
    """Queue the background task that (re)starts or continues an import; safe to call twice."""
    from django_q.tasks import async_task

    try:
        async_task("routing.tasks.lead_import_continue", import_id, group="lead-import", q_options={"ack_failure": True})
    except Exception:  # the broker being down must not lose the import: the sweep resumes it
        log.exception("could not enqueue lead import %s; the sweep will resume it", import_id)


def _claim(import_id: int, token: str) -> LeadImport | None:
    stale = timezone.now() - dt.timedelta(seconds=settings.LEADOPS_IMPORT_STALE_SECONDS)
    with transaction.atomic():
        job = LeadImport.objects.select_for_update().filter(id=import_id).first()
        if job is None or job.status in (LeadImport.Status.DONE, LeadImport.Status.REFUSED, LeadImport.Status.MAPPING):
            return None
        if job.run_token and job.heartbeat_at and job.heartbeat_at > stale:
            return None  # another worker holds it and is alive
        job.run_token, job.status, job.heartbeat_at = token, LeadImport.Status.RUNNING, timezone.now()
        job.save(update_fields=["run_token", "status", "heartbeat_at"])
        return job


def lead_import_process(*, import_id: int, slice_seconds: float | None = None) -> LeadImport | None:
    """Import rows of ``import_id`` from its checkpoint for about ``slice_seconds`` (None: to the end).

    Returns the import, or None when another live worker holds it or it is finished. When the
    slice ends before the file does, the import is released and a continuation is queued.
    """
    token = uuid.uuid4().hex
    job = _claim(import_id, token)
    if job is None:
        return None
    path = Path(job.path)
    if job.rows_total is None:
        try:
            layout = csv_inspect(path, encoding=job.encoding or None, delimiter=job.delimiter or None,
                                 mapping=job_mapping(job))
        except (CsvRefused, OSError) as exc:
            message = str(exc) if isinstance(exc, CsvRefused) else "The uploaded file is no longer readable."
            LeadImport.objects.filter(id=job.id, run_token=token).update(
                status=LeadImport.Status.REFUSED, refusal=message, run_token="", finished_at=timezone.now())
            _discard_upload(path)
            job.refresh_from_db()
            return job
        job.encoding, job.delimiter, job.rows_total = layout.encoding, layout.delimiter, layout.rows_total
        LeadImport.objects.filter(id=job.id, run_token=token).update(
            encoding=job.encoding, delimiter=job.delimiter, rows_total=job.rows_total, heartbeat_at=timezone.now())
    finished = _import_rows(job, token, deadline=None if slice_seconds is None else time.monotonic() + slice_seconds)
    if finished:
        LeadImport.objects.filter(id=job.id, run_token=token).update(
            status=LeadImport.Status.DONE, run_token="", finished_at=timezone.now())
        _discard_upload(path)
    else:
        LeadImport.objects.filter(id=job.id, run_token=token).update(run_token="", heartbeat_at=timezone.now())
        lead_import_enqueue(import_id=job.id)
    job.refresh_from_db()
    return job


def _discard_upload(path: Path) -> None:
    """Delete a finished upload stored by the page; files named on the command line are the user's."""
    if path.parent.resolve() == Path(settings.LEADOPS_IMPORT_DIR).resolve():
        path.unlink(missing_ok=True)


def job_mapping(job: LeadImport) -> ColumnMapping | None:
    """The import's column mapping (validated when it was recorded), or None for LeadOps' own headers."""
    return None if job.mapping is None else ColumnMapping.model_validate(job.mapping)


def _records(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[int, int, dict[str | None, Any]]]:
    """(row number, line number, cells) of every non-blank data row; row numbers start at 1."""
    with _open_text(path, encoding) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header: list[str] | None = None
        row = 0
        for record in reader:
            if header is None:
                header = [cell.strip().lstrip("\ufeff") for cell in record]
                continue
            if not record:
                continue
            row += 1
            cells: dict[str | None, Any] = dict(zip(header, record))
            if len(record) > len(header):
                cells[None] = record[len(header):]
            yield row, reader.line_num, cells


def _row_data(cells: dict[str | None, Any], mapping: ColumnMapping | None = None) -> dict[str, Any]:
    if mapping is not None:
        return mapping_apply({k: v for k, v in cells.items() if k is not None}, mapping)
    data: dict[str, Any] = {k: v for k, v in cells.items() if k and not k.startswith("attr.") and v not in (None, "")}
    attrs = {k[5:]: v for k, v in cells.items() if k and k.startswith("attr.") and v not in (None, "")}
    if attrs:
        data["attributes"] = attrs
    return data


def _columns_of(mapping: ColumnMapping | None) -> dict[str, str]:
    """Lead field -> the file's column that fills it, to name columns in row errors."""
    if mapping is None:
        return {}
    columns: dict[str, str] = {}
    attribute_columns = []
    for header, target in mapping.columns.items():
        if target.startswith(ATTRIBUTE_PREFIX):
            attribute_columns.append(header)
        else:
            columns[target] = header
    columns["attributes"] = ", ".join(attribute_columns)
    return columns


def _judge(cells: dict[str | None, Any], line: int, mapping: ColumnMapping | None, columns: dict[str, str],
           vocabulary: Vocabulary, today: dt.date) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:  # fmt: skip
    """One row: (the cleaned lead, []) or (None, its errors, each naming line and field, and the
    file's column when a mapping is used)."""
    if None in cells:
        return None, [{"line": line, "field": "__all__", "message": "More cells than header columns."}]
    try:
        return clean_lead(_row_data(cells, mapping), vocabulary=vocabulary, today=today), []
    except LeadInputError as exc:
        errors = []
        for name, messages in exc.errors.items():
            extra = {"column": columns.get(name, "")} if mapping is not None else {}
            errors.extend({"line": line, "field": name, "message": m, **extra} for m in messages)
        return None, errors


@dataclass
class _Chunk:
    leads: list[Lead]
    rejected: int
    errors: list[dict[str, Any]]
    last_row: int


def _import_rows(job: LeadImport, token: str, *, deadline: float | None) -> bool:
    reference = intake_reference()
    vocabulary: Vocabulary = reference.vocabulary
    config, segment_ids, now = reference.config, reference.segment_ids, timezone.now()
    chunk = _Chunk(leads=[], rejected=0, errors=[], last_row=job.rows_done)
    size = settings.LEADOPS_IMPORT_CHUNK
    pending = 0
    mapping = job_mapping(job)
    columns = _columns_of(mapping)
    for row, line, cells in _records(Path(job.path), job.encoding, job.delimiter):
        if row <= job.rows_done:
            continue  # committed by an earlier run: the checkpoint
        chunk.last_row, pending = row, pending + 1
        cleaned, errors = _judge(cells, line, mapping, columns, vocabulary, now.date())
        if cleaned is None:
            chunk.rejected += 1
            chunk.errors.extend(errors)
        else:
            chunk.leads.append(lead_build(data=cleaned, config=config, now=now, segment_ids=segment_ids))
        if pending >= size:
            if not _commit(job, token, chunk):
                return False
            chunk, pending = _Chunk(leads=[], rejected=0, errors=[], last_row=chunk.last_row), 0
            if deadline is not None and time.monotonic() > deadline:
                return False
    if pending and not _commit(job, token, chunk):
        return False
    return True


def _commit(job: LeadImport, token: str, chunk: _Chunk) -> bool:
    """Write one chunk's leads with the checkpoint, atomically; False if the import was taken over."""
    with transaction.atomic():
        current = LeadImport.objects.select_for_update().filter(id=job.id).first()
        if current is None or current.run_token != token:
            return False
        created = bulk_insert_new(Lead, chunk.leads, unique=("source", "external_id"))
        if created:
            _wake_router()
        current.rows_done = chunk.last_row
        current.created += created
        current.already_present += len(chunk.leads) - created
        current.rejected += chunk.rejected
        room = MAX_ERRORS_KEPT - len(current.errors)
        if room > 0 and chunk.errors:
            current.errors = current.errors + chunk.errors[:room]
        current.heartbeat_at = timezone.now()
        current.save(update_fields=["rows_done", "created", "already_present", "rejected", "errors", "heartbeat_at"])
    job.rows_done, job.created, job.already_present, job.rejected = (
        current.rows_done, current.created, current.already_present, current.rejected)
    return True


def lead_imports_discard_unmapped(*, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Close uploads left at the mapping step for longer than ``older_than``: each becomes a
    refused import saying so, and its stored file is deleted. Returns how many."""
    cutoff = timezone.now() - older_than
    closed = 0
    for job in LeadImport.objects.filter(status=LeadImport.Status.MAPPING, created_at__lt=cutoff):
        updated = LeadImport.objects.filter(id=job.id, status=LeadImport.Status.MAPPING).update(
            status=LeadImport.Status.REFUSED, finished_at=timezone.now(),
            refusal="Not imported: its columns were never mapped; the uploaded file was deleted after a day.")
        if updated:
            _discard_upload(Path(job.path))
            closed += 1
    return closed


def lead_imports_resume_stale() -> int:
    """Queue a continuation for every unfinished import whose worker stopped reporting (killed,
    or its task lost); the claim lets exactly one worker take it over. Returns how many."""
    stale = timezone.now() - dt.timedelta(seconds=settings.LEADOPS_IMPORT_STALE_SECONDS)
    ids = list(
        LeadImport.objects.filter(status__in=(LeadImport.Status.QUEUED, LeadImport.Status.RUNNING))
        .exclude(heartbeat_at__gt=stale).filter(created_at__lt=stale).values_list("id", flat=True)
    )  # fmt: skip
    for import_id in ids:
        lead_import_enqueue(import_id=import_id)
    return len(ids)


def import_mapping_save(*, name: str, mapping: ColumnMapping) -> ImportMapping:
    """Save ``mapping`` under ``name`` (replacing a saved mapping of that name), for reuse on the
    page, by ``importleads --mapping NAME`` and in the configuration export. ``mapping`` is already
    validated by ``ColumnMapping``; raises django's ValidationError for a bad name."""
    saved = ImportMapping.objects.filter(name=name.strip()).first() or ImportMapping(name=name.strip())
    saved.columns, saved.source, saved.currency = dict(mapping.columns), mapping.source, mapping.currency
    saved.full_clean()
    saved.save()
    return saved


# --- preview and dry run -----------------------------------------------------------------------


@dataclass
class DryRun:
    """What importing a file would do, nothing written. ``rows_checked`` may stop short of
    ``layout.rows_total`` (``limit``); the counts are for the rows checked.

    ``preview``: the first rows as [(line, cells {header: text}, lead fields or None, errors)].
    ``errors``: the first problems, each {"line", "field", "message"[, "column"]}.
    """

    layout: CsvLayout
    rows_checked: int = 0
    created: int = 0
    duplicated: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    preview: list[tuple[int, dict[str, str], dict[str, Any] | None, list[dict[str, Any]]]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.rows_checked == self.layout.rows_total


def csv_head(path: Path, layout: CsvLayout, *, rows: int = 5) -> list[dict[str, str]]:
    """The first ``rows`` data rows of a file already inspected, as {header: cell text}."""
    found = []
    for _row, _line, cells in _records(path, layout.encoding, layout.delimiter):
        found.append({k: v for k, v in cells.items() if k is not None})
        if len(found) >= rows:
            break
    return found


def lead_import_dry_run(*, path: Path, mapping: ColumnMapping | None, encoding: str | None = None,
                        delimiter: str | None = None, limit: int | None = None, preview_rows: int = 5,
                        max_errors: int = 50) -> DryRun:  # fmt: skip
    """Check every row (up to ``limit``) as the import would, and write nothing.

    A row is counted once: rejected (errors by line, field and column), duplicated (its source and
    external id are already a lead, or appear earlier in the file) or created. Raises CsvRefused
    when the whole file would be refused. Queries: one per 1,000 checked rows (duplicates).
    """
    layout = csv_inspect(path, encoding=encoding, delimiter=delimiter, mapping=mapping)
    result = DryRun(layout=layout)
    vocabulary, today = vocabulary_load(), timezone.now().date()
    columns = _columns_of(mapping)
    seen: set[tuple[str, str]] = set()
    batch: list[tuple[str, str]] = []

    def flush() -> None:
        if not batch:
            return
        existing = set(
            Lead.objects.filter(source__in={s for s, _ in batch}, external_id__in={e for _, e in batch})
            .values_list("source", "external_id")
        )  # fmt: skip
        for key in batch:
            if key in existing or key in seen:
                result.duplicated += 1
            else:
                result.created += 1
            seen.add(key)
        batch.clear()

    for _row, line, cells in _records(path, layout.encoding, layout.delimiter):
        if limit is not None and result.rows_checked >= limit:
            break
        result.rows_checked += 1
        cleaned, errors = _judge(cells, line, mapping, columns, vocabulary, today)
        if len(result.preview) < preview_rows:
            shown = {k: v for k, v in cells.items() if k is not None}
            result.preview.append((line, shown, cleaned, errors))
        if cleaned is None:
            result.rejected += 1
            room = max_errors - len(result.errors)
            result.errors.extend(errors[: max(room, 0)])
            continue
        batch.append((cleaned["source"], cleaned["external_id"]))
        if len(batch) >= 1000:
            flush()
    flush()
    return result


# --- for other CSV imports (accounts: routing.views.accounts) ---------------------------------


def separator_hint(delimiter: str, *, guessed: bool) -> str:
    """`` (read as comma-separated; choose the separator if that is wrong)`` for a header error."""
    read_as = f"read as {DELIMITERS.get(delimiter, repr(delimiter))}-separated"
    return f" ({read_as}; choose the separator if that is wrong)" if guessed else f" ({read_as})"


def csv_records(path: Path, *, encoding: str, delimiter: str) -> Iterator[tuple[int, int, dict[str | None, Any]]]:
    """(row number, line number, cells) of every non-blank data row of a file ``csv_inspect``
    accepted, read with its ``encoding`` and ``delimiter``; cells beyond the header under None."""
    return _records(path, encoding, delimiter)
