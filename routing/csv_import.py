"""CSV import of leads: every row validated, row errors reported by row number and field,
good rows kept. Rows are inserted in chunks; the routing worker is woken once at the end."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import IO, Any, Iterable

from django.db import transaction
from django.utils import timezone

from routing.models import Lead
from routing.services import _wake_router, lead_build, segment_ids_live
from routing.snapshots import config_live
from routing.validation import ALL_FIELDS, LeadInputError, clean_lead

CHUNK = 1000


@dataclass
class RowError:
    row: int  # 1-based line number in the file, header = 1
    field: str
    message: str


@dataclass
class CsvImportReport:
    created: int = 0
    duplicates: int = 0
    errors: list[RowError] = field(default_factory=list)
    header_error: str = ""

    @property
    def rows_with_errors(self) -> int:
        return len({e.row for e in self.errors})


def _rows(stream: IO[str]) -> Iterable[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(stream)
    for row in reader:
        yield reader.line_num, row


def leads_import_csv(*, stream: IO[str] | IO[bytes], max_errors: int = 1000) -> CsvImportReport:
    """Import leads from CSV text. Columns are lead field names; ``attr.<key>`` columns fill
    custom attributes. Unknown columns are a header error (nothing imported)."""
    report = CsvImportReport()
    if isinstance(stream.read(0), bytes):
        stream = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")  # type: ignore[arg-type]
    try:
        reader = csv.DictReader(stream)
        header = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as exc:
        report.header_error = f"Could not read the CSV header: {exc}"
        return report
    unknown = [h for h in header if h not in ALL_FIELDS and not (h or "").startswith("attr.")]
    if not header or unknown:
        report.header_error = (
            f"Unknown column(s): {', '.join(map(str, unknown))}" if unknown else "The file is empty or has no header row."
        )
        return report
    if "source" not in header or "external_id" not in header:
        report.header_error = "The header must include source and external_id."
        return report
    config, segment_ids, now = config_live(), segment_ids_live(), timezone.now()
    seen: set[tuple[str, str]] = set()
    batch: list[Lead] = []
    try:
        for raw in reader:
            line = reader.line_num
            data: dict[str, Any] = {k: v for k, v in raw.items() if k and not k.startswith("attr.") and v not in (None, "")}
            attrs = {k[5:]: v for k, v in raw.items() if k and k.startswith("attr.") and v not in (None, "")}
            if attrs:
                data["attributes"] = attrs
            if None in raw:
                _error(report, line, "__all__", "More cells than header columns.", max_errors)
                continue
            try:
                cleaned = clean_lead(data, strict_types=False)
            except LeadInputError as exc:
                for name, messages in exc.errors.items():
                    for message in messages:
                        _error(report, line, name, message, max_errors)
                continue
            key = (cleaned["source"], cleaned["external_id"])
            if key in seen:
                report.duplicates += 1
                continue
            seen.add(key)
            batch.append(lead_build(data=cleaned, config=config, now=now, segment_ids=segment_ids))
            if len(batch) >= CHUNK:
                _flush(batch, report)
                batch = []
    except (UnicodeDecodeError, csv.Error) as exc:
        _error(report, reader.line_num, "__all__", f"Unreadable CSV: {exc}", max_errors)
    _flush(batch, report)
    return report


def _error(report: CsvImportReport, line: int, name: str, message: str, max_errors: int) -> None:
    if len(report.errors) < max_errors:
        report.errors.append(RowError(row=line, field=name, message=message))


def _flush(batch: list[Lead], report: CsvImportReport) -> None:
    if not batch:
        return
    with transaction.atomic():
        before = Lead.objects.filter(source__in={lead.source for lead in batch},
                                     external_id__in=[lead.external_id for lead in batch]).count()  # fmt: skip
        Lead.objects.bulk_create(batch, ignore_conflicts=True)
        after = Lead.objects.filter(source__in={lead.source for lead in batch},
                                    external_id__in=[lead.external_id for lead in batch]).count()  # fmt: skip
        created = after - before
        report.created += created
        report.duplicates += len(batch) - created
        _wake_router()
