"""The routing counter tables leave room on each page for HOT updates (reps migration 0007)."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.mark.parametrize("table", ["reps_repload", "reps_fairnessstate"])
def test_counter_tables_keep_free_space_and_vacuum_early(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [table])
        options = set(cursor.fetchone()[0] or ())
    assert {"fillfactor=50", "autovacuum_vacuum_scale_factor=0", "autovacuum_vacuum_threshold=2000"} <= options


def test_fairness_rows_have_no_separate_pool_index() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'reps_fairnessstate'")
        definitions = [row[0] for row in cursor.fetchall()]
    assert not [d for d in definitions if d.endswith("(pool_id)")], definitions
    assert [d for d in definitions if "UNIQUE" in d and "(pool_id, rep_id)" in d], definitions
