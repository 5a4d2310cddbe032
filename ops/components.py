"""What each background process is for, how often it beats, and what its silence means.

One place for these words: the System page, the home-page banner, alerts and the runbook's
table all read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from ops.models import Component

# The django-q2 schedule whose enqueue is the scheduler's heartbeat and whose run is a worker's.
HEARTBEAT_SCHEDULE = "leadops-heartbeat"
# django-q2's scheduler wakes every ~30 s and the heartbeat schedule is due every 60 s.
CLUSTER_BEAT_SECONDS = 90.0


@dataclass(frozen=True)
class ComponentSpec:
    component: Component
    role: str  # what it does, for the System page
    down_means_text: str  # what stops when it is down, in the users' words ({recovery} = seconds)
    action: str  # what to do, short; the runbook has the long form

    @property
    def down_means(self) -> str:
        return self.down_means_text.format(recovery=settings.LEADOPS_RECOVERY_AFTER_SECONDS)

    @property
    def label(self) -> str:
        return self.component.label

    @property
    def beat_seconds(self) -> float:
        """How often a healthy process of this kind records a heartbeat (seconds)."""
        if self.component == Component.SWEEPER:
            return max(settings.LEADOPS_SWEEP_INTERVAL, settings.LEADOPS_HEARTBEAT_EVERY_SECONDS)
        return CLUSTER_BEAT_SECONDS

    @property
    def down_after_seconds(self) -> float:
        """Silence longer than this (beat interval plus the margin) means down."""
        return self.beat_seconds + settings.LEADOPS_HEARTBEAT_MARGIN_SECONDS


SPECS: dict[str, ComponentSpec] = {
    spec.component.value: spec
    for spec in (
        ComponentSpec(
            component=Component.SWEEPER,
            role="Expires offers at their deadline and escalates them, recovers leads nobody routed, "
            "retries the holding pool and delivers CRM webhooks (manage.py sweeper).",
            down_means_text="Escalations are not running: offers past their deadline stay with the rep, "
            "the holding pool is not retried and CRM webhooks are not delivered. The scheduler's "
            "every-minute backup sweep still escalates, but up to a minute late.",
            action="Start the sweeper again (manage.py sweeper); runbook: docs/operations.md, 'Alerts'.",
        ),
        ComponentSpec(
            component=Component.WORKER,
            role="Routes new leads the moment they arrive and sends the emails to reps "
            "(manage.py qcluster).",
            down_means_text="New leads are not routed on arrival: the sweeper picks them up only after "
            "they have waited {recovery} s, and offer emails are not sent.",
            action="Start the routing worker again (manage.py qcluster); runbook: docs/operations.md, 'Alerts'.",
        ),
        ComponentSpec(
            component=Component.SCHEDULER,
            role="Runs the every-minute backup sweep, the equity rollup and this heartbeat "
            "(part of manage.py qcluster).",
            down_means_text="The backup sweep and the equity rollup are not running: if the sweeper "
            "also stops, nothing escalates.",
            action="Restart the routing worker (manage.py qcluster) and run manage.py setup_schedules; "
            "runbook: docs/operations.md, 'Alerts'.",
        ),
    )
}
