"""leadops.asgi.AdmissionLimit: at most ``limit`` requests inside the app per worker process, the
rest queued on the event loop in arrival order; the inbox event stream is never counted."""

from __future__ import annotations

import asyncio
import concurrent.futures

from leadops.asgi import AdmissionLimit


def _run(main):  # noqa: ANN001, ANN202
    """asyncio.run in a thread of its own: browser tests leave an event loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main).result(timeout=30)


class _App:
    """An ASGI app whose requests wait until released, recording how many were inside at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most_inside = 0
        self.entered: list[str] = []
        self.release = asyncio.Event()
        self.held_inside = 0  # set by _held: how many were inside while the app held them

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        self.entered.append(scope["path"])
        try:
            await self.release.wait()
        finally:
            self.inside -= 1


def _scope(path: str, kind: str = "http") -> dict:
    return {"type": kind, "path": path}


async def _noop(*args) -> None:  # noqa: ANN002
    return None


def _held(*, limit: int, scopes: list[dict]) -> _App:
    """Send ``scopes`` through ``AdmissionLimit(limit)`` at once, note how many are inside while
    the app holds them (``held_inside``), then release them all; returns the app afterwards."""

    async def run() -> _App:
        app = _App()
        limited = AdmissionLimit(app, limit=limit)
        tasks = [asyncio.create_task(limited(scope, _noop, _noop)) for scope in scopes]
        await asyncio.sleep(0.05)
        app.held_inside = app.inside
        app.release.set()
        await asyncio.gather(*tasks)
        return app

    return _run(run())


def test_requests_beyond_the_limit_wait_their_turn_in_arrival_order() -> None:
    app = _held(limit=3, scopes=[_scope(f"/r{i}") for i in range(10)])
    assert app.held_inside == 3
    assert app.most_inside == 3
    assert app.entered == [f"/r{i}" for i in range(10)]


def test_event_streams_and_non_http_scopes_are_not_counted() -> None:
    scopes = [_scope("/inbox/events/") for _ in range(5)] + [_scope("/", "lifespan"), _scope("/inbox/")]
    assert _held(limit=1, scopes=scopes).held_inside == 7


def test_a_limit_of_zero_turns_it_off() -> None:
    assert _held(limit=0, scopes=[_scope(f"/r{i}") for i in range(6)]).held_inside == 6


def test_a_failing_request_gives_its_slot_back() -> None:
    async def run() -> bool:
        calls = 0

        async def app(scope, receive, send) -> None:  # noqa: ANN001
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("boom")

        limited = AdmissionLimit(app, limit=1)
        try:
            await limited(_scope("/a"), _noop, _noop)
        except RuntimeError:
            pass
        await asyncio.wait_for(limited(_scope("/b"), _noop, _noop), timeout=2)
        return calls == 2

    assert _run(run())


# --- leadops.asgi.StreamsAsync: synchronous views on a fixed thread pool, streams on the loop ---


def test_streams_go_to_the_asgi_app_and_everything_else_to_the_wsgi_threads() -> None:
    import threading

    from leadops.asgi import StreamsAsync

    asgi_paths: list[str] = []
    wsgi_calls: list[tuple[str, bool, str]] = []

    async def asgi(scope, receive, send) -> None:  # noqa: ANN001
        asgi_paths.append(scope["path"])

    def wsgi(environ, start_response):  # noqa: ANN001, ANN202
        wsgi_calls.append((environ["PATH_INFO"], environ.get("leadops.streams", False), threading.current_thread().name))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    async def run() -> list[dict]:
        app = StreamsAsync(asgi=asgi, wsgi=wsgi, threads=2)
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        http = {"type": "http", "http_version": "1.1", "method": "GET", "scheme": "http", "query_string": b"",
                "headers": [], "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000), "root_path": ""}  # fmt: skip
        await app({**http, "path": "/inbox/events/"}, receive, send)
        # A body sent without a length: Django's WSGI handler would read it as empty.
        await app({**http, "method": "POST", "path": "/api/v1/leads", "headers": [(b"transfer-encoding", b"chunked")]},
                  receive, send)  # fmt: skip
        await asyncio.gather(*(app({**http, "path": f"/r{i}"}, receive, send) for i in range(4)))
        return sent

    sent = _run(run())
    assert asgi_paths == ["/inbox/events/", "/api/v1/leads"]
    assert sorted(path for path, _, _ in wsgi_calls) == ["/r0", "/r1", "/r2", "/r3"]
    assert all(marked for _, marked, _ in wsgi_calls)  # a page served this way knows streams are
    assert {thread for _, _, thread in wsgi_calls} <= {"WSGI_0", "WSGI_1"}  # the pool's threads, no new ones
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [200] * 4


# --- leadops.asgi.ThreadedWSGI: one hand-over each way for an ordinary request ---

_HTTP = {"type": "http", "http_version": "1.1", "scheme": "http", "query_string": b"", "root_path": "",
         "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000)}  # fmt: skip


def _call(app, scope: dict, body: bytes = b"", *, chunk: int = 0):  # noqa: ANN001, ANN202
    """Run one request through ``app``; the body arrives in pieces of ``chunk`` bytes (0: at once).
    Returns the messages sent and how many times the thread blocked on the loop (a2wsgi's path)."""
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] if chunk and body else [body]

    async def run() -> list[dict]:
        sent: list[dict] = []
        queue = list(pieces)

        async def receive() -> dict:
            if queue:
                piece = queue.pop(0)
                return {"type": "http.request", "body": piece, "more_body": bool(queue)}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return sent

    return _run(run())


def _echo_app(calls: list):  # noqa: ANN202
    import threading

    def wsgi(environ, start_response):  # noqa: ANN001, ANN202
        raw = environ.get("CONTENT_LENGTH") or "0"
        length = int(raw) if raw.isdigit() else 0  # as Django's WSGIRequest reads it
        body = environ["wsgi.input"].read(length)
        calls.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], environ.get("HTTP_X_TRACE"), threading.current_thread().name))
        start_response("201 Created", [("Content-Type", "text/plain"), ("X-Length", str(len(body)))])
        return [b"got:", body]

    return wsgi


def test_a_sized_request_is_read_whole_and_its_response_sent_in_one_piece() -> None:
    from leadops.asgi import ThreadedWSGI

    calls: list = []
    app = ThreadedWSGI(_echo_app(calls), threads=2)
    body = b'{"source": "web", "external_id": "a-1"}'
    scope = {**_HTTP, "method": "POST", "path": "/api/v1/leads",
             "headers": [(b"content-length", str(len(body)).encode()), (b"x-trace", b"t-9")]}  # fmt: skip
    sent = _call(app, scope, body, chunk=7)  # the body arrives in six pieces: all of it reaches the view
    assert calls == [("POST", "/api/v1/leads", "t-9", calls[0][3])] and calls[0][3].startswith("WSGI_")
    assert sent == [
        {"type": "http.response.start", "status": 201,
         "headers": [(b"content-type", b"text/plain"), (b"x-length", str(len(body)).encode())]},
        {"type": "http.response.body", "body": b"got:" + body},
    ]  # fmt: skip


def test_a_streaming_response_is_sent_chunk_by_chunk_from_the_thread_that_reads_it() -> None:
    import threading

    from django.http import StreamingHttpResponse

    from leadops.asgi import ThreadedWSGI

    threads: list[str] = []
    sent_before_row: list[int] = []  # messages already sent when each row is produced
    sent: list[dict] = []

    def rows():  # noqa: ANN202
        for i in range(3):
            threads.append(threading.current_thread().name)
            sent_before_row.append(len(sent))
            yield f"row {i}\n".encode()

    def wsgi(environ, start_response):  # noqa: ANN001, ANN202
        response = StreamingHttpResponse(rows(), content_type="text/csv")
        start_response("200 OK", [("Content-Type", "text/csv")])
        return response

    async def run() -> None:
        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await ThreadedWSGI(wsgi, threads=2)({**_HTTP, "method": "GET", "path": "/export.csv", "headers": []}, receive, send)

    _run(run())
    # each row goes out before the next is produced: a long export starts at once, not when it ends
    assert sent_before_row == [1, 2, 3]
    assert sent[0] == {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/csv")]}
    assert [m["body"] for m in sent[1:]] == [b"row 0\n", b"row 1\n", b"row 2\n", b""]
    assert [m.get("more_body", False) for m in sent[1:]] == [True, True, True, False]
    assert len(set(threads)) == 1 and threads[0].startswith("WSGI_")  # one thread: its database connection stays


def test_a_body_past_the_buffer_or_without_a_usable_length_is_read_as_it_arrives() -> None:
    from leadops.asgi import ThreadedWSGI

    calls: list = []
    app = ThreadedWSGI(_echo_app(calls), threads=2, buffer_bytes=16)
    body = b"x" * 100
    sent = _call(app, {**_HTTP, "method": "POST", "path": "/csv", "headers": [(b"content-length", b"100")]}, body, chunk=30)
    assert sent[0]["status"] == 201 and b"".join(m.get("body", b"") for m in sent[1:]) == b"got:" + body
    # a2wsgi's path sends the end of the body as its own message
    assert sent[-1] == {"type": "http.response.body", "body": b""}
    bad = _call(app, {**_HTTP, "method": "GET", "path": "/x", "headers": [(b"content-length", b"ten")]})
    assert bad[0]["status"] == 201  # unreadable length: a2wsgi's path, which leaves it to the view


def test_a_client_gone_before_its_body_arrived_gets_no_answer_and_runs_no_view() -> None:
    from leadops.asgi import ThreadedWSGI

    calls: list = []
    app = ThreadedWSGI(_echo_app(calls), threads=2)

    async def run() -> list[dict]:
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        await app({**_HTTP, "method": "POST", "path": "/api/v1/leads", "headers": [(b"content-length", b"5")]}, receive, send)
        return sent

    assert _run(run()) == [] and calls == []


def test_a_view_that_raises_sends_nothing_and_the_server_answers_500() -> None:
    import pytest

    from leadops.asgi import ThreadedWSGI

    def wsgi(environ, start_response):  # noqa: ANN001, ANN202
        raise RuntimeError("broken view")

    sent: list = []
    with pytest.raises(RuntimeError, match="broken view"):  # uvicorn turns this into a 500
        sent = _call(ThreadedWSGI(wsgi, threads=1), {**_HTTP, "method": "GET", "path": "/", "headers": []})
    assert sent == []


# --- leadops.asgi.BodyFirst: a body is read before its request takes an admission slot ---


def test_clients_that_never_send_their_body_hold_no_admission_slot() -> None:
    """Found by the fresh-clone check: with the body read inside the admission limit, 16 clients
    sending headers and one byte stopped every request of the process, health checks included."""
    from leadops.asgi import AdmissionLimit, BodyFirst

    answered: list[str] = []

    async def inner(scope, receive, send) -> None:  # noqa: ANN001
        message = await receive()
        answered.append(f"{scope['path']}:{len(message.get('body', b''))}")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app = BodyFirst(AdmissionLimit(inner, limit=1), timeout_seconds=0.5)

    async def run() -> tuple[list[int], list[int]]:
        stalled_status: list[int] = []
        live_status: list[int] = []

        def client(path: str, length: int, pieces: list[bytes], statuses: list[int], *, stall: bool):  # noqa: ANN202
            async def receive() -> dict:
                if pieces:
                    return {"type": "http.request", "body": pieces.pop(0), "more_body": bool(pieces) or stall}
                await asyncio.sleep(3600)  # the rest of the body never comes
                return {"type": "http.disconnect"}

            async def send(message: dict) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            scope = {**_HTTP, "method": "POST", "path": path, "headers": [(b"content-length", str(length).encode())]}
            return app(scope, receive, send)

        stalled = [asyncio.create_task(client("/api/v1/leads", 500, [b"x"], stalled_status, stall=True)) for _ in range(16)]
        await asyncio.sleep(0.05)
        await asyncio.wait_for(client("/health/live", 2, [b"{}"], live_status, stall=False), timeout=0.3)  # not queued
        await asyncio.gather(*stalled)
        return stalled_status, live_status

    stalled_status, live_status = _run(run())
    assert live_status == [200] and answered == ["/health/live:2"]  # the stalled ones never reached the app
    assert stalled_status == [408] * 16  # each answered when its time ran out
