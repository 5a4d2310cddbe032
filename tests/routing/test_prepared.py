"""``routing.snapshots.fetchone_prepared``: planned once per connection on PostgreSQL, and still a
Django query (logged, wrapped errors) everywhere."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from routing.models import RouterWake
from routing.snapshots import fetchone_prepared

pytestmark = pytest.mark.django_db


def test_the_statement_runs_is_logged_and_answers_like_a_cursor() -> None:
    RouterWake.objects.create(name="prepared-check")
    table = connection.ops.quote_name(RouterWake._meta.db_table)
    sql = f"SELECT name FROM {table} WHERE name = %s"
    with CaptureQueriesContext(connection) as ctx:
        assert fetchone_prepared(sql, ["prepared-check"]) == ("prepared-check",)
        assert fetchone_prepared(sql, ["nobody"]) is None
    assert len(ctx.captured_queries) == 2
    assert all(table in q["sql"] for q in ctx.captured_queries)


def test_a_database_error_is_djangos_and_leaves_the_transaction_usable() -> None:
    RouterWake.objects.create(name="taken")
    table = connection.ops.quote_name(RouterWake._meta.db_table)
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            fetchone_prepared(f"INSERT INTO {table} (name) VALUES (%s) RETURNING name", ["taken"])
    assert RouterWake.objects.filter(name="taken").count() == 1


@pytest.mark.postgres
def test_on_postgresql_the_statement_is_prepared_once_per_connection() -> None:
    if connection.settings_dict["OPTIONS"].get("prepare_threshold") is None:
        pytest.skip("preparation is off (LEADOPS_DB_PREPARED=0)")
    table = connection.ops.quote_name(RouterWake._meta.db_table)
    sql = f"SELECT count(*) /* prepared-once */ FROM {table} WHERE name = %s"
    for _ in range(3):
        assert fetchone_prepared(sql, ["x"]) == (0,)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), sum(generic_plans + custom_plans) FROM pg_prepared_statements "
                       "WHERE statement LIKE %s", ["%prepared-once%"])  # fmt: skip
        prepared, plans = cursor.fetchone()
    assert prepared == 1
    assert plans <= 3  # executions of one prepared statement (a plan per run would need three statements)
