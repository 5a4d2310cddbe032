"""Push inbox changes to reps: PostgreSQL LISTEN/NOTIFY feeding server-sent event streams.

Publishing: ``inbox_publish`` is registered with ``routing.services.listen(in_transaction=True)``
and sends ``NOTIFY leadops_inbox, '<rep id>'`` for every rep an event names (offer created,
withdrawn, expired, declined, accepted; lead closed, handed back, aged out). PostgreSQL delivers
a notification only when the transaction commits, drops it on rollback, and folds identical
ones sent in one transaction into one (PostgreSQL docs, "NOTIFY"), so a batch tells each rep once
and never about an offer that was rolled back.

Receiving: each web process keeps one ``LISTEN`` connection (psycopg 3 ``AsyncConnection`` and
its ``notifies()`` generator) shared by all the streams that process serves; a notification
wakes only the streams of the rep it names. A stream that is woken asks its feed (reps.views:
the rep's live offer ids and the cards the page does not have yet, rendered once in a thread of
this module's small pool) and sends what it answers as one ``offers`` event, so a new offer
reaches the page without the page asking. Without a feed, or when the feed fails, the stream
sends an ``inbox`` event and the page fetches its offers region instead (204 when nothing
visible changed).

Push needs PostgreSQL and an ASGI server (``leadops.asgi``); anywhere else the inbox polls.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator, Callable

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import connection, connections

log = logging.getLogger(__name__)

CHANNEL = "leadops_inbox"
_RECONNECT_MAX_SECONDS = 30.0


def push_available(request: Any = None) -> bool:
    """True when an inbox served for ``request`` (an HttpRequest, or None to ignore how it is
    served) can get pushed changes: push is on (LEADOPS_INBOX_PUSH), the database is PostgreSQL
    and, when given, the request came through the ASGI server (leadops.asgi: a plain WSGI worker
    would hold a thread per stream)."""
    if not settings.LEADOPS_INBOX_PUSH or connection.vendor != "postgresql":
        return False
    return request is None or isinstance(request, ASGIRequest) or bool(request.META.get("leadops.streams"))


def inbox_publish(events: list[tuple[str, dict[str, Any]]]) -> None:
    """In the routing transaction: one NOTIFY per rep named by ``events`` ((event, payload) pairs
    whose payload may carry ``rep_id``). A no-op off PostgreSQL. Raises the database's error if the
    NOTIFY fails (routing.services isolates listeners in a savepoint, so routing still commits)."""
    if connection.vendor != "postgresql":
        return
    rep_ids = sorted({int(p["rep_id"]) for event, p in events
                      if p.get("rep_id") and event.startswith(("offer.", "lead."))})  # fmt: skip
    if not rep_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, r::text) FROM unnest(%s::bigint[]) AS r", [CHANNEL, rep_ids])


def _conninfo() -> dict[str, Any]:
    """Connection keywords for a LISTEN connection to the default database (same server, name,
    user and password as Django's own connections)."""
    params = connections["default"].get_connection_params()
    keep = ("dbname", "user", "password", "host", "port", "sslmode", "sslrootcert", "sslcert", "sslkey",
            "options", "service", "passfile", "connect_timeout")  # fmt: skip
    return {k: v for k, v in params.items() if k in keep and v not in (None, "")}


class Hub:
    """The process's one LISTEN connection and the streams waiting on it, per event loop.

    ``subscribe(rep_id)`` returns an ``asyncio.Event`` set when that rep's inbox may have changed;
    it starts set, and every subscriber is set again whenever the LISTEN connection (re)connects,
    because notifications sent while nobody listened are lost (PostgreSQL keeps none for absent
    listeners). Reconnects back off from 0.5 s to 30 s.
    """

    def __init__(self) -> None:
        self._subscribers: dict[int, set[asyncio.Event]] = {}
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.listening = asyncio.Event()

    def subscribe(self, rep_id: int) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._loop is not loop:
            self._loop = loop
            self.listening = asyncio.Event()
            self._task = loop.create_task(self._listen(), name="leadops-inbox-listen")
        wake = asyncio.Event()
        wake.set()
        self._subscribers.setdefault(rep_id, set()).add(wake)
        return wake

    def unsubscribe(self, rep_id: int, wake: asyncio.Event) -> None:
        waiting = self._subscribers.get(rep_id)
        if waiting is not None:
            waiting.discard(wake)
            if not waiting:
                del self._subscribers[rep_id]

    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    def _wake(self, rep_id: int | None) -> None:
        groups = self._subscribers.values() if rep_id is None else [self._subscribers.get(rep_id, ())]
        for group in groups:
            for wake in group:
                wake.set()

    async def _listen(self) -> None:
        import psycopg

        delay = 0.5
        while True:
            try:
                conninfo = _conninfo()
                async with await psycopg.AsyncConnection.connect(autocommit=True, **conninfo) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    delay = 0.5
                    self._wake(None)  # anything sent while we were not listening
                    async for note in conn.notifies():
                        try:
                            self._wake(int(note.payload))
                        except ValueError:
                            log.warning("ignored inbox notification %r", note.payload)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away: keep streams open, reconnect with backoff
                log.exception("inbox LISTEN connection lost; reconnecting in %.1f s", delay)
            self.listening.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RECONNECT_MAX_SECONDS)


hub = Hub()


class StreamEnded(Exception):
    """Raised by a feed when the stream must stop: the session behind it ended, or its user is no
    longer an active rep. The stream then closes without another event."""


# Feeds query the database and render: they run here, off the event loop, in a pool of
# LEADOPS_INBOX_FEED_THREADS threads per process (each keeps its own database connection), not in
# the request threads.
_feed_pool: ThreadPoolExecutor | None = None


def _run_feed(feed: Callable[[], str | None]) -> asyncio.Future:
    global _feed_pool
    if _feed_pool is None:
        _feed_pool = ThreadPoolExecutor(settings.LEADOPS_INBOX_FEED_THREADS, thread_name_prefix="leadops-inbox-feed")
    return asyncio.get_running_loop().run_in_executor(_feed_pool, feed)


def sse_event(name: str, data: str) -> str:
    """One server-sent event: ``event: <name>`` and each line of ``data`` as a ``data:`` line (the
    browser's EventSource joins them with newlines; HTML spec, "Server-sent events")."""
    lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return f"event: {name}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


async def rep_event_stream(
    *, rep_id: int, heartbeat_seconds: float, feed: Callable[[], str | None] | None = None,
) -> AsyncIterator[str]:  # fmt: skip
    """Server-sent events for one rep's inbox, whenever it may have changed (once on connect too,
    so a change between the page load and the stream opening is not missed), and a comment line
    every ``heartbeat_seconds`` so proxies keep the connection open and a closed client is
    noticed. Runs until the client disconnects (the ASGI handler cancels it).

    ``feed``: called (in a feed thread) on each wake-up and heartbeat; returns the ``offers`` event's data, or
    None when the inbox has nothing new to show (no event), or raises StreamEnded to close the
    stream. Any other error is logged and the stream sends ``event: inbox`` instead, so the page
    asks for its offers itself. Without a feed every wake-up sends ``event: inbox``."""
    wake = hub.subscribe(rep_id)
    try:
        yield f"retry: {settings.LEADOPS_INBOX_POLL_SECONDS * 1000}\n: connected\n\n"
        while True:
            try:
                await asyncio.wait_for(wake.wait(), timeout=heartbeat_seconds)
            except TimeoutError:
                yield ": keep-alive\n\n"
                if feed is None:
                    continue
                # With a feed, a heartbeat also asks it: a session that ended (signed out
                # elsewhere, expired) closes its stream within a heartbeat, not at the rep's
                # next offer; an unchanged inbox costs the feed's one statement.
            else:
                wake.clear()
                if feed is None:
                    yield "event: inbox\ndata: changed\n\n"
                    continue
            try:
                data = await _run_feed(feed)
            except StreamEnded:
                return
            except Exception:
                log.exception("inbox feed failed for rep %s; the page will ask instead", rep_id)
                yield "event: inbox\ndata: changed\n\n"
                continue
            if data is not None:
                yield sse_event("offers", data)
    finally:
        hub.unsubscribe(rep_id, wake)
