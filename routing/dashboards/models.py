"""Models owned by the dashboards area; imported by routing.models so Django registers them.

``EquityDaily`` is a rollup of the append-only Decision audit, maintained incrementally by
``routing.dashboards.services.equity_rollup`` from a ``RollupWatermark``: the equity pages read
only the rollup, so their cost does not grow with the number of decisions.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class EquityDaily(models.Model):
    """Per pool, rep and UTC day: leads offered, and the eligibility-adjusted expectation.

    ``expected`` sums, over the pool's offer decisions that day, weight / sum of eligible
    weights of the chosen step when this rep was eligible (0 when not): what a perfectly
    fair distributor would have given the rep, given who could actually take each lead.
    """

    pool = models.ForeignKey("reps.Pool", on_delete=models.CASCADE, related_name="+")
    rep = models.ForeignKey("reps.Rep", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    assigned = models.PositiveIntegerField(default=0)
    assigned_value = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    expected = models.FloatField(default=0.0)
    expected_value = models.FloatField(default=0.0)
    # Leads given to the rep as the account's owner or the holder of an earlier lead, outside
    # the rotation (not in ``assigned``/``expected``, so they never show as drift), unless
    # LEADOPS_OWNER_COUNTS_TOWARD_FAIRNESS charged them to the pool's fairness.
    direct = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pool", "day", "rep"], name="equitydaily_unique")]


class RollupWatermark(models.Model):
    """Highest Decision id already folded into a rollup; advanced in the rollup's transaction."""

    name = models.CharField(max_length=40, unique=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)


class ReplayJob(models.Model):
    """A what-if replay of past leads through the draft rules; the only row a replay writes."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    start = models.DateField()
    end = models.DateField()
    pool = models.ForeignKey("reps.Pool", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0


__all__ = ["EquityDaily", "ReplayJob", "RollupWatermark"]
