"""Whether one rep may receive one lead, with every reason they may not.

Hard reasons (inactive, absent, licence, caps, already declined) are checked on every step and
never relaxed. Soft reasons are skipped when their ``Criterion`` is in ``relaxed``.

Local time: "today" (licences) and working hours use ``now`` converted to the rep's timezone;
an unknown or malformed timezone is treated as UTC rather than failing the whole routing. Naive
datetimes are read as UTC for the same reason; callers should pass aware ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo

from routing.engine import business_time as bt
from routing.engine.types import (
    Criterion,
    LeadFacts,
    Reason,
    RepSnapshot,
    Requirements,
    RuleSpec,
    SkillRequirement,
)

HARD_REASONS: Final = frozenset(
    {
        Reason.INACTIVE,
        Reason.ABSENT,
        Reason.NO_LICENCE,
        Reason.AT_OPEN_CAP,
        Reason.AT_DAILY_CAP,
        Reason.AT_WEEKLY_CAP,
        Reason.ALREADY_DECLINED,
        Reason.EXPIRES_OFF_DUTY,
    }
)
ALL_CRITERIA: Final = frozenset(Criterion)
# Soft reason -> the relaxed criteria that drop it (check_rep's soft checks, below). Relaxing the
# skill level keeps the skill required: it drops only "level too low", not "missing skill".
SOFT_REASON_RELAXED_BY: Final = {
    Reason.OUTSIDE_WORKING_HOURS: frozenset({Criterion.WORKING_HOURS}),
    Reason.PUBLIC_HOLIDAY: frozenset({Criterion.WORKING_HOURS}),
    Reason.MISSING_SKILL: frozenset({Criterion.SKILLS}),
    Reason.SKILL_LEVEL_TOO_LOW: frozenset({Criterion.SKILLS, Criterion.SKILL_LEVEL}),
    Reason.LANGUAGE: frozenset({Criterion.LANGUAGE}),
    Reason.OUTSIDE_TERRITORY: frozenset({Criterion.TERRITORY}),
    Reason.TIER_TOO_LOW: frozenset({Criterion.TIER}),
}
_REASON_ORDER: Final = tuple(Reason)  # iterating the enum class itself is several times slower
WILDCARD_PRODUCT_LINE: Final = "*"
UTC: Final = dt.UTC


@lru_cache(maxsize=512)
def rep_zone(name: str) -> dt.tzinfo:
    """The rep's ZoneInfo; UTC when the name is blank, unknown or malformed."""
    if not isinstance(name, str) or not name.strip():
        return UTC
    try:
        return ZoneInfo(name.strip())
    except Exception:  # ZoneInfoNotFoundError, ValueError on "../x", OSError on odd paths
        return UTC


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def local_now(rep: RepSnapshot, now: dt.datetime) -> dt.datetime:
    return _aware(now).astimezone(rep_zone(rep.timezone))


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def lead_location(fields: Mapping[str, Any]) -> tuple[str, str, str]:
    """(country, state, jurisdiction), upper-cased.

    Jurisdiction is ``"US-CA"`` with a state, else the bare country. A state already written as
    an ISO 3166-2 code (``"US-CA"``) is accepted too.
    """
    country = _text(fields.get("country")).upper()
    state = _text(fields.get("state")).upper()
    if country and state.startswith(f"{country}-"):
        state = state[len(country) + 1 :]
    jurisdiction = f"{country}-{state}" if country and state else country
    return country, state, jurisdiction


def is_absent(rep: RepSnapshot, now: dt.datetime) -> bool:
    moment = _aware(now)
    return any(_aware(absence.start) <= moment < _aware(absence.end) for absence in rep.absences)


def _memo(snapshot: RepSnapshot | LeadFacts, name: str) -> Any:
    """A value derived from ``snapshot`` alone, kept on it (None until ``_remember``).

    A routing batch checks every rep of a pool for every lead, so what depends only on the rep
    (its skill levels, its licences and territories normalised) is worked out once per rep
    snapshot, and what depends only on the lead (where it is, its product line) once per lead,
    not once per pair. Snapshots are frozen and these are not fields: equality, hashing and
    ``replace`` ignore them (a replaced snapshot works them out again)."""
    return snapshot.__dict__.get(name)


def _remember(snapshot: RepSnapshot | LeadFacts, name: str, value: Any) -> Any:
    object.__setattr__(snapshot, name, value)  # frozen dataclass: not a field, see _memo
    return value


def _place_of(fields: Mapping[str, Any]) -> tuple[str, str, str, str, str]:
    country, state, jurisdiction = lead_location(fields)
    return (country, state, jurisdiction, _text(fields.get("postal_code")).upper(),
            _text(fields.get("product_line")).casefold())  # fmt: skip


def _lead_place(lead: LeadFacts) -> tuple[str, str, str, str, str]:
    place = _memo(lead, "_place")
    if place is None:
        place = _remember(lead, "_place", _place_of(lead.fields))
    return place


def _territory_terms(rep: RepSnapshot) -> tuple[tuple[str, str, str], ...]:
    """The rep's territories as (COUNTRY, REGION without the country prefix, POSTAL PREFIX)."""
    terms = _memo(rep, "_territory_terms")
    if terms is None:
        rows = []
        for territory in rep.territories:
            country = _text(territory.country).upper()
            region = _text(territory.region).upper()
            if region.startswith(f"{country}-"):
                region = region[len(country) + 1 :]
            rows.append((country, region, _text(territory.postal_prefix).upper()))
        terms = _remember(rep, "_territory_terms", tuple(rows))
    return terms


def _licence_terms(rep: RepSnapshot) -> tuple[tuple[str, str, dt.date, dt.date | None], ...]:
    """The rep's licences as (JURISDICTION, product line casefolded, valid_from, valid_until)."""
    terms = _memo(rep, "_licence_terms")
    if terms is None:
        terms = _remember(rep, "_licence_terms", tuple(
            (_text(licence.jurisdiction).upper(), _text(licence.product_line).casefold(),
             licence.valid_from, licence.valid_until)
            for licence in rep.licences
        ))  # fmt: skip
    return terms


def _local_today(rep: RepSnapshot, now: dt.datetime) -> dt.date:
    """``now``'s date in the rep's timezone; the last answer is kept (a batch asks with one ``now``)."""
    kept = _memo(rep, "_local_today")
    if kept is not None and kept[0] is now:
        return kept[1]
    return _remember(rep, "_local_today", (now, local_now(rep, now).date()))[1]


def has_valid_licence(rep: RepSnapshot, fields: Mapping[str, Any], now: dt.datetime) -> bool:
    """True when one of the rep's licences covers the lead's jurisdiction (its state, or its
    whole country) and product line (or every line, ``*``) on the rep's local date."""
    return _licensed(rep, _place_of(fields), now)


def _licensed(rep: RepSnapshot, place: tuple[str, str, str, str, str], now: dt.datetime) -> bool:
    country, _state, jurisdiction, _postal_code, product_line = place
    if not country:
        return False
    today = _local_today(rep, now)
    for licence_jurisdiction, licence_line, valid_from, valid_until in _licence_terms(rep):
        if licence_jurisdiction not in (jurisdiction, country):
            continue
        if licence_line != WILDCARD_PRODUCT_LINE and licence_line != product_line:
            continue
        if valid_from > today:
            continue
        if valid_until is not None and valid_until < today:
            continue
        return True
    return False


def rep_calendar(rep: RepSnapshot, *, with_absences: bool = True) -> bt.BusinessCalendar:
    """The rep's working time as a business calendar: their hours (or the calendar's they
    follow), in that schedule's zone, minus closed dates and (optionally) known absences.

    One place for "is this rep on duty": eligibility, offer deadlines, the off-duty expiry
    rule and the inbox countdown all read it.
    """
    return bt.BusinessCalendar(
        timezone=rep.hours_timezone or rep.timezone,
        weekly=rep.working_hours,
        closed_dates=frozenset(rep.closed_dates),
        closures=tuple((a.start, a.end) for a in rep.absences) if with_absences else (),
        holiday_names=rep.closed_dates,
    )


def off_duty_reason(rep: RepSnapshot, now: dt.datetime) -> Reason | None:
    """``OUTSIDE_WORKING_HOURS``, ``PUBLIC_HOLIDAY`` or None (on duty). Absences are their own
    (hard) reason and are not looked at here.

    Ranges are wall-clock ``[start_minute, end_minute)`` of the local day they start on; an end
    past 1440 runs past midnight; an empty schedule means "always working" (see
    ``routing.engine.business_time`` for daylight-saving and holiday rules).
    """
    if not rep.working_hours and not rep.closed_dates:
        return None  # no schedule and no holidays: always on duty (the common case, kept cheap)
    calendar = rep_calendar(rep, with_absences=False)
    match bt.closed_reason(calendar, _aware(now)):
        case None:
            return None
        case "holiday":
            return Reason.PUBLIC_HOLIDAY
    return Reason.OUTSIDE_WORKING_HOURS


def back_before(rep: RepSnapshot, now: dt.datetime, deadline: dt.datetime) -> bool:
    """Whether the rep has a working minute (hours, holidays and known absences) in
    ``[now, deadline)``: an offer made now can be answered before it expires."""
    if not rep.working_hours and not rep.closed_dates and not rep.absences:
        return True
    calendar = rep_calendar(rep)
    if bt.is_open(calendar, _aware(now)):
        return True  # on duty now, and the deadline is later
    opening = bt.next_open(calendar, _aware(now))
    return opening is not None and opening < _aware(deadline)


def is_working(rep: RepSnapshot, now: dt.datetime) -> bool:
    """Inside the rep's working time (hours and holidays; absences are checked separately)."""
    return off_duty_reason(rep, now) is None


def _skill_levels(rep: RepSnapshot) -> Mapping[str, int]:
    """Skill key (stripped, casefolded) -> the rep's highest level for it; worked out once per
    snapshot (``_memo``); callers only read it."""
    levels = _memo(rep, "_skill_levels")
    if levels is not None:
        return levels
    levels = {}
    for key, level in rep.skills.items():
        if isinstance(key, str) and isinstance(level, int) and not isinstance(level, bool):
            normalised = key.strip().casefold()
            levels[normalised] = max(level, levels.get(normalised, 0))
    return _remember(rep, "_skill_levels", levels)


def skill_level(rep: RepSnapshot, skill: str) -> int:
    """The rep's level in ``skill`` (case-insensitive key); 0 when absent."""
    return _skill_levels(rep).get(skill.strip().casefold(), 0)


def language_skill(fields: Mapping[str, Any]) -> str | None:
    """``"language:<lang>"`` for the lead's language, or None when it has none."""
    language = _text(fields.get("language")).casefold()
    return f"language:{language}" if language else None


def speaks(rep: RepSnapshot, fields: Mapping[str, Any]) -> bool:
    """Rep has the lead's language at level >= 1; ``"es-MX"`` is also served by ``"es"``."""
    skill = language_skill(fields)
    if skill is None:
        return True
    return _speaks(_skill_levels(rep), skill)


def _speaks(levels: Mapping[str, int], skill: str) -> bool:
    base = skill.replace("_", "-").split("-", 1)[0]
    return levels.get(skill, 0) >= 1 or levels.get(base, 0) >= 1


def covers_territory(rep: RepSnapshot, fields: Mapping[str, Any]) -> bool:
    """True when one of the rep's territories holds the lead: same country, the same region if
    the territory names one, a postal code starting with its prefix if it names one."""
    return _covers(rep, _place_of(fields))


def _covers(rep: RepSnapshot, place: tuple[str, str, str, str, str]) -> bool:
    country, state, _jurisdiction, postal_code, _product_line = place
    if not country:
        return False
    for territory_country, region, prefix in _territory_terms(rep):
        if territory_country != country:
            continue
        if region and region != state:
            continue
        if prefix and not postal_code.startswith(prefix):
            continue
        return True
    return False


def tier_floor(rule: RuleSpec, requirements: Requirements, high_value: bool) -> int | None:
    floors = [requirements.min_tier]
    if high_value:
        floors.append(rule.high_value_min_tier)
    present = [floor for floor in floors if floor is not None]
    return max(present) if present else None


def _skill_reasons(
    levels: Mapping[str, int], skills: tuple[SkillRequirement, ...], relaxed: frozenset[Criterion]
) -> list[Reason]:
    """``levels``: the rep's ``_skill_levels``."""
    if Criterion.SKILLS in relaxed:
        return []
    reasons: list[Reason] = []
    for requirement in skills:
        level = levels.get(requirement.skill.strip().casefold(), 0)
        needed = 1 if Criterion.SKILL_LEVEL in relaxed else max(1, requirement.min_level)
        if level < 1:
            reasons.append(Reason.MISSING_SKILL)
        elif level < needed:
            reasons.append(Reason.SKILL_LEVEL_TOO_LOW)
    return reasons


def check_rep(
    rep: RepSnapshot,
    *,
    lead: LeadFacts,
    rule: RuleSpec,
    requirements: Requirements,
    high_value: bool,
    now: dt.datetime,
    excluded_rep_ids: frozenset[int],
    relaxed: frozenset[Criterion],
    offer_deadline: dt.datetime | None = None,
) -> tuple[Reason, ...]:
    """Every reason ``rep`` may not take ``lead`` (empty when eligible), in ``Reason`` order.

    ``offer_deadline``: when an offer made now would expire, if the same for every rep (the
    segment's SLA clock is wall-clock time or the segment's calendar); a rep with no working
    minute before it fails with ``EXPIRES_OFF_DUTY``. On the rep's own clock (None here) the
    deadline always falls after their next working minute.
    """
    fields = lead.fields
    failed: set[Reason] = set()

    # Hard: never relaxed.
    if not rep.active:
        failed.add(Reason.INACTIVE)
    if is_absent(rep, now):
        failed.add(Reason.ABSENT)
    if requirements.licence and not _licensed(rep, _lead_place(lead), now):
        failed.add(Reason.NO_LICENCE)
    if rep.max_open is not None and rep.open_count >= rep.max_open:
        failed.add(Reason.AT_OPEN_CAP)
    if rep.max_daily is not None and rep.daily_count >= rep.max_daily:
        failed.add(Reason.AT_DAILY_CAP)
    if rep.max_weekly is not None and rep.weekly_count >= rep.max_weekly:
        failed.add(Reason.AT_WEEKLY_CAP)
    if rep.id in excluded_rep_ids:
        failed.add(Reason.ALREADY_DECLINED)
    if offer_deadline is not None and not back_before(rep, now, offer_deadline):
        failed.add(Reason.EXPIRES_OFF_DUTY)

    # Soft: each skipped when its criterion is relaxed.
    if requirements.working_hours and Criterion.WORKING_HOURS not in relaxed:
        off_duty = off_duty_reason(rep, now)
        if off_duty is not None:
            failed.add(off_duty)
    levels: Mapping[str, int] | None = None  # built once, and only when a skill is looked at
    if requirements.skills and Criterion.SKILLS not in relaxed:
        levels = _skill_levels(rep)
        failed.update(_skill_reasons(levels, requirements.skills, relaxed))
    if requirements.language and Criterion.LANGUAGE not in relaxed:
        skill = language_skill(fields)
        if skill is not None and not _speaks(levels if levels is not None else _skill_levels(rep), skill):
            failed.add(Reason.LANGUAGE)
    if (
        requirements.territory
        and Criterion.TERRITORY not in relaxed
        and not _covers(rep, _lead_place(lead))
    ):
        failed.add(Reason.OUTSIDE_TERRITORY)
    floor = tier_floor(rule, requirements, high_value)
    if Criterion.TIER not in relaxed and floor is not None and rep.tier < floor:
        failed.add(Reason.TIER_TOO_LOW)

    if not failed:
        return ()
    return tuple(reason for reason in _REASON_ORDER if reason in failed)


def relax_reasons(reasons: tuple[Reason, ...], relaxed: frozenset[Criterion]) -> tuple[Reason, ...]:
    """What ``check_rep`` answers with ``relaxed``, from its answer with nothing relaxed
    (``reasons``, in Reason order) for the same rep, lead, rule, time and exclusions: each soft
    reason whose criterion is relaxed dropped (SOFT_REASON_RELAXED_BY), hard reasons kept. So a
    decision checks each rep once, however many relaxation steps it walks
    (tests/routing/engine/test_eligibility.py holds the two equal on generated inputs)."""
    if not relaxed or not reasons:
        return reasons
    kept = []
    for reason in reasons:
        dropped_by = SOFT_REASON_RELAXED_BY.get(reason)
        if dropped_by is None or dropped_by.isdisjoint(relaxed):
            kept.append(reason)
    return tuple(kept)
