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
