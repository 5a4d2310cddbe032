"""Fairness credits move from weight units to leads (issue 19).

The old account added each eligible rep's weight and took the eligible total from the chosen
rep, so with every member eligible ``credit / total member weight`` is the rep's lead balance.
Each pool's credits are divided by the pool's total member weight (static members' weights,
plus the pool's dynamic weight for each other rep holding a row in a dynamic pool), then held
to at most one lead either way: the old account drifted from the eligibility-adjusted share
whenever absences or caps changed who could take a lead, and carrying that drift over in full
would hand some reps a burst of "catch-up" leads right after the deploy. Rows of reps who are
no longer members of a static pool restart at 0 (joining, or rejoining, a pool starts at 0).
The reverse multiplies by the same total (the clamp is not undone).
"""

from __future__ import annotations

from collections import defaultdict

from django.db import migrations, models

MAX_CARRIED = 1.0


def _pool_totals(apps, *, rows) -> dict[int, tuple[float, set[int]]]:  # noqa: ANN001
    """Pool id -> (total member weight, rep ids counted as members)."""
    Pool = apps.get_model("reps", "Pool")
    PoolMember = apps.get_model("reps", "PoolMember")
    static: dict[int, dict[int, int]] = defaultdict(dict)
    for pool_id, rep_id, weight in PoolMember.objects.values_list("pool_id", "rep_id", "weight"):
        static[pool_id][rep_id] = weight
    dynamic = {
        pool_id: weight
        for pool_id, weight, skill, team in Pool.objects.values_list("id", "dynamic_weight", "dynamic_skill_id", "dynamic_team_id")
        if skill is not None or team is not None
    }
    totals: dict[int, tuple[float, set[int]]] = {}
    for pool_id in {row.pool_id for row in rows}:
        members = dict(static.get(pool_id, {}))
        if pool_id in dynamic:
            for row in rows:
                if row.pool_id == pool_id:
                    members.setdefault(row.rep_id, dynamic[pool_id] or 1)
        totals[pool_id] = (float(sum(members.values())), set(members))
    return totals


def to_leads(apps, schema_editor) -> None:  # noqa: ANN001
    FairnessState = apps.get_model("reps", "FairnessState")
    rows = list(FairnessState.objects.exclude(credit=0.0))
    totals = _pool_totals(apps, rows=rows)
    for row in rows:
        total, members = totals[row.pool_id]
        if row.rep_id not in members or total <= 0:
            row.credit = 0.0
        else:
            row.credit = max(-MAX_CARRIED, min(MAX_CARRIED, row.credit / total))
    FairnessState.objects.bulk_update(rows, ["credit"], batch_size=1000)


def to_weight_units(apps, schema_editor) -> None:  # noqa: ANN001
    FairnessState = apps.get_model("reps", "FairnessState")
    rows = list(FairnessState.objects.exclude(credit=0.0))
    totals = _pool_totals(apps, rows=rows)
    for row in rows:
        row.credit = row.credit * totals[row.pool_id][0]
    FairnessState.objects.bulk_update(rows, ["credit"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("reps", "0002_role_groups"),
    ]

    operations = [
        migrations.AlterField(
            model_name="fairnessstate",
            name="credit",
            field=models.FloatField(default=0.0, help_text="Leads owed: expected minus offered (negative = ahead)."),
        ),
        migrations.RunPython(to_leads, to_weight_units),
    ]
