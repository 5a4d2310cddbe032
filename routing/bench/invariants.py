"""What must hold after any routing run, however it was interrupted. Used by the fault-injection
bench and by tests/proof. Returns a list of violations (empty means all hold)."""

from __future__ import annotations

from collections import Counter

from django.db.models import Count, F
from django.utils import timezone

from reps.models import FairnessState, Rep, RepLoad
from routing.models import Decision, Lead, Offer
from routing.snapshots import capacity_counts


def check(*, expected_leads: int) -> list[str]:
    problems: list[str] = []
    total = Lead.objects.count()
    if total != expected_leads:
        problems.append(f"leads lost or duplicated: {total} stored, {expected_leads} submitted")
    pending = Lead.objects.filter(status=Lead.Status.PENDING).count()
    if pending:
        problems.append(f"{pending} leads never routed")
    # Assigned twice: more than one offer for a lead (no declines/expiries happen in these runs).
    twice = Offer.objects.values("lead_id").annotate(n=Count("id")).filter(n__gt=1).count()
    if twice:
        problems.append(f"{twice} leads offered more than once")
    open_twice = Offer.objects.filter(status=Offer.Status.OPEN).values("lead_id").annotate(n=Count("id")).filter(n__gt=1)
    if open_twice.exists():
        problems.append("a lead has two open offers")
    mismatched = Lead.objects.filter(status=Lead.Status.OFFERED).exclude(
        offers__status=Offer.Status.OPEN, offers__rep_id=F("owner_id")
    ).count()
    if mismatched:
        problems.append(f"{mismatched} offered leads without a matching open offer")
    quarantined = Lead.objects.filter(status=Lead.Status.QUARANTINED).count()
    if quarantined:
        problems.append(f"{quarantined} leads quarantined (routing them raised; see their quarantine_error)")
    # A decision for every routed lead, and exactly one per routing.
    routed = Lead.objects.exclude(status__in=(Lead.Status.PENDING, Lead.Status.QUARANTINED))
    undecided = routed.filter(decisions__isnull=True).count()
    if undecided:
        problems.append(f"{undecided} routed leads without a decision")
    per_lead = Counter(Decision.objects.values_list("lead_id", flat=True))
    extra = sum(1 for n in per_lead.values() if n > 1)
    if extra:
        problems.append(f"{extra} leads with more than one decision (a routing was half-applied or repeated)")
    # Caps and counters.
    now = timezone.now()
    open_by_rep = Counter(
        Lead.objects.filter(status__in=Lead.OPEN_STATUSES).values_list("owner_id", flat=True)
    )
    offers_by_rep = Counter(Offer.objects.values_list("rep_id", flat=True))
    loads = {load.rep_id: load for load in RepLoad.objects.all()}
    for rep in Rep.objects.all():
        open_count = open_by_rep.get(rep.id, 0)
        if rep.max_open is not None and open_count > rep.max_open:
            problems.append(f"rep {rep.id} holds {open_count} open leads over its cap {rep.max_open}")
        if rep.max_daily is not None and offers_by_rep.get(rep.id, 0) > rep.max_daily:
            problems.append(f"rep {rep.id} got {offers_by_rep[rep.id]} leads today over its cap {rep.max_daily}")
        load = loads.get(rep.id)
        counted = load.open_count if load else 0
        if counted != open_count:
            problems.append(f"rep {rep.id} RepLoad.open_count {counted} != {open_count} open leads")
        daily = capacity_counts(load=load, tz_name=rep.timezone, now=now).today
        if daily != offers_by_rep.get(rep.id, 0):
            problems.append(f"rep {rep.id} RepLoad.daily_count {daily} != {offers_by_rep.get(rep.id, 0)} offers")
    # Every offer in these runs comes from a pool step, which credits fairness exactly once.
    assigned = sum(FairnessState.objects.values_list("assigned", flat=True))
    offers = Offer.objects.count()
    if assigned != offers:
        problems.append(f"fairness state lost: {assigned} credited assignments for {offers} offers")
    return problems
