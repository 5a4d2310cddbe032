"""API token lifecycle. The raw token is shown once; only its SHA-256 digest is stored."""

from __future__ import annotations

import secrets

from django.utils import timezone

from routing.models import ApiToken


def apitoken_create(*, name: str) -> tuple[ApiToken, str]:
    raw = "lo_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(name=name[:100], prefix=raw[:10], digest=ApiToken.hash(raw))
    return token, raw


def apitoken_revoke(*, name: str) -> int:
    return ApiToken.objects.filter(name=name, revoked_at__isnull=True).update(revoked_at=timezone.now())
