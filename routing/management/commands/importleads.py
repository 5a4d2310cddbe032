from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from routing.csv_import import leads_import_csv


class Command(BaseCommand):
    help = "Import leads from a CSV file (header = lead field names, attr.<key> for custom attributes)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options) -> None:  # noqa: ANN002, ANN003
        if not file.is_file():
            raise CommandError(f"{file}: no such file")
        with file.open("rb") as stream:
            report = leads_import_csv(stream=stream)
        if report.header_error:
            raise CommandError(f"{file}: {report.header_error}")
        for error in report.errors:
            self.stderr.write(f"row {error.row}: {error.field}: {error.message}")
        self.stdout.write(
            f"Imported {report.created} lead(s); {report.duplicates} duplicate(s) skipped; "
            f"{report.rows_with_errors} row(s) with errors."
        )
