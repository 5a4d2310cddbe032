"""Register the django-q2 schedules (idempotent): the every-minute sweep backing up `manage.py sweeper`, the
equity rollup, the scheduler's heartbeat, and the hourly partitions and retention pass."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

SCHEDULES = [
    {"name": "leadops-sweep", "func": "routing.tasks.sweep", "minutes": 1},
    {"name": "leadops-equity-rollup", "func": "routing.dashboards.tasks.equity_rollup", "minutes": 1},
    # Its enqueue is the scheduler's heartbeat, its run a worker's; it also evaluates alerts (ops).
    {"name": "leadops-heartbeat", "func": "ops.tasks.cluster_heartbeat", "minutes": 1},
    # Monthly partitions ahead, then retention (routing.services_retention). Exporting a month
    # takes long (~1,100 decisions/s measured: 45 min for 3 million), hence its own timeout; a
    # copy the ORM broker hands out again meanwhile (after Q_CLUSTER["retry"] seconds) finds the
    # first pass running and stops.
    {"name": "leadops-partitions", "func": "routing.tasks.retention_pass", "minutes": 60,
     "kwargs": "q_options={'timeout': 10800}"},
]


class Command(BaseCommand):
    help = "Create or update LeadOps's django-q2 schedules. Safe to run on every deploy."

    def handle(self, *args: Any, **options: Any) -> None:
        from django_q.models import Schedule

        for spec in SCHEDULES:
            _, created = Schedule.objects.update_or_create(
                name=spec["name"],
                defaults={"func": spec["func"], "schedule_type": Schedule.MINUTES, "minutes": spec["minutes"], "repeats": -1,
                          "kwargs": spec.get("kwargs")},
            )
            self.stdout.write(f"{'created' if created else 'updated'} schedule {spec['name']}")
