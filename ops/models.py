"""Operational state: process heartbeats and alert incidents. Neither is history-tracked: they are
machine-written telemetry, not configuration."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Component(models.TextChoices):
    """The background processes LeadOps needs besides the web server."""

    SWEEPER = "sweeper", "Sweeper"
    WORKER = "worker", "Routing worker"
    SCHEDULER = "scheduler", "Scheduler"


class Heartbeat(models.Model):
    """The last sign of life of one running process (one row per host:pid)."""

    component = models.CharField(max_length=20, choices=Component.choices)
    instance = models.CharField(max_length=120, help_text="host:pid of the process")
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True, help_text="Set when the process stopped cleanly")

    class Meta:
        ordering = ["component", "-beat_at"]
        constraints = [models.UniqueConstraint(fields=["component", "instance"], name="heartbeat_one_row_per_process")]
        indexes = [models.Index(fields=["component", "beat_at"], name="heartbeat_component_idx")]

    def __str__(self) -> str:
        return f"{self.get_component_display()} {self.instance}"


class Incident(models.Model):
    """One alert condition from the moment it was seen until it cleared.

    ``key`` names the condition (``component_down:sweeper``, ``queue_age``, ``sla_misses``); at most
    one incident per key is open at a time, so concurrent evaluators cannot open it twice. The
    ``*_notified_at`` stamps are claimed with a conditional UPDATE so each notice goes out once.
    """

    class Kind(models.TextChoices):
        COMPONENT_DOWN = "component_down", "Component down"
        QUEUE_AGE = "queue_age", "Waiting lead too old"
        SLA_MISSES = "sla_misses", "SLA misses spiking"
        QUARANTINE = "quarantine", "Leads quarantined"

    key = models.CharField(max_length=80)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    summary = models.CharField(max_length=300)
    action = models.CharField(max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    open_notified_at = models.DateTimeField(null=True, blank=True)
    resolved_notified_at = models.DateTimeField(null=True, blank=True)
    notified_via = models.CharField(max_length=40, blank=True, help_text="Channels the opening notice went out on")

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["key"], condition=Q(resolved_at__isnull=True), name="incident_one_open_per_key"),
        ]
        indexes = [models.Index(fields=["resolved_at", "opened_at"], name="incident_open_idx")]

    def __str__(self) -> str:
        return self.summary

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
