from __future__ import annotations

import json
from decimal import Decimal

import pytest

from routing.engine import decision_to_dict, route
from routing.engine.types import (
    Criterion,
    Decision,
    FallbackStep,
    Op,
    Outcome,
    Reason,
    Requirements,
    StepKind,
    TerritoryFact,
)
from tests.routing.engine.builders import (
    NOW,
    by_id,
    cond,
    config,
    fallback,
    lead,
    pool,
    rep,
    rule,
    segment,
)

ES_LEAD = lead(7, language="es")
REQUIRES = Requirements(language=True, territory=True)

REPS = by_id(
    rep(1, name="Ana Ruiz"),  # fails language only
    rep(2, name="Bo Chen", max_open=3, open_count=3),  # language + open cap
    rep(3, name="Cy Diaz", skills={"language:es": 2}),  # eligible
    rep(5, name="Dee Backup", territories=(), tier=1),  # soft failures only
    rep(6, name="Eve Manager", territories=()),  # soft failures only
    rep(7, name="Fay Gone", active=False),
)
POOLS = by_id(
    pool(10, [(1, 1), (2, 1)], name="Spanish desk", manager_id=6),
    pool(20, [(3, 1)], name="Overflow"),
    pool(30, [(2, 1)], name="No manager"),
)

L, T = Criterion.LANGUAGE, Criterion.TERRITORY
RELAX, POOL, BACKUP, MANAGER, HOLDING = (
    StepKind.RELAX,
    StepKind.POOL,
    StepKind.BACKUP,
    StepKind.MANAGER,
    StepKind.HOLDING,
)
PRIMARY = StepKind.PRIMARY


def decide(
    pool_id: int = 10, *steps: FallbackStep, relaxation: tuple[Criterion, ...] = (), **kw: object
) -> Decision:
    the_rule = rule(
        pool_id=pool_id, requirements=REQUIRES, fallback=tuple(steps), relaxation=relaxation
    )
    return route(ES_LEAD, config(the_rule), POOLS, REPS, NOW, **kw)  # type: ignore[arg-type]


# (case, rule pool, fallback chain, relaxation, step kinds, chosen rep, chosen step)
FALLBACK_CASES = [
    ("holding", 10, (fallback(HOLDING),), (), [PRIMARY, HOLDING], None, HOLDING),
    (
        "relax in configured order",
        10,
        (fallback(RELAX), fallback(HOLDING)),
        (T, L),
        [PRIMARY, RELAX, RELAX],
        1,
        RELAX,
    ),
    (
        "relax exhausted then holding",
        10,
        (fallback(RELAX), fallback(HOLDING)),
        (T,),
        [PRIMARY, RELAX, HOLDING],
        None,
        HOLDING,
    ),
    ("next pool", 10, (fallback(POOL, 20),), (), [PRIMARY, POOL], 3, POOL),
    (
        "missing next pool then backup",
        10,
        (fallback(POOL, 99), fallback(BACKUP, 5)),
        (),
        [PRIMARY, POOL, BACKUP],
        5,
        BACKUP,
    ),
    (
        "backup with soft criteria relaxed",
        10,
        (fallback(BACKUP, 5),),
        (),
        [PRIMARY, BACKUP],
        5,
        BACKUP,
    ),
    (
        "inactive backup then manager",
        10,
        (fallback(BACKUP, 7), fallback(MANAGER)),
        (),
        [PRIMARY, BACKUP, MANAGER],
        6,
        MANAGER,
    ),
    (
        "unknown backup rep then holding",
        10,
        (fallback(BACKUP, 404), fallback(HOLDING)),
        (),
        [PRIMARY, BACKUP, HOLDING],
        None,
        HOLDING,
    ),
    (
        "pool without manager",
        30,
        (fallback(MANAGER), fallback(HOLDING)),
        (),
        [PRIMARY, MANAGER, HOLDING],
        None,
        HOLDING,
    ),
    (
        "missing primary pool",
        99,
        (fallback(MANAGER), fallback(POOL, 20)),
        (),
        [PRIMARY, MANAGER, POOL],
        3,
        POOL,
    ),
    (
        "chain exhausted parks the lead",
        10,
        (fallback(BACKUP, 7),),
        (),
        [PRIMARY, BACKUP],
        None,
        None,
    ),
    ("empty chain parks the lead", 10, (), (), [PRIMARY], None, None),
    (
        "steps after a pick are not taken",
        10,
        (fallback(POOL, 20), fallback(BACKUP, 5)),
        (),
        [PRIMARY, POOL],
        3,
        POOL,
    ),
]


@pytest.mark.parametrize(
    ("pool_id", "chain", "relaxation", "kinds", "chosen", "chosen_step"),
    [case[1:] for case in FALLBACK_CASES],
    ids=[case[0] for case in FALLBACK_CASES],
)
def test_it_walks_the_fallback_chain_in_order(
    pool_id: int,
    chain: tuple[FallbackStep, ...],
    relaxation: tuple[Criterion, ...],
    kinds: list[StepKind],
    chosen: int | None,
    chosen_step: StepKind | None,
) -> None:
    decision = decide(pool_id, *chain, relaxation=relaxation)
    assert [step.kind for step in decision.steps] == kinds
    assert decision.chosen_rep_id == chosen
    assert decision.chosen_step == chosen_step
    assert decision.outcome == (Outcome.OFFER if chosen is not None else Outcome.HOLDING)
    assert decision.steps[0].chosen_rep_id is None  # nobody in the primary step


def test_relax_steps_relax_one_more_criterion_each() -> None:
    decision = decide(10, fallback(RELAX), relaxation=(T, L, T))
    assert [step.relaxed for step in decision.steps] == [(), (T,), (T, L)]
    assert [step.pool_id for step in decision.steps] == [10, 10, 10]
    first_relax = decision.steps[1]
    assert {c.rep_id: c.reasons for c in first_relax.candidates} == {
        1: (Reason.LANGUAGE,),
        2: (Reason.AT_OPEN_CAP, Reason.LANGUAGE),
    }


def test_backup_and_manager_steps_check_only_hard_criteria() -> None:
    decision = decide(10, fallback(BACKUP, 7), fallback(MANAGER))
    backup, manager = decision.steps[1], decision.steps[2]
    assert backup.relaxed == tuple(Criterion) == manager.relaxed
    assert backup.candidates[0].reasons == (Reason.INACTIVE,)
    assert manager.pool_id == 10
    assert manager.candidates[0].eligible and manager.candidates[0].rep_id == 6


def test_a_missing_pool_is_an_empty_step_not_an_error() -> None:
    decision = decide(99, fallback(HOLDING))
    assert decision.steps[0].pool_id == 99
    assert decision.steps[0].candidates == ()
    assert decision.summary.startswith("Rule 'Rule 100' → pool #99: pool not found; ")


def test_a_missing_rep_is_an_ineligible_candidate() -> None:
    pools = by_id(pool(10, [(404, 2), (3, 1), (3, 5)], name="Desk"))
    decision = route(ES_LEAD, config(rule(requirements=REQUIRES)), pools, REPS, NOW)
    assert [(c.rep_id, c.name, c.reasons, c.weight) for c in decision.steps[0].candidates] == [
        (404, "Rep #404", (Reason.INACTIVE,), 2),
        (3, "Cy Diaz", (), 1),  # a duplicated member is evaluated once, first weight wins
    ]
    assert decision.chosen_rep_id == 3


def test_no_matching_rule_parks_the_lead_in_holding() -> None:
    the_rule = rule(conditions=(cond("country", Op.EQUALS, "FR"),))
    decision = route(ES_LEAD, config(the_rule), POOLS, REPS, NOW)
    assert decision.outcome == Outcome.HOLDING
    assert (decision.rule, decision.steps, decision.chosen_rep_id, decision.chosen_step) == (
        None,
        (),
        None,
        None,
    )
    assert decision.summary == "No rule matched the lead; parked in holding."


def test_it_offers_from_the_primary_pool_and_explains_why() -> None:
    reps = by_id(
        rep(1, name="Ana Ruiz", tier=3),
        *(rep(rep_id, name=f"Junior {rep_id}", tier=1) for rep_id in (2, 3, 4)),
        rep(5, name="Away", tier=3, active=False),
        rep(6, name="Ben Ode", tier=3),
    )
    pools = by_id(
        pool(
            10,
            [(i, w) for i, w in zip(range(1, 7), (3, 1, 1, 1, 1, 2), strict=True)],
            name="Senior licensed",
            fairness={6: -0.2},
        )
    )
    the_rule = rule(name="Insurance high value", requirements=Requirements(min_tier=3))
    decision = route(lead(), config(the_rule), pools, reps, NOW)
    assert decision.chosen_rep_id == 1
    assert decision.chosen_step == PRIMARY
    assert decision.summary == (
        "Rule 'Insurance high value' → pool 'Senior licensed': "
        "offered to Ana Ruiz (weighted fair, owed 0.60 leads); 4 of 6 reps skipped."
    )
    # Eligible weights 3 and 2: shares 0.6 and 0.4 of the lead; Ana then gives one lead back.
    assert decision.fairness_updates == {10: pytest.approx({1: -0.4, 6: 0.2})}
    scores = {c.rep_id: c.score for c in decision.steps[0].candidates}
    assert scores == {1: pytest.approx(0.6), 2: None, 3: None, 4: None, 5: None, 6: pytest.approx(0.2)}


@pytest.mark.parametrize(
    ("chain", "relaxation", "fragment"),
    [
        (
            (fallback(HOLDING),),
            (),
            "nobody eligible (2 reps; does not speak the lead's language: 2, "
            "at open-lead cap: 1); parked in holding.",
        ),
        (
            (fallback(RELAX),),
            (L,),
            "; after relaxing language, offered to Ana Ruiz (weighted fair, owed 1.00 leads); "
            "1 of 2 reps skipped.",
        ),
        ((fallback(POOL, 20),), (), "; fell back to pool 'Overflow': offered to Cy Diaz"),
        ((fallback(BACKUP, 5),), (), "; offered to backup rep Dee Backup."),
        (
            (fallback(BACKUP, 7), fallback(MANAGER)),
            (),
            "; offered to pool manager Eve Manager.",
        ),
        (
            (fallback(BACKUP, 7), fallback(HOLDING)),
            (),
            "1 fallback step found nobody; parked in holding.",
        ),
        ((fallback(BACKUP, 7),), (), "fallback chain exhausted after 1 step; parked in holding."),
        ((), (), "; no fallback configured; parked in holding."),
    ],
)
def test_the_summary_names_the_fallback_taken(
    chain: tuple[FallbackStep, ...], relaxation: tuple[Criterion, ...], fragment: str
) -> None:
    decision = decide(10, *chain, relaxation=relaxation)
    assert decision.summary.startswith("Rule 'Rule 100' → pool 'Spanish desk': ")
    assert fragment in decision.summary


def test_fairness_updates_cover_only_the_pool_that_picked() -> None:
    assert decide(10, fallback(POOL, 20)).fairness_updates == {20: {3: 0.0}}
    assert decide(10, fallback(BACKUP, 5)).fairness_updates == {}
    assert decide(10, fallback(HOLDING)).fairness_updates == {}


def test_an_escalation_retries_the_pool_without_reps_who_declined() -> None:
    pools = by_id(pool(10, [(3, 1), (6, 1)], name="Desk"))
    the_rule = rule(requirements=Requirements(), fallback=(fallback(HOLDING),))
    decision = route(ES_LEAD, config(the_rule), pools, REPS, NOW, frozenset({3}), escalation=True)
    assert decision.steps[0].kind == PRIMARY
    assert decision.steps[0].candidates[0].reasons == (Reason.ALREADY_DECLINED,)
    assert decision.chosen_rep_id == 6


def test_an_escalation_skips_pool_and_relax_steps_when_the_rule_says_not_to_reroute() -> None:
    pools = by_id(pool(10, [(3, 1)], name="Desk", manager_id=6))
    the_rule = rule(
        requirements=REQUIRES,
        reroute_on_escalation=False,
        relaxation=(L, T),
        fallback=(fallback(RELAX), fallback(BACKUP, 3), fallback(MANAGER)),
    )
    decision = route(ES_LEAD, config(the_rule), pools, REPS, NOW, frozenset({3}), escalation=True)
    assert [step.kind for step in decision.steps] == [BACKUP, MANAGER]
    assert decision.steps[0].candidates[0].reasons == (Reason.ALREADY_DECLINED,)
    assert decision.chosen_rep_id == 6
    assert "(escalation: pool not retried)" in decision.summary


def test_an_escalation_with_nothing_but_the_pool_to_retry_waits_in_holding() -> None:
    the_rule = rule(reroute_on_escalation=False, relaxation=(L,), fallback=(fallback(RELAX),))
    decision = route(ES_LEAD, config(the_rule), POOLS, REPS, NOW, frozenset({1}), escalation=True)
    assert (decision.steps, decision.outcome, decision.chosen_step) == ((), Outcome.HOLDING, None)
    assert decision.summary == (
        "Rule 'Rule 100' → pool 'Spanish desk' (escalation: pool not retried): "
        "no fallback step to take; parked in holding."
    )


def test_a_fresh_lead_ignores_reroute_on_escalation() -> None:
    the_rule = rule(pool_id=20, reroute_on_escalation=False)
    assert route(ES_LEAD, config(the_rule), POOLS, REPS, NOW).chosen_step == PRIMARY


def test_high_value_raises_the_tier_floor_and_is_recorded() -> None:
    the_rule = rule(
        pool_id=20, value_threshold=Decimal("50000"), high_value_min_tier=3, fallback=()
    )
    low = route(lead(value=Decimal("100")), config(the_rule), POOLS, REPS, NOW)
    high = route(lead(value=Decimal("50000")), config(the_rule), POOLS, REPS, NOW)
    assert (low.high_value, low.chosen_rep_id) == (False, 3)
    assert (high.high_value, high.chosen_rep_id) == (True, None)
    assert high.steps[0].candidates[0].reasons == (Reason.TIER_TOO_LOW,)


def test_it_routes_by_segment_and_records_it() -> None:
    hot = segment(1, "hot", 1, cond("intent", Op.EQUALS, "high"))
    hot_rule = rule(1, pool_id=20, priority=1, conditions=(cond("segment", Op.EQUALS, "hot"),))
    other = rule(2, pool_id=30, priority=2)
    snapshot = config(hot_rule, other, segments=[hot], version=42)
    decision = route(lead(intent="high"), snapshot, POOLS, REPS, NOW)
    assert (decision.segment, decision.rule, decision.config_version) == (hot, hot_rule, 42)
    assert route(lead(intent="low"), snapshot, POOLS, REPS, NOW).rule == other


def test_decision_to_dict_is_plain_json() -> None:
    the_rule = rule(
        requirements=REQUIRES,
        value_threshold=Decimal("50000.00"),
        conditions=(cond("value", Op.BETWEEN, [Decimal("1"), 10**6]),),
        relaxation=(L,),
        fallback=(fallback(RELAX),),
    )
    decision = route(ES_LEAD, config(the_rule), POOLS, REPS, NOW)
    data = decision_to_dict(decision)
    assert json.loads(json.dumps(data)) == data
    assert data["outcome"] == "offer"
    assert data["chosen_step"] == "relax"
    assert data["rule"]["value_threshold"] == "50000.00"
    assert data["rule"]["conditions"][0] == {
        "field": "value",
        "op": "between",
        "value": ["1", 1000000],
    }
    assert data["steps"][0]["candidates"][1]["reasons"] == ["at_open_cap", "language"]
    assert data["steps"][1]["relaxed"] == ["language"]
    assert data["fairness_updates"] == {"10": {"1": 0.0}}
    assert data["summary"] == decision.summary


def test_decision_to_dict_renders_datetimes_as_iso_8601() -> None:
    from routing.engine.explain import to_jsonable

    assert to_jsonable({"at": NOW, "day": NOW.date(), "ids": frozenset({2, 1})}) == {
        "at": "2025-03-05T15:00:00+00:00",
        "day": "2025-03-05",
        "ids": [1, 2],
    }


def test_routing_does_not_mutate_its_inputs() -> None:
    fairness = {1: 0.5}
    pools = by_id(pool(10, [(1, 1), (3, 1)], fairness=fairness))
    fields = dict(ES_LEAD.fields)
    route(ES_LEAD, config(rule()), pools, REPS, NOW)
    assert fairness == {1: 0.5}
    assert dict(ES_LEAD.fields) == fields
    assert "segment" not in ES_LEAD.fields


def test_territory_requirement_uses_the_lead_location() -> None:
    reps = by_id(
        rep(1, territories=(TerritoryFact("US", "NY"),)),
        rep(2, territories=(TerritoryFact("US", "CA"),)),
    )
    pools = by_id(pool(10, [(1, 1), (2, 1)]))
    decision = route(
        lead(), config(rule(requirements=Requirements(territory=True))), pools, reps, NOW
    )
    assert decision.chosen_rep_id == 2


@pytest.mark.parametrize("args", [
    (7, "Ana", True, (), 3, 0.25), (8, "Bo", False, (Reason.AT_OPEN_CAP, Reason.LANGUAGE), 1, None), (9, "", False, (), 0, None),
])  # fmt: skip
def test_a_candidate_built_fast_is_the_frozen_dataclass(args: tuple) -> None:
    """routing.engine.types.candidate_result (the pool step's hot path) gives what the class does."""
    import dataclasses

    from routing.engine.types import CandidateResult, candidate_result

    fast, plain = candidate_result(*args), CandidateResult(*args)
    assert type(fast) is CandidateResult
    assert fast == plain and hash(fast) == hash(plain) and repr(fast) == repr(plain)
    assert dataclasses.asdict(fast) == dataclasses.asdict(plain)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.eligible = not fast.eligible  # type: ignore[misc]
