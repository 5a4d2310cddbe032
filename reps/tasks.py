"""django-q2 tasks for the inbox layer: each takes an id and calls one service; safe to run twice."""

from __future__ import annotations

import logging

from reps.notifications import emails_send_due, offer_created_notify, webhook_deliver as _webhook_deliver, webhooks_deliver_due

log = logging.getLogger(__name__)


def notify_offers_created(offer_ids: list[int]) -> int:
    """One task per routing batch: email each rep about their new offer. Each offer's email is
    built, stored and sent on its own; a failure is logged and kept for the retry sweep, and the
    loop goes on to the next offer."""
    sent = 0
    for offer_id in offer_ids:
        try:
            sent += offer_created_notify(offer_id=offer_id)
        except Exception:  # quarantine: one bad offer must not cost the others their emails
            log.exception("could not prepare the email for offer %s", offer_id)
    return sent


def webhook_deliver(delivery_id: int) -> str:
    return _webhook_deliver(delivery_id=delivery_id)


def webhooks_deliver() -> int:
    return webhooks_deliver_due()


def emails_send() -> int:
    return emails_send_due()
