"""`manage.py bench`: measure LeadOps on PostgreSQL in one run, or prove it survives faults.

It works in its own throwaway database (the configured name + "_bench", or the configured
database itself when its name contains "bench"), which it drops and recreates: it refuses to
start unless DATABASE_URL names a bench database or --yes is given. See docs/performance.md.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from routing.bench import data, db, invariants, measure
from routing.bench.workers import route_with_faults

FULL = {"load_reps": 200, "load_rate": 100.0, "load_seconds": 60.0, "reps": 500, "rules": 50, "leads": 20000, "think_leads": 8000, "scale_leads": 5000, "rate": 20.0, "latency_seconds": 20.0,
        "import_rows": 100_000, "decisions": 1_000_000, "pgbench_seconds": 20, "fault_leads": 100_000}  # fmt: skip
QUICK = {"load_reps": 20, "load_rate": 10.0, "load_seconds": 10.0, "reps": 100, "rules": 10, "leads": 1000, "think_leads": 200, "scale_leads": 500, "rate": 10.0, "latency_seconds": 3.0,
         "import_rows": 2000, "decisions": 20_000, "pgbench_seconds": 3, "fault_leads": 2000}  # fmt: skip
PHASES = ("throughput", "think", "latency", "scale", "import", "pages", "pgbench", "load")


class Command(BaseCommand):
    help = "Benchmark routing, latency, scale, CSV import, pages and pgbench on PostgreSQL (or --faults)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--json", action="store_true", help="print the results as JSON only")
        parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
        parser.add_argument("--yes", action="store_true", help="allow a DATABASE_URL whose name lacks 'bench'")
        parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
        parser.add_argument("--only", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
        parser.add_argument("--faults", action="store_true", help="fault injection instead of measurements")
        parser.add_argument("--no-pg-restart", action="store_true", help="with --faults: do not restart PostgreSQL")
        parser.add_argument("--batch", type=int, default=None,
                            help="leads per routing transaction (default LEADOPS_ROUTE_BATCH, what production uses)")
        parser.add_argument("--think-batch", type=int, default=50,
                            help="think phase: leads per transaction (default 50: small, so four processes share the leads)")
        parser.add_argument("--import-workers", type=int, default=2,
                            help="import phase: routing processes running during the import (default 2, a qcluster's "
                                 "default LEADOPS_Q_WORKERS)")
        parser.add_argument("--think-ms", type=float, default=2.0, help="think phase: sleep inside every decision")
        for name, default in FULL.items():
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=None,
                                help=f"default {default} ({QUICK[name]} with --quick)")  # fmt: skip
        # Internal: the open-loop intake driver, run as a subprocess with the broker's settings.
        parser.add_argument("--drive-intake", action="store_true", help="(internal)")
        parser.add_argument("--seconds", type=float, default=1.0, help="(internal)")
        parser.add_argument("--prefix", default="drive", help="(internal)")

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                "The bench measures PostgreSQL only (SQLite has no SKIP LOCKED and one writer). "
                "Set DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadops_bench and try again."
            )
        configured = connection.settings_dict["NAME"]
        if options["drive_intake"]:
            if "bench" not in configured:
                raise CommandError("--drive-intake only runs against a bench database")
            measure.drive_intake(rate=options["rate"], seconds=options["seconds"], prefix=options["prefix"])
            return
        if "bench" not in configured and not options["yes"]:
            raise CommandError(
                f"DATABASE_URL names {configured!r}. The bench creates and drops {db.target_name(configured)!r} on "
                "that server and loads it heavily: pass --yes, or use a DATABASE_URL whose name contains 'bench'."
            )
        sizes = {k: (options[k] if options[k] is not None else (QUICK if options["quick"] else FULL)[k]) for k in FULL}
        target = db.target_name(configured)
        db.recreate(target)
        try:
            report = self._faults(sizes, options) if options["faults"] else self._measure(sizes, options)
        finally:
            if not options["keep"]:
                db.drop(target)
        if options["json"]:
            self.stdout.write(measure.dumps(report))
        else:
            self.stdout.write(render(report))
        if report.get("violations"):
            raise CommandError(f"{len(report['violations'])} invariant violation(s)")

    def _log(self, options: dict[str, Any], message: str) -> None:
        if not options["json"]:
            self.stderr.write(f"[bench] {message}")

    def _measure(self, sizes: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
        only = {p.strip() for p in options["only"].split(",") if p.strip()}
        if unknown := only - set(PHASES):
            raise CommandError(f"unknown phase(s): {', '.join(sorted(unknown))}")
        batch = options["batch"] or settings.LEADOPS_ROUTE_BATCH
        report: dict[str, Any] = {"machine": measure.machine(), "sizes": sizes, "batch": batch, "think_batch": options["think_batch"]}
        config = data.build_config(reps=sizes["reps"], rules=sizes["rules"])
        if "throughput" in only:
            self._log(options, f"throughput: {sizes['leads']} leads x 1, 2, 4 processes at {sizes['reps']} reps / {sizes['rules']} rules")
            report["throughput"] = measure.throughput(config, workers=(1, 2, 4), leads=sizes["leads"], batch=batch)
            report["storage"] = measure.storage()
        if "think" in only:
            self._log(options, f"think-time scaling: {sizes['think_leads']} leads, {options['think_ms']} ms per decision, "
                               "1 vs 4 processes, wide then narrow locks")  # fmt: skip
            report["think"] = measure.think_scaling(config, leads=sizes["think_leads"], batch=options["think_batch"],
                                                    think_ms=options["think_ms"])  # fmt: skip
        if "latency" in only:
            report["latency"] = {}
            for broker in ("orm", "redis"):
                self._log(options, f"intake-to-offer through qcluster, {broker} broker, {sizes['rate']}/s")
                report["latency"][broker] = measure.intake_latency(config, broker=broker, rate=sizes["rate"],
                                                                   seconds=sizes["latency_seconds"])  # fmt: skip
        if "pgbench" in only:
            self._log(options, "pgbench TPC-B-like")
            report["pgbench"] = measure.pgbench(seconds=sizes["pgbench_seconds"])
            best = max((r["per_second"] for r in report.get("throughput", {}).get("runs", {}).values()), default=None)
            tps = report["pgbench"]["tps"]
            report["pgbench"]["decisions_per_tps"] = round(best / tps, 3) if best and tps else None
        if "import" in only:
            self._log(options, f"CSV import of {sizes['import_rows']} rows, routed meanwhile by {options['import_workers']} processes")
            report["import"] = measure.csv_import(config, rows=sizes["import_rows"], workers=options["import_workers"],
                                                  batch=batch)  # fmt: skip
        if "pages" in only:
            self._log(options, f"pages with {sizes['decisions']} decisions")
            report["pages"] = measure.pages(decisions=sizes["decisions"])
        if "load" in only:
            self._log(options, f"load: {sizes['load_reps']} reps on inbox event streams + {sizes['load_rate']} intake/s "
                               f"for {sizes['load_seconds']} s against the production web set-up (scripts/load.py)")  # fmt: skip
            report["load"] = measure.load(reps=sizes["load_reps"], rate=sizes["load_rate"], seconds=sizes["load_seconds"])
        if "scale" in only:  # last: it wipes the data for each size
            small = (100, 10)
            large = (10_000, 1_000) if not options["quick"] else (1_000, 100)
            self._log(options, f"scale: cost per decision at {small} vs {large} (reps, rules)")
            report["scale"] = measure.scale(sizes=[small, large], leads=sizes["scale_leads"], batch=batch)
        return report

    def _faults(self, sizes: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
        from routing.models import Lead

        leads = sizes["fault_leads"]
        # Caps bind: reps x max_open is 3/4 of the leads, so the rest must wait in holding.
        max_open = max(1, (leads * 3 // 4) // sizes["reps"])
        config = data.build_config(reps=sizes["reps"], rules=sizes["rules"], max_open=max_open, max_daily=max_open + 5)
        data.make_leads(config, leads, prefix="fault")
        self._log(options, f"routing {leads} leads with 4 processes, SIGKILLing one every 0.5-2 s"
                           + ("" if options["no_pg_restart"] else ", PostgreSQL restarted after 10 s"))  # fmt: skip
        started = time.perf_counter()
        result = route_with_faults(
            4, pending=lambda: Lead.objects.filter(status=Lead.Status.PENDING).count(), batch=options["batch"] or settings.LEADOPS_ROUTE_BATCH,
            kill_every=(0.5, 2.0), restart_postgres_after=None if options["no_pg_restart"] else 10.0,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        violations = invariants.check(expected_leads=leads)
        return {"machine": measure.machine(), "faults": {
            "leads": leads, "reps": sizes["reps"], "rules": sizes["rules"], "max_open": max_open,
            "seconds": round(seconds, 1), "kills": result.kills, "postgres_restarts": result.restarts,
            "offered": Lead.objects.filter(status=Lead.Status.OFFERED).count(),
            "holding": Lead.objects.filter(status=Lead.Status.HOLDING).count(),
        }, "violations": violations}  # fmt: skip


def load_rows(load: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Report rows for the load phase (``measure.load``): errors and p99 against the issue's
    targets (0 errors; p99 <= 250 ms for intake and for offer delivery to the inbox)."""
    if "error" in load:
        return [("load", "did not run", load["error"][:200])]
    r, c = load["results"], load["config"]
    where = f"{c['reps']} reps on event streams, {c['rate']}/s for {c['seconds']} s"
    rows = []
    for name, label in (("streams", "load: inbox event streams"), ("inbox", "load: inbox fetches"),
                        ("intake", "load: intake POST")):  # fmt: skip
        if s := r.get(name):
            target = "; target p99 <= 250 ms" if name == "intake" else ""
            rows.append((label, f"{s['errors']} errors of {s['requests']}, p99 {s['p99_ms']} ms", f"{where}{target}"))
    d = r["offer_delivery"]
    rows.append(("load: offer -> inbox", f"p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms",
                 f"{d['offers']} offers seen by a rep's client; target p99 <= 250 ms"))  # fmt: skip
    t = r["intake_to_routed"]
    rows.append(("load: intake -> routed", f"p50 {t['p50_ms']} ms, p99 {t['p99_ms']} ms", f"{t['leads']} leads"))
    if cpu := r.get("cpu"):
        machine = cpu.get("machine", {})
        parts = ", ".join(f"{name} {c['ms_per_lead']}" for name, c in cpu.items() if name != "machine")
        rows.append(("load: CPU per lead", f"{machine.get('ms_per_lead')} ms on {machine.get('cores')} cores",
                     f"by component, ms: {parts}"))  # fmt: skip
    return rows


def render(report: dict[str, Any]) -> str:
    lines = []
    m = report["machine"]
    lines.append(f"Machine: {m['nproc']} cores, {m['cpu']}, PostgreSQL {m['postgresql']}, Python {m['python']} ({m['when']})")
    if "batch" in report:
        lines.append(f"Leads per routing transaction: {report['batch']} (think phase: {report.get('think_batch')})")
    if "faults" in report:
        f = report["faults"]
        lines.append(f"Faults: {f['leads']} leads, {f['kills']} SIGKILLs, {f['postgres_restarts']} PostgreSQL restart(s), "
                     f"{f['seconds']} s; offered {f['offered']}, holding {f['holding']} (cap {f['max_open']} open/rep)")  # fmt: skip
        lines.append("Invariants: " + ("all hold" if not report["violations"] else "; ".join(report["violations"][:10])))
        return "\n".join(lines)
    rows: list[tuple[str, str, str]] = []
    if t := report.get("throughput"):
        for workers, run in t["runs"].items():
            rows.append((f"routing, {workers} process(es)", f"{run['per_second']:.0f} decisions/s",
                         f"{run['routed']} in {run['seconds']} s; target >= 1000/s"))  # fmt: skip
        rows.append(("decision latency (engine)", f"p50 {t['engine_us_p50']} us, p99 {t['engine_us_p99']} us", "Decision.duration_us"))
        rows.append(("decision latency (batch/lead)", f"p50 {t['batch_ms_per_lead_p50']} ms, p99 {t['batch_ms_per_lead_p99']} ms",
                     "batch wall time / leads in batch"))  # fmt: skip
    if st := report.get("storage"):
        where = f"{st['partitions']} monthly partitions" if st["partitions"] else "one table"
        rows.append(("decision on disk", f"{st['bytes_per_decision']} bytes", f"detail column {st['detail_bytes_avg']} bytes "
                     f"(average, stored); {st['decisions']} decisions in {where}"))  # fmt: skip
    if k := report.get("think"):
        for mode in ("wide", "narrow"):
            runs = k[mode]["runs"]
            detail = ", ".join(f"{w} process(es) {r['per_second']:.0f}/s" for w, r in runs.items())
            target = "target >= 3" if mode == "narrow" else "baseline, same run"
            rows.append((f"think {k['think_ms']} ms, {mode} locks", f"4/1 = {k[mode]['ratio']}", f"{detail}; {target}"))
    for broker, lat in (report.get("latency") or {}).items():
        target = 200 if broker == "orm" else 50
        rows.append((f"intake->offer, {broker} broker", f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms",
                     f"{lat['leads']} leads at {lat['rate_per_s']}/s; target p99 <= {target} ms"))  # fmt: skip
    if s := report.get("scale"):
        for label, size in s["sizes"].items():
            rows.append((f"cost/decision at {label}", f"{size['us_per_decision']} us", f"{size['decisions']} decisions, 1 process"))
        rows.append(("scale ratio (large/small)", f"{s['ratio']}", "target <= 2"))
    if i := report.get("import"):
        rows.append((f"CSV import {i['rows']} rows, routed", f"{i['total_seconds']} s",
                     f"import read in {i['import_seconds']} s while {i['workers']} processes routed, last lead "
                     f"{i['route_tail_seconds']} s later; {i['routed']} routed; target <= 120 s"))  # fmt: skip
    if p := report.get("pages"):
        for name in ("equity", "explorer", "inbox"):
            page = p[name]
            rows.append((f"page {name}", f"{page['median_ms']} ms", f"{page['url']} -> {page['status']}, "
                         f"{p['decisions']} decisions; target <= 150 ms"))  # fmt: skip
    if ld := report.get("load"):
        rows += load_rows(ld)
    if g := report.get("pgbench"):
        rows.append(("pgbench TPC-B-like", f"{g['tps']} tps", f"{g['clients']} clients, scale {g['scale']}, {g['seconds']} s"))
        rows.append(("decisions/s / pgbench tps", f"{g['decisions_per_tps']}", "target >= 0.5"))
    width = max(len(r[0]) for r in rows) if rows else 0
    value_width = max(len(r[1]) for r in rows) if rows else 0
    lines += [f"{a:<{width}}  {b:<{value_width}}  {c}" for a, b, c in rows]
    return "\n".join(lines)
