from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from routing.services_tokens import apitoken_create, apitoken_revoke


class Command(BaseCommand):
    help = "Create an API token for POST /api/v1/leads (printed once, as the last word), or --revoke NAME."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("name")
        parser.add_argument("--revoke", action="store_true", help="Revoke every active token with this name")

    def handle(self, *args, name: str, revoke: bool, **options) -> None:  # noqa: ANN002, ANN003
        if not name.strip():
            raise CommandError("NAME must not be empty")
        if revoke:
            count = apitoken_revoke(name=name)
            self.stdout.write(f"Revoked {count} token(s) named {name!r}")
            return
        _, raw = apitoken_create(name=name)
        self.stdout.write(f"Created token {name!r}; it is shown only once. Token: {raw}")
