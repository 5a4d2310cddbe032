"""ASGI entry point: what production serves (gunicorn with uvicorn workers, see README), so the
inbox's event stream (an async view held open per rep) costs no worker thread. Every other
request runs on a fixed pool of threads (``StreamsAsync``).

Admission limit: under Django's ASGI handler every synchronous view runs in a thread of its own,
with no bound on how many run at once, while each worker process has a pool of only
``LEADOPS_DB_POOL_MAX`` database connections. Past that many requests in flight, the extra
threads waited for a connection and failed after the pool's 10 s timeout (HTTP 500): 4,514 of
5,900 intake POSTs in the first full-size load run (docs/performance.md, round 6).
``AdmissionLimit`` lets at most ``LEADOPS_WEB_MAX_ACTIVE`` requests (default: the pool size) run
at once per process and queues the rest, in arrival order, on the event loop, where waiting
costs neither a thread nor a connection; with the thread pool it matches the pool's size.
Inbox event streams are not counted: they hold no connection while open.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadops.settings")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

UNCOUNTED_PATHS = frozenset({"/inbox/events/"})  # reps/urls.py: the rep's event stream (reps/push.py)


class AdmissionLimit:
    """ASGI middleware: at most ``limit`` HTTP requests inside ``app`` at once (per event loop,
    i.e. per worker process); later ones wait their turn. ``limit`` <= 0 turns it off. Paths in
    ``uncounted`` (long-lived streams that hold no database connection) always go straight in."""

    def __init__(self, app: ASGIApp, *, limit: int, uncounted: frozenset[str] = UNCOUNTED_PATHS) -> None:
        self.app, self.limit, self.uncounted = app, limit, uncounted
        self._slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if (slots := self._slots.get(loop)) is None:
            slots = self._slots[loop] = asyncio.Semaphore(self.limit)
        return slots

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if self.limit <= 0 or scope["type"] != "http" or scope.get("path") in self.uncounted:
            await self.app(scope, receive, send)
            return
        async with self._semaphore():
            await self.app(scope, receive, send)


class StreamsAsync:
    """ASGI app: the paths in ``streams`` (long-lived async views) through Django's ASGI handler,
    every other request through Django's WSGI handler on a fixed pool of ``threads`` threads
    (a2wsgi's WSGIMiddleware, https://github.com/abersheeran/a2wsgi).

    Why: Django's ASGI handler runs each request's synchronous middleware and view in a thread it
    starts for that request (asgiref's ThreadSensitiveContext) and stops after it, with a hop to
    the event loop and back for each signal and for closing the response. Every view here but the
    inbox stream is synchronous, so that was pure overhead: ~11 % of the web workers' samples
    under load were starting and joining those threads (docs/performance.md, round 8). The WSGI
    environ carries ``leadops.streams`` so a page knows the stream is served (reps.push)."""

    def __init__(self, *, asgi: ASGIApp, wsgi: Any, threads: int, streams: frozenset[str] = UNCOUNTED_PATHS) -> None:
        from a2wsgi import WSGIMiddleware

        self.asgi, self.streams = asgi, streams

        def marked(environ: dict[str, Any], start_response: Any) -> Any:
            environ["leadops.streams"] = True
            return wsgi(environ, start_response)

        self.wsgi = WSGIMiddleware(marked, workers=threads)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") not in self.streams and not _chunked(scope):
            await self.wsgi(scope, receive, send)
        else:
            await self.asgi(scope, receive, send)


def _chunked(scope: Scope) -> bool:
    """A request body sent without a length (``Transfer-Encoding: chunked``): Django's WSGI
    handler reads CONTENT_LENGTH bytes and would see an empty body, its ASGI handler reads it all."""
    return any(name == b"transfer-encoding" for name, _ in scope.get("headers", ()))


def _application() -> ASGIApp:
    django_asgi = get_asgi_application()  # sets Django up
    from django.conf import settings

    from django.core.wsgi import get_wsgi_application

    threads = settings.LEADOPS_WEB_THREADS
    app = StreamsAsync(asgi=django_asgi, wsgi=get_wsgi_application(), threads=threads) if threads else django_asgi
    return AdmissionLimit(app, limit=settings.LEADOPS_WEB_MAX_ACTIVE)


application = _application()
