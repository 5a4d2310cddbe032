"""CPU per request inside one web worker process, Django's ASGI handler against the WSGI thread pool.

    .venv/bin/python scripts/request_cost.py                 # 400 requests of each kind, both modes, twice
    .venv/bin/python scripts/request_cost.py --requests 100  # quicker

It creates a throwaway PostgreSQL database (its name must contain "bench"; default
``leadops_bench_requests``) on the server of DATABASE_URL (default postgres@127.0.0.1:5432),
migrates it, loads the demo (``manage.py seed_demo``), makes an intake token, routes a few hundred
leads so a demo rep has an open offer, and logs that rep in. Then, for each mode, a fresh Python
process imports ``leadops.asgi.application`` exactly as a gunicorn worker does
(``LEADOPS_WEB_THREADS=0``: every request through Django's ASGI handler, a new thread per
request; ``a2wsgi``: synchronous views on 8 threads through a2wsgi's WSGIMiddleware alone, as
before ``leadops.asgi.ThreadedWSGI``; ``LEADOPS_WEB_THREADS=8``: the production set-up) and
calls it directly from an asyncio loop, four requests in flight, with no HTTP server or client
in between. It reports the process's CPU time per request (``time.process_time``, all threads),
after 50 warm-up requests of each kind:

- ``live``: GET /health/live (no database: the request path alone);
- ``intake``: POST /api/v1/leads (token, validation, one insert);
- ``inbox_same``: the open inbox's ask when nothing changed (answered 204);
- ``inbox_new``: the same ask from an inbox that shows nothing yet (one offer card rendered).

The database is dropped at the end. Modes alternate (ASGI, WSGI, ASGI, WSGI) so drift on the
machine shows as a difference between rounds of the same mode.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

SETUP = r"""
import json
import django
django.setup()
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db.models import Count
from routing.models import Lead, Offer
from routing.services import lead_intake, leads_route_all_pending
from routing.services_tokens import apitoken_create
from routing.validation import clean_lead
for i in range(300):
    lead_intake(data=clean_lead({"source": "setup", "external_id": str(i), "country": "US", "state": "CA",
                                 "language": "en", "product_line": "life", "email": "a@b.co"}))
leads_route_all_pending()
top = (Offer.objects.filter(status="open").values("rep_id").annotate(n=Count("id")).order_by("-n").first())
offer = Offer.objects.filter(status="open", rep_id=top["rep_id"]).select_related("rep__user").first()
user = offer.rep.user
store = SessionStore()
store[SESSION_KEY] = str(user.pk)
store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
store[HASH_SESSION_KEY] = user.get_session_auth_hash()
store.create()
have = ",".join(str(i) for i in Offer.objects.filter(status="open", rep_id=top["rep_id"]).order_by("-offered_at", "-id").values_list("id", flat=True)[:50])
print(json.dumps({"token": apitoken_create(name="request-cost", scopes=["intake"])[1], "session": store.session_key, "have": have}))
"""

KINDS = ("live", "intake", "inbox_same", "inbox_new")
# (name, LEADOPS_WEB_THREADS, bridge): Django's ASGI handler; the thread pool through a2wsgi's
# WSGIMiddleware for every request (as before leadops.asgi.ThreadedWSGI); the production set-up.
MODES = (("asgi", "0", ""), ("a2wsgi", "8", "a2wsgi"), ("wsgi_threads", "8", ""))


async def _measure(requests: int, token: str, session: str, have: str) -> dict[str, float]:
    from leadops.asgi import application

    if os.environ.get("LEADOPS_REQUEST_COST_BRIDGE") == "a2wsgi":  # the thread pool as it was before ThreadedWSGI
        from a2wsgi import WSGIMiddleware

        application.app.wsgi = WSGIMiddleware(application.app.wsgi.app, workers=8)

    counter = itertools.count()

    async def call(method: str, path: str, *, body: bytes = b"", headers: tuple = (), query: bytes = b"") -> int:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), *headers, *([(b"content-length", str(len(body)).encode())] if body else [])],
            "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000),
        }  # fmt: skip
        delivered = False
        statuses: list[int] = []

        async def receive() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)  # no disconnect while the response is written
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await application(scope, receive, send)
        return statuses[0]

    inbox_headers = ((b"cookie", f"sessionid={session}".encode()), (b"hx-request", b"true"), (b"hx-target", b"inbox-offers"))
    run_id = time.time_ns()

    def intake() -> Any:
        payload = {"source": "cost", "external_id": f"{run_id}-{next(counter)}", "country": "US", "state": "CA",
                   "language": "en", "product_line": "life", "email": "a@b.co"}  # fmt: skip
        return call("POST", "/api/v1/leads", body=json.dumps(payload).encode(),
                    headers=((b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json")))  # fmt: skip

    makers = {
        "live": lambda: call("GET", "/health/live"),
        "intake": intake,
        "inbox_same": lambda: call("GET", "/inbox/", headers=inbox_headers, query=f"have={have}".encode()),
        "inbox_new": lambda: call("GET", "/inbox/", headers=inbox_headers, query=b"have="),
    }
    expected = {"live": 200, "intake": 201, "inbox_same": 204, "inbox_new": 200}

    async def run(kind: str, n: int) -> float:
        slots = asyncio.Semaphore(4)

        async def one() -> None:
            async with slots:
                status = await makers[kind]()
            if status != expected[kind]:
                raise SystemExit(f"{kind}: HTTP {status}, expected {expected[kind]}")

        started = time.process_time()
        await asyncio.gather(*(one() for _ in range(n)))
        return (time.process_time() - started) / n * 1000

    for kind in KINDS:
        await run(kind, 50)
    return {kind: round(await run(kind, requests), 2) for kind in KINDS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database", default="leadops_bench_requests")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: one mode, in a child process
    args = parser.parse_args()
    if args.measure:
        given = json.loads(args.measure)
        token, session, have = given["token"], given["session"], given["have"]
        print(json.dumps(asyncio.run(_measure(args.requests, token, session, have))))
        return
    if "bench" not in args.database:
        raise SystemExit("the database name must contain 'bench' (it is dropped)")
    import psycopg

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres").rsplit("/", 1)[0]
    url = f"{base}/{args.database}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "leadops.settings", "LEADOPS_DB_POOL_MAX": "8"}
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{args.database}"')
    try:
        for command in (["migrate", "-v0"], ["seed_demo"]):
            subprocess.run([PYTHON, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
        setup = subprocess.run([PYTHON, "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        secrets = setup.stdout.strip().splitlines()[-1]
        results: dict[str, list[dict[str, float]]] = {mode: [] for mode, _, _ in MODES}
        for _ in range(args.rounds):
            for mode, threads, bridge in MODES:
                out = subprocess.run([PYTHON, __file__, "--requests", str(args.requests), "--measure", secrets], cwd=ROOT,
                                     env={**env, "LEADOPS_WEB_THREADS": threads, "LEADOPS_REQUEST_COST_BRIDGE": bridge},
                                     capture_output=True, text=True)  # fmt: skip
                if out.returncode:
                    raise SystemExit(f"{mode} run failed:\n{out.stderr[-3000:]}")
                results[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"{mode:>13}: " + ", ".join(f"{k} {v} ms" for k, v in results[mode][-1].items()), flush=True)
        print("CPU ms per request, mean of rounds (ratio to asgi; threads ÷ a2wsgi):")
        for kind in KINDS:
            a, b, w = (sum(r[kind] for r in results[mode]) / len(results[mode]) for mode in ("asgi", "a2wsgi", "wsgi_threads"))
            print(f"  {kind:>10}: asgi {a:.2f}, a2wsgi {b:.2f} ({b / a:.2f}), threads {w:.2f} ({w / a:.2f}); "
                  f"threads ÷ a2wsgi {w / b:.2f}")
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadops.settings")
    main()
