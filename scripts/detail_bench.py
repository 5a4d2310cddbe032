"""Bytes on disk and COPY time per decision, plain detail against compact detail, same sitting.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadops_bench_compact \\
        .venv/bin/python scripts/detail_bench.py --reps 500 --rules 50 --leads 3000 --rounds 5

It recreates that throwaway database (its name must contain "bench"), builds the bench world
(``routing.bench.data``: reps, one pool per rule, rules with a fallback pool), routes ``leads``
pending leads in this process and keeps the unsaved decision rows routing made (plain details,
as the engine wrote them). Then, for ``rounds`` rounds, alternating which goes first, it writes
the same rows again in 50-row batches the way the routing batch does: ``plain`` =
``_copy_create`` of the plain dicts (what main writes), ``compact`` = ``details_compact`` then
``_copy_create`` (this branch). Each format goes to its own copy of ``routing_decision`` (same
columns, indexes and TOAST), so the sizes are ``pg_total_relation_size`` (heap + TOAST +
indexes) of each copy over its rows. The legend's own size is reported once.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadops.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--rules", type=int, default=50)
    parser.add_argument("--leads", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection, transaction

    from routing import services
    from routing.bench import data, db
    from routing.decision_detail import details_compact
    from routing.models import Decision

    target = connection.settings_dict["NAME"]
    db.recreate(target)
    try:
        config = data.build_config(reps=args.reps, rules=args.rules)
        data.make_leads(config, args.leads, prefix=f"detail-{time.time_ns()}")
        made: list[Decision] = []

        def keep(*, decisions: list[Decision], **kwargs: object) -> None:
            made.extend(copy.copy(d) for d in decisions)
            for d in made[-len(decisions):]:
                d.detail = copy.deepcopy(dict(d.detail))
            details_compact(decisions=decisions, **kwargs)

        services.details_compact = keep  # type: ignore[assignment]
        services.leads_route_all_pending(batch=args.batch)
        services.details_compact = details_compact  # type: ignore[assignment]
        engine_made = [d for d in made if d.detail.get("steps") is not None and "rule" in d.detail]

        with connection.cursor() as cursor:
            for fmt in ("plain", "compact"):
                cursor.execute(f"CREATE TABLE decision_{fmt} (LIKE routing_decision INCLUDING ALL)")
        tables = {"plain": "decision_plain", "compact": "decision_compact"}

        def fresh() -> list[Decision]:
            rows = []
            for d in engine_made:
                row = copy.copy(d)
                row.pk, row.id = None, None
                row._state = copy.copy(d._state)
                row._state.adding = True
                row.detail = copy.deepcopy(d.detail)
                rows.append(row)
            return rows

        seconds: dict[str, list[float]] = {"plain": [], "compact": []}
        rows_written = {"plain": 0, "compact": 0}
        for round_no in range(args.rounds):
            order = ("plain", "compact") if round_no % 2 == 0 else ("compact", "plain")
            for fmt in order:
                rows = fresh()
                Decision._meta.db_table = tables[fmt]
                try:
                    spent = 0.0
                    for start in range(0, len(rows), args.batch):
                        batch = rows[start:start + args.batch]
                        with transaction.atomic():
                            began = time.perf_counter()
                            if fmt == "compact":
                                details_compact(decisions=batch)
                            services._copy_create(Decision, batch)
                            spent += time.perf_counter() - began
                    seconds[fmt].append(spent / len(rows))
                    rows_written[fmt] += len(rows)
                finally:
                    Decision._meta.db_table = "routing_decision"

        report: dict[str, object] = {"decisions_routed": len(engine_made), "rounds": args.rounds, "batch": args.batch}
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE decision_plain")
            cursor.execute("VACUUM ANALYZE decision_compact")
            for fmt, table in tables.items():
                cursor.execute(
                    "SELECT pg_total_relation_size(%s), pg_relation_size(%s), "
                    "COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0), pg_indexes_size(%s), "
                    "(SELECT avg(pg_column_size(detail)) FROM " + table + "), "
                    "(SELECT avg(length(detail::text)) FROM " + table + "), (SELECT count(*) FROM " + table + ") "
                    "FROM pg_class c WHERE c.oid = %s::regclass",
                    [table, table, table, table],
                )  # fmt: skip
                total, heap, toast, indexes, column, text, count = cursor.fetchone()
                us = [s * 1e6 for s in seconds[fmt]]
                report[fmt] = {
                    "rows": count, "bytes_per_decision": round(total / count), "heap": round(heap / count),
                    "toast": round(toast / count), "indexes": round(indexes / count),
                    "detail_column_bytes": round(float(column)), "detail_text_chars": round(float(text)),
                    "copy_us_per_decision_median": round(statistics.median(us), 1),
                    "copy_us_per_decision_each_round": [round(u, 1) for u in us],
                }  # fmt: skip
            cursor.execute("SELECT pg_total_relation_size('routing_decisionlegend'), count(*) FROM routing_decisionlegend")
            legend_bytes, legend_rows = cursor.fetchone()
            report["legend"] = {"rows": legend_rows, "bytes": legend_bytes}
        plain, compact = report["plain"], report["compact"]
        report["ratios"] = {
            "bytes_plain_over_compact": round(plain["bytes_per_decision"] / compact["bytes_per_decision"], 2),  # type: ignore[index]
            "copy_time_plain_over_compact": round(plain["copy_us_per_decision_median"]  # type: ignore[index]
                                                  / compact["copy_us_per_decision_median"], 2),  # type: ignore[index]
        }  # fmt: skip
        print(json.dumps(report, indent=2))
    finally:
        if not args.keep:
            db.drop(target)


if __name__ == "__main__":
    main()
