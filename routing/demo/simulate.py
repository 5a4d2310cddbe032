"""Simulated reps for the demo: they accept, decline and close their leads at a human pace, so
the demo's dashboards look like a working team (issue 15: without them the SLA page read "1 of
266 accepted" and the holding pool only grew).

Every action goes through the same services as the inbox (``routing.services``): a simulated
accept is exactly a rep's click. What each rep does with an offer or a lead is decided once per
offer or lead from a seeded random generator (``plan_offer``, ``plan_lead``: pure), and acted on
when its moment comes (``simulate_tick``), so a restarted simulator carries on with the same plan.
The demo's rep login (``DEMO_LOGINS``: ana) is never simulated: her inbox is yours to try. The
manager is: pool managers and backup reps receive the leads nobody else can take.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass

from django.utils import timezone

from routing.demo.data import DEMO_LOGINS
from routing.models import Lead, Offer
from routing.services import OfferError, lead_close, lead_hand_back, offer_accept, offer_decline

log = logging.getLogger("leadops.demo")


@dataclass(frozen=True)
class Pace:
    """How simulated reps behave; seconds are wall-clock seconds at speed 1."""

    accept_after: tuple[float, float] = (15.0, 120.0)  # an offer is read and acted on within 2 minutes
    decline_share: float = 0.12  # of offers: declined with a reason
    ignore_share: float = 0.04  # of offers: left to expire (someone is on the phone)
    work_for: tuple[float, float] = (180.0, 1200.0)  # an accepted lead is worked for 3 to 20 minutes
    convert_share: float = 0.35  # of worked leads: converted
    hand_back_share: float = 0.05  # of worked leads: handed back; the rest are closed lost


@dataclass(frozen=True)
class Plan:
    """What a simulated rep will do (``action``) after ``after`` seconds (at speed 1)."""

    action: str  # accept | decline | ignore | converted | closed_lost | hand_back
    after: float
    reason: str = ""


DECLINE_REASONS = [value for value in Offer.DeclineReason.values if value != Offer.DeclineReason.OTHER]


def plan_offer(offer_id: int, *, pace: Pace = Pace(), seed: int = 0) -> Plan:
    """What the rep does with offer ``offer_id``: the same answer every time for the same seed."""
    rng = random.Random(f"offer:{seed}:{offer_id}")
    roll, after = rng.random(), rng.uniform(*pace.accept_after)
    if roll < pace.ignore_share:
        return Plan("ignore", after)
    if roll < pace.ignore_share + pace.decline_share:
        return Plan("decline", after, rng.choice(DECLINE_REASONS))
    return Plan("accept", after)


def plan_lead(lead_id: int, *, pace: Pace = Pace(), seed: int = 0) -> Plan:
    """How an accepted lead ends, and after how long it is worked."""
    rng = random.Random(f"lead:{seed}:{lead_id}")
    roll, after = rng.random(), rng.uniform(*pace.work_for)
    if roll < pace.hand_back_share:
        return Plan("hand_back", after)
    if roll < pace.hand_back_share + pace.convert_share:
        return Plan(Lead.Status.CONVERTED.value, after)
    return Plan(Lead.Status.CLOSED_LOST.value, after)


def human_usernames() -> set[str]:
    """The demo logins that act only when a person clicks (the rep login)."""
    return {username for username, (role, _password) in DEMO_LOGINS.items() if role == "Rep"}


def _due(started: dt.datetime | None, plan: Plan, *, now: dt.datetime, speed: float) -> bool:
    return started is not None and now >= started + dt.timedelta(seconds=plan.after / speed)


def simulate_tick(*, now: dt.datetime | None = None, speed: float = 1.0, pace: Pace = Pace(), seed: int = 0,
                  limit: int = 200) -> dict[str, int]:  # fmt: skip
    """Act for every simulated rep whose moment has come; returns how many of each action.

    Args:
        now: the current time (aware); defaults to now.
        speed: how much faster than a human (2.0 = delays halved); must be > 0.
        limit: at most this many offers and this many leads looked at per tick (oldest first).

    One failing action (the offer expired or was withdrawn meanwhile) is logged and skipped; the
    others go on. Raises ValueError for a speed that is not positive.
    """
    if speed <= 0:
        raise ValueError("speed must be more than 0")
    now = now or timezone.now()
    humans = human_usernames()
    done = {"accept": 0, "decline": 0, "converted": 0, "closed_lost": 0, "hand_back": 0, "failed": 0}
    offers = (
        Offer.objects.filter(status=Offer.Status.OPEN, deadline__gt=now, rep__user__isnull=False)
        .exclude(rep__user__username__in=humans)
        .select_related("rep")
        .order_by("offered_at", "id")[:limit]
    )
    for offer in offers:
        plan = plan_offer(offer.id, pace=pace, seed=seed)
        if plan.action == "ignore" or not _due(offer.offered_at, plan, now=now, speed=speed):
            continue
        try:
            if plan.action == "accept":
                offer_accept(offer_id=offer.id, rep=offer.rep, now=now)
            else:
                offer_decline(offer_id=offer.id, rep=offer.rep, reason=plan.reason, note="(demo rep)", now=now)
            done[plan.action] += 1
        except OfferError as exc:  # expired, withdrawn or the rep went unavailable meanwhile
            done["failed"] += 1
            log.info("demo rep could not %s offer %s: %s", plan.action, offer.id, exc)
    leads = (
        Lead.objects.filter(status=Lead.Status.ACCEPTED, owner__user__isnull=False)
        .exclude(owner__user__username__in=humans)
        .select_related("owner")
        .order_by("accepted_at", "id")[:limit]
    )
    for lead in leads:
        plan = plan_lead(lead.id, pace=pace, seed=seed)
        if not _due(lead.accepted_at, plan, now=now, speed=speed):
            continue
        try:
            if plan.action == "hand_back":
                lead_hand_back(lead_id=lead.id, rep=lead.owner, note="(demo rep) not a fit after the first call", now=now)
            else:
                lead_close(lead_id=lead.id, rep=lead.owner, outcome=plan.action, now=now)
            done[plan.action] += 1
        except OfferError as exc:
            done["failed"] += 1
            log.info("demo rep could not %s lead %s: %s", plan.action, lead.id, exc)
    return done
