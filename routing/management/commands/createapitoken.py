from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from routing.models import TokenScope
from routing.services_tokens import apitoken_create, apitoken_revoke


class Command(BaseCommand):
    help = (
        "Create an API token (printed once, as the last word), or --revoke NAME. "
        "Scopes: --scope " + ", ".join(TokenScope.values) + " (intake by default); repeat --scope "
        "for several. --user USERNAME makes a personal token that acts as that user (roles, team)."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("name")
        parser.add_argument("--revoke", action="store_true", help="Revoke every active token with this name")
        parser.add_argument(
            "--scope", action="append", dest="scopes", choices=TokenScope.values, default=None,
            help="What the token may do (repeatable). Default: intake only.",
        )  # fmt: skip
        parser.add_argument("--user", default=None, help="Username: a personal token acting as this user")

    def handle(self, *args, name: str, revoke: bool, scopes: list[str] | None, user: str | None = None,  # noqa: ANN002
               **options) -> None:  # noqa: ANN003
        if not name.strip():
            raise CommandError("NAME must not be empty")
        if revoke:
            count = apitoken_revoke(name=name)
            self.stdout.write(f"Revoked {count} token(s) named {name!r}")
            return
        owner = None
        if user:
            from django.contrib.auth import get_user_model

            owner = get_user_model().objects.filter(username=user).first()
            if owner is None:
                raise CommandError(f"No user {user!r}")
        try:
            token, raw = apitoken_create(name=name, scopes=scopes, user=owner)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"Created token {name!r} with scopes {', '.join(token.scopes)}; it is shown only once. Token: {raw}")
