"""The routing counters (reps_repload, reps_fairnessstate) are the most-updated rows in LeadOps:
a routing batch rewrites the capacity row of each rep it offers to and the fairness row of every
eligible member of each pool it assigns in (~700 rows per 50-lead batch at 500 reps / 50 rules).

- Free space on every page (fillfactor 50) lets PostgreSQL write the new row version on the same
  page without touching the indexes (a HOT update) and prune the old one on the next visit; at
  the default 100, 97 % of fairness updates were not HOT and one table of 1,000 rows grew to
  5 MB of dead versions in a few thousand decisions (docs/performance.md, round 5).
- Vacuum these two tables after every 2,000 dead rows rather than 20 % of the table.
- The fairness table's index on pool alone goes: the unique (pool, rep) index serves it.

PostgreSQL only (storage parameters); new pages use the fill factor at once, existing ones after
``VACUUM FULL reps_fairnessstate, reps_repload`` (seconds; docs/operations.md).
"""

from django.db import migrations, models
import django.db.models.deletion

COUNTER_TABLES = ("reps_repload", "reps_fairnessstate")
STORAGE = "fillfactor = 50, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000"
DEFAULTS = "fillfactor, autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold"


def _alter(apps, schema_editor, *, clause: str) -> None:  # noqa: ANN001
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in COUNTER_TABLES:
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} {clause}")


def forwards(apps, schema_editor) -> None:  # noqa: ANN001
    _alter(apps, schema_editor, clause=f"SET ({STORAGE})")


def backwards(apps, schema_editor) -> None:  # noqa: ANN001
    _alter(apps, schema_editor, clause=f"RESET ({DEFAULTS})")


class Migration(migrations.Migration):
    dependencies = [
        ("reps", "0006_merge_calendars_and_readable_times"),
    ]

    operations = [
        migrations.AlterField(
            model_name="fairnessstate",
            name="pool",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="fairness", to="reps.pool"
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
