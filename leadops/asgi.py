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
import contextvars
import io
import itertools
import os
import sys
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
    (``ThreadedWSGI``).

    Why: Django's ASGI handler runs each request's synchronous middleware and view in a thread it
    starts for that request (asgiref's ThreadSensitiveContext) and stops after it, with a hop to
    the event loop and back for each signal and for closing the response. Every view here but the
    inbox stream is synchronous, so that was pure overhead: ~11 % of the web workers' samples
    under load were starting and joining those threads (docs/performance.md, round 8). The WSGI
    environ carries ``leadops.streams`` so a page knows the stream is served (reps.push)."""

    def __init__(self, *, asgi: ASGIApp, wsgi: Any, threads: int, streams: frozenset[str] = UNCOUNTED_PATHS) -> None:
        self.asgi, self.streams = asgi, streams

        def marked(environ: dict[str, Any], start_response: Any) -> Any:
            environ["leadops.streams"] = True
            return wsgi(environ, start_response)

        self.wsgi = ThreadedWSGI(marked, threads=threads)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") not in self.streams and not _chunked(scope):
            await self.wsgi(scope, receive, send)
        else:
            await self.asgi(scope, receive, send)


class ThreadedWSGI:
    """ASGI app running a WSGI app on a fixed pool of ``threads`` threads, with one hand-over each
    way for an ordinary request.

    a2wsgi's WSGIMiddleware (https://github.com/abersheeran/a2wsgi), which this replaced for the
    common case, blocks the view's thread on a round trip through the event loop for every read
    of the body, for ``start_response``, for every chunk of the response and for its end: four or
    more per request, each a wake-up of the loop and of the thread, and under load each waiting
    behind everything else the loop has to do. Here, a request whose body has a length of at most
    ``buffer_bytes`` (every page and API call; not an upload) is read whole on the loop first,
    the view runs and its response is joined in the thread, and the loop sends it: one hand-over
    to the thread, one back. A streaming response (a CSV export) is sent from that thread chunk
    by chunk as it is produced, each chunk a round trip through the loop as a2wsgi does, so the
    thread that reads it keeps its database connection. Bodies past ``buffer_bytes``, chunked
    bodies and unreadable lengths go through a2wsgi, read as they arrive. Environ building is
    a2wsgi's (``build_environ``). The body is normally already read by ``BodyFirst``, outside
    the admission limit."""

    def __init__(self, app: Any, *, threads: int, buffer_bytes: int = 256 * 1024) -> None:
        from a2wsgi import WSGIMiddleware

        self.app, self.buffer_bytes = app, buffer_bytes
        self.fallback = WSGIMiddleware(app, workers=threads)
        self.executor = self.fallback.executor  # one pool of threads for both paths

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        length = _content_length(scope)
        if scope["type"] != "http" or length is None or length > self.buffer_bytes:
            await self.fallback(scope, receive, send)
            return
        body = await _read_body(receive)  # normally at once: BodyFirst has read it
        if body is None:
            return  # the client went away before sending its request: nothing to answer
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        environ = _environ(scope, body)
        result = await loop.run_in_executor(self.executor, context.run, self._run, environ, loop, send)
        if result is not None:
            status, headers, content = result
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": content})

    def _run(self, environ: dict[str, Any], loop: asyncio.AbstractEventLoop, send: Any) -> tuple[int, list, bytes] | None:
        """In a pool thread: the WSGI app's response as (status, headers, body); or, for a
        streaming response, None after sending it from here chunk by chunk."""
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [int(status.split(" ", 1)[0]),
                          [(k.strip().lower().encode("latin1"), v.strip().encode("latin1")) for k, v in response_headers]]  # fmt: skip
            return written.append

        iterable = self.app(environ, start_response)
        try:
            if not getattr(iterable, "streaming", False):
                content = b"".join((*written, *iterable))
                return started[0], started[1], content

            def blocking_send(message: dict) -> None:
                asyncio.run_coroutine_threadsafe(send(message), loop).result()

            blocking_send({"type": "http.response.start", "status": started[0], "headers": started[1]})
            for chunk in itertools.chain(written, iterable):  # one at a time: a long export starts at once
                if chunk:
                    blocking_send({"type": "http.response.body", "body": chunk, "more_body": True})
            blocking_send({"type": "http.response.body", "body": b""})
            return None
        finally:
            getattr(iterable, "close", lambda: None)()


class BodyFirst:
    """ASGI middleware, outside ``AdmissionLimit``: a request body of known length up to
    ``buffer_bytes`` is read before the request takes an admission slot, within
    ``timeout_seconds`` (else 408 Request Timeout), then handed on as one message.

    Why: ``ThreadedWSGI`` reads such a body whole before the view runs. Inside the admission
    limit, a client that sends headers and never its body (no credentials needed, any URL) would
    hold a slot until it gave up: sixteen such connections stopped every request of the process,
    health checks included (found by the fresh-clone check of round 11). Reading it here costs a
    coroutine and at most ``buffer_bytes`` of memory, no slot, thread or connection. Streams
    (``UNCOUNTED_PATHS``), bodiless requests and bodies past the limit pass straight on."""

    def __init__(self, app: ASGIApp, *, buffer_bytes: int = 256 * 1024, timeout_seconds: float = 30.0,
                 streams: frozenset[str] = UNCOUNTED_PATHS) -> None:  # fmt: skip
        self.app, self.buffer_bytes, self.timeout_seconds, self.streams = app, buffer_bytes, timeout_seconds, streams

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        length = _content_length(scope) if scope["type"] == "http" and scope.get("path") not in self.streams else None
        if not length or length > self.buffer_bytes:
            await self.app(scope, receive, send)
            return
        try:
            body = await asyncio.wait_for(_read_body(receive), timeout=self.timeout_seconds)
        except TimeoutError:
            await send({"type": "http.response.start", "status": 408,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]})  # fmt: skip
            await send({"type": "http.response.body", "body": b"The request body did not arrive in time."})
            return
        if body is None:
            return  # the client went away before sending its body: nothing to answer
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later: the client's disconnect, as before

        await self.app(scope, replay, send)


async def _read_body(receive: Any) -> bytes | None:
    """The whole request body, or None when the client disconnects first."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return bytes(body)


def _content_length(scope: Scope) -> int | None:
    """The request body's length: 0 when no Content-Length is sent (a GET), None when it is
    unreadable or the body is chunked."""
    length = 0
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return None
        elif name == b"transfer-encoding":
            return None
    return length if length >= 0 else None


def _environ(scope: Scope, body: bytes) -> dict[str, Any]:
    from a2wsgi.wsgi import build_environ

    environ = build_environ(scope, io.BytesIO(body))  # type: ignore[arg-type]
    environ["wsgi.errors"] = sys.stderr
    return environ


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
    return BodyFirst(AdmissionLimit(app, limit=settings.LEADOPS_WEB_MAX_ACTIVE),
                     timeout_seconds=settings.LEADOPS_WEB_BODY_TIMEOUT_SECONDS)  # fmt: skip


application = _application()
