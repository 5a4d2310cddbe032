"""Writes owned by the dashboards: the equity rollup and replay jobs (never leads or offers)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any, Iterable

from django.db import transaction
from django.db.models import Count, F, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from routing.dashboards.models import EquityDaily, ReplayJob, RollupWatermark
from routing.engine import fairness
from routing.models import Decision

EQUITY = "equity"
ROLLUP_BATCH = 2000


def expected_shares(detail: dict[str, Any]) -> dict[int, float]:
    """Each eligible candidate's share of one offer decision, from ``decision_to_dict`` data.

    The chosen step is the one that picked a rep; its eligible candidates share the lead by
    ``routing.engine.fairness.shares`` (weight / eligible total weight), the very figure the
    engine's fairness account accrues, so the equity page's expected column is the engine's
    account. Backup/manager steps carry no weights: there the lead is shared equally (one
    candidate). Ineligible reps (absent, at cap, missing a skill...) expect 0 and are omitted.
    """
    chosen = next((s for s in reversed(detail.get("steps") or ()) if s.get("chosen_rep_id") is not None), None)
    if chosen is None:
        return {}
    eligible = [(int(c["rep_id"]), _int(c.get("weight"))) for c in chosen.get("candidates") or () if c.get("eligible")]
    return {rep_id: share for rep_id, share in fairness.shares(eligible).items() if share}


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


DIRECT_STEPS = frozenset({"account_owner", "sticky"})


def is_direct(detail: dict[str, Any]) -> bool:
    """An offer to the account's owner or the holder of an earlier lead that did not move the
    pool's fairness (LEADOPS_OWNER_COUNTS_TOWARD_FAIRNESS off): outside the rotation."""
    return detail.get("chosen_step") in DIRECT_STEPS and not detail.get("fairness_updates")


def _fold(rows: Iterable[tuple], acc: dict[tuple[int, dt.date, int], list]) -> int:
    """Add decisions (id, pool, rep, created_at, value, detail) into per-(pool, day, rep) deltas:
    ``[assigned, assigned value, expected, expected value, direct]``. Owner and sticky offers
    outside the rotation count only as ``direct`` (reported apart, never as drift)."""
    last = 0
    for dec_id, pool_id, rep_id, created_at, value, detail in rows:
        last = max(last, dec_id)
        if pool_id is None or rep_id is None:
            continue
        day = created_at.astimezone(dt.UTC).date()
        value = Decimal(value or 0)
        cell = acc[(pool_id, day, rep_id)]
        if is_direct(detail or {}):
            cell[4] += 1
            continue
        cell[0] += 1
        cell[1] += value
        for other, share in expected_shares(detail or {}).items():
            target = acc[(pool_id, day, other)]
            target[2] += share
            target[3] += share * float(value)
    return last


def equity_rollup(*, batch: int = ROLLUP_BATCH, max_batches: int | None = None) -> int:
    """Fold decisions newer than the watermark into EquityDaily. Returns decisions read.

    Idempotent and safe to run concurrently: each batch locks the watermark row, adds its
    deltas and advances the watermark in one transaction, so a decision is counted once.
    """
    total = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        read = _rollup_batch(batch=batch)
        total += read
        batches += 1
        if read < batch:
            break
    return total


@transaction.atomic
def _rollup_batch(*, batch: int) -> int:
    RollupWatermark.objects.get_or_create(name=EQUITY)
    mark = RollupWatermark.objects.select_for_update().get(name=EQUITY)
    rows = list(
        Decision.objects.filter(id__gt=mark.last_id)
        .order_by("id")
        .values_list("id", "pool_id", "chosen_rep_id", "created_at", "lead__value", "detail")[:batch]
    )
    if not rows:
        return 0
    offers = [r for r in rows if r[2] is not None]
    acc: dict[tuple[int, dt.date, int], list] = defaultdict(lambda: [0, Decimal(0), 0.0, 0.0, 0])
    _fold(offers, acc)
    if acc:
        _apply(acc)
    mark.last_id = rows[-1][0]
    mark.save(update_fields=["last_id", "updated_at"])
    return len(rows)


def _apply(acc: dict[tuple[int, dt.date, int], list]) -> None:
    """Add the deltas to the stored rows with one upsert (rows are locked first, so concurrent
    rollups of the same cells serialise on the watermark and the rows)."""
    pools = {k[0] for k in acc}
    days = {k[1] for k in acc}
    reps = {k[2] for k in acc}
    existing = {
        (row.pool_id, row.day, row.rep_id): row
        for row in EquityDaily.objects.select_for_update().filter(pool_id__in=pools, day__in=days, rep_id__in=reps)
    }
    rows = []
    for (pool_id, day, rep_id), (assigned, value, expected, expected_value, direct) in acc.items():
        old = existing.get((pool_id, day, rep_id))
        if old is not None:
            assigned += old.assigned
            value += old.assigned_value
            expected += old.expected
            expected_value += old.expected_value
            direct += old.direct
        rows.append(EquityDaily(pool_id=pool_id, day=day, rep_id=rep_id, assigned=assigned, assigned_value=value,
                                expected=expected, expected_value=expected_value, direct=direct))  # fmt: skip
    EquityDaily.objects.bulk_create(
        rows, batch_size=1000, update_conflicts=True, unique_fields=["pool", "day", "rep"],
        update_fields=["assigned", "assigned_value", "expected", "expected_value", "direct"],
    )  # fmt: skip


def equity_reconcile(*, days: int = 2, today: dt.date | None = None) -> int:
    """Refold any recent (pool, day) whose rollup count differs from the decisions behind it.

    An id watermark can step over a decision whose transaction committed after a later id
    (concurrent routing workers); this finds such days by a cheap count and rebuilds just those.
    Returns the number of (pool, day) cells rebuilt.
    """
    today = today or timezone.now().astimezone(dt.UTC).date()
    start = today - dt.timedelta(days=days - 1)
    with transaction.atomic():
        RollupWatermark.objects.get_or_create(name=EQUITY)
        mark = RollupWatermark.objects.select_for_update().get(name=EQUITY)
        offers = Decision.objects.filter(
            id__lte=mark.last_id, created_at__gte=dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC),
            chosen_rep__isnull=False, pool__isnull=False,
        )  # fmt: skip
        actual = {
            (row["pool_id"], row["day"]): row["n"]
            for row in offers.annotate(day=TruncDate("created_at", tzinfo=dt.UTC)).values("pool_id", "day").annotate(n=Count("id"))
        }
        rolled = {
            (row["pool_id"], row["day"]): row["n"]
            for row in EquityDaily.objects.filter(day__gte=start).values("pool_id", "day")
            .annotate(n=Sum(F("assigned") + F("direct")))
        }
        wrong = [key for key in set(actual) | set(rolled) if actual.get(key, 0) != rolled.get(key, 0)]
        for pool_id, day in wrong:
            EquityDaily.objects.filter(pool_id=pool_id, day=day).delete()
            begin = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
            rows = offers.filter(pool_id=pool_id, created_at__gte=begin, created_at__lt=begin + dt.timedelta(days=1)).values_list(
                "id", "pool_id", "chosen_rep_id", "created_at", "lead__value", "detail"
            )
            acc: dict[tuple[int, dt.date, int], list] = defaultdict(lambda: [0, Decimal(0), 0.0, 0.0, 0])
            _fold(rows.iterator(chunk_size=2000), acc)
            if acc:
                _apply(acc)
    return len(wrong)


def equity_rebuild() -> int:
    """Repair tool: drop the rollup and fold every decision again."""
    with transaction.atomic():
        EquityDaily.objects.all().delete()
        RollupWatermark.objects.update_or_create(name=EQUITY, defaults={"last_id": 0})
    return equity_rollup()


# --- replay jobs ----------------------------------------------------------------------------


def replay_create(*, start: dt.date, end: dt.date, pool_id: int | None, user: Any = None) -> ReplayJob:
    """Queue a what-if replay of the leads received between ``start`` and ``end`` (inclusive)."""
    from routing.dashboards.tasks import enqueue_replay

    job = ReplayJob(start=start, end=end, pool_id=pool_id, created_by=user if getattr(user, "pk", None) else None)
    job.full_clean()
    job.save()
    transaction.on_commit(lambda: enqueue_replay(job.id))
    return job


def replay_progress(*, job_id: int, done: int, total: int | None = None, status: str | None = None) -> None:
    fields: dict[str, Any] = {"done": done}
    if total is not None:
        fields["total"] = total
    if status is not None:
        fields["status"] = status
    ReplayJob.objects.filter(id=job_id).update(**fields)


def replay_finish(*, job_id: int, result: dict[str, Any] | None = None, error: str = "") -> None:
    extra = {} if error else {"done": F("total")}
    ReplayJob.objects.filter(id=job_id).update(
        **extra, status=ReplayJob.Status.FAILED if error else ReplayJob.Status.DONE,
        result=result or {}, error=error[:500], finished_at=timezone.now(),
    )  # fmt: skip
