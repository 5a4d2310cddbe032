"""Plain, frozen inputs and outputs of the routing engine.

The engine never touches the ORM, settings, the clock or I/O: callers build these
dataclasses (see ``routing.snapshots``), pass ``now`` explicitly and persist what comes back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Mapping

from routing.engine.business_time import BusinessCalendar


class Op(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"
    IS_EMPTY = "is_empty"
    IS_SET = "is_set"


class Strategy(StrEnum):
    WEIGHTED_FAIR = "weighted_fair"
    CAPACITY_BALANCED = "capacity_balanced"
    BEST_MATCH = "best_match"


class Criterion(StrEnum):
    """Soft criteria a rule may relax, in its configured order."""

    LANGUAGE = "language"
    TERRITORY = "territory"
    SKILL_LEVEL = "skill_level"  # keep the skill, drop the minimum level to 1
    SKILLS = "skills"  # drop required skills entirely
    TIER = "tier"  # seniority tier (incl. the high-value tier)
    WORKING_HOURS = "working_hours"


class Reason(StrEnum):
    """Why a rep was skipped. Hard reasons are never relaxed."""

    INACTIVE = "inactive"
    ABSENT = "absent"
    NO_LICENCE = "no_licence"
    AT_OPEN_CAP = "at_open_cap"
    AT_DAILY_CAP = "at_daily_cap"
    AT_WEEKLY_CAP = "at_weekly_cap"
    ALREADY_DECLINED = "already_declined"  # declined or let this lead's offer expire
    EXPIRES_OFF_DUTY = "expires_off_duty"  # the offer would expire before the rep's next working minute
    OUTSIDE_WORKING_HOURS = "outside_working_hours"
    PUBLIC_HOLIDAY = "public_holiday"  # a closed date of the rep's calendar (soft: working hours)
    MISSING_SKILL = "missing_skill"
    SKILL_LEVEL_TOO_LOW = "skill_level_too_low"
    LANGUAGE = "language"
    OUTSIDE_TERRITORY = "outside_territory"
    TIER_TOO_LOW = "tier_too_low"


class StepKind(StrEnum):
    PRIMARY = "primary"  # the rule's own pool with all criteria
    RELAX = "relax"  # the rule's pool with one more soft criterion relaxed
    POOL = "pool"  # another pool, with the rule's criteria
    BACKUP = "backup"  # a named backup rep (hard constraints still apply)
    MANAGER = "manager"  # the pool's manager (hard constraints still apply)
    HOLDING = "holding"  # park in the holding pool
    ACCOUNT_OWNER = "account_owner"  # the matched account's owner, before the pool (hard constraints apply)
    STICKY = "sticky"  # the rep holding this person's or account's earlier lead (hard constraints apply)


class Outcome(StrEnum):
    OFFER = "offer"
    HOLDING = "holding"


@dataclass(frozen=True)
class Condition:
    field: str  # a lead field name, or "attributes.<key>" for custom attributes
    op: Op
    value: Any = None  # list for in/not_in, [low, high] for between


@dataclass(frozen=True)
class SegmentSpec:
    id: int
    slug: str
    name: str
    sla_minutes: int
    accept_fraction: float  # offer deadline = sla * fraction
    priority: int  # lower number = more urgent
    order: int  # qualification order; first match wins
    conditions: tuple[Condition, ...] = ()
    is_default: bool = False
    sla_clock: str = "rep"  # routing.engine.sla.SlaClock: calendar / segment / rep
    calendar_id: int | None = None  # the segment's business calendar (sla_clock "segment")
    mode: str = "offer"  # routing.engine.sla.DeliveryMode: offer / assign


@dataclass(frozen=True)
class SkillRequirement:
    skill: str  # skill key, e.g. "product:auto", "vertical:insurance", "language:es"
    min_level: int = 1


@dataclass(frozen=True)
class Requirements:
    skills: tuple[SkillRequirement, ...] = ()
    licence: bool = False  # valid licence for the lead's jurisdiction + product line
    territory: bool = False  # rep covers the lead's territory
    language: bool = False  # rep has skill "language:<lead.language>"
    min_tier: int | None = None  # seniority tier floor for every lead of this rule
    working_hours: bool = False  # only reps inside their working hours


@dataclass(frozen=True)
class FallbackStep:
    kind: StepKind  # ACCOUNT_OWNER (first only), RELAX, POOL, BACKUP, MANAGER or HOLDING
    target_id: int | None = None  # pool id for POOL, rep id for BACKUP
    respect_caps: bool = True  # ACCOUNT_OWNER: the owner's open/daily/weekly caps apply


@dataclass(frozen=True)
class RuleSpec:
    id: int
    history_id: int | None
    name: str
    priority: int  # lower number is evaluated first
    enabled: bool
    conditions: tuple[Condition, ...]
    pool_id: int
    strategy: Strategy = Strategy.WEIGHTED_FAIR
    requirements: Requirements = Requirements()
    value_threshold: Decimal | None = None  # lead.value >= threshold => high value
    high_value_min_tier: int | None = None
    fallback: tuple[FallbackStep, ...] = (FallbackStep(StepKind.HOLDING),)
    relaxation: tuple[Criterion, ...] = ()
    reroute_on_escalation: bool = True  # on decline/expiry, try the pool again first


@dataclass(frozen=True)
class ConfigSnapshot:
    version: int
    segments: tuple[SegmentSpec, ...]
    rules: tuple[RuleSpec, ...]


@dataclass(frozen=True)
class DecisionWarning:
    """Something about the lead's data that changed the decision, named for people to act on.

    ``kind``: ``missing_field`` / ``wrong_type`` (a condition over that field could not match),
    ``no_exchange_rate`` (the value could not be converted to the base currency).
    ``field``: the lead field, e.g. ``attributes.city``. ``sources``: the segments and rules
    (``segment:<slug>``, ``rule:<name>``) whose conditions were affected.
    """

    kind: str
    field: str
    message: str
    sources: tuple[str, ...] = ()


class MatchMethod(StrEnum):
    """How a lead was matched to an account, strongest evidence first (``routing.matching``)."""

    EMAIL_DOMAIN = "email_domain"
    WEBSITE_DOMAIN = "website_domain"
    NAME = "name"  # the normalised company name, exactly
    FUZZY_NAME = "fuzzy_name"  # a similar normalised company name, above the threshold


@dataclass(frozen=True)
class AccountFacts:
    """The account a lead matched, as rules and the owner step see it."""

    id: int
    name: str
    owner_id: int | None = None
    tier: str = ""
    status: str = "prospect"  # customer / prospect
    territory: str = ""
    external_id: str = ""


@dataclass(frozen=True)
class AccountMatch:
    account: AccountFacts
    method: MatchMethod
    score: float  # 0..100; 100 for a domain or exact name
    evidence: str  # what matched: the domain (``acme.com``) or the lead's company name


@dataclass(frozen=True)
class StickyHint:
    """The rep who holds this lead's earlier sibling: same person (email) or same account."""

    rep_id: int
    lead_id: int
    basis: str  # "person" or "account"


@dataclass(frozen=True)
class LeadFacts:
    id: int | None
    received_at: dt.datetime
    fields: Mapping[str, Any]  # source, country, state, postal_code, language, product_line,
    # value (Decimal, in the base currency; None when the currency has no exchange rate),
    # currency (the lead's own), fit_score, account_tier, intent, segment (slug, after
    # qualification), attributes (dict), plus contact fields
    warnings: tuple[DecisionWarning, ...] = ()  # found at fetch, e.g. no exchange rate
    account: AccountMatch | None = None  # matched at fetch (routing.matching); fields "account.*" too
    sticky: StickyHint | None = None  # an earlier lead's holder, found at fetch within the window


@dataclass(frozen=True)
class LicenceFact:
    jurisdiction: str  # "US-CA" (country-state) or "US" (whole country)
    product_line: str
    valid_from: dt.date
    valid_until: dt.date | None = None  # inclusive


@dataclass(frozen=True)
class TerritoryFact:
    country: str
    region: str = ""  # state / region code; blank = whole country
    postal_prefix: str = ""  # blank = any postal code


@dataclass(frozen=True)
class Interval:
    start: dt.datetime
    end: dt.datetime  # exclusive


@dataclass(frozen=True)
class RepSnapshot:
    id: int
    name: str
    active: bool
    tier: int  # 1 junior .. 4 principal
    timezone: str
    # weekday (0 = Monday) -> tuple of (start_minute, end_minute) in local time
    working_hours: Mapping[int, tuple[tuple[int, int], ...]]
    skills: Mapping[str, int]  # skill key -> level 1..5
    licences: tuple[LicenceFact, ...] = ()
    territories: tuple[TerritoryFact, ...] = ()
    absences: tuple[Interval, ...] = ()
    max_open: int | None = None
    max_daily: int | None = None
    max_weekly: int | None = None
    open_count: int = 0
    daily_count: int = 0  # for the rep's current local day
    weekly_count: int = 0  # for the rep's current local ISO week
    manager_id: int | None = None
    # Calendars (routing.engine.business_time): the zone ``working_hours`` and ``closed_dates``
    # are read in (blank = ``timezone``: it differs when the rep follows a calendar's hours),
    # and the local dates with no working time (public holidays, company days off) -> name.
    hours_timezone: str = ""
    closed_dates: Mapping[dt.date, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PoolSnapshot:
    id: int
    name: str
    members: tuple[tuple[int, int], ...]  # (rep_id, weight > 0)
    fairness: Mapping[int, float] = field(default_factory=dict)  # rep_id -> current credit
    manager_id: int | None = None
    calendar: BusinessCalendar | None = None  # the pool's opening hours and holidays, if any


@dataclass(frozen=True)
class CandidateResult:
    rep_id: int
    name: str
    eligible: bool
    reasons: tuple[Reason, ...]  # every failed check, empty when eligible
    weight: int = 0
    score: float | None = None  # strategy score, eligible reps only


_new_object, _set_attribute = object.__new__, object.__setattr__


def candidate_result(rep_id: int, name: str, eligible: bool, reasons: tuple[Reason, ...], weight: int = 0,
                     score: float | None = None) -> CandidateResult:  # fmt: skip
    """``CandidateResult(...)``, the same frozen instance (equal, same hash), built with one
    attribute write instead of the frozen dataclass's ``object.__setattr__`` per field: 1.5
    against 3.7 µs here, and a decision builds one per pool member per step (the load test's
    routing worker spent 9 % of its time in CandidateResult.__init__, docs/performance.md round 13)."""
    result = _new_object(CandidateResult)
    _set_attribute(result, "__dict__", {"rep_id": rep_id, "name": name, "eligible": eligible, "reasons": reasons,
                                        "weight": weight, "score": score})  # fmt: skip
    return result


@dataclass(frozen=True)
class StepResult:
    kind: StepKind
    pool_id: int | None
    relaxed: tuple[Criterion, ...]
    candidates: tuple[CandidateResult, ...]
    chosen_rep_id: int | None


@dataclass(frozen=True)
class Decision:
    lead_id: int | None
    config_version: int
    segment: SegmentSpec | None
    rule: RuleSpec | None  # None: no rule matched => holding
    high_value: bool
    steps: tuple[StepResult, ...]
    outcome: Outcome
    chosen_rep_id: int | None
    chosen_step: StepKind | None
    # pool_id -> {rep_id: new credit}; apply in the same transaction as the assignment
    fairness_updates: Mapping[int, Mapping[int, float]]
    summary: str  # one human sentence: why this outcome
    warnings: tuple[DecisionWarning, ...] = ()  # data problems that made conditions non-matches
    account: AccountMatch | None = None  # the lead's account match, as handed in
    sticky: StickyHint | None = None  # the earlier lead's holder, as handed in
