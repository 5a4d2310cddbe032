from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from routing.engine import HARD_REASONS, check_rep
from routing.engine.types import (
    Criterion,
    Interval,
    LeadFacts,
    Reason,
    RepSnapshot,
    Requirements,
    RuleSpec,
    SkillRequirement,
    TerritoryFact,
)
from tests.routing.engine.builders import NOW, lead, licence, rep, rule

UTC = dt.UTC
NY = ZoneInfo("America/New_York")
HOUR = dt.timedelta(hours=1)
FULL = Requirements(
    skills=(SkillRequirement("product:auto", 2),),
    licence=True,
    territory=True,
    language=True,
    min_tier=2,
    working_hours=True,
)


def reasons(
    candidate: RepSnapshot,
    *,
    the_lead: LeadFacts | None = None,
    requirements: Requirements = FULL,
    the_rule: RuleSpec | None = None,
    high_value: bool = False,
    now: dt.datetime = NOW,
    excluded: frozenset[int] = frozenset(),
    relaxed: frozenset[Criterion] = frozenset(),
) -> tuple[Reason, ...]:
    return check_rep(
        candidate,
        lead=the_lead or lead(),
        rule=the_rule or rule(requirements=requirements),
        requirements=requirements,
        high_value=high_value,
        now=now,
        excluded_rep_ids=excluded,
        relaxed=relaxed,
    )


def test_the_baseline_rep_is_eligible_under_every_requirement() -> None:
    assert reasons(rep()) == ()


# (reason, rep overrides, lead fields, excluded rep ids)
ONE_REASON_CASES: list[tuple[Reason, dict[str, Any], dict[str, Any], frozenset[int]]] = [
    (Reason.INACTIVE, {"active": False}, {}, frozenset()),
    (Reason.ABSENT, {"absences": (Interval(NOW - HOUR, NOW + HOUR),)}, {}, frozenset()),
    (Reason.NO_LICENCE, {"licences": ()}, {}, frozenset()),
    (Reason.AT_OPEN_CAP, {"max_open": 5, "open_count": 5}, {}, frozenset()),
    (Reason.AT_DAILY_CAP, {"max_daily": 3, "daily_count": 3}, {}, frozenset()),
    (Reason.AT_WEEKLY_CAP, {"max_weekly": 10, "weekly_count": 12}, {}, frozenset()),
    (Reason.ALREADY_DECLINED, {}, {}, frozenset({1})),
    (Reason.OUTSIDE_WORKING_HOURS, {"timezone": "Asia/Tokyo"}, {}, frozenset()),  # Thu 00:00
    (Reason.PUBLIC_HOLIDAY, {"closed_dates": {NOW.astimezone(NY).date(): "Test Day"}}, {}, frozenset()),
    (Reason.MISSING_SKILL, {"skills": {"language:en": 3}}, {}, frozenset()),
    (
        Reason.SKILL_LEVEL_TOO_LOW,
        {"skills": {"language:en": 3, "product:auto": 1}},
        {},
        frozenset(),
    ),
    (Reason.LANGUAGE, {}, {"language": "es"}, frozenset()),
    (Reason.OUTSIDE_TERRITORY, {"territories": (TerritoryFact("US", "NY"),)}, {}, frozenset()),
    (Reason.TIER_TOO_LOW, {"tier": 1}, {}, frozenset()),
]


@pytest.mark.parametrize(
    ("reason", "overrides", "fields", "excluded"),
    ONE_REASON_CASES,
    ids=[case[0].value for case in ONE_REASON_CASES],
)
def test_it_skips_a_rep_for_exactly_the_failing_reason(
    reason: Reason, overrides: dict[str, Any], fields: dict[str, Any], excluded: frozenset[int]
) -> None:
    assert reasons(rep(1, **overrides), the_lead=lead(**fields), excluded=excluded) == (reason,)


def test_every_reason_has_a_row_in_the_table() -> None:
    # EXPIRES_OFF_DUTY needs an off-duty rep, who also fails working hours: see its own test.
    assert {case[0] for case in ONE_REASON_CASES} == set(Reason) - {Reason.EXPIRES_OFF_DUTY}


def test_it_returns_every_failing_reason_in_reason_order() -> None:
    candidate = rep(1, tier=1, active=False, max_open=1, open_count=3, licences=())
    assert reasons(candidate) == (
        Reason.INACTIVE,
        Reason.NO_LICENCE,
        Reason.AT_OPEN_CAP,
        Reason.TIER_TOO_LOW,
    )


SOFT_CASES = [
    (Reason.OUTSIDE_WORKING_HOURS, Criterion.WORKING_HOURS, {"timezone": "Asia/Tokyo"}, {}),
    (Reason.MISSING_SKILL, Criterion.SKILLS, {"skills": {"language:en": 3}}, {}),
    (
        Reason.SKILL_LEVEL_TOO_LOW,
        Criterion.SKILL_LEVEL,
        {"skills": {"language:en": 1, "product:auto": 1}},
        {},
    ),
    (
        Reason.SKILL_LEVEL_TOO_LOW,
        Criterion.SKILLS,
        {"skills": {"language:en": 1, "product:auto": 1}},
        {},
    ),
    (Reason.LANGUAGE, Criterion.LANGUAGE, {}, {"language": "es"}),
    (Reason.OUTSIDE_TERRITORY, Criterion.TERRITORY, {"territories": ()}, {}),
    (Reason.TIER_TOO_LOW, Criterion.TIER, {"tier": 1}, {}),
]


@pytest.mark.parametrize(("reason", "criterion", "overrides", "fields"), SOFT_CASES)
def test_relaxing_a_soft_criterion_drops_its_reason(
    reason: Reason, criterion: Criterion, overrides: dict[str, Any], fields: dict[str, Any]
) -> None:
    candidate, the_lead = rep(1, **overrides), lead(**fields)
    assert reasons(candidate, the_lead=the_lead) == (reason,)
    assert reasons(candidate, the_lead=the_lead, relaxed=frozenset({criterion})) == ()


def test_relaxing_the_skill_level_keeps_the_skill_itself_required() -> None:
    candidate = rep(1, skills={"language:en": 3})
    assert reasons(candidate, relaxed=frozenset({Criterion.SKILL_LEVEL})) == (Reason.MISSING_SKILL,)


@pytest.mark.parametrize(
    ("reason", "overrides", "fields", "excluded"),
    [case for case in ONE_REASON_CASES if case[0] in HARD_REASONS],
    ids=[case[0].value for case in ONE_REASON_CASES if case[0] in HARD_REASONS],
)
def test_hard_reasons_survive_relaxing_every_criterion(
    reason: Reason, overrides: dict[str, Any], fields: dict[str, Any], excluded: frozenset[int]
) -> None:
    got = reasons(
        rep(1, **overrides),
        the_lead=lead(**fields),
        excluded=excluded,
        relaxed=frozenset(Criterion),
    )
    assert got == (reason,)


@pytest.mark.parametrize(
    ("absence", "absent"),
    [
        (Interval(NOW - HOUR, NOW), False),  # end is exclusive
        (Interval(NOW, NOW + HOUR), True),  # start is inclusive
        (Interval(NOW + HOUR, NOW + 2 * HOUR), False),
    ],
)
def test_absence_intervals_are_half_open(absence: Interval, absent: bool) -> None:
    assert (Reason.ABSENT in reasons(rep(absences=(absence,)))) is absent


def test_caps_below_the_limit_do_not_block() -> None:
    assert reasons(rep(max_open=5, open_count=4, max_daily=3, daily_count=2, max_weekly=9)) == ()


LATE_UTC = dt.datetime(2025, 3, 5, 23, 30, tzinfo=UTC)  # already Thu 08:30 in Tokyo


@pytest.mark.parametrize(
    ("licences", "fields", "now", "timezone", "licensed"),
    [
        ((licence("US"),), {}, NOW, "UTC", True),  # whole-country licence
        ((licence("US-NY"),), {}, NOW, "UTC", False),
        ((licence("us-ca"),), {}, NOW, "UTC", True),
        ((licence("US-CA", "*"),), {"product_line": "life"}, NOW, "UTC", True),
        ((licence("US-CA", "AUTO"),), {}, NOW, "UTC", True),
        ((licence("US-CA", "home"),), {}, NOW, "UTC", False),
        ((licence(valid_until=NOW.date()),), {}, NOW, "UTC", True),  # inclusive
        ((licence(valid_until=NOW.date() - dt.timedelta(days=1)),), {}, NOW, "UTC", False),
        ((licence(valid_from=NOW.date() + dt.timedelta(days=1)),), {}, NOW, "UTC", False),
        ((licence(valid_from=dt.date(2025, 3, 6)),), {}, LATE_UTC, "Asia/Tokyo", True),
        ((licence(valid_from=dt.date(2025, 3, 6)),), {}, LATE_UTC, "UTC", False),
        ((licence(valid_until=dt.date(2025, 3, 5)),), {}, LATE_UTC, "Asia/Tokyo", False),
        ((licence(),), {"state": "US-CA"}, NOW, "UTC", True),  # ISO 3166-2 state
        ((licence(),), {"state": ""}, NOW, "UTC", False),  # lead jurisdiction is just "US"
        ((licence("US"),), {"state": None}, NOW, "UTC", True),
        ((licence("US"),), {"country": None}, NOW, "UTC", False),
        ((licence("US-CA", "*"), licence("US-TX")), {"state": "tx"}, NOW, "UTC", True),
    ],
)
def test_it_requires_a_current_licence_for_the_lead_jurisdiction_and_product(
    licences: tuple[Any, ...],
    fields: dict[str, Any],
    now: dt.datetime,
    timezone: str,
    licensed: bool,
) -> None:
    requirements = Requirements(licence=True)
    candidate = rep(licences=licences, timezone=timezone)
    got = reasons(candidate, the_lead=lead(**fields), requirements=requirements, now=now)
    assert (got == ()) is licensed


def test_one_snapshot_asked_again_answers_for_each_moment_and_a_replaced_one_for_its_licences() -> None:
    """What a snapshot keeps between leads (its licences normalised, its local date) follows the
    moment asked about and is not carried into a snapshot replaced with other licences."""
    requirements = Requirements(licence=True)
    expiring = licence(valid_until=NOW.date())
    candidate = rep(licences=(expiring,), timezone="UTC")
    next_day = NOW + dt.timedelta(days=1)
    assert reasons(candidate, requirements=requirements, now=NOW) == ()
    assert reasons(candidate, requirements=requirements, now=next_day) == (Reason.NO_LICENCE,)
    assert reasons(candidate, requirements=requirements, now=NOW) == ()
    relicensed = dataclasses.replace(candidate, licences=(licence(),))
    assert reasons(relicensed, requirements=requirements, now=next_day) == ()
    assert reasons(candidate, requirements=requirements, now=next_day) == (Reason.NO_LICENCE,)


def test_one_lead_checked_against_many_reps_and_a_replaced_lead_answer_for_their_own_place() -> None:
    """What a lead keeps between reps (where it is, its product line) is not carried into a
    lead replaced with other fields, and a rep's territories are read the same for every lead."""
    requirements = Requirements(licence=True, territory=True)
    texan = rep(1, licences=(licence("US-TX"),), territories=(TerritoryFact("US", "us-tx", "75"),), timezone="UTC")
    californian = rep(2, licences=(licence(),), territories=(TerritoryFact("US", "CA"),), timezone="UTC")
    dallas = lead(country="US", state="TX", postal_code="75201")
    assert reasons(texan, the_lead=dallas, requirements=requirements) == ()
    assert reasons(californian, the_lead=dallas, requirements=requirements) == (
        Reason.NO_LICENCE, Reason.OUTSIDE_TERRITORY)
    moved = dataclasses.replace(dallas, fields={**dallas.fields, "state": "CA", "postal_code": "94105"})
    assert reasons(californian, the_lead=moved, requirements=requirements) == ()
    assert reasons(texan, the_lead=moved, requirements=requirements) == (Reason.NO_LICENCE, Reason.OUTSIDE_TERRITORY)
    assert reasons(texan, the_lead=dallas, requirements=requirements) == ()


def test_licences_are_not_checked_unless_required() -> None:
    assert reasons(rep(licences=()), requirements=Requirements()) == ()


MONDAY_SCHEDULE = {0: ((9 * 60, 17 * 60),)}


@pytest.mark.parametrize(
    ("working_hours", "timezone", "now", "working"),
    [
        ({}, "Asia/Tokyo", NOW, True),  # no schedule configured => always working
        ({2: ((9 * 60, 17 * 60),)}, "America/New_York", NOW, True),  # Wed 10:00 local
        ({2: ((9 * 60, 17 * 60),)}, "Europe/Madrid", NOW, True),  # Wed 16:00 local
        ({2: ((9 * 60, 16 * 60),)}, "Europe/Madrid", NOW, False),  # end is exclusive
        ({2: ((9 * 60, 12 * 60), (13 * 60, 18 * 60))}, "Europe/Madrid", NOW, True),
        (MONDAY_SCHEDULE, "America/New_York", NOW, False),  # nothing on Wednesday
        ({"2": ((540, 1020),)}, "America/New_York", NOW, True),  # JSON-style keys
        ({2: ((14 * 60, 16 * 60),)}, "Not/AZone", NOW, True),  # bad zone => UTC 15:00
        ({2: ((14 * 60, 16 * 60),)}, "", NOW, True),
        ({2: ((14 * 60, 16 * 60),)}, "../../etc/passwd", NOW, True),
        ({2: ((14 * 60, 16 * 60),)}, "America/New_York", NOW.replace(tzinfo=None), False),
        ({2: (("nine", "five"),)}, "UTC", NOW, False),  # malformed schedule never raises
    ],
)
def test_working_hours_are_read_in_the_rep_local_time(
    working_hours: Any, timezone: str, now: dt.datetime, working: bool
) -> None:
    candidate = rep(working_hours=working_hours, timezone=timezone)
    got = reasons(candidate, requirements=Requirements(working_hours=True), now=now)
    assert (got == ()) is working


def test_working_hours_are_ignored_unless_required() -> None:
    assert reasons(rep(timezone="Asia/Tokyo"), requirements=Requirements()) == ()


@pytest.mark.parametrize(
    ("territories", "fields", "inside"),
    [
        ((TerritoryFact("US"),), {}, True),  # whole country
        ((TerritoryFact("us", "ca"),), {}, True),
        ((TerritoryFact("US", "US-CA"),), {}, True),
        ((TerritoryFact("US", "CA", "941"),), {}, True),
        ((TerritoryFact("US", "CA", "100"),), {}, False),
        ((TerritoryFact("US", "", "941"),), {"state": "NV"}, True),
        ((TerritoryFact("US", "CA", "941"),), {"postal_code": None}, False),
        ((TerritoryFact("CA"),), {}, False),
        ((TerritoryFact("US", "NY"), TerritoryFact("US", "CA")), {}, True),
        ((), {}, False),  # no territory configured => outside
        ((TerritoryFact("US"),), {"country": ""}, False),
    ],
)
def test_territory_matches_country_region_and_postal_prefix(
    territories: tuple[TerritoryFact, ...], fields: dict[str, Any], inside: bool
) -> None:
    got = reasons(
        rep(territories=territories),
        the_lead=lead(**fields),
        requirements=Requirements(territory=True),
    )
    assert (got == ()) is inside


@pytest.mark.parametrize(
    ("lead_language", "skills", "speaks"),
    [
        ("en", {"language:en": 1}, True),
        ("EN", {"Language:En": 2}, True),
        ("es-MX", {"language:es": 1}, True),
        ("es-MX", {"language:es-mx": 1}, True),
        ("es", {"language:es-mx": 1}, False),
        ("fr", {"language:en": 5}, False),
        (None, {}, True),  # a lead without a language needs no language skill
        ("", {}, True),
        ("de", {"language:de": 0}, False),
    ],
)
def test_language_requires_the_lead_language_skill(
    lead_language: str | None, skills: dict[str, int], speaks: bool
) -> None:
    got = reasons(
        rep(skills=skills),
        the_lead=lead(language=lead_language),
        requirements=Requirements(language=True),
    )
    assert (got == ()) is speaks


@pytest.mark.parametrize(
    ("tier", "min_tier", "high_value_min_tier", "high_value", "too_low"),
    [
        (2, None, None, True, False),
        (2, 2, 3, False, False),
        (2, 2, 3, True, True),
        (3, 2, 3, True, False),
        (1, None, 3, False, False),
        (3, 4, 2, True, True),  # the higher floor wins
        (2, None, 3, True, True),
    ],
)
def test_the_tier_floor_rises_for_high_value_leads(
    tier: int,
    min_tier: int | None,
    high_value_min_tier: int | None,
    high_value: bool,
    too_low: bool,
) -> None:
    requirements = Requirements(min_tier=min_tier)
    the_rule = rule(requirements=requirements, high_value_min_tier=high_value_min_tier)
    got = reasons(
        rep(tier=tier), requirements=requirements, the_rule=the_rule, high_value=high_value
    )
    assert (got == (Reason.TIER_TOO_LOW,)) is too_low


def test_each_missing_skill_is_reported_once_per_reason() -> None:
    requirements = Requirements(
        skills=(SkillRequirement("product:auto", 4), SkillRequirement("vertical:insurance"))
    )
    got = reasons(rep(skills={"product:auto": 2}), requirements=requirements)
    assert got == (Reason.MISSING_SKILL, Reason.SKILL_LEVEL_TOO_LOW)


def test_a_rep_who_is_back_only_after_the_offer_would_expire_is_skipped() -> None:
    """NOW is Wednesday 10:00 in New York; a Tokyo rep (Thursday 00:00) is back at 09:00 Tokyo,
    nine hours later: an offer due in an hour expires first, one due in ten hours does not."""
    tokyo = rep(1, timezone="Asia/Tokyo")
    loose = Requirements()  # the rule itself does not ask for working hours
    assert check_rep(tokyo, lead=lead(), rule=rule(requirements=loose), requirements=loose, high_value=False, now=NOW,
                     excluded_rep_ids=frozenset(), relaxed=frozenset(),
                     offer_deadline=NOW + HOUR) == (Reason.EXPIRES_OFF_DUTY,)  # fmt: skip
    assert check_rep(tokyo, lead=lead(), rule=rule(requirements=loose), requirements=loose, high_value=False, now=NOW,
                     excluded_rep_ids=frozenset(), relaxed=frozenset(), offer_deadline=NOW + 10 * HOUR) == ()  # fmt: skip
    assert reasons(rep(2)) == ()  # on duty now: no deadline can come first


# --- relax_reasons: a decision checks each rep once, whatever it relaxes (routing.engine.route) ---

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from routing.engine.eligibility import relax_reasons  # noqa: E402

_LEVEL = st.integers(min_value=0, max_value=3)


@st.composite
def _cases(draw):  # noqa: ANN001, ANN202
    skills = {key: level for key, level in (("product:auto", draw(_LEVEL)), ("product:home", draw(_LEVEL)),
                                            ("language:en", draw(_LEVEL)), ("language:es", draw(_LEVEL))) if level}  # fmt: skip
    candidate = rep(
        1,
        active=draw(st.booleans()),
        tier=draw(st.integers(min_value=1, max_value=3)),
        skills=skills,
        working_hours=draw(st.sampled_from([NINE_TO_FIVE_NY, {}])),
        licences=draw(st.sampled_from([(licence(),), (licence("US", "*"),), ()])),
        territories=draw(st.sampled_from([(TerritoryFact("US", "CA"),), (TerritoryFact("US", "NY"),), ()])),
        absences=draw(st.sampled_from([(), (Interval(NOW - HOUR, NOW + HOUR),)])),
        max_open=draw(st.sampled_from([None, 2])),
        open_count=draw(st.integers(min_value=0, max_value=3)),
    )
    the_lead = lead(language=draw(st.sampled_from(["en", "es", "es-MX", ""])), state=draw(st.sampled_from(["CA", "NY"])),
                    product_line=draw(st.sampled_from(["auto", "home"])))  # fmt: skip
    requirements = Requirements(
        skills=tuple(SkillRequirement(skill, draw(st.integers(min_value=1, max_value=3)))
                     for skill in draw(st.lists(st.sampled_from(["product:auto", "product:home"]), max_size=2, unique=True))),
        licence=draw(st.booleans()), territory=draw(st.booleans()), language=draw(st.booleans()),
        min_tier=draw(st.sampled_from([None, 2, 3])), working_hours=draw(st.booleans()),
    )  # fmt: skip
    the_rule = rule(requirements=requirements, high_value_min_tier=draw(st.sampled_from([None, 3])))
    return {
        "candidate": candidate, "the_lead": the_lead, "requirements": requirements, "the_rule": the_rule,
        "high_value": draw(st.booleans()), "now": draw(st.sampled_from([NOW, NOW + 10 * HOUR])),
        "excluded": draw(st.sampled_from([frozenset(), frozenset({1})])),
    }  # fmt: skip


NINE_TO_FIVE_NY = {day: ((9 * 60, 17 * 60),) for day in range(5)}


@settings(max_examples=300, deadline=None)
@given(case=_cases(), relaxed=st.frozensets(st.sampled_from(list(Criterion))))
def test_relaxing_the_reasons_of_an_unrelaxed_check_answers_as_a_relaxed_check(case: dict, relaxed: frozenset) -> None:
    unrelaxed = reasons(**case)
    assert relax_reasons(unrelaxed, relaxed) == reasons(**case, relaxed=relaxed)


def test_a_relaxation_step_filters_the_primary_steps_reasons_without_checking_again(monkeypatch) -> None:  # noqa: ANN001
    """routing.engine.route: each rep is checked once per decision, not once per step."""
    import importlib

    from routing.engine import eligibility
    from routing.engine.types import FallbackStep, StepKind
    from tests.routing.engine.builders import config, pool

    route_module = importlib.import_module("routing.engine.route")  # routing.engine.route is also the function
    calls: list[int] = []
    real = eligibility.check_rep

    def counting(candidate, **kwargs):  # noqa: ANN001, ANN003, ANN202
        calls.append(candidate.id)
        return real(candidate, **kwargs)

    monkeypatch.setattr(route_module, "check_rep", counting)
    requirements = Requirements(language=True, territory=True)
    the_rule = rule(requirements=requirements, relaxation=(Criterion.LANGUAGE, Criterion.TERRITORY),
                    fallback=(FallbackStep(StepKind.RELAX), FallbackStep(StepKind.HOLDING)))  # fmt: skip
    reps = {1: rep(1, skills={}, territories=()), 2: rep(2, skills={"language:en": 1}, territories=())}
    decision = route_module.route(lead(), config(the_rule), {10: pool(10, [(1, 1), (2, 1)])}, reps, NOW)
    assert [step.kind for step in decision.steps] == [StepKind.PRIMARY, StepKind.RELAX, StepKind.RELAX]
    assert decision.steps[-1].chosen_rep_id in (1, 2)  # both fit once language and territory are relaxed
    assert sorted(calls) == [1, 2]  # three steps, each rep checked once
    assert [c.reasons for c in decision.steps[0].candidates] == [(Reason.LANGUAGE, Reason.OUTSIDE_TERRITORY), (Reason.OUTSIDE_TERRITORY,)]
    assert [c.reasons for c in decision.steps[1].candidates] == [(Reason.OUTSIDE_TERRITORY,), (Reason.OUTSIDE_TERRITORY,)]
