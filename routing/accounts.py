"""Accounts at fetch: each lead's account match, its sticky holder and its duplicate, read with a
fixed number of queries per routing batch and handed to the engine on ``LeadFacts`` (reads only;
writes are ``routing.services``).

1. The match index (``routing.matching.AccountIndex``) is built once per change of the account
   tables (one fingerprint query per batch; a rebuild reads every account and domain once) and
   kept per process, like the routing directory.
2. The matched accounts' facts (owner, tier, status...) are read fresh for each batch (one query).
3. Sticky: the latest earlier lead of the same person (email, any case) or, failing that, the
   same account, received within ``LEADOPS_STICKY_WINDOW_DAYS`` and held by a rep (offered,
   accepted or converted) gives its rep (one query).
4. Duplicates: a lead whose email matches an open lead (waiting, offered or accepted) outside
   the batch, or an earlier lead of the same batch, is that lead's duplicate (one query).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Q
from django.db.models.functions import Lower

from routing.engine.accounts import with_account
from routing.engine.types import AccountFacts, AccountMatch, LeadFacts, StickyHint
from routing.matching import AccountIndex, AccountRecord
from routing.models import Account, AccountDomain, Lead

STICKY_STATUSES = (Lead.Status.OFFERED, Lead.Status.ACCEPTED, Lead.Status.CONVERTED)
OPEN_FOR_DUPLICATES = (Lead.Status.PENDING, Lead.Status.HOLDING, Lead.Status.OFFERED, Lead.Status.ACCEPTED)

_LOCK = threading.Lock()
_CACHE: dict[str, tuple[tuple, AccountIndex]] = {}


def _fingerprint() -> tuple:
    accounts = Account.objects.aggregate(n=Count("id"), changed=Max("updated_at"), top=Max("id"))
    domains = AccountDomain.objects.aggregate(n=Count("id"), top=Max("id"))
    return (connection.alias, connection.settings_dict["NAME"], accounts["n"], accounts["changed"], accounts["top"],
            domains["n"], domains["top"], settings.LEADOPS_ACCOUNT_FUZZY_THRESHOLD)  # fmt: skip


def account_index() -> AccountIndex:
    """The match index of the current accounts: two aggregate queries, and a rebuild (two more)
    when any account or domain was added, changed or removed since the last call."""
    fingerprint = _fingerprint()
    with _LOCK:
        cached = _CACHE.get("index")
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
    domains: dict[int, list[str]] = {}
    for account_id, domain in AccountDomain.objects.values_list("account_id", "domain").iterator(chunk_size=10_000):
        domains.setdefault(account_id, []).append(domain)
    records = [AccountRecord(id=account_id, name=name, domains=tuple(domains.get(account_id, ())))
               for account_id, name in Account.objects.values_list("id", "name").iterator(chunk_size=10_000)]  # fmt: skip
    index = AccountIndex(records, fuzzy_threshold=settings.LEADOPS_ACCOUNT_FUZZY_THRESHOLD)
    with _LOCK:
        _CACHE["index"] = (fingerprint, index)
    return index


def account_facts(account_ids: Iterable[int]) -> dict[int, AccountFacts]:
    """Accounts by id as the engine reads them (one query)."""
    ids = set(account_ids)
    if not ids:
        return {}
    rows = Account.objects.filter(id__in=ids).values_list(
        "id", "name", "owner_id", "tier", "status", "territory", "external_id")
    return {row[0]: AccountFacts(*row) for row in rows}


def _email_key(email: Any) -> str:
    return email.strip().lower() if isinstance(email, str) and "@" in email else ""


@dataclasses.dataclass(frozen=True)
class LeadLinks:
    """What fetch found for a batch: facts with account and sticky hint, by lead id, and the
    open lead each duplicate belongs to."""

    facts: dict[int, LeadFacts]
    duplicates: dict[int, Lead]  # duplicate lead id -> the open lead it repeats
    errors: dict[int, str]  # lead id -> why its match failed (quarantined, the others go on)


def leads_link(leads: Sequence[Lead], facts: dict[int, LeadFacts], *, now: dt.datetime) -> LeadLinks:
    """Match each lead to its account, find its sticky holder and whether it repeats an open
    lead (module docstring): a fixed number of queries for the whole batch."""
    from routing.batch import error_text

    index = account_index()
    matches: dict[int, tuple[int, Any]] = {}
    errors: dict[int, str] = {}
    for lead in leads:
        if lead.id not in facts:
            continue
        try:
            found = index.match(email=lead.email, website=lead.website, company=lead.company)
        except Exception as exc:  # one lead's odd text must not stop the batch
            errors[lead.id] = error_text(exc)
            continue
        if found is not None:
            matches[lead.id] = (found.account_id, found)
    accounts = account_facts(account_id for account_id, _ in matches.values())

    emails = {lead.id: _email_key(lead.email) for lead in leads if lead.id in facts}
    batch_ids = [lead.id for lead in leads]
    duplicates = _duplicates(leads, emails, batch_ids)
    sticky = _sticky(leads, emails, matches, batch_ids, now=now)

    out: dict[int, LeadFacts] = {}
    for lead in leads:
        if lead.id not in facts or lead.id in errors:
            continue
        match = None
        if lead.id in matches:
            account_id, found = matches[lead.id]
            account = accounts.get(account_id)
            if account is not None:
                match = AccountMatch(account=account, method=found.method, score=found.score, evidence=found.evidence)
        out[lead.id] = with_account(facts[lead.id], match=match, sticky=sticky.get(lead.id))
    return LeadLinks(facts=out, duplicates=duplicates, errors=errors)


def _duplicates(leads: Sequence[Lead], emails: dict[int, str], batch_ids: list[int]) -> dict[int, Lead]:
    wanted = {e for e in emails.values() if e}
    if not wanted:
        return {}
    open_leads: dict[str, Lead] = {}
    for other in (Lead.objects.annotate(email_key=Lower("email"))
                  .filter(email_key__in=wanted, status__in=OPEN_FOR_DUPLICATES).exclude(id__in=batch_ids)
                  .select_related("owner").order_by("received_at", "id")):  # fmt: skip
        open_leads.setdefault(other.email_key, other)
    return link_duplicates(leads, key_of=lambda lead: emails.get(lead.id, ""), open_leads=open_leads)


def link_duplicates(leads: Iterable[Any], *, key_of: Any, open_leads: dict[str, Any]) -> dict[int, Any]:
    """Pure: which of ``leads`` (objects with ``id``, ``received_at``, ``route_attempts``) repeat
    an open lead. ``key_of(lead)`` is its email key (blank: never a duplicate); ``open_leads``
    the open lead outside the batch per key. In arrival order, a new lead (never decided) whose
    key has an open lead is that lead's duplicate; otherwise it becomes the open lead that later
    leads of the batch with its key repeat. So one person gets at most one routed lead per batch."""
    open_leads = dict(open_leads)
    found: dict[int, Any] = {}
    for lead in sorted(leads, key=lambda lead: (lead.received_at, lead.id)):
        key = key_of(lead)
        if not key:
            continue
        original = open_leads.get(key)
        if original is not None and not lead.route_attempts:  # a held or escalated lead is not new
            found[lead.id] = original
        else:
            open_leads.setdefault(key, lead)
    return found


def _sticky(leads: Sequence[Lead], emails: dict[int, str], matches: dict[int, tuple[int, Any]],
            batch_ids: list[int], *, now: dt.datetime) -> dict[int, StickyHint]:  # fmt: skip
    days = settings.LEADOPS_STICKY_WINDOW_DAYS
    wanted_emails = {e for e in emails.values() if e}
    wanted_accounts = {account_id for account_id, _ in matches.values()}
    if days <= 0 or not (wanted_emails or wanted_accounts):
        return {}
    since = now - dt.timedelta(days=days)
    rows = (Lead.objects.annotate(email_key=Lower("email"))
            .filter(Q(email_key__in=wanted_emails) | Q(account_id__in=wanted_accounts),
                    received_at__gte=since, status__in=STICKY_STATUSES, owner_id__isnull=False)
            .exclude(id__in=batch_ids).order_by("-received_at", "-id")
            .values_list("id", "email_key", "account_id", "owner_id", "received_at"))  # fmt: skip
    by_email: dict[str, tuple[int, int, dt.datetime]] = {}
    by_account: dict[int, tuple[int, int, dt.datetime]] = {}
    for lead_id, email_key, account_id, owner_id, received in rows:
        if email_key:
            by_email.setdefault(email_key, (lead_id, owner_id, received))
        if account_id:
            by_account.setdefault(account_id, (lead_id, owner_id, received))
    hints: dict[int, StickyHint] = {}
    for lead in leads:
        earlier = by_email.get(emails.get(lead.id) or "")
        basis = "person"
        if earlier is None and lead.id in matches:
            earlier, basis = by_account.get(matches[lead.id][0]), "account"
        if earlier is not None and earlier[2] <= lead.received_at:
            hints[lead.id] = StickyHint(rep_id=earlier[1], lead_id=earlier[0], basis=basis)
    return hints


def lead_links_one(data: dict[str, Any], facts: LeadFacts) -> LeadFacts:
    """A lead that is not stored yet (dry run, test a lead) with its account match; no sticky
    holder or duplicate (those need an earlier stored lead)."""
    found = account_index().match(email=data.get("email") or "", website=data.get("website") or "",
                                  company=data.get("company") or "")  # fmt: skip
    match = None
    if found is not None:
        account = account_facts([found.account_id]).get(found.account_id)
        if account is not None:
            match = AccountMatch(account=account, method=found.method, score=found.score, evidence=found.evidence)
    return with_account(facts, match=match)
