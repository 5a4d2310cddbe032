"""Shared helpers for operations tests: heartbeat rows at chosen times and a local alert receiver."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ops.models import Component, Heartbeat


def beat(component: Component, *, at: dt.datetime, instance: str = "host-a:1", stopped: bool = False) -> Heartbeat:
    row, _ = Heartbeat.objects.update_or_create(
        component=component, instance=instance,
        defaults={"started_at": at - dt.timedelta(hours=1), "beat_at": at, "stopped_at": at if stopped else None},
    )  # fmt: skip
    return row


def all_up(*, at: dt.datetime) -> None:
    for component in Component:
        beat(component, at=at)


class AlertReceiver:
    """A real HTTP server on loopback that records every POST (the alert webhook's target)."""

    def __init__(self, *, status: int = 200) -> None:
        self.posts: list[tuple[dict[str, str], dict]] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
