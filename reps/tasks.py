"""django-q2 tasks for the inbox layer: each takes an id and calls one service; safe to run twice."""

from __future__ import annotations

from reps.notifications import emails_send_due, offers_created_notify, webhook_deliver as _webhook_deliver, webhooks_deliver_due


def notify_offers_created(offer_ids: list[int]) -> int:
    """One task per routing batch: email each rep about their new offer, with a fixed number of
    queries and one mail connection for the batch. An offer whose email cannot be built, or a
    message that cannot be sent, is logged (and the message kept for the retry sweep) while the
    others go on; running the task twice sends each email once."""
    return offers_created_notify(offer_ids=offer_ids)


def webhook_deliver(delivery_id: int) -> str:
    return _webhook_deliver(delivery_id=delivery_id)


def webhooks_deliver() -> int:
    return webhooks_deliver_due()


def emails_send() -> int:
    return emails_send_due()
