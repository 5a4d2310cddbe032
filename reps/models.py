"""People who receive leads, and everything that decides whether they can take one."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from leadops.datetimes import EARLIEST, LATEST, validate_readable_datetime


class Role(models.TextChoices):
    OPS = "Sales Ops", "Sales Ops"
    MANAGER = "Manager", "Manager"
    REP = "Rep", "Rep"


class Tier(models.IntegerChoices):
    JUNIOR = 1, "Junior"
    MID = 2, "Mid"
    SENIOR = 3, "Senior"
    PRINCIPAL = 4, "Principal"


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not a known IANA timezone (e.g. America/New_York)") from None


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = RegexValidator(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$", "Use HH:MM (00:00 to 24:00)")


def validate_working_hours(value: object) -> None:
    """{"mon": [["09:00", "17:00"]], ...}; an empty dict means no schedule (always working).

    A range whose end is at or before its start runs past midnight ("22:00"-"06:00"); a range
    cannot start and end at the same minute unless it is "00:00"-"24:00".
    """
    if not isinstance(value, dict):
        raise ValidationError("Working hours must be an object keyed by weekday (mon..sun)")
    for day, ranges in value.items():
        if day not in WEEKDAYS:
            raise ValidationError(f"Unknown weekday {day!r}: use one of {', '.join(WEEKDAYS)}")
        if not isinstance(ranges, list):
            raise ValidationError(f"{day}: expected a list of [start, end] pairs")
        for pair in ranges:
            if not (isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                raise ValidationError(f"{day}: each range is [\"HH:MM\", \"HH:MM\"]")
            for part in pair:
                _HHMM(part)
            if pair[0] == pair[1] or (pair[0] == "24:00"):
                raise ValidationError(f"{day}: {pair[0]}-{pair[1]} is not a range of working time")


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    calendar = models.ForeignKey(
        "calendars.BusinessCalendar", null=True, blank=True, on_delete=models.PROTECT, related_name="teams",
        help_text="Holidays (and hours, for reps without their own) of the team's reps",
    )  # fmt: skip
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Rep(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rep")
    display_name = models.CharField(max_length=120)
    tier = models.PositiveSmallIntegerField(choices=Tier.choices, default=Tier.MID)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    working_hours = models.JSONField(default=dict, blank=True, validators=[validate_working_hours])
    calendar = models.ForeignKey(
        "calendars.BusinessCalendar", null=True, blank=True, on_delete=models.PROTECT, related_name="reps",
        help_text="Follow this calendar (its holidays; its hours when the rep has none); blank = the team's",
    )  # fmt: skip
    active = models.BooleanField(default=True)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="reps")
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    max_open = models.PositiveIntegerField(null=True, blank=True, help_text="Active pipeline cap")
    max_daily = models.PositiveIntegerField(null=True, blank=True, help_text="New leads per local day")
    max_weekly = models.PositiveIntegerField(null=True, blank=True, help_text="New leads per local ISO week")
    away_until = models.DateTimeField(
        null=True, blank=True, help_text="Self-service 'away' marker", validators=[validate_readable_datetime]
    )
    territories = models.ManyToManyField("Territory", blank=True, related_name="reps")
    history = HistoricalRecords(excluded_fields=["away_until"])

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.CheckConstraint(condition=~Q(manager=F("id")), name="rep_not_own_manager"),
            # leadops.datetimes: a time past the driver's range could be stored but never read back.
            models.CheckConstraint(
                condition=Q(away_until__isnull=True) | Q(away_until__gte=EARLIEST, away_until__lte=LATEST),
                name="rep_away_until_readable",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name


class Skill(models.Model):
    class Kind(models.TextChoices):
        PRODUCT = "product", "Product line"
        VERTICAL = "vertical", "Vertical"
        LANGUAGE = "language", "Language"
        OTHER = "other", "Other"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    code = models.SlugField(max_length=50)
    name = models.CharField(max_length=100)
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["kind", "code"]
        constraints = [models.UniqueConstraint(fields=["kind", "code"], name="skill_kind_code_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.code}"


class RepSkill(models.Model):
    rep = models.ForeignKey(Rep, on_delete=models.CASCADE, related_name="skills")
    skill = models.ForeignKey(Skill, on_delete=models.PROTECT, related_name="rep_skills")
    level = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rep", "skill"], name="repskill_unique"),
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=5), name="repskill_level_1_5"),
        ]


class Territory(models.Model):
    name = models.CharField(max_length=100, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2, e.g. US")
    region = models.CharField(max_length=10, blank=True, help_text="State or region code, e.g. CA")
    postal_prefix = models.CharField(max_length=10, blank=True)
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["country", "region", "postal_prefix", "name"]
        verbose_name_plural = "territories"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.country = self.country.upper()
        self.region = self.region.upper()
        seen = {self.pk}
        node = self.parent
        while node is not None:
            if node.pk in seen:
                raise ValidationError({"parent": "A territory cannot be its own ancestor"})
            seen.add(node.pk)
            node = node.parent


class Licence(models.Model):
    rep = models.ForeignKey(Rep, on_delete=models.CASCADE, related_name="licences")
    jurisdiction = models.CharField(max_length=10, help_text="US-CA for a state, US for a whole country")
    product_line = models.CharField(max_length=50)
    valid_from = models.DateField()
    valid_until = models.DateField(null=True, blank=True, help_text="Inclusive; blank = no expiry")
    history = HistoricalRecords()

    class Meta:
        ordering = ["jurisdiction", "product_line"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=F("valid_from")),
                name="licence_valid_range",
            )
        ]

    def __str__(self) -> str:
        return f"{self.jurisdiction} {self.product_line}"


class Absence(models.Model):
    class Reason(models.TextChoices):
        VACATION = "vacation", "Vacation"
        ILLNESS = "illness", "Illness"
        OFFBOARDING = "offboarding", "Offboarding"
        OTHER = "other", "Other"

    rep = models.ForeignKey(Rep, on_delete=models.CASCADE, related_name="absences")
    starts_at = models.DateTimeField(validators=[validate_readable_datetime])
    ends_at = models.DateTimeField(validators=[validate_readable_datetime])
    reason = models.CharField(max_length=20, choices=Reason.choices, default=Reason.OTHER)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="absence_ends_after_start"),
            models.CheckConstraint(
                condition=Q(starts_at__gte=EARLIEST, ends_at__lte=LATEST), name="absence_within_readable_range"
            ),
        ]


class Pool(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    active = models.BooleanField(default=True)
    manager = models.ForeignKey(Rep, null=True, blank=True, on_delete=models.SET_NULL, related_name="managed_pools")
    # Dynamic membership: every active rep with this skill (at >= level) and/or in this team.
    dynamic_skill = models.ForeignKey(Skill, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    dynamic_min_level = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(5)])
    dynamic_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    dynamic_weight = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    calendar = models.ForeignKey(
        "calendars.BusinessCalendar", null=True, blank=True, on_delete=models.PROTECT, related_name="pools",
        help_text="The pool's opening hours: under a rule that requires working hours, nobody is offered "
                  "a lead through this pool while its calendar is closed",
    )  # fmt: skip
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_dynamic(self) -> bool:
        return self.dynamic_skill_id is not None or self.dynamic_team_id is not None


class PoolMember(models.Model):
    pool = models.ForeignKey(Pool, on_delete=models.CASCADE, related_name="members")
    rep = models.ForeignKey(Rep, on_delete=models.CASCADE, related_name="pool_memberships")
    weight = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(1000)])
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pool", "rep"], name="poolmember_unique"),
            models.CheckConstraint(condition=Q(weight__gte=1), name="poolmember_weight_positive"),
        ]


class RepLoad(models.Model):
    """Live capacity counters, changed only by routing services under a row lock.

    Kept apart from Rep so that counters do not flood the rep's configuration history.
    """

    rep = models.OneToOneField(Rep, on_delete=models.CASCADE, primary_key=True, related_name="load")
    open_count = models.PositiveIntegerField(default=0)
    day = models.DateField(null=True, blank=True)  # the rep-local day daily_count belongs to
    daily_count = models.PositiveIntegerField(default=0)
    week = models.CharField(max_length=8, blank=True)  # ISO "2026-W48" in the rep's timezone
    weekly_count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)


class FairnessState(models.Model):
    """What one rep is owed in one pool, in leads (``routing.engine.fairness``).

    ``credit`` = leads expected (weight / eligible total weight, summed over the pool's leads the
    rep could take) minus leads offered. A float (PostgreSQL double precision): shares like 1/3
    have no exact decimal form anyway, doubles round-trip exactly, and the rounding (~1e-16 per
    lead on values within +-2) stays far below the engine's 1e-9 comparisons.
    """

    # No index of its own: the unique (pool, rep) index serves lookups by pool (one index less
    # to update on the hottest table in routing, see migration 0007).
    pool = models.ForeignKey(Pool, on_delete=models.CASCADE, related_name="fairness", db_index=False)
    rep = models.ForeignKey(Rep, on_delete=models.CASCADE, related_name="fairness")
    credit = models.FloatField(default=0.0, help_text="Leads owed: expected minus offered (negative = ahead).")
    assigned = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pool", "rep"], name="fairness_unique")]


class OutboundEmail(models.Model):
    """One email to one person, kept until sent or given up, so a failure is retried and seen.

    Written by ``reps.notifications``; the sweeper retries due rows with exponential backoff, and
    ops see pending and failed ones (and can resend) at /ops/security/outbox/.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to send"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (gave up)"

    kind = models.CharField(max_length=40)
    offer = models.ForeignKey("routing.Offer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    to = models.EmailField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="email_due_idx")]
        constraints = [
            # One email per offer and kind: a task that runs twice does not email twice.
            models.UniqueConstraint(fields=["offer", "kind"], condition=Q(offer__isnull=False), name="email_once_per_offer"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to}"
