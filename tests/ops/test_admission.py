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
