"""Middleware of LeadOps itself (the rest of the chain is Django's and libraries')."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest


class SyncChain:
    """Last in MIDDLEWARE, sync-only on purpose: Django then runs every middleware above it that
    can run synchronously in the request's one worker thread (Django docs, "Asynchronous support"
    for middleware). Without it, under ASGI each of Django's MiddlewareMixin middlewares runs
    async and hops to a thread and back for its process_request and its process_response
    (asgiref's sync_to_async): about 16 thread hops per request for views that are all
    synchronous except the inbox event stream, which still runs on the event loop."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        return self.get_response(request)
