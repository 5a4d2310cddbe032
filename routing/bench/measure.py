"""The bench's measurements: throughput, latency through a real worker, scale, import, pages,
pgbench. Each returns plain dicts that the command prints as a table or JSON."""

from __future__ import annotations

import csv
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from routing.bench import data, db
from routing.bench.workers import route_during, route_with_processes
from routing.models import Decision, Lead


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def throughput(config: data.Config, *, workers: tuple[int, ...], leads: int, batch: int) -> dict[str, Any]:
    """Decisions/s with 1, 2, 4 worker processes; decision latency from the same runs."""
    runs = {}
    per_lead_batch: list[float] = []
    first_decision = (Decision.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    for count in workers:
        data.make_leads(config, leads, prefix=f"tp{count}-{time.time_ns()}")
        result = route_with_processes(count, batch=batch)
        runs[count] = {"routed": result.routed, "seconds": round(result.seconds, 2), "per_second": round(result.per_second, 1)}
        per_lead_batch.extend(result.batch_seconds_per_lead)
    durations = list(Decision.objects.filter(id__gte=first_decision).values_list("duration_us", flat=True))
    return {
        "runs": runs,
        "engine_us_p50": percentile(durations, 50), "engine_us_p99": percentile(durations, 99),
        "batch_ms_per_lead_p50": _ms(percentile(per_lead_batch, 50)),
        "batch_ms_per_lead_p99": _ms(percentile(per_lead_batch, 99)),
    }  # fmt: skip


def think_scaling(config: data.Config, *, leads: int, batch: int, think_ms: float,
                  workers: tuple[int, ...] = (1, 4)) -> dict[str, Any]:
    """Decisions/s with a fixed ``think_ms`` sleep inside every decision (a stand-in for a
    costlier engine), 1 and 4 worker processes, with narrow locks (the default) and with every
    reachable row locked while deciding (LEADOPS_ROUTE_NARROW_LOCKS=0, the baseline in the same
    run). Ratio = 4 workers / 1 worker; the target is >= 3 with narrow locks."""
    out: dict[str, Any] = {"think_ms": think_ms, "leads": leads}
    for mode, narrow in (("wide", "0"), ("narrow", "1")):
        runs = {}
        for count in workers:
            data.make_leads(config, leads, prefix=f"think-{mode}{count}-{time.time_ns()}")
            env = {"LEADOPS_BENCH_THINK_MS": str(think_ms), "LEADOPS_ROUTE_NARROW_LOCKS": narrow}
            result = route_with_processes(count, batch=batch, env_extra=env)
            runs[count] = {"routed": result.routed, "seconds": round(result.seconds, 2),
                           "per_second": round(result.per_second, 1)}  # fmt: skip
        first, last = runs[workers[0]]["per_second"], runs[workers[-1]]["per_second"]
        out[mode] = {"runs": runs, "ratio": round(last / first, 2) if first else None}
    return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def scale(*, sizes: list[tuple[int, int]], leads: int, batch: int) -> dict[str, Any]:
    """Cost per decision (one worker, wall time / decisions) at each (reps, rules) size."""
    results = {}
    for reps, rules in sizes:
        data.wipe()
        config = data.build_config(reps=reps, rules=rules)
        data.make_leads(config, batch, prefix="warm")
        route_with_processes(1, batch=batch)  # warm caches, as a running worker has them
        data.make_leads(config, leads, prefix="scale")
        result = route_with_processes(1, batch=batch)
        results[f"{reps}/{rules}"] = {"reps": reps, "rules": rules, "decisions": result.routed,
                                      "us_per_decision": round(result.seconds / max(result.routed, 1) * 1e6, 1)}  # fmt: skip
    costs = [r["us_per_decision"] for r in results.values()]
    return {"sizes": results, "ratio": round(costs[-1] / costs[0], 2) if len(costs) > 1 and costs[0] else None}


def intake_latency(config: data.Config, *, broker: str, rate: float, seconds: float) -> dict[str, Any]:
    """Leads submitted at ``rate``/s through lead_intake (the API's service) while a real
    ``manage.py qcluster`` routes them; latency = routed_at - received_at of each lead."""
    extra = {"LEADOPS_Q_WORKERS": "2"}
    if broker == "redis":
        extra["REDIS_URL"] = os.environ.get("LEADOPS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    env = db.child_env(**extra)
    # Start from an empty ORM queue: the throughput phase leaves one notification task per offer,
    # and this phase measures steady arrivals, not draining that backlog (see docs/performance.md).
    from django_q.models import OrmQ

    OrmQ.objects.all().delete()
    # Its log goes to a file: a pipe nobody reads fills up (64 KB) and blocks the workers mid-task.
    log = tempfile.TemporaryFile(prefix="leadops-bench-qcluster-")
    cluster = subprocess.Popen(db.manage("qcluster"), env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        prefix = f"lat-{broker}-{time.time_ns()}"
        # Warm up: wait until the cluster routes a probe lead.
        _drive(env, rate=5, seconds=1, prefix=prefix + "-probe")
        _wait_routed(prefix + "-probe", timeout=60)
        _drive(env, rate=rate, seconds=seconds, prefix=prefix)
        _wait_routed(prefix, timeout=120)
    finally:
        cluster.terminate()
        try:
            cluster.wait(timeout=20)
        except subprocess.TimeoutExpired:
            cluster.kill()
            cluster.wait()
        log.close()
    rows = Lead.objects.filter(external_id__startswith=prefix + "-", routed_at__isnull=False).values_list("received_at", "routed_at")
    latencies = [(routed - received).total_seconds() * 1000 for received, routed in rows]
    return {"broker": broker, "rate_per_s": rate, "seconds": seconds, "leads": len(latencies),
            "p50_ms": _round(percentile(latencies, 50)), "p99_ms": _round(percentile(latencies, 99)),
            "max_ms": _round(max(latencies) if latencies else None)}  # fmt: skip


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _drive(env: dict[str, str], *, rate: float, seconds: float, prefix: str) -> None:
    args = db.manage("bench", "--drive-intake", "--rate", str(rate), "--seconds", str(seconds), "--prefix", prefix)
    subprocess.run(args, env=env, check=True, timeout=seconds + 120)


def _wait_routed(prefix: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Lead.objects.filter(external_id__startswith=prefix, status=Lead.Status.PENDING).exists():
            return
        time.sleep(0.2)
    raise TimeoutError(f"leads {prefix}* not routed within {timeout}s")


def drive_intake(*, rate: float, seconds: float, prefix: str) -> int:
    """Submit leads through routing.services.lead_intake at a fixed rate (open loop)."""
    from routing.services import lead_intake

    config = data.Config(reps=0, rules=0, cells=_cells())
    rng = random.Random(prefix)
    count = int(rate * seconds)
    started = time.perf_counter()
    for index in range(count):
        target = started + index / rate
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        lead_intake(data=data.intake_payload(config, index, prefix=prefix, rng=rng))
    return count


def _cells() -> tuple[tuple[str, str], ...]:
    from routing.models import Rule

    cells = []
    for conditions in Rule.objects.values_list("conditions", flat=True):
        values = {c["field"]: c["value"] for c in conditions}
        if "product_line" in values and "state" in values:
            cells.append((values["product_line"], values["state"]))
    return tuple(cells)


def csv_import(config: data.Config, *, rows: int, workers: int, batch: int) -> dict[str, Any]:
    """Write a CSV of ``rows`` leads and import it with ``manage.py importleads`` while
    ``workers`` routing processes route each chunk as it commits (a running system's workers do
    not wait for the end of the file). ``total_seconds``: from the start of the import to the
    last lead routed; ``route_tail_seconds``: the part after the import had finished."""
    from django.core.management import call_command

    rng = random.Random(5)
    fields = ["source", "external_id", "first_name", "last_name", "email", "country", "state", "language",
              "product_line", "value", "intent"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "leads.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(fields)
            for index in range(rows):
                product, state = config.cells[rng.randrange(len(config.cells))]
                writer.writerow(["csv", f"c{index}", "Bench", f"C{index}", f"c{index}@bench.invalid", "US", state, "en",
                                 product, rng.choice((500, 2000, 60000)), rng.choice(data.INTENTS)])  # fmt: skip

        def pending() -> int:
            return Lead.objects.filter(source="csv", status=Lead.Status.PENDING).count()

        imported, total = route_during(
            workers, batch=batch, pending=pending,
            work=lambda: call_command("importleads", str(path), stdout=open(os.devnull, "w")),
        )  # fmt: skip
    stored = Lead.objects.filter(source="csv").count()
    routed = Decision.objects.filter(lead__source="csv").values("lead_id").distinct().count()
    return {"rows": rows, "stored": stored, "routed": routed, "workers": workers, "import_seconds": round(imported, 1),
            "route_tail_seconds": round(total - imported, 1), "total_seconds": round(total, 1)}  # fmt: skip


def decisions_bulk(target: int) -> float:
    """Top the decision table up to ``target`` rows with one INSERT ... SELECT (synthetic audit
    rows copied from real ones, spread over 30 days), then give each month its partition
    (PostgreSQL). Returns seconds taken."""
    have = Decision.objects.count()
    missing = target - have
    if missing <= 0:
        return 0.0
    started = time.perf_counter()
    columns = ("lead_id, kind, ruleset_version, rule_id, rule_history_id, segment_id, pool_id, outcome, step, "
               "chosen_rep_id, summary, inputs, detail, duration_us")  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH src AS (SELECT row_number() OVER (ORDER BY id) - 1 AS n, {columns} FROM routing_decision
                         ORDER BY id LIMIT 5000),
                 total AS (SELECT count(*) AS c FROM src)
            INSERT INTO routing_decision (created_at, {columns})
            SELECT now() - make_interval(secs => (g %% 2592000)), {', '.join('src.' + c.strip() for c in columns.split(','))}
            FROM generate_series(0, %s - 1) AS g CROSS JOIN total JOIN src ON src.n = g %% total.c
            """,
            [missing],
        )
    # Rows of a month without a partition (the previous month, on a fresh bench database) wait in
    # the DEFAULT partition; the hourly schedule would give them their month's, as this does.
    from routing.services_retention import partitions_ensure

    partitions_ensure()
    return time.perf_counter() - started


def pages(*, decisions: int, repeats: int = 5) -> dict[str, Any]:
    """Server time (in-process test client: no network) of the equity, explorer and inbox pages."""
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from reps.models import Pool, Role
    from routing.dashboards.services import equity_rollup
    from routing.models import Offer

    generated = decisions_bulk(decisions)
    started = time.perf_counter()
    equity_rollup(max_batches=None)
    rollup = time.perf_counter() - started
    ops, _ = User.objects.get_or_create(username="bench-ops")
    ops.groups.add(Group.objects.get_or_create(name=Role.OPS.value)[0])
    rep_id = Offer.objects.filter(status=Offer.Status.OPEN).values_list("rep_id", flat=True).first()
    from reps.models import Rep

    rep_user = Rep.objects.get(id=rep_id).user
    pool_id = Pool.objects.order_by("id").values_list("id", flat=True).first()
    targets = {
        "equity": (ops, f"/dash/equity/?pool={pool_id}&window=30d"),
        "explorer": (ops, "/dash/decisions/"),
        "inbox": (rep_user, "/inbox/"),
    }
    results: dict[str, Any] = {"decisions": Decision.objects.count(), "generate_seconds": round(generated, 1),
                               "rollup_seconds": round(rollup, 1)}  # fmt: skip
    for name, (user, url) in targets.items():
        client = Client()
        client.force_login(user)
        times = []
        status = None
        for _ in range(repeats + 1):
            begin = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - begin) * 1000)
            status = response.status_code
        times = times[1:]  # the first request warms caches and connections
        results[name] = {"url": url, "status": status, "median_ms": round(statistics.median(times), 1),
                         "max_ms": round(max(times), 1)}  # fmt: skip
    return results


def pgbench(*, seconds: int, clients: int = 4, scale_factor: int = 10) -> dict[str, Any]:
    """pgbench's TPC-B-like transaction against the same server, in its own bench database."""
    binary = shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench"
    # Named after this run's bench database, so two engineers' runs never drop each other's.
    name = f"{connection.settings_dict['NAME']}_pgbench"
    db.drop(name)
    db.create(name)
    dbs = settings.DATABASES["default"]
    base = [binary, "-h", dbs.get("HOST") or "127.0.0.1", "-p", str(dbs.get("PORT") or 5432), "-U", dbs.get("USER") or "postgres"]
    env = {**os.environ, "PGPASSWORD": dbs.get("PASSWORD") or ""}
    subprocess.run([*base, "-i", "-q", "-s", str(scale_factor), name], check=True, capture_output=True, env=env)
    out = subprocess.run([*base, "-c", str(clients), "-j", "2", "-T", str(seconds), name], check=True,
                         capture_output=True, text=True, env=env).stdout  # fmt: skip
    db.drop(name)
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    return {"clients": clients, "scale": scale_factor, "seconds": seconds, "tps": float(match.group(1)) if match else None}


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "postgresql": db.server_version(),
            "python": ".".join(map(str, __import__("sys").version_info[:3])),
            "when": timezone.now().isoformat(timespec="seconds")}  # fmt: skip


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


def load(*, reps: int, rate: float, seconds: float) -> dict[str, Any]:
    """The web load test (``scripts/load.py``: ``reps`` reps holding inbox event streams, intake
    POSTs at ``rate`` per second for ``seconds``, against gunicorn with the production
    ``leadops/gunicorn.conf.py``), run as a subprocess in its own throwaway database named after
    this bench's. Returns the script's JSON report (``config``, ``results``), or ``{"error": text}``
    if it could not run; a run with request errors is still returned, with its errors counted."""
    name = f"{connection.settings_dict['NAME']}_load"
    with tempfile.TemporaryDirectory(prefix="leadops-bench-load-") as tmp:
        out = Path(tmp) / "load.json"
        cmd = [sys.executable, str(Path(settings.BASE_DIR) / "scripts" / "load.py"), "--reps", str(reps), "--rate", str(rate),
               "--seconds", str(seconds), "--database", name, "--json", str(out)]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=settings.BASE_DIR, check=False)
        if not out.exists():
            return {"error": f"scripts/load.py exited {proc.returncode}: {proc.stderr.strip()[-400:]}"}
        report = json.loads(out.read_text())
    report.pop("logs", None)
    report["exit_code"] = proc.returncode
    return report


def storage() -> dict[str, Any]:
    """Disk cost of the decision audit after the runs (PostgreSQL): rows, bytes per decision
    on disk (heap, TOAST and indexes of the table and, when it is partitioned by month, of every
    partition), the average stored size of the ``detail`` column, and how many partitions hold it."""
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT count(*), coalesce(sum(pg_total_relation_size(relid)), 0)
            FROM pg_partition_tree('routing_decision'::regclass) WHERE isleaf
        """)  # fmt: skip
        leaves, size = cursor.fetchone()
        if not leaves:  # a plain table (SQLite-era schema, or before partitioning)
            cursor.execute("SELECT pg_total_relation_size('routing_decision'::regclass)")
            (size,) = cursor.fetchone()
        cursor.execute("SELECT count(*), avg(pg_column_size(detail)) FROM routing_decision")
        rows, detail = cursor.fetchone()
    return {"decisions": rows, "bytes_per_decision": round(size / rows) if rows else None,
            "detail_bytes_avg": round(float(detail)) if detail is not None else None,
            "partitions": leaves if leaves > 1 else 0}  # fmt: skip
