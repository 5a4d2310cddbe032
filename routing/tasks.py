"""django-q2 tasks. Tasks are wake-ups: each takes ids at most and calls one service; running
one twice is harmless, and losing one only delays a lead until the recovery sweep."""

from __future__ import annotations

import logging

from django.conf import settings

log = logging.getLogger(__name__)


def route_pending() -> int:
    from routing.services import leads_route_all_pending

    return leads_route_all_pending(batch=settings.LEADOPS_ROUTE_BATCH)


def enqueue_route_pending() -> None:
    from django_q.tasks import async_task

    try:
        async_task("routing.tasks.route_pending", group="route", q_options={"ack_failure": True})
    except Exception:  # the broker being down must not lose the lead: recovery will route it
        log.exception("could not enqueue routing wake-up; the recovery sweep will pick the lead up")


def retry_holding() -> int:
    from routing.services import holding_release

    return holding_release(limit=settings.LEADOPS_HOLDING_RETRY_BATCH)


def enqueue_retry_holding() -> None:
    from django_q.tasks import async_task

    try:
        async_task("routing.tasks.retry_holding", group="holding", q_options={"ack_failure": True})
    except Exception:  # the periodic sweep retries the holding pool anyway
        log.exception("could not enqueue a holding-pool retry; the sweeper will retry it")


def sweep(*, release_holding: bool = True) -> dict[str, int]:
    """One pass of the safety net: expire due offers (escalation), recover stale pending leads,
    age out idle accepted leads and (when asked) let holding leads retry, since a rep coming
    back from an absence frees capacity without any event. `manage.py sweeper` runs this every
    second; django-q2's schedule runs it every minute as a second line of defence."""
    from routing.services import (
        holding_release,
        leads_age_out,
        leads_recover_stale,
        leads_route_all_pending,
        offers_expire_due,
    )

    expired = offers_expire_due()
    routed = leads_route_all_pending(batch=settings.LEADOPS_ROUTE_BATCH) if expired else 0
    recovered = leads_recover_stale(older_than_seconds=settings.LEADOPS_RECOVERY_AFTER_SECONDS)
    aged = leads_age_out(days=settings.LEADOPS_AGE_OUT_DAYS)
    released = holding_release(limit=100) if release_holding else 0
    from reps.notifications import webhooks_deliver_due  # inbox layer (issue 4): signed CRM webhooks

    webhooks = webhooks_deliver_due()
    return {"expired": expired, "routed": routed, "recovered": recovered, "aged_out": aged, "released": released,
            "webhooks": webhooks}
