"""Evaluate the alerts once (for cron or a monitoring host, beside the sweeper and the schedule)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Check heartbeats, the waiting queue and SLA misses; open or resolve incidents and send their notices once."

    def handle(self, *args: Any, **options: Any) -> None:
        from ops.selectors import component_statuses, incidents_open
        from ops.services import alerts_evaluate

        result = alerts_evaluate()
        for status in component_statuses():
            self.stdout.write(f"{status.spec.label:<16} {status.state_label}")
        for incident in incidents_open():
            self.stdout.write(f"OPEN since {incident.opened_at:%Y-%m-%d %H:%M:%S}: {incident.summary}")
        self.stdout.write(f"opened {result['opened']}, resolved {result['resolved']}, notices sent {result['notices']}")
