"""`manage.py importleads FILE`: the same import as the page, run in this process.

Exit status: 0 when every row was imported or already present; 1 (CommandError) when the file
was refused or any row was rejected. `--resume ID` continues an interrupted import from its
checkpoint.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from routing.csv_import import DELIMITERS, CsvRefused, encoding_name, lead_import_create, lead_import_process
from routing.models import LeadImport

SEPARATORS = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}


class Command(BaseCommand):
    help = "Import leads from a CSV file (header = lead field names, attr.<key> for custom attributes)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("file", type=Path, nargs="?")
        parser.add_argument("--encoding", default="", help="e.g. utf-8, utf-16, cp1252 (default: detected)")
        parser.add_argument("--separator", default="", choices=["", *SEPARATORS], help="default: detected from the header")
        parser.add_argument("--resume", type=int, default=None, help="continue the import with this id")

    def handle(self, *args, file: Path | None, encoding: str, separator: str, resume: int | None, **options) -> None:  # noqa: ANN002, ANN003
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
            job = lead_import_create(path=file.resolve(), file_name=file.name, encoding=chosen,
                                     delimiter=SEPARATORS.get(separator, ""))  # fmt: skip
            label = str(file)
        result = lead_import_process(import_id=job.id, slice_seconds=None)
        job = result or LeadImport.objects.get(id=job.id)
        if job.status == LeadImport.Status.REFUSED:
            raise CommandError(f"{label}: {job.refusal}")
        if job.status != LeadImport.Status.DONE:
            raise CommandError(f"{label}: import {job.id} is held by another worker ({job.rows_done} rows done).")
        for error in job.errors:
            self.stderr.write(f"line {error['line']}: {error['field']}: {error['message']}")
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
