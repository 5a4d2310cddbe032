from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from routing import engine
from routing.services import lead_dry_run
from routing.reference import vocabulary_load
from routing.validation import LeadInputError, clean_lead


class Command(BaseCommand):
    help = "Explain where a lead would go and why, without writing anything: route --dry-run FILE.json"

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("file", type=Path, help="A lead as JSON (same fields as the intake API)")
        parser.add_argument("--dry-run", action="store_true", required=True, help="Required: this command never writes")
        parser.add_argument("--draft", action="store_true", help="Use the draft rules instead of the published set")

    def handle(self, *args, file: Path, dry_run: bool, draft: bool, **options) -> None:  # noqa: ANN002, ANN003
        try:
            payload = json.loads(file.read_text())
        except OSError as exc:
            raise CommandError(f"{file}: {exc.strerror}") from None
        except ValueError as exc:
            raise CommandError(f"{file}: malformed JSON: {exc}") from None
        if isinstance(payload, dict):
            payload = {"source": "dry-run", "external_id": "dry-run", **payload}
        try:
            data = clean_lead(payload, vocabulary=vocabulary_load())
        except LeadInputError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())) from None
        decision = lead_dry_run(data=data, draft=draft)
        self.stdout.write(json.dumps(engine.decision_to_dict(decision), indent=2))
        self.stdout.write(decision.summary)
