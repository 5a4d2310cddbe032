"""Small security helpers shared by settings-driven libraries (django-axes)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address for login throttling.

    With ``LEADOPS_PROXY_COUNT`` = N > 0 (N trusted reverse proxies in front of the app), the
    N-th address from the right of X-Forwarded-For: each proxy appends the address it saw, so
    entries further left were written by the client and can be forged. With 0 (the default) the
    header is ignored and REMOTE_ADDR is used. Returns "" when nothing usable is present.
    """
    count = getattr(settings, "LEADOPS_PROXY_COUNT", 0)
    if count:
        hops = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(hops) >= count:
            return hops[-count]
    return request.META.get("REMOTE_ADDR", "")
