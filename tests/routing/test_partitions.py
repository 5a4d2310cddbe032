"""Decisions and webhook deliveries partitioned by month on PostgreSQL (migration 0012,
routing.services_retention): the tables after migrate, where routed rows land, creating months
ahead and out of the DEFAULT partition, and dropping a month's partition."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from routing.models import Decision, WebhookDelivery
from routing.services_retention import (
    TABLES,
    Month,
    _fingerprint,
    _partition_drop,
    months_archive,
    partition_name,
    partitions,
    partitions_ensure,
)
from tests.reps.helpers import make_world, route_new_lead

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

CURRENT = Month.of(timezone.now())
TABLE_NAMES = ("routing_decision", "routing_webhookdelivery")


def _one(sql: str, params: list | None = None) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()


def _query(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def _home(table: str, row_id: int) -> str:
    """The partition a row is stored in."""
    return _one(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [row_id])[0]


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_after_migrate_the_table_is_partitioned_by_month_on_created_at(table: str) -> None:
    strategy, key = _one(
        "SELECT p.partstrat, a.attname FROM pg_partitioned_table p "
        "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] WHERE p.partrelid = %s::regclass",
        [table],
    )
    assert (strategy, key) == ("r", "created_at")
    assert {CURRENT.plus(i) for i in range(4)} <= set(partitions(table))
    assert _one("SELECT to_regclass(%s)::text", [f"{table}_default"])[0] == f"{table}_default"
    pkey = _one("SELECT array_agg(a.attname ORDER BY a.attname) FROM pg_constraint c JOIN pg_attribute a "
                "ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) WHERE c.conrelid = %s::regclass AND c.contype = 'p'",
                [table])[0]  # fmt: skip
    assert sorted(pkey) == ["created_at", "id"]
    # The id sequence is the column's own, as routing.services._copy_create needs.
    assert _one("SELECT pg_get_serial_sequence(%s, 'id')", [table])[0] == f"public.{table}_id_seq"
    # Nothing holds a foreign key into the partitioned table (Offer.decision has none).
    assert _one("SELECT count(*) FROM pg_constraint WHERE confrelid = %s::regclass", [table])[0] == 0


def test_the_models_indexes_are_partitioned_indexes() -> None:
    names = {n for (n,) in _query("SELECT indexname FROM pg_indexes WHERE tablename = 'routing_decision'")}
    expected = {index.name for index in Decision._meta.indexes}
    assert expected <= names
    kinds = {n: k for n, k in _query("SELECT relname, relkind FROM pg_class WHERE relname = ANY(%s)", [sorted(expected)])}
    assert set(kinds.values()) == {"I"}  # partitioned index: each partition has its own


def test_a_routed_decision_lands_in_its_months_partition() -> None:
    make_world()
    lead = route_new_lead()
    decision = Decision.objects.get(lead=lead)  # written by _copy_create (COPY with ids from the sequence)
    assert _home("routing_decision", decision.id) == partition_name("routing_decision", Month.of(decision.created_at))
    assert Decision.objects.get(id=decision.id).summary == decision.summary  # read by id alone


def test_ensure_partitions_is_idempotent() -> None:
    first = partitions_ensure(months_ahead=5)
    assert set(first.created) == {partition_name(t, CURRENT.plus(i)) for t in TABLE_NAMES for i in (4, 5)}
    assert not first.failed
    again = partitions_ensure(months_ahead=5)
    assert (again.created, again.moved, again.failed) == ([], 0, [])


def test_ensure_partitions_moves_rows_out_of_the_default_partition() -> None:
    make_world()
    old = CURRENT.plus(-5)
    lead = route_new_lead(now=old.start.replace(day=3, hour=9))
    decision = Decision.objects.get(lead=lead)
    assert _home("routing_decision", decision.id) == "routing_decision_default"  # no partition for that month yet

    report = partitions_ensure()

    assert partition_name("routing_decision", old) in report.created and report.moved >= 1
    assert _home("routing_decision", decision.id) == partition_name("routing_decision", old)
    moved = Decision.objects.get(id=decision.id)
    assert (moved.lead_id, moved.created_at, moved.detail) == (decision.lead_id, decision.created_at, decision.detail)
    assert _one("SELECT count(*) FROM routing_decision_default")[0] == 0
    # New ids still come from the same sequence, after the moved row's.
    assert Decision.objects.get(lead=route_new_lead()).id > decision.id


def test_archive_drops_the_old_months_partitions_and_nothing_else(tmp_path: Path) -> None:
    make_world()
    old = CURRENT.plus(-2)
    kept = Decision.objects.get(lead=route_new_lead()).id
    dropped = Decision.objects.get(lead=route_new_lead(now=old.start.replace(day=2, hour=12))).id
    partitions_ensure()  # the old month's partition, its row moved in from the DEFAULT one
    assert old in partitions("routing_decision")

    results = months_archive(before=CURRENT, out_dir=tmp_path, tables=["decisions"])

    assert [(r.month, r.rows, r.dropped, r.note) for r in results] == [(old, 1, True, "")]
    assert old not in partitions("routing_decision") and CURRENT in partitions("routing_decision")
    assert _one("SELECT to_regclass(%s)", [partition_name("routing_decision", old)])[0] is None
    assert list(Decision.objects.values_list("id", flat=True)) == [kept] and dropped != kept


def test_a_partition_is_not_dropped_when_a_delivery_became_pending_since_the_export() -> None:
    old = CURRENT.plus(-2)
    delivery = WebhookDelivery.objects.create(event="lead.offered", payload={}, status=WebhookDelivery.Status.FAILED,
                                              next_attempt_at=old.start)  # fmt: skip
    WebhookDelivery.objects.filter(id=delivery.id).update(created_at=old.start.replace(day=5))
    partitions_ensure()
    spec = TABLES["webhook-deliveries"]
    exported = _fingerprint(spec, old)
    WebhookDelivery.objects.filter(id=delivery.id).update(status=WebhookDelivery.Status.PENDING, attempts=0,
                                                         next_attempt_at=timezone.now())  # redelivered  # fmt: skip
    assert "changed since the export" in _partition_drop(spec, old, expected=exported)
    assert old in partitions("routing_webhookdelivery") and WebhookDelivery.objects.filter(id=delivery.id).exists()


def test_the_migration_converts_a_table_with_rows_keeping_ids_sequence_indexes_and_keys() -> None:
    """Migration 0012's conversion, run on a plain table shaped like the old ones (identity id,
    rows in three months, an index, a CHECK, a foreign key): what an existing install has."""
    import importlib

    migration = importlib.import_module("routing.migrations.0012_partition_decisions_and_webhook_deliveries")
    make_world()
    lead_id = route_new_lead().id
    months = [CURRENT.plus(-14), CURRENT.plus(-1), CURRENT]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE scratch_growth (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
            "created_at timestamptz NOT NULL, lead_id bigint NOT NULL REFERENCES routing_lead (id) DEFERRABLE INITIALLY DEFERRED, "
            "kind varchar(20) NOT NULL DEFAULT 'route', duration_us integer NOT NULL CHECK (duration_us >= 0))"
        )
        cursor.execute("CREATE INDEX scratch_growth_kind_idx ON scratch_growth (kind, created_at)")
        for month in months:
            cursor.execute("INSERT INTO scratch_growth (created_at, lead_id, duration_us) VALUES (%s, %s, 1), (%s, %s, 2)",
                           [month.start, lead_id, month.start.replace(day=20), lead_id])  # fmt: skip
        cursor.execute("SELECT id, created_at, duration_us FROM scratch_growth ORDER BY id")
        before = cursor.fetchall()

        migration._partition_table(cursor, "scratch_growth", now=timezone.now())
        migration._partition_table(cursor, "scratch_growth", now=timezone.now())  # a second run changes nothing

        cursor.execute("SELECT id, created_at, duration_us FROM scratch_growth ORDER BY id")
        assert cursor.fetchall() == before
        homes = {home for (home,) in _query("SELECT DISTINCT tableoid::regclass::text FROM scratch_growth")}
        assert homes == {partition_name("scratch_growth", m) for m in months}
        assert {CURRENT.plus(i) for i in range(4)} <= set(partitions("scratch_growth"))
        assert _one("SELECT pg_get_serial_sequence('scratch_growth', 'id')")[0] == "public.scratch_growth_id_seq"
        cursor.execute("INSERT INTO scratch_growth (created_at, lead_id, duration_us) VALUES (now(), %s, 3) RETURNING id, kind",
                       [lead_id])  # fmt: skip
        new_id, kind = cursor.fetchone()
        assert new_id > max(row[0] for row in before) and kind == "route"
        assert _one("SELECT relkind FROM pg_class WHERE relname = 'scratch_growth_kind_idx'")[0] == "I"
        kinds = dict(_query("SELECT contype, count(*) FROM pg_constraint WHERE conrelid = 'scratch_growth'::regclass GROUP BY contype"))
        assert kinds == {"p": 1, "f": 1, "c": 1}
        assert _one("SELECT to_regclass('scratch_growth__unpartitioned')")[0] is None
