"""Builders for dashboard tests: decision rows in the engine's exact shape, and a small world."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Sequence

from routing import engine
from routing.engine.types import CandidateResult, Outcome, Reason, StepKind, StepResult
from routing.engine.types import Decision as EngineDecision
from routing.models import Decision, Lead
from tests.factories import LeadFactory


def cand(rep, weight: int = 1, *reasons: Reason) -> CandidateResult:  # noqa: ANN001
    return CandidateResult(rep.id, rep.display_name, eligible=not reasons, reasons=tuple(reasons), weight=weight)


def make_decision(
    *, pool, chosen, candidates: Sequence[CandidateResult], at: dt.datetime,  # noqa: ANN001
    value: Decimal | int = 1000, lead: Lead | None = None, kind: StepKind = StepKind.PRIMARY,
) -> Decision:  # fmt: skip
    """An offer Decision row whose ``detail`` is what ``engine.decision_to_dict`` writes."""
    lead = lead or LeadFactory(value=Decimal(value), received_at=at, status=Lead.Status.OFFERED)
    step = StepResult(kind, pool.id, (), tuple(candidates), chosen_rep_id=chosen.id)
    decision = EngineDecision(
        lead_id=lead.id, config_version=1, segment=None, rule=None, high_value=False, steps=(step,),
        outcome=Outcome.OFFER, chosen_rep_id=chosen.id, chosen_step=kind, fairness_updates={},
        summary=f"offered to {chosen.display_name}",
    )  # fmt: skip
    return Decision.objects.create(
        lead=lead, created_at=at, pool=pool, outcome="offer", step=kind.value, chosen_rep=chosen,
        summary=decision.summary, detail=engine.decision_to_dict(decision),
    )  # fmt: skip


def noon(days_ago: int) -> dt.datetime:
    today = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days_ago)
    return dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)
