"""Load a configuration JSON file: validate everything, then apply it atomically (or not at all);
with --publish, publish it as the next live version in the same transaction (CI deploys)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from routing.config_io import ConfigImportError, config_import, format_changes
from routing.engine import schema
from routing.services import rule_publish


class Command(BaseCommand):
    help = "Import a configuration JSON file (docs/config-format.md). All or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to the JSON file")
        parser.add_argument("--dry-run", action="store_true", help="Validate and show the changes; keep nothing")
        parser.add_argument("--publish", action="store_true",
                            help="Publish the imported draft as the next live version (both or neither)")
        parser.add_argument("--note", default="", help="With --publish: the version's note, e.g. a commit id")

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
        if options["publish"] and options["dry_run"]:
            raise CommandError("--publish and --dry-run contradict each other.")
        try:
            with transaction.atomic():
                result = config_import(data, dry_run=options["dry_run"])
                ruleset = rule_publish(note=options["note"] or f"importconfig {options['file']}"[:200]) \
                    if options["publish"] else None
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
            if ruleset is not None:
                self.stdout.write(f"Published v{ruleset.version}.")
