"""A LeadOps webhook receiver that verifies Standard Webhooks signatures (the `standardwebhooks`
package, https://www.standardwebhooks.com): run it, point LEADOPS_WEBHOOK_URL at it and give it
the same LEADOPS_WEBHOOK_SECRET.

    LEADOPS_WEBHOOK_SECRET=whsec_... python docs/examples/webhook_receiver.py 8080

Each delivery carries ``webhook-id`` (the same on every retry: de-duplicate on it),
``webhook-timestamp`` (refused when more than 5 minutes off: no replays) and
``webhook-signature``. A bad signature answers 401 and LeadOps retries later; any 2xx marks the
delivery done, so answer quickly and do the work afterwards.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

MAX_BODY = 1024 * 1024


def make_server(port: int, secret: str, on_event: Callable[[dict[str, Any]], None],
                host: str = "127.0.0.1") -> ThreadingHTTPServer:  # fmt: skip
    """An HTTP server on ``port`` (0: any free one) calling ``on_event(event)`` once per verified
    delivery id. ``secret``: LEADOPS_WEBHOOK_SECRET as configured in LeadOps (``whsec_...``, or
    any other string, which LeadOps uses as raw key bytes)."""
    verifier = Webhook(secret if secret.startswith("whsec_") else secret.encode())
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413)
                return
            body = self.rfile.read(length)
            try:
                event = verifier.verify(body, dict(self.headers.items()))
            except WebhookVerificationError:
                self._answer(401)
                return
            message_id = self.headers["webhook-id"]
            if message_id not in seen:  # a retry of a delivery already handled
                seen.add(message_id)
                on_event(event)
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    return ThreadingHTTPServer((host, port), Handler)


if __name__ == "__main__":
    server = make_server(int(sys.argv[1]) if len(sys.argv) > 1 else 8080, os.environ["LEADOPS_WEBHOOK_SECRET"],
                         lambda event: print(json.dumps(event), flush=True))  # fmt: skip
    print(f"Listening on http://127.0.0.1:{server.server_port}/", flush=True)
    server.serve_forever()
