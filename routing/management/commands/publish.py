"""Publish the draft routing configuration as the next live version (for CI pipelines)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from routing.config_io import config_diff_live, format_changes
from routing.services import rule_publish


class Command(BaseCommand):
    help = (
        "Publish the draft rules and segments as the next live version; prints what changed. "
        "With --if-changed nothing is published when the draft equals the live version."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--note", default="", help="What changed (shown in the version list), e.g. a commit id")
        parser.add_argument("--if-changed", action="store_true", help="Publish only when the draft differs from live")

    def handle(self, *args: Any, **options: Any) -> None:
        version, changes = config_diff_live()
        if options["if_changed"] and version is not None and not changes:
            self.stdout.write(f"Nothing to publish: the draft equals live version v{version}.")
            return
        for line in format_changes(changes):
            self.stdout.write(line)
        ruleset = rule_publish(note=options["note"] or "manage.py publish")
        self.stdout.write(f"Published v{ruleset.version}.")
