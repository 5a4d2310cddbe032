"""Routing configuration (segments, rules, published rule sets) and the lead lifecycle."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords

from routing.decision_detail import DecisionDetailField
from routing.engine.sla import DELIVERY_MODE_LABELS, SLA_CLOCK_LABELS, SlaClock
from routing.engine.sla import DeliveryMode as EngineDeliveryMode
from routing.engine.types import StepKind, Strategy
from routing.engine.words import STRATEGY_LABELS

STRATEGY_CHOICES = [(s.value, STRATEGY_LABELS[s.value]) for s in Strategy]  # words: routing.labels
SLA_CLOCK_CHOICES = [(clock.value, SLA_CLOCK_LABELS[clock]) for clock in SlaClock]


class DeliveryMode(models.TextChoices):
    """How a segment's leads reach a rep: routing.engine.sla.DeliveryMode, with its labels."""

    OFFER = EngineDeliveryMode.OFFER.value, DELIVERY_MODE_LABELS[EngineDeliveryMode.OFFER]
    ASSIGN = EngineDeliveryMode.ASSIGN.value, DELIVERY_MODE_LABELS[EngineDeliveryMode.ASSIGN]


class TouchChannel(models.TextChoices):
    CALL = "call", "Call"
    EMAIL = "email", "Email"
    MEETING = "meeting", "Meeting"
    MESSAGE = "message", "Message"
    OTHER = "other", "Other"


FALLBACK_KINDS = [StepKind.ACCOUNT_OWNER, StepKind.RELAX, StepKind.POOL, StepKind.BACKUP, StepKind.MANAGER,
                  StepKind.HOLDING]  # fmt: skip


class Segment(models.Model):
    """Outcome of qualification, e.g. enterprise-high-intent, with its SLA."""

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=100)
    sla_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    accept_fraction = models.FloatField(
        default=0.6,
        validators=[MinValueValidator(0.05), MaxValueValidator(1.0)],
        help_text="Offer deadline as a fraction of the SLA window",
    )
    priority = models.PositiveSmallIntegerField(default=100, help_text="Lower is more urgent")
    order = models.PositiveIntegerField(default=100, help_text="Qualification order: first match wins")
    conditions = models.JSONField(default=list, blank=True)
    is_default = models.BooleanField(default=False)
    sla_clock = models.CharField(
        max_length=20, choices=SLA_CLOCK_CHOICES, default=SlaClock.REP.value,
        help_text="Which time the SLA and offer deadlines count: wall-clock, this segment's calendar, or the offered rep's working time",
    )  # fmt: skip
    calendar = models.ForeignKey(
        "calendars.BusinessCalendar", null=True, blank=True, on_delete=models.PROTECT, related_name="segments",
        help_text="The calendar of the 'segment calendar' SLA clock",
    )  # fmt: skip
    mode = models.CharField(
        max_length=10, choices=DeliveryMode.choices, default=DeliveryMode.OFFER.value,
        help_text="Offer (accept or decline) or assign (owned at once; the SLA stops at the first touch)",
    )  # fmt: skip
    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_segment"),
        ]

    def __str__(self) -> str:
        return self.name


class Rule(models.Model):
    """A routing rule as ops edit it (the draft). Routing reads the published RuleSet."""

    name = models.CharField(max_length=120)
    priority = models.PositiveIntegerField(default=100, help_text="Lower is evaluated first")
    enabled = models.BooleanField(default=True)
    conditions = models.JSONField(default=list, blank=True)
    pool = models.ForeignKey("reps.Pool", on_delete=models.PROTECT, related_name="rules")
    strategy = models.CharField(max_length=30, choices=STRATEGY_CHOICES, default=Strategy.WEIGHTED_FAIR.value)
    # {"skills": [{"skill": "product:auto", "min_level": 3}], "licence": true, "territory": false,
    #  "language": true, "min_tier": null, "working_hours": false}
    requirements = models.JSONField(default=dict, blank=True)
    value_threshold = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    high_value_min_tier = models.PositiveSmallIntegerField(null=True, blank=True)
    # [{"kind": "relax"}, {"kind": "pool", "target_id": 3}, {"kind": "backup", "target_id": 7},
    #  {"kind": "manager"}, {"kind": "holding"}]
    fallback = models.JSONField(default=list, blank=True)
    relaxation = models.JSONField(default=list, blank=True)  # ["language", "territory", ...]
    reroute_on_escalation = models.BooleanField(default=True)
    archived = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["priority", "id"]

    def __str__(self) -> str:
        return self.name


class RuleSet(models.Model):
    """One published, immutable version of the whole routing configuration.

    ``snapshot`` holds segments and rules (with each rule's history id) exactly as routing
    reads them; the highest ``version`` is live. Publishing inserts one row, atomically.
    """

    version = models.PositiveIntegerField(unique=True)
    snapshot = models.JSONField()
    note = models.CharField(max_length=200, blank=True)
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"v{self.version}"


class Lead(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending routing"
        OFFERED = "offered", "Offered"
        ACCEPTED = "accepted", "Accepted"
        HOLDING = "holding", "Holding pool"
        QUARANTINED = "quarantined", "Quarantined (routing failed)"
        CONVERTED = "converted", "Converted"
        CLOSED_LOST = "closed_lost", "Closed lost"
        AGED_OUT = "aged_out", "Aged out"
        DUPLICATE = "duplicate", "Linked to an open lead (duplicate)"

    OPEN_STATUSES = (Status.OFFERED, Status.ACCEPTED)
    WAITING_STATUSES = (Status.PENDING, Status.HOLDING)

    source = models.CharField(max_length=60)
    external_id = models.CharField(max_length=120)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    company = models.CharField(max_length=200, blank=True)
    website = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=120, blank=True)
    country = models.CharField(max_length=2, blank=True)
    state = models.CharField(max_length=10, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    language = models.CharField(max_length=10, blank=True)
    product_line = models.CharField(max_length=50, blank=True)
    value = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="USD")
    fit_score = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(100)])
    account_tier = models.CharField(max_length=30, blank=True)
    intent = models.CharField(max_length=30, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    # ``value`` converted to settings.LEADOPS_BASE_CURRENCY at intake with the ops-maintained
    # ExchangeRate; null when the currency had no rate (rules then see no value: see
    # routing.reference). Rules and the high-value threshold compare this, never ``value``.
    value_base = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)

    segment = models.ForeignKey(Segment, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads")
    owner = models.ForeignKey("reps.Rep", null=True, blank=True, on_delete=models.SET_NULL, related_name="leads")
    # The account routing matched (routing.matching; how and how sure is in the decision), and the
    # open lead with the same email this one was linked to instead of being routed again.
    account = models.ForeignKey("Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="leads")
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    high_value = models.BooleanField(default=False)
    route_attempts = models.PositiveIntegerField(default=0)
    # Queue order (see routing.queue): the live segment's priority at qualification, and the
    # lead's place in the queue, its arrival time moved earlier by its urgency.
    segment_priority = models.PositiveSmallIntegerField(default=100)
    queue_at = models.DateTimeField(null=True, blank=True)
    # Holding pool: when the timer retries it next, how many retries changed nothing, when it
    # was last tried, the rule that held it (a live rule-set id, no foreign key: the draft may
    # have deleted it) and a digest of the last recorded outcome (same digest => no new decision).
    next_retry_at = models.DateTimeField(null=True, blank=True)
    hold_attempts = models.PositiveIntegerField(default=0)
    last_tried_at = models.DateTimeField(null=True, blank=True)
    held_rule_id = models.PositiveIntegerField(null=True, blank=True)
    outcome_key = models.CharField(max_length=40, blank=True)
    # Quarantine: routing this lead raised; kept out of batches until a publish or an ops retry.
    quarantine_error = models.TextField(blank=True)
    quarantined_at = models.DateTimeField(null=True, blank=True)
    quarantine_count = models.PositiveIntegerField(default=0)

    received_at = models.DateTimeField()
    routed_at = models.DateTimeField(null=True, blank=True)
    offered_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    # The rep's first contact (a call or email logged in the CRM, or the inbox): in assign mode
    # it stops the SLA clock; in offer mode it is recorded for the analytics only.
    first_touch_at = models.DateTimeField(null=True, blank=True)
    first_touch_channel = models.CharField(max_length=20, choices=TouchChannel.choices, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="lead_source_external_id_unique"),
            models.CheckConstraint(condition=Q(value__gte=0), name="lead_value_not_negative"),
        ]
        indexes = [
            # The queue of record: waiting leads in queue order (routing.queue).
            models.Index(fields=["status", "queue_at", "id"], name="lead_queue_order_idx"),
            models.Index(fields=["status", "next_retry_at"], name="lead_holding_due_idx"),
            models.Index(fields=["owner", "status"], name="lead_owner_status_idx"),
            # Duplicates and sticky follow-ups: earlier leads of the same person (email, any case).
            models.Index(Lower("email"), "received_at", name="lead_email_lower_idx"),
        ]

    def save(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        if self.queue_at is None and self.received_at is not None:
            self.queue_at = self.received_at  # rows made outside intake (admin, fixtures) queue by age
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        """The lead's title on every page: "Ana Ruiz (Acme)", "Acme", or "Lead from web" (never
        the external id, which means nothing to a rep)."""
        who = f"{self.first_name} {self.last_name}".strip()
        if who:
            return f"{who} ({self.company})" if self.company else who
        return self.company or f"Lead from {self.source or 'an unknown source'}"

    @property
    def jurisdiction(self) -> str:
        return f"{self.country}-{self.state}".upper() if self.state else self.country.upper()


class Offer(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class DeclineReason(models.TextChoices):
        NOT_MY_PRODUCT = "not_my_product", "Not my product line"
        NO_CAPACITY = "no_capacity", "No capacity right now"
        CONFLICT = "conflict", "Conflict of interest / existing relationship"
        LANGUAGE = "language", "Language barrier"
        BAD_DATA = "bad_data", "Bad or spam lead"
        OTHER = "other", "Other"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="offers")
    rep = models.ForeignKey("reps.Rep", on_delete=models.PROTECT, related_name="offers")
    # No database constraint: on PostgreSQL decisions are partitioned by month (a foreign key
    # would have to name the partition key too), and retention drops whole months of decisions
    # (routing.services_retention clears this column for the offers of a month it drops).
    decision = models.ForeignKey("Decision", null=True, blank=True, on_delete=models.SET_NULL, db_constraint=False,
                                 related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    step = models.PositiveSmallIntegerField(default=0, help_text="Escalation step: 0 = first offer")
    via = models.CharField(max_length=20, default=StepKind.PRIMARY.value)  # engine step that chose the rep
    # The segment's mode when the offer was made. "assign": the rep owns the lead at once and
    # the deadline is for the first touch; a miss expires the offer like an unanswered one.
    mode = models.CharField(max_length=10, choices=DeliveryMode.choices, default=DeliveryMode.OFFER.value)
    offered_at = models.DateTimeField()
    deadline = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.CharField(max_length=30, choices=DeclineReason.choices, blank=True)
    decline_note = models.CharField(max_length=500, blank=True)
    counted_day = models.DateField(null=True, blank=True)  # rep-local day it counted toward
    counted_week = models.CharField(max_length=8, blank=True)
    # Expired while the rep was off duty (outside hours, holiday, absent): not the rep passing
    # on the lead, so routing does not exclude them from it.
    expired_off_duty = models.BooleanField(default=False)

    class Meta:
        ordering = ["-offered_at"]
        constraints = [
            models.UniqueConstraint(fields=["lead"], condition=Q(status="open"), name="one_open_offer_per_lead"),
        ]
        indexes = [
            models.Index(fields=["status", "deadline"], name="offer_due_idx"),
            models.Index(fields=["rep", "status"], name="offer_rep_status_idx"),
            models.Index(fields=["offered_at"], name="offer_offered_at_idx"),
        ]


class DecisionQuerySet(models.QuerySet):
    def update(self, **kwargs):  # noqa: ANN003, ANN201
        raise ValidationError("Decision records are append-only")

    def delete(self):  # noqa: ANN201
        raise ValidationError("Decision records are append-only")

    def delete_for_retention(self) -> int:
        """Delete these decisions for good: only ``routing.services_retention`` calls this, for
        whole months after their export (on SQLite; PostgreSQL drops the month's partition).
        Nothing else removes a decision. One DELETE, no signals; returns the rows deleted."""
        return self._raw_delete(self.db)


class Decision(models.Model):
    """Append-only audit of one routing step for one lead. Removed only by the retention service
    (``routing.services_retention``), a whole month at a time after its export.

    On PostgreSQL the table is partitioned by month on ``created_at`` (migration 0012) and its
    primary key in the database is ``(id, created_at)``, as PostgreSQL requires of a partitioned
    table. Django does not know that: the model keeps ``id`` as its one primary key (the sequence
    still hands out unique ids), so URLs, the admin and the API go on using the id alone. Nothing
    may hold a database foreign key to this table (``Offer.decision`` has none)."""

    class Kind(models.TextChoices):
        ROUTE = "route", "Route"
        ESCALATION = "escalation", "Escalation"
        RETRY = "retry", "Holding-pool retry"
        MANUAL = "manual", "Manual"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="decisions")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.ROUTE)
    created_at = models.DateTimeField()
    ruleset_version = models.PositiveIntegerField(null=True, blank=True)
    # The rule, segment, pool and rep as the *published* rule set named them. No database
    # constraint: the draft may delete or rename any of them while that rule set is live, and an
    # append-only audit keeps the id it was made with (joins to a deleted row read as NULL).
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
                             related_name="decisions")
    rule_history_id = models.PositiveBigIntegerField(null=True, blank=True)
    segment = models.ForeignKey(Segment, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
                                related_name="+")
    pool = models.ForeignKey("reps.Pool", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
                             related_name="+")
    outcome = models.CharField(max_length=20)  # offer / holding
    step = models.CharField(max_length=20, blank=True)  # engine step that produced the outcome
    chosen_rep = models.ForeignKey("reps.Rep", null=True, blank=True, on_delete=models.DO_NOTHING,
                                   db_constraint=False, related_name="+")
    summary = models.CharField(max_length=500)
    inputs = models.JSONField(default=dict)
    # Engine steps, candidates, reasons, scores: stored compact (routing.detail_codec, naming
    # texts in DecisionLegend), read back as the engine's dict (routing.decision_detail).
    detail = DecisionDetailField(default=dict)
    duration_us = models.PositiveIntegerField(default=0)

    objects = DecisionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_at"], name="decision_created_idx"),
            models.Index(fields=["chosen_rep", "created_at"], name="decision_rep_idx"),
            models.Index(fields=["pool", "created_at"], name="decision_pool_idx"),
            models.Index(fields=["rule", "created_at"], name="decision_rule_idx"),
            models.Index(fields=["segment", "created_at"], name="decision_segment_idx"),
            models.Index(fields=["outcome", "created_at"], name="decision_outcome_idx"),
        ]

    def save(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        if self.pk is not None:
            raise ValidationError("Decision records are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        raise ValidationError("Decision records are append-only")


class DecisionLegendQuerySet(models.QuerySet):
    def update(self, **kwargs):  # noqa: ANN003, ANN201
        raise ValidationError("The decision legend is append-only")

    def delete(self):  # noqa: ANN201
        raise ValidationError("The decision legend is append-only")


class DecisionLegend(models.Model):
    """A text that compact decision details name by code (``routing.detail_codec``): a segment
    or rule spec as JSON, or a step's candidates ``[[rep_id, name, weight], ...]``.

    ``code`` is the first 63 bits of the text's SHA-256, so a code means one text forever, in any
    process or database. Append-only: rows are inserted with ``ON CONFLICT DO NOTHING``
    (``routing.decision_detail.legend_ensure``) and never changed or deleted."""

    code = models.BigIntegerField(primary_key=True)
    text = models.TextField()

    objects = DecisionLegendQuerySet.as_manager()

    def save(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        if not self._state.adding:
            raise ValidationError("The decision legend is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        raise ValidationError("The decision legend is append-only")

    def __str__(self) -> str:
        return f"{self.code}: {self.text[:60]}"


class RouterWake(models.Model):
    """A queued wake-up that has not started yet, per kind ("route"): while ``queued_at`` is set,
    another lead arriving needs no task of its own, because the queued one will see it
    (``routing.tasks``). One row per kind, read far more often than written."""

    name = models.CharField(max_length=20, primary_key=True)
    queued_at = models.DateTimeField(null=True, blank=True)


class TokenScope(models.TextChoices):
    """What an API token may do. A token holds a list of these; ``admin`` implies every other."""

    INTAKE = "intake", "Send leads (POST /api/v1/leads)"
    READ = "read", "Read leads, decisions and reps"
    DRY_RUN = "dry-run", "Dry-run routing (POST /api/v1/route/dry-run)"
    OFFERS = "offers", "Act on offers and leads: accept, decline, first touch"
    REPS = "reps", "Change rep availability and caps: away, back, absences"
    CONFIG = "config", "Export, import, compare and publish the routing configuration"
    ACCOUNTS = "accounts", "Create and update accounts by their CRM id (PUT /api/v1/accounts/{external_id})"
    ADMIN = "admin", "Everything, including webhook deliveries and dry runs against the unpublished draft"


def default_token_scopes() -> list[str]:
    return [TokenScope.INTAKE.value]


class ApiToken(models.Model):
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    digest = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=default_token_scopes, help_text="List of TokenScope values")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, help_text="Recorded at most once a minute")
    # A personal token acts as this user: their roles and team scope apply on top of the scopes.
    # Without one the token is an integration's, which sees every team.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="api_tokens", help_text="Personal token: acts as this user")

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or TokenScope.ADMIN.value in self.scopes

    def scope_labels(self) -> list[str]:
        return [TokenScope(s).label if s in TokenScope.values else s for s in self.scopes]

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()


class WebhookDelivery(models.Model):
    """One webhook to send, with its attempts. On PostgreSQL partitioned by month on
    ``created_at`` like ``Decision`` (primary key ``(id, created_at)`` in the database, ``id`` for
    Django); old months are archived and dropped by ``routing.services_retention``, never a month
    with a delivery still pending."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"  # the dead-letter state: ops can redeliver

    event = models.CharField(max_length=50)
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_due_idx")]

    @property
    def message_id(self) -> str:
        """The Standard Webhooks ``webhook-id``: the same on every retry, so receivers can de-duplicate."""
        return f"msg_leadops_{self.id}"


class ExchangeRate(models.Model):
    """What one unit of ``currency`` is worth in the base currency (settings.LEADOPS_BASE_CURRENCY)
    from ``as_of`` on. Maintained by ops; LeadOps never fetches rates from the network."""

    currency = models.CharField(max_length=3, help_text="ISO 4217 code, e.g. JPY")
    rate = models.DecimalField(
        max_digits=20, decimal_places=10, validators=[MinValueValidator(Decimal("0.0000000001"))],
        help_text="Base-currency units for one unit of this currency, e.g. 0.0067 for JPY in USD",
    )  # fmt: skip
    as_of = models.DateField(help_text="The rate applies to leads received on or after this date")
    note = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["currency", "-as_of"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "as_of"], name="exchange_rate_currency_as_of_unique"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchange_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate} (as of {self.as_of})"

    def clean(self) -> None:
        from routing.reference import currency_code

        if currency_code(self.currency or "") != self.currency:
            raise ValidationError({"currency": "Use an upper-case ISO 4217 code such as JPY."})
        if self.currency == settings.LEADOPS_BASE_CURRENCY:
            raise ValidationError({"currency": f"{self.currency} is the base currency: its rate is always 1."})


class LeadSynonym(models.Model):
    """A spelling of an enumerated lead field that ops accept, e.g. intent "hot" means "high"."""

    class Field(models.TextChoices):
        COUNTRY = "country", "Country"
        STATE = "state", "State / region"
        LANGUAGE = "language", "Language"
        CURRENCY = "currency", "Currency"
        INTENT = "intent", "Intent"
        ACCOUNT_TIER = "account_tier", "Account tier"
        PRODUCT_LINE = "product_line", "Product line"

    field = models.CharField(max_length=20, choices=Field.choices)
    alias = models.CharField(max_length=100, help_text="What senders write, e.g. hot (case and accents ignored)")
    value = models.CharField(max_length=50, help_text="What LeadOps stores, e.g. high, or an ISO code")
    history = HistoricalRecords()

    class Meta:
        ordering = ["field", "alias"]
        constraints = [models.UniqueConstraint(fields=["field", "alias"], name="lead_synonym_field_alias_unique")]

    def __str__(self) -> str:
        return f"{self.get_field_display()}: {self.alias} → {self.value}"

    def clean(self) -> None:
        from routing.reference import synonym_target_problem

        problem = synonym_target_problem(self.field, self.value or "")
        if problem:
            raise ValidationError({"value": problem})


class Account(models.Model):
    """A company leads may belong to, with the rep who owns it (schema: ``engine.schema.AccountFile``).

    Written only by ``routing.services.account_upsert`` (console, config file, CSV, API).
    """

    class Status(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        PROSPECT = "prospect", "Prospect"

    external_id = models.CharField(max_length=120, unique=True, help_text="The account's id in your CRM")
    name = models.CharField(max_length=200)
    # ``name`` as matching compares it (routing.matching.normalise_name), stored so the match
    # index is built without normalising every name again.
    name_key = models.CharField(max_length=200, blank=True, editable=False)
    owner = models.ForeignKey("reps.Rep", null=True, blank=True, on_delete=models.SET_NULL, related_name="accounts")
    tier = models.CharField(max_length=30, blank=True)
    territory = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PROSPECT)
    attributes = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["updated_at"], name="account_updated_idx")]  # the index's change feed

    def __str__(self) -> str:
        return self.name


class AccountDomain(models.Model):
    """One web/email domain of an account (``acme.com``); a domain belongs to one account."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253, unique=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class LeadImport(models.Model):
    """One CSV file being imported in the background, with its checkpoint and report.

    ``rows_done`` is the checkpoint: data rows (header excluded) already handled, committed in the
    same transaction as the leads of those rows, so a killed worker resumes after the last
    committed row and no row is imported twice ((source, external_id) is unique as well).
    """

    class Status(models.TextChoices):
        MAPPING = "mapping", "Waiting for its column mapping"  # uploaded on the page; nothing runs yet
        QUEUED = "queued", "Waiting to start"
        RUNNING = "running", "Importing"
        DONE = "done", "Finished"
        REFUSED = "refused", "Refused"

    file_name = models.CharField(max_length=255)
    path = models.CharField(max_length=500)  # the stored upload, under settings.LEADOPS_IMPORT_DIR
    size_bytes = models.PositiveBigIntegerField(default=0)
    encoding = models.CharField(max_length=20, blank=True)  # chosen by the user, else detected
    delimiter = models.CharField(max_length=4, blank=True)  # chosen by the user, else detected
    # The column mapping applied to every row (routing.import_mapping.ColumnMapping as JSON); null:
    # the file uses LeadOps' own column names. ``mapping_name``: the saved mapping it came from.
    mapping = models.JSONField(null=True, blank=True)
    mapping_name = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    refusal = models.TextField(blank=True)  # why the whole file was refused, naming the line
    rows_total = models.PositiveIntegerField(null=True, blank=True)  # known after the first pass
    rows_done = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    already_present = models.PositiveIntegerField(default=0)  # same source + external_id exists
    rejected = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # [{"line", "field", "message"}], first 1,000
    run_token = models.CharField(max_length=32, blank=True)  # the worker that holds the import
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # fmt: skip
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"

    @property
    def percent(self) -> int:
        if not self.rows_total:
            return 100 if self.status in (self.Status.DONE, self.Status.REFUSED) else 0
        return min(100, int(100 * self.rows_done / self.rows_total))


class ImportMapping(models.Model):
    """A saved column mapping, reused by name on the import page, by ``importleads --mapping NAME``
    and in the configuration export. ``columns``/``source``/``currency`` are validated by
    ``routing.import_mapping.ColumnMapping`` (the one schema) before they are saved."""

    name = models.CharField(max_length=100, unique=True, help_text="e.g. Trade show scanner, CRM export")
    columns = models.JSONField(default=dict, blank=True)  # {header: lead field | attributes.<key> | ignore}
    source = models.CharField(max_length=60, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def as_json(self) -> dict:
        """The mapping in its JSON form (what ``mapping_parse`` reads)."""
        return {"columns": dict(self.columns or {}), "source": self.source, "currency": self.currency}

    def clean(self) -> None:
        """The one schema (``ColumnMapping``) checks the mapping, also when edited in the admin."""
        from routing.import_mapping import MappingError, mapping_parse

        try:
            parsed = mapping_parse(self.as_json() if isinstance(self.columns, dict) else {"columns": self.columns})
        except MappingError as exc:
            raise ValidationError({name.split(".", 1)[0]: " ".join(messages) for name, messages in exc.errors.items()
                                   if name.split(".", 1)[0] in ("columns", "source", "currency")} or
                                  {"columns": "Not a valid mapping."}) from None  # fmt: skip
        self.currency = parsed.currency


# Area-specific models live beside their code; importing registers them with the routing app.
from routing.console.models import *  # noqa: E402, F401, F403
from routing.dashboards.models import *  # noqa: E402, F401, F403
