"""`manage.py importleads FILE`: the same import as the page, run in this process.

Exit status: 0 when every row was imported or already present; 1 (CommandError) when the file
was refused or any row was rejected. `--resume ID` continues an interrupted import from its
checkpoint.

Files with other headers (CRM exports, badge scanners) take a column mapping, as on the page:
`--mapping NAME` (a mapping saved on the import page or in the configuration) or
`--mapping FILE.json` (``{"columns": {header: field}, "source": ..., "currency": ...}``, see
``routing.import_mapping.ColumnMapping``). `--suggest-mapping` prints the mapping LeadOps would
suggest for the file, as JSON to edit and pass back; `--dry-run` reports what the import would
do and writes nothing (exit 1 when a row would be rejected).
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from routing.csv_import import (
    DELIMITERS, CsvRefused, csv_inspect, encoding_name, lead_import_create, lead_import_dry_run, lead_import_process,
)  # fmt: skip
from routing.import_mapping import ColumnMapping, MappingError, mapping_parse, mapping_suggest
from routing.models import ImportMapping, LeadImport

SEPARATORS = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}


def load_mapping(value: str) -> tuple[ColumnMapping, str]:
    """A mapping named on the command line: a saved mapping's name, else a JSON file.

    Returns (mapping, saved name or ""); raises CommandError naming what is wrong."""
    saved = ImportMapping.objects.filter(name=value).first()
    if saved is not None:
        data, name = saved.as_json(), saved.name
    else:
        path = Path(value)
        if not path.is_file():
            known = ", ".join(ImportMapping.objects.values_list("name", flat=True)[:20]) or "none saved yet"
            raise CommandError(f"--mapping {value!r}: no saved mapping by that name ({known}) and no such file.")
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise CommandError(f"--mapping {value}: not a readable JSON file ({exc}).") from None
        name = ""
    try:
        return mapping_parse(data), name
    except MappingError as exc:
        problems = "; ".join(f"{path}: {' '.join(messages)}" for path, messages in exc.errors.items())
        raise CommandError(f"--mapping {value}: {problems}") from None


class Command(BaseCommand):
    help = "Import leads from a CSV file (LeadOps column names, or any columns with --mapping)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("file", type=Path, nargs="?")
        parser.add_argument("--encoding", default="", help="e.g. utf-8, utf-16, cp1252 (default: detected)")
        parser.add_argument("--separator", default="", choices=["", *SEPARATORS], help="default: detected from the header")
        parser.add_argument("--resume", type=int, default=None, help="continue the import with this id")
        parser.add_argument("--mapping", default="", help="a saved column mapping's name, or a JSON file with one")
        parser.add_argument("--dry-run", action="store_true", help="report what would be imported; write nothing")
        parser.add_argument("--suggest-mapping", action="store_true", help="print the suggested mapping as JSON")

    def handle(self, *args, file: Path | None, encoding: str, separator: str, resume: int | None, mapping: str,  # noqa: ANN002, ANN003
               dry_run: bool, suggest_mapping: bool, **options) -> None:  # fmt: skip
        if resume is not None:
            job = LeadImport.objects.filter(id=resume).first()
            if job is None:
                raise CommandError(f"No import with id {resume}.")
            label = job.file_name
        else:
            if file is None:
                raise CommandError("Give the CSV file to import (or --resume ID).")
            if not file.is_file():
                raise CommandError(f"{file}: no such file")
            try:
                chosen = encoding_name(encoding) if encoding else ""
            except CsvRefused as exc:
                raise CommandError(str(exc)) from None
            delimiter = SEPARATORS.get(separator, "")
            column_mapping, mapping_name = load_mapping(mapping) if mapping else (None, "")
            if suggest_mapping:
                self._suggest(file, chosen, delimiter)
                return
            if dry_run:
                self._dry_run(file, chosen, delimiter, column_mapping)
                return
            job = lead_import_create(path=file.resolve(), file_name=file.name, encoding=chosen, delimiter=delimiter,
                                     mapping=column_mapping, mapping_name=mapping_name)  # fmt: skip
            label = str(file)
        result = lead_import_process(import_id=job.id, slice_seconds=None)
        job = result or LeadImport.objects.get(id=job.id)
        if job.status == LeadImport.Status.REFUSED:
            raise CommandError(f"{label}: {job.refusal}")
        if job.status != LeadImport.Status.DONE:
            raise CommandError(f"{label}: import {job.id} is held by another worker ({job.rows_done} rows done).")
        for error in job.errors:
            self.stderr.write(_error_line(error))
        if job.rejected > len({e["line"] for e in job.errors}):
            self.stderr.write(f"(only the first {len(job.errors)} problems are listed)")
        separator_name = DELIMITERS.get(job.delimiter, job.delimiter)
        summary = (
            f"{job.rows_total} row(s) read as {job.encoding}, {separator_name}-separated: "
            f"Imported {job.created} lead(s); {job.already_present} already present; {job.rejected} rejected. "
            f"(import {job.id})"
        )
        self.stdout.write(summary)
        if job.rejected:
            raise CommandError(f"{job.rejected} row(s) rejected; see the lines above.")

    def _suggest(self, file: Path, encoding: str, delimiter: str) -> None:
        try:
            layout = csv_inspect(file, encoding=encoding or None, delimiter=delimiter or None, check_header=False)
        except CsvRefused as exc:
            raise CommandError(f"{file}: {exc}") from None
        suggestion = {"columns": mapping_suggest(list(layout.header)), "source": "", "currency": ""}
        self.stdout.write(json.dumps(suggestion, indent=2, ensure_ascii=False))

    def _dry_run(self, file: Path, encoding: str, delimiter: str, mapping: ColumnMapping | None) -> None:
        try:
            result = lead_import_dry_run(path=file, mapping=mapping, encoding=encoding or None,
                                         delimiter=delimiter or None, preview_rows=0)  # fmt: skip
        except CsvRefused as exc:
            raise CommandError(f"{file}: {exc}") from None
        for error in result.errors:
            self.stderr.write(_error_line(error))
        if result.rejected > len({e["line"] for e in result.errors}):
            self.stderr.write(f"(only the first {len(result.errors)} problems are listed)")
        self.stdout.write(
            f"Dry run, nothing written: {result.rows_checked} row(s) read as {result.layout.encoding}, "
            f"{DELIMITERS.get(result.layout.delimiter)}-separated: would import {result.created}; "
            f"{result.duplicated} already present; {result.rejected} rejected."
        )
        if result.rejected:
            raise CommandError(f"{result.rejected} row(s) would be rejected; see the lines above.")


def _error_line(error: dict) -> str:
    column = f" (column {error['column']!r})" if error.get("column") else ""
    return f"line {error['line']}: {error['field']}{column}: {error['message']}"
