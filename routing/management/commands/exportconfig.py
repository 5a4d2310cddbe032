"""Print the whole routing configuration as JSON (see docs/config-format.md)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from routing.config_io import config_export


class Command(BaseCommand):
    help = "Export reps, skills, territories, teams, pools, segments and rules as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="Write to this file instead of stdout")
        parser.add_argument("--no-absences", action="store_true", help="Leave reps' absences out")

    def handle(self, *args: Any, **options: Any) -> None:
        text = json.dumps(config_export(include_absences=not options["no_absences"]), indent=2, ensure_ascii=False)
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
            self.stderr.write(f"Configuration written to {options['output']}")
        else:
            self.stdout.write(text)
