"""django-q2 tasks for the inbox layer: each takes an id and calls one service; safe to run twice."""

from __future__ import annotations

from reps.notifications import offer_created_notify, webhook_deliver as _webhook_deliver, webhooks_deliver_due


def notify_offers_created(offer_ids: list[int]) -> int:
    """One task per routing batch: email each rep about their new offer."""
    return sum(offer_created_notify(offer_id=offer_id) for offer_id in offer_ids)


def webhook_deliver(delivery_id: int) -> str:
    return _webhook_deliver(delivery_id=delivery_id)


def webhooks_deliver() -> int:
    return webhooks_deliver_due()
