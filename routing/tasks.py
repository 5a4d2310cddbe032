"""django-q2 tasks. Tasks are wake-ups: each takes ids at most and calls one service; running
one twice is harmless, and losing one only delays a lead until the recovery sweep."""

from __future__ import annotations

import logging
from typing import Callable

from django.conf import settings

log = logging.getLogger(__name__)


# A queued routing wake-up older than this is presumed lost (broker restart, dead cluster), and
# the next lead queues a fresh one. The sweeper routes stale pending leads in any case.
WAKE_STALE_SECONDS = 5.0


def route_pending() -> int:
    from routing.services import leads_route_all_pending

    _wake_clear("route")  # first: a lead committed after this queues a new wake-up
    return leads_route_all_pending(batch=settings.LEADOPS_ROUTE_BATCH)


def enqueue_route_pending() -> None:
    """Queue one routing wake-up, unless one is already queued and not started (leads arriving
    together, an import's chunks, a burst of declines: one task, not one per lead).

    Correct because ``route_pending`` clears the mark before it selects leads: whoever finds the
    mark set committed its lead before that task's select, so the task routes it. Runs after
    the caller's commit (``transaction.on_commit``)."""
    from django_q.tasks import async_task

    if not _wake_claim("route"):
        return
    try:
        async_task("routing.tasks.route_pending", group="route", q_options={"ack_failure": True})
    except Exception:  # the broker being down must not lose the lead: recovery will route it
        _wake_clear("route")
        log.exception("could not enqueue routing wake-up; the recovery sweep will pick the lead up")


def _wake_claim(name: str) -> bool:
    """Mark a ``name`` wake-up as queued; False when one already is (and is not stale). On a
    database error, True: queue the task anyway.

    First a plain read: while a wake-up is queued (most of the time under a stream of leads) that
    is all, no write and no row lock. The upsert that sets the mark locks its row even when its
    WHERE leaves the row as it is (PostgreSQL docs, INSERT "ON CONFLICT DO UPDATE"), so every
    intake of a busy minute queued on that one row: 0.39 ms of PostgreSQL per lead, its costliest
    statement in the load test. The read is as safe as the upsert: the caller's lead committed
    before it, and a mark seen set is cleared by its task (``route_pending``, in a statement of
    its own) only after this read, before that task selects leads, so the task sees the lead."""
    import datetime as dt

    from django.db import DatabaseError, connection
    from django.utils import timezone

    from routing.models import RouterWake

    now = timezone.now()
    stale = connection.ops.adapt_datetimefield_value(now - dt.timedelta(seconds=WAKE_STALE_SECONDS))
    table = connection.ops.quote_name(RouterWake._meta.db_table)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {table} WHERE name = %s AND queued_at >= %s", [name, stale])
            if cursor.fetchone() is not None:
                return False
            # One statement (PostgreSQL, and SQLite 3.35+): insert the mark, or set it if it is
            # clear or stale; a row comes back only if this call set it.
            cursor.execute(
                f"INSERT INTO {table} (name, queued_at) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE "
                f"SET queued_at = excluded.queued_at WHERE {table}.queued_at IS NULL OR {table}.queued_at < %s "
                f"RETURNING name",
                [name, connection.ops.adapt_datetimefield_value(now), stale],
            )
            return cursor.fetchone() is not None
    except DatabaseError:
        log.exception("could not read the %s wake-up mark; queueing a wake-up anyway", name)
        return True


def _wake_clear(name: str) -> None:
    from django.db import DatabaseError

    from routing.models import RouterWake

    try:
        RouterWake.objects.filter(name=name).update(queued_at=None)
    except DatabaseError:  # the mark goes stale by itself after WAKE_STALE_SECONDS
        log.exception("could not clear the %s wake-up mark", name)


def retry_holding() -> int:
    from routing.services import holding_release

    return holding_release(limit=settings.LEADOPS_HOLDING_RETRY_BATCH)


def enqueue_retry_holding() -> None:
    from django_q.tasks import async_task

    try:
        async_task("routing.tasks.retry_holding", group="holding", q_options={"ack_failure": True})
    except Exception:  # the periodic sweep retries the holding pool anyway
        log.exception("could not enqueue a holding-pool retry; the sweeper will retry it")


def lead_import_continue(import_id: int) -> int | None:
    """Import the next slice of a CSV import (see routing.csv_import); safe to run twice."""
    from routing.csv_import import lead_import_process

    job = lead_import_process(import_id=import_id, slice_seconds=settings.LEADOPS_IMPORT_SLICE_SECONDS)
    return job.rows_done if job is not None else None


def retention_pass(**_ignored: object) -> int:
    """Hourly (schedule ``leadops-partitions``): the coming months' partitions, then the months
    past the retention settings archived and dropped (routing.services_retention.retention_run).
    Safe to run twice: a second pass while one runs stops at once. Returns months handled."""
    from routing.services_retention import retention_run

    return len(retention_run())


def sweep(**_ignored: object) -> dict[str, int]:
    """One pass of the safety net, the same function for `manage.py sweeper` (every second) and
    django-q2's every-minute schedule (`manage.py setup_schedules`, the second line of defence):

    1. withdraw open offers of reps whose absence or away time has begun (no event marks it);
    2. expire due offers (escalation) and route their leads on;
    3. route stale pending leads (lost wake-up, dead worker);
    4. age out idle accepted leads;
    5. wake held leads for changes that come without an event (directory edits, absences ending);
    6. retry held leads that are due (backoff timer passed or woken);
    7. deliver due webhooks;
    8. send due emails (first tries and retries of failed ones).
    9. resume CSV imports whose worker stopped reporting (routing.csv_import).
    Each step runs on its own: one that raises is logged and counted in ``failed`` and the
    others still run. Returns counts per step.
    """
    from reps.notifications import emails_send_due, webhooks_deliver_due
    from routing.services import (
        holding_release,
        holding_wake_for_changes,
        leads_age_out,
        leads_recover_stale,
        leads_route_all_pending,
        offers_expire_due,
    )

    def withdraw_for_absent() -> int:
        from reps.services import offers_withdraw_for_absent

        return offers_withdraw_for_absent()

    result: dict[str, int] = {"failed": 0}

    def step(name: str, fn: Callable[[], int]) -> int:
        try:
            result[name] = fn()
        except Exception:  # one failing step never stops the pass
            log.exception("sweep step %s failed", name)
            result[name] = 0
            result["failed"] += 1
        return result[name]

    step("withdrawn", withdraw_for_absent)
    expired = step("expired", offers_expire_due)
    step("routed", lambda: leads_route_all_pending(batch=settings.LEADOPS_ROUTE_BATCH) if expired else 0)
    step("recovered", lambda: leads_recover_stale(older_than_seconds=settings.LEADOPS_RECOVERY_AFTER_SECONDS))
    step("aged_out", lambda: leads_age_out(days=settings.LEADOPS_AGE_OUT_DAYS))
    step("woken", holding_wake_for_changes)
    step("released", lambda: holding_release(limit=settings.LEADOPS_HOLDING_RETRY_BATCH))
    step("webhooks", webhooks_deliver_due)
    step("emails", emails_send_due)
    step("imports_resumed", _imports_resume_stale)
    return result


def _imports_resume_stale() -> int:
    from routing.csv_import import lead_imports_discard_unmapped, lead_imports_resume_stale

    lead_imports_discard_unmapped()  # uploads abandoned at the mapping step (issue 20)
    return lead_imports_resume_stale()
