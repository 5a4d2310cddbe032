"""Load test: simulated reps with their inbox open plus API intake, against gunicorn on loopback.

    .venv/bin/python scripts/load.py                     # 200 reps on event streams, 100 intake/s, 60 s
    .venv/bin/python scripts/load.py --inbox poll        # the fallback: 200 reps polling every 3 s
    .venv/bin/python scripts/load.py --reps 20 --rate 10 --seconds 10   # smoke run
    .venv/bin/python scripts/load.py --json load.json    # also write the results as JSON

What it does, in order (everything it starts is stopped, and its database dropped, at the end):

1. creates a throwaway PostgreSQL database (its name must contain "bench"; default
   ``leadops_bench2_load``) on the server of DATABASE_URL (default postgres@127.0.0.1:5432),
   migrates it, loads the demo with ``manage.py seed_demo`` and creates an API token with
   ``manage.py createapitoken``;
2. adds ``--reps`` rep accounts (clones of the demo reps, members of the demo pools, so they
   receive offers) through the configuration importer, and gives each a logged-in session;
3. starts gunicorn on 127.0.0.1 exactly as production does (``leadops.asgi`` with the repo's
   ``leadops/gunicorn.conf.py``: uvicorn workers, ``--web-workers`` of them), a ``manage.py qcluster``
   and a ``manage.py sweeper``;
4. for ``--seconds``: every rep keeps its inbox open as the page does. ``--inbox push`` (default):
   one server-sent event stream per rep (``GET /inbox/events/?have=…``); an ``offers`` event
   carries the live offer ids and the new cards, and the client asks only for a live offer it
   still lacks, as static/js/inbox.js does (and on each ``inbox`` event, sent when cards are off
   the stream, ``LEADOPS_INBOX_PUSH_CARDS=0``, or a feed failed), by a fetch of the offers
   fragment; ``--inbox poll``: that fetch every ``--poll`` seconds. The fetch
   is the page's (``GET /inbox/`` with ``HX-Request``, ``HX-Target: inbox-offers`` and ``have``, the
   offer ids it shows: an unchanged inbox answers 204, a changed one only the new cards). Intake
   POSTs arrive at ``--rate`` per second on a fixed schedule (open loop) at ``/api/v1/leads``;
5. reports, per request type, errors (any status outside 2xx/3xx, or a connection error) and
   latency p50/p95/p99. Intake latency is measured from the request's scheduled time, so a
   server that falls behind is not hidden by the client waiting for it. Offer delivery is the
   time from an offer's ``offered_at`` to the moment a rep's client first holds a fragment
   showing it (same machine clock).

Clients are one asyncio loop speaking HTTP/1.1 with ``Connection: close`` (standard library
only); the client shares the machine's cores with the server, as a real loopback test does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HAVE = re.compile(rb'id="inbox-have" name="have" value="([^"]*)"')
LIVE = re.compile(rb'data-live="([^"]*)"')
OFFER_ID = re.compile(rb'data-offer-id="(\d+)"')
STATES = ["CA", "NY", "TX", "FL", "WA", "IL", "PA", "OH", "GA", "NC"]

SETUP_REPS = r"""
import copy, json, sys
import django
django.setup()
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from routing.config_io import config_export, config_import

count = int(sys.argv[1])
data = config_export(include_absences=False)
templates = [r for r in data["reps"] if r.get("active", True) and r.get("team")]
pools = {p["name"]: p for p in data["pools"]}
for i in range(count):
    rep = copy.deepcopy(templates[i % len(templates)])
    rep.update(username=f"load-rep-{i:03d}", email=f"load-rep-{i:03d}@load.invalid", display_name=f"Load Rep {i:03d}",
               working_hours={}, active=True)
    data["reps"].append(rep)
    for pool in pools.values():
        if any(m["rep"] == templates[i % len(templates)]["username"] for m in pool.get("members", [])):
            pool["members"].append({"rep": rep["username"], "weight": 1})
config_import(data)
sessions = []
for user in User.objects.filter(username__startswith="load-rep-").order_by("username"):
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    sessions.append(store.session_key)
print(json.dumps(sessions))
"""


@dataclass
class Stats:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    requests: int = 0
    samples: list[str] = field(default_factory=list)

    def record(self, status: int | None, ms: float, error: str = "") -> None:
        self.requests += 1
        if status is not None:
            self.statuses[status] = self.statuses.get(status, 0) + 1
        if status is None or not 200 <= status < 400:
            self.errors += 1
            if len(self.samples) < 5:
                self.samples.append(error or f"HTTP {status}")
        else:
            self.latencies_ms.append(ms)

    def summary(self) -> dict[str, Any]:
        values = sorted(self.latencies_ms)
        return {
            "requests": self.requests,
            "ok": len(values), "errors": self.errors, "statuses": dict(sorted(self.statuses.items())),
            "p50_ms": _pct(values, 50), "p95_ms": _pct(values, 95), "p99_ms": _pct(values, 99),
            "max_ms": round(values[-1], 1) if values else None,
            "mean_ms": round(statistics.fmean(values), 1) if values else None, "error_samples": self.samples,
        }  # fmt: skip


def _pct(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))], 1)


async def http(port: int, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
                f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]  # fmt: skip
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    status_line = data.split(b"\r\n", 1)[0]
    parts = status_line.split()
    if len(parts) < 2 or not parts[1].isdigit():
        raise ConnectionError(f"no HTTP status line (got {status_line[:60]!r})")
    return int(parts[1]), data


class Inbox:
    """One rep's open inbox: the offers fragment it last fetched, and when it first saw each offer."""

    def __init__(self, port: int, session: str, stats: Stats, seen: dict[int, float]) -> None:
        self.port, self.session, self.stats, self.seen = port, session, stats, seen
        self.have = ""  # the offer ids this inbox shows, as the page's #inbox-have carries them
        self.pushed = 0  # offers events applied
        self.headers = {"Cookie": f"sessionid={session}", "HX-Request": "true", "HX-Target": "inbox-offers",
                        "HX-Current-URL": f"http://127.0.0.1:{port}/inbox/"}  # fmt: skip

    async def fetch(self) -> None:
        began = time.monotonic()
        path = f"/inbox/?have={quote(self.have)}"
        try:
            status, data = await http(self.port, "GET", path, self.headers)
        except (OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
            self.stats.record(None, 0.0, f"{type(exc).__name__}: {exc}")
            return
        self.stats.record(status, (time.monotonic() - began) * 1000)
        if status == 200:
            if match := HAVE.search(data):
                self.have = match.group(1).decode()
            now = time.time()
            for offer_id in OFFER_ID.findall(data):
                self.seen.setdefault(int(offer_id), now)


    def apply_offers(self, data: bytes) -> bool:
        """An ``offers`` event, as static/js/inbox.js applies it: the cards it carries are seen now,
        and the inbox shows the live ids it has a card for. False when a live offer is still
        missing (the page then asks)."""
        match = LIVE.search(data)
        if match is None:
            return False
        live = [int(i) for i in match.group(1).decode().split(",") if i]
        now = time.time()
        delivered = {int(offer_id) for offer_id in OFFER_ID.findall(data)}
        for offer_id in delivered:
            self.seen.setdefault(offer_id, now)
        self.pushed += 1
        had = {int(i) for i in self.have.split(",") if i}
        shown = [i for i in live if i in had or i in delivered]
        self.have = ",".join(map(str, shown))
        return len(shown) == len(live)


async def poll_inbox(inbox: Inbox, *, start: float, period: float, until: float) -> None:
    due = start
    while due < until:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        await inbox.fetch()
        due += period  # the page polls every 3 s after the last swap; a late answer polls at once


async def stream_inbox(inbox: Inbox, *, start: float, until: float, streams: Stats) -> None:
    """Hold the rep's event stream open until ``until``; fetch the fragment on events (see below).
    A refused or dropped stream is an error (the page would fall back to polling)."""
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    began = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", inbox.port, limit=1 << 22)
    except OSError as exc:
        streams.record(None, 0.0, f"{type(exc).__name__}: {exc}")
        return
    try:
        writer.write((f"GET /inbox/events/?have={quote(inbox.have)} HTTP/1.1\r\nHost: 127.0.0.1:{inbox.port}\r\nAccept: text/event-stream\r\n"
                      f"Cookie: sessionid={inbox.session}\r\n\r\n").encode())  # fmt: skip
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=30)
        parts = status_line.split()
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        streams.record(status, (time.monotonic() - began) * 1000, f"stream: {status_line[:60]!r}")
        if status != 200:
            return
        # Like the page (htmx 2 queues the last request triggered on an element with one in
        # flight): one ask at a time, and an event that comes while one is in flight asks again
        # once it is answered. Before round 10 this client dropped such events, so a new offer
        # waited for the rep's next event: offer -> inbox tails the page does not have.
        wake = asyncio.Event()
        state = {"wanted": False, "done": False}

        async def ask() -> None:
            while True:
                await wake.wait()
                wake.clear()
                if state["wanted"]:
                    state["wanted"] = False
                    await inbox.fetch()
                    wake.set()  # look again: an event or the end may have come meanwhile
                elif state["done"]:
                    return

        asker = asyncio.create_task(ask())
        event: bytes | None = None
        data: list[bytes] = []
        try:
            while (left := until - time.monotonic()) > 0:
                try:
                    line = await asyncio.wait_for(reader.readline(), timeout=left)
                except TimeoutError:
                    break
                if not line:
                    streams.record(None, 0.0, "stream closed by the server")
                    break
                if line.startswith(b"event: "):
                    event, data = line[7:].strip(), []
                elif line.startswith(b"data: "):
                    data.append(line[6:])
                elif line in (b"\n", b"\r\n") and event:
                    if event == b"inbox" or (event == b"offers" and not inbox.apply_offers(b"".join(data))):
                        state["wanted"] = True
                        wake.set()
                    event = None
        finally:
            state["done"] = True  # the asker answers the last event, then stops
            wake.set()
            await asker
    except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
        streams.record(None, 0.0, f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()


def intake_payload(index: int, rng: random.Random) -> bytes:
    vertical = rng.choice(["insurance", "insurance", "saas"])
    return json.dumps({
        "source": rng.choice(["web", "partner", "webinar", "chat"]), "external_id": f"load-{index}",
        "first_name": "Load", "last_name": f"L{index}", "email": f"load{index}@load.invalid", "country": "US",
        "state": rng.choice(STATES), "postal_code": f"{rng.randint(10000, 99999)}",
        "language": rng.choice(["en"] * 6 + ["es", "de"]),
        "product_line": rng.choice(["life", "auto"]) if vertical == "insurance" else "crm",
        "value": rng.choice([800, 2500, 9000, 18000, 35000, 52000, 75000, 120000]), "currency": "USD",
        "intent": rng.choice(["high", "medium", "medium", "low"]), "attributes": {"vertical": vertical},
    }).encode()  # fmt: skip


async def intake(port: int, token: str, *, rate: float, start: float, until: float, stats: Stats) -> int:
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    tasks: set[asyncio.Task] = set()

    async def one(index: int, due: float) -> None:
        try:
            status, data = await http(port, "POST", "/api/v1/leads", headers, intake_payload(index, rng))
        except (OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
            stats.record(None, 0.0, f"{type(exc).__name__}: {exc}")
        else:
            body = data.split(b"\r\n\r\n", 1)[-1][:200].decode(errors="replace")
            stats.record(status, (time.monotonic() - due) * 1000, f"HTTP {status}: {body}")

    index = 0
    while (due := start + index / rate) < until:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        task = asyncio.create_task(one(index, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        index += 1
    if tasks:
        await asyncio.wait(tasks, timeout=60)
    return index


async def drive(args: argparse.Namespace, port: int, token: str, sessions: list[str]) -> tuple[dict[str, Any], dict[int, float]]:
    inbox, posts, streams = Stats(), Stats(), Stats()
    seen: dict[int, float] = {}
    start = time.monotonic() + 0.5
    until = start + 1.0 + args.seconds  # intake starts a second in (below) and runs ``--seconds``
    listen_until = time.time() + (until - time.monotonic())  # the same instant on the wall clock
    rng = random.Random(3)
    inboxes = [Inbox(port, s, inbox, seen) for s in sessions]
    if args.inbox == "poll":
        reps = [poll_inbox(i, start=start + rng.uniform(0, args.poll), period=args.poll, until=until) for i in inboxes]
    else:  # streams open over the first second, before the intake starts
        reps = [stream_inbox(i, start=start - 0.5 + rng.uniform(0, 0.5), until=until, streams=streams) for i in inboxes]
    results = await asyncio.gather(intake(port, token, rate=args.rate, start=start + 1.0, until=until, stats=posts), *reps)
    out = {"inbox": inbox.summary(), "intake": posts.summary(), "intake_sent": results[0],
           "wall_seconds": round(time.monotonic() - start, 1), "listen_until_epoch": listen_until}  # fmt: skip
    if args.inbox == "push":
        out["streams"] = streams.summary()
        out["offers_events"] = sum(i.pushed for i in inboxes)  # offers events applied (cards on the stream)
    return out, seen


def offer_delivery(conn: psycopg.Connection, seen: dict[int, float], *, listen_until: float) -> dict[str, Any]:
    """Offer created (``offered_at``) to first seen by the rep's client, for the load's offers;
    ``made``: offers to the load's reps, ``never_seen``: those of them made at least 2 s before
    the clients stopped listening (``listen_until``, epoch seconds) that no inbox ever showed
    (an offer withdrawn or decided within a moment can be one; a lost push would be too)."""
    made = conn.execute(
        "SELECT o.id, extract(epoch FROM o.offered_at) FROM routing_offer o JOIN reps_rep r ON r.id = o.rep_id "
        "JOIN auth_user u ON u.id = r.user_id WHERE u.username LIKE 'load-rep-%'"
    ).fetchall()  # fmt: skip
    never_seen = sum(1 for offer_id, at in made if offer_id not in seen and float(at) <= listen_until - 2.0)
    counts = {"made": len(made), "never_seen": never_seen}
    if not seen:
        return {"offers": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None, **counts}
    rows = conn.execute("SELECT id, extract(epoch FROM offered_at) FROM routing_offer WHERE id = ANY(%s)", [list(seen)]).fetchall()
    values = sorted(max(0.0, (seen[i] - float(at)) * 1000) for i, at in rows)
    return {"offers": len(values), "p50_ms": _pct(values, 50), "p95_ms": _pct(values, 95), "p99_ms": _pct(values, 99),
            "max_ms": round(values[-1], 1) if values else None, **counts}  # fmt: skip


def admin_conn(url: str) -> psycopg.Connection:
    parts = urlsplit(url)
    return psycopg.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 5432, user=parts.username or "postgres",
                           password=parts.password, dbname="postgres", autocommit=True)  # fmt: skip


def run(cmd: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True, text=True, **kwargs)


def wait_http(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited during start-up")
        try:
            status, _ = asyncio.run(http(port, "GET", "/login/", {}))
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError("gunicorn did not answer")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def routed_latency(conn: psycopg.Connection, *, wait: float) -> dict[str, Any]:
    """Intake→first decision of the load's leads (the first decision's time − received_at), after
    letting the queue drain. ``routed_at`` is not used: a held lead's later retry or an escalation
    moves it on, which is not how long the lead waited to be routed."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        pending = conn.execute("SELECT count(*) FROM routing_lead WHERE external_id LIKE 'load-%%' AND status = 'pending'").fetchone()[0]
        if not pending:
            break
        time.sleep(0.5)
    row = conn.execute(
        """WITH first AS (SELECT l.received_at, min(d.created_at) AS decided
                          FROM routing_lead l LEFT JOIN routing_decision d ON d.lead_id = l.id
                          WHERE l.external_id LIKE 'load-%%' GROUP BY l.id, l.received_at)
           SELECT count(*), count(decided),
                  percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM decided - received_at)),
                  max(extract(epoch FROM decided - received_at))
           FROM first"""
    ).fetchone()
    status = dict(conn.execute("SELECT status, count(*) FROM routing_lead WHERE external_id LIKE 'load-%%' GROUP BY status").fetchall())
    p = row[2] or [None, None, None]
    ms = lambda v: None if v is None else round(float(v) * 1000, 1)  # noqa: E731
    return {"leads": row[0], "routed": row[1], "by_status": status, "p50_ms": ms(p[0]), "p95_ms": ms(p[1]),
            "p99_ms": ms(p[2]), "max_ms": ms(row[3])}  # fmt: skip


CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc); empty when it is gone."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return out


def _cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes ``pids`` have used so far, with what their
    exited and reaped children used (a qcluster replaces its worker processes every few hundred
    tasks, and the server's backends come and go: without it their time went missing)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime: fields 14-17 of proc_pid_stat(5)
        total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / CLK_TCK


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def cpu_snapshot(procs: dict[str, subprocess.Popen]) -> dict[str, float]:
    """CPU seconds so far by component: each started process with its children, every
    ``postgres`` process of the server (backends that exited in between are not counted), this
    load client, and the whole machine (/proc/stat). Linux only; empty elsewhere."""
    if not Path("/proc/stat").exists():
        return {}
    snap = {name: _cpu(_tree(proc.pid)) for name, proc in procs.items()}
    snap["postgres"] = _cpu(_postgres_pids())
    times = os.times()
    snap["load client"] = times.user + times.system
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    snap["machine"] = (int(cpu[0]) + int(cpu[1]) + int(cpu[2]) + int(cpu[5]) + int(cpu[6])) / CLK_TCK  # user nice system irq softirq
    return snap


def cpu_used(before: dict[str, float], after: dict[str, float], *, seconds: float, leads: int) -> dict[str, Any]:
    """Where the CPU went during the run: cores used on average and ms per lead sent, by component."""
    out = {}
    for name, end in after.items():
        used = max(0.0, end - before.get(name, 0.0))
        out[name] = {"cpu_seconds": round(used, 1), "cores": round(used / seconds, 2) if seconds else None,
                     "ms_per_lead": round(used * 1000 / leads, 1) if leads else None}  # fmt: skip
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--inbox", choices=("push", "poll"), default="push",
                        help="reps hold event streams (push) or poll the fragment (the fallback)")
    parser.add_argument("--poll", type=float, default=3.0, help="seconds between a rep's polls (--inbox poll)")
    parser.add_argument("--rate", type=float, default=100.0, help="intake POSTs per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--database", default="leadops_bench2_load", help="throwaway database (name must contain 'bench')")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn uvicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--broker", choices=("orm", "redis"), default="orm", help="queue broker of the qcluster")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    if "bench" not in args.database:
        parser.error("--database must contain 'bench': the script creates and drops it")

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leadops")
    parts = urlsplit(base_url)
    db_url = parts._replace(path="/" + args.database).geturl()
    env = {**os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "leadops.settings", "LEADOPS_Q_SYNC": "0",
           "DJANGO_DEBUG": "0", "PYTHONPATH": str(ROOT)}  # fmt: skip
    env.pop("REDIS_URL", None)
    if args.broker == "redis":
        env["REDIS_URL"] = os.environ.get("LEADOPS_LOAD_REDIS_URL", "redis://127.0.0.1:6379/0")
    logs = Path(tempfile.mkdtemp(prefix="leadops-load-"))
    procs: dict[str, subprocess.Popen] = {}
    admin = admin_conn(base_url)
    exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.database]).fetchone()
    if exists:
        print(f"database {args.database} already exists: not touching it (drop it yourself if it is yours)", file=sys.stderr)
        return 2
    admin.execute(f'CREATE DATABASE "{args.database}"')
    report: dict[str, Any] = {"config": vars(args) | {"json": str(args.json) if args.json else None}}
    try:
        log = lambda m: print(f"[load] {m}", file=sys.stderr, flush=True)  # noqa: E731
        manage = [PYTHON, str(ROOT / "manage.py")]
        log(f"migrate + seed_demo in {args.database}")
        run([*manage, "migrate", "-v", "0"], env)
        run([*manage, "seed_demo"], env)
        token = run([*manage, "createapitoken", "load"], env).stdout.split()[-1]
        log(f"adding {args.reps} reps with sessions")
        sessions = json.loads(run([PYTHON, "-c", SETUP_REPS, str(args.reps)], env).stdout.strip().splitlines()[-1])
        log(f"starting gunicorn (production set-up: leadops/gunicorn.conf.py, {args.web_workers} uvicorn workers), "
            f"qcluster ({args.broker}), sweeper")
        procs["gunicorn"] = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "leadops.asgi:application", "--config", str(ROOT / "leadops" / "gunicorn.conf.py"),
             "-b", f"127.0.0.1:{args.port}", "--log-level", "warning"],
            env={**env, "WEB_CONCURRENCY": str(args.web_workers)}, cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=open(logs / "gunicorn.log", "w"),
        )  # fmt: skip
        procs["qcluster"] = subprocess.Popen([*manage, "qcluster"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                             stderr=open(logs / "qcluster.log", "w"))  # fmt: skip
        procs["sweeper"] = subprocess.Popen([*manage, "sweeper"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                            stderr=open(logs / "sweeper.log", "w"))  # fmt: skip
        wait_http(args.port, procs["gunicorn"])
        time.sleep(2)  # let qcluster and sweeper finish starting
        how = "on event streams" if args.inbox == "push" else f"polling every {args.poll} s"
        log(f"{args.reps} reps {how} + {args.rate} intake/s for {args.seconds} s")
        cpu_before, began = cpu_snapshot(procs), time.monotonic()
        report["results"], seen = asyncio.run(drive(args, args.port, token, sessions))
        report["results"]["cpu"] = cpu_used(cpu_before, cpu_snapshot(procs), seconds=time.monotonic() - began,
                                            leads=report["results"]["intake_sent"])  # fmt: skip
        for name, proc in procs.items():
            if proc.poll() is not None:
                report.setdefault("exited", []).append(f"{name} exited with {proc.returncode} during the run")
        with psycopg.connect(db_url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
            report["results"]["intake_to_routed"] = routed_latency(conn, wait=60)
            report["results"]["offer_delivery"] = offer_delivery(
                conn, seen, listen_until=report["results"]["listen_until_epoch"])  # fmt: skip
    finally:
        for proc in procs.values():
            stop(proc)
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.close()
    report["logs"] = str(logs)
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    res = report["results"]
    failed = res["inbox"]["errors"] or res["intake"]["errors"] or res.get("streams", {}).get("errors")
    return 1 if failed or report.get("exited") else 0


def render(report: dict[str, Any]) -> str:
    r = report["results"]
    lines = [f"{'request':<16} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}  statuses"]
    for name in ("streams", "inbox", "intake"):
        if name not in r:
            continue
        s = r[name]
        lines.append(f"{name:<16} {s['requests']:>8} {s['errors']:>6} {s['p50_ms']!s:>8} {s['p95_ms']!s:>8} "
                     f"{s['p99_ms']!s:>8} {s['max_ms']!s:>8}  {s['statuses']}")  # fmt: skip
        for sample in s["error_samples"]:
            lines.append(f"    e.g. {sample[:160]}")
    t = r["intake_to_routed"]
    lines.append(f"{'intake->routed':<16} {t['leads']:>8} {'':>6} {t['p50_ms']!s:>8} {t['p95_ms']!s:>8} {t['p99_ms']!s:>8} "
                 f"{t['max_ms']!s:>8}  {t['by_status']}")  # fmt: skip
    d = r["offer_delivery"]
    lines.append(f"{'offer->inbox':<16} {d['offers']:>8} {'':>6} {d['p50_ms']!s:>8} {d['p95_ms']!s:>8} {d['p99_ms']!s:>8} "
                 f"{d['max_ms']!s:>8}  {d.get('made', '?')} offers to the load's reps, "
                 f"{d.get('never_seen', '?')} never seen")  # fmt: skip
    if cpu := r.get("cpu"):
        lines.append("cpu during the run: " + ", ".join(f"{name} {c['cores']} cores ({c['ms_per_lead']} ms/lead)"
                                                        for name, c in cpu.items()))  # fmt: skip
    if "offers_events" in r:
        lines.append(f"offers events applied by the inboxes (cards on the stream): {r['offers_events']}")
    lines.append(f"intake sent: {r['intake_sent']} in {r['wall_seconds']} s; logs: {report['logs']}")
    lines += report.get("exited", [])
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
