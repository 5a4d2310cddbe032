"""Load a configuration JSON file: validate everything, then apply it atomically (or not at all)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.config_io import ConfigImportError, config_import, format_changes
from routing.engine import schema


class Command(BaseCommand):
    help = "Import a configuration JSON file (docs/config-format.md). All or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to the JSON file")
        parser.add_argument("--dry-run", action="store_true", help="Validate and show the changes; keep nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with open(options["file"], encoding="utf-8") as fh:
                data = schema.load_json(fh.read())
        except OSError as exc:
            raise CommandError(f"Cannot read {options['file']}: {exc}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{options['file']} is not UTF-8 text.") from None
        except ValueError as exc:
            raise CommandError(f"{options['file']}: {exc}") from None
        try:
            result = config_import(data, dry_run=options["dry_run"])
        except ConfigImportError as exc:
            for error in exc.errors:
                self.stderr.write(f"  {error}")
            raise CommandError(f"Import refused: {len(exc.errors)} problem(s); nothing was changed.") from None
        for line in format_changes(result.changes):
            self.stdout.write(line)
        if options["dry_run"]:
            self.stdout.write(f"Dry run: {result.summary} Nothing was changed.")
        else:
            created = f" Accounts created: {', '.join(result.users_created)}." if result.users_created else ""
            self.stdout.write(f"Imported: {result.summary}{created}")
