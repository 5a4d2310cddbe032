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


def test_requests_beyond_the_limit_wait_their_turn_in_arrival_order() -> None:
    async def run() -> tuple[int, list[str], int]:
        app = _App()
        limited = AdmissionLimit(app, limit=3)
        tasks = [asyncio.create_task(limited(_scope(f"/r{i}"), _noop, _noop)) for i in range(10)]
        await asyncio.sleep(0.05)
        inside_while_held = app.inside
        app.release.set()
        await asyncio.gather(*tasks)
        return inside_while_held, app.entered, app.most_inside

    inside_while_held, entered, most_inside = _run(run())
    assert inside_while_held == 3
    assert most_inside == 3
    assert entered == [f"/r{i}" for i in range(10)]


def test_event_streams_and_non_http_scopes_are_not_counted() -> None:
    async def run() -> int:
        app = _App()
        limited = AdmissionLimit(app, limit=1)
        tasks = [asyncio.create_task(limited(_scope("/inbox/events/"), _noop, _noop)) for _ in range(5)]
        tasks.append(asyncio.create_task(limited(_scope("/", "lifespan"), _noop, _noop)))
        tasks.append(asyncio.create_task(limited(_scope("/inbox/"), _noop, _noop)))
        await asyncio.sleep(0.05)
        inside = app.inside
        app.release.set()
        await asyncio.gather(*tasks)
        return inside

    assert _run(run()) == 7


def test_a_limit_of_zero_turns_it_off() -> None:
    async def run() -> int:
        app = _App()
        limited = AdmissionLimit(app, limit=0)
        tasks = [asyncio.create_task(limited(_scope(f"/r{i}"), _noop, _noop)) for i in range(6)]
        await asyncio.sleep(0.05)
        inside = app.inside
        app.release.set()
        await asyncio.gather(*tasks)
        return inside

    assert _run(run()) == 6


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
