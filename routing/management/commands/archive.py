"""`manage.py archive`: export old months of decisions and webhook deliveries, then drop them.

    manage.py archive --before 2026-01 --out /srv/leadops-archive     # every month before January 2026
    manage.py archive --before 2026-01 --dry-run                      # what that would do
    manage.py archive --retention                                     # the hourly pass, now

See routing.services_retention and docs/operations.md, "Retention and archive".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.services_retention import (
    TABLES,
    ArchiveBusy,
    Month,
    archive_months_before,
    months_archive,
    partitions_ensure,
    retention_months,
    retention_run,
)


class Command(BaseCommand):
    help = (
        "Export whole months of decisions and webhook deliveries older than --before to gzipped JSON Lines in "
        "--out (one file per table per month), then drop them (PostgreSQL: the month's partition; SQLite: batched "
        "deletes). A month with webhook deliveries still pending is kept. --retention runs the scheduled pass."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--before", help="YYYY-MM: months before this one (at most the current month)")
        parser.add_argument("--out", type=Path, help="Directory for the export files (created if missing)")
        parser.add_argument("--only", choices=sorted(TABLES), help="One table only (default: both)")
        parser.add_argument("--export-only", action="store_true", help="Write the files, drop nothing")
        parser.add_argument("--drop-without-export", action="store_true",
                            help="Drop the months without writing them anywhere (they are gone for good)")  # fmt: skip
        parser.add_argument("--dry-run", action="store_true", help="List the months that would be archived")
        parser.add_argument("--retention", action="store_true",
                            help="Run the scheduled pass now: partitions, then the retention settings' months")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        if options["retention"]:
            if options["before"] or options["out"]:
                raise CommandError("--retention takes its months and directory from the settings: no --before/--out")
            self._report(retention_run(), empty=f"Nothing past retention ({retention_months() or 'none set'}).")
            return
        if not options["before"]:
            raise CommandError("give --before YYYY-MM (or --retention)")
        try:
            before = Month.parse(options["before"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        tables = [options["only"]] if options["only"] else list(TABLES)
        if options["dry_run"]:
            try:
                planned = archive_months_before(before=before, tables=tables)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            for table, months in planned.items():
                self.stdout.write(f"{table}: {', '.join(m.label for m in months) or 'nothing'} before {before.label}")
            return
        if options["export_only"] and options["drop_without_export"]:
            raise CommandError("--export-only and --drop-without-export contradict each other")
        if options["out"] is None and not options["drop_without_export"]:
            raise CommandError("give --out DIR for the export (or --drop-without-export to drop without one)")
        if options["drop_without_export"] and options["out"] is not None:
            raise CommandError("--drop-without-export writes no file: leave out --out")
        partitions_ensure()  # rows waiting in a DEFAULT partition get their month's first
        try:
            results = months_archive(before=before, out_dir=options["out"], tables=tables,
                                     drop=not options["export_only"])  # fmt: skip
        except (ValueError, ArchiveBusy) as exc:
            raise CommandError(str(exc)) from None
        self._report(results, empty=f"Nothing before {before.label}.")

    def _report(self, results: list, *, empty: str) -> None:
        for result in results:
            self.stdout.write(result.describe())
        if not results:
            self.stdout.write(empty)
        failed = [r for r in results if r.note.startswith("failed")]
        if failed:
            raise CommandError(f"{len(failed)} month(s) failed; the others are done")
