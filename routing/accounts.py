"""Accounts at fetch: each lead's account match, its sticky holder and its duplicate, read with a
fixed number of queries per routing batch and handed to the engine on ``LeadFacts`` (reads only;
writes are ``routing.services``).

1. The match index (``routing.matching.AccountIndex``) is built once per process from the
   stored normalised names and kept current incrementally from the account history
   (``account_index``: one index read per batch, plus the changed accounts when something changed).
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
import gc
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Max, Q
from django.db.models.functions import Lower

from routing.engine.accounts import with_account
from routing.engine.types import AccountFacts, AccountMatch, LeadFacts, StickyHint
from routing.matching import AccountIndex, AccountRecord
from routing.models import Account, AccountDomain, Lead

STICKY_STATUSES = (Lead.Status.OFFERED, Lead.Status.ACCEPTED, Lead.Status.CONVERTED)
OPEN_FOR_DUPLICATES = (Lead.Status.PENDING, Lead.Status.HOLDING, Lead.Status.OFFERED, Lead.Status.ACCEPTED)
# The change feed is the account history (django-simple-history writes one row per create, change
# or delete, through ``routing.services``): the newest history id tells in one index read whether
# anything changed. History ids are assigned at insert, so a transaction can commit a lower id
# after a higher one was seen: the last HISTORY_OVERLAP rows are read again each time, and every
# FULL_CHECK_SECONDS every account's version is compared, which catches anything else (rows
# written without history, e.g. a bulk load).
HISTORY_OVERLAP = 500
FULL_CHECK_SECONDS = 300

_LOCK = threading.RLock()  # worker threads share the index; it is read and changed under this lock
_CACHE: dict[tuple, "_Cached"] = {}


@dataclasses.dataclass
class _Cached:
    index: AccountIndex
    versions: dict[int, dt.datetime]  # account id -> the updated_at indexed
    history: int  # the newest history id seen
    checked_all_at: float  # time.monotonic() of the last full comparison


def _records(ids: Iterable[int] | None) -> tuple[list[AccountRecord], dict[int, dt.datetime]]:
    """Accounts (all when ``ids`` is None) as match records, with their versions."""
    accounts, domains_qs = Account.objects.all(), AccountDomain.objects.all()
    if ids is not None:
        ids = list(ids)
        accounts, domains_qs = accounts.filter(id__in=ids), domains_qs.filter(account_id__in=ids)
    rows = list(accounts.values_list("id", "name", "name_key", "updated_at").iterator(chunk_size=20_000))
    domains: dict[int, list[str]] = {}
    for account_id, domain in domains_qs.values_list("account_id", "domain").iterator(chunk_size=20_000):
        domains.setdefault(account_id, []).append(domain)
    records = [AccountRecord(id=i, name=name, domains=tuple(domains.get(i, ())), key=key) for i, name, key, _ in rows]
    return records, {row[0]: row[3] for row in rows}


def _history_top() -> int:
    return Account.history.aggregate(top=Max("history_id"))["top"] or 0


def account_index() -> AccountIndex:
    """The match index of the current accounts, kept per process and brought up to date on each
    call (callers hold ``index_lock()`` while they use it):

    1. one query (the newest account history id, an index read); nothing else when nothing changed;
    2. after a change: the accounts named by the history rows since the last call (and the
       ``HISTORY_OVERLAP`` before), re-read and re-indexed when their version differs, dropped
       when deleted;
    3. every ``FULL_CHECK_SECONDS``: every account's id and version compared instead.
    The first call builds it from every account's stored normalised name (``Account.name_key``).
    """
    top = _history_top()
    key = (connection.alias, connection.settings_dict["NAME"], settings.LEADOPS_ACCOUNT_FUZZY_THRESHOLD)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            _CACHE.clear()
            gc.disable()  # ~a million small objects: collections during the build only cost time
            try:
                records, versions = _records(None)
                index = AccountIndex(records, fuzzy_threshold=settings.LEADOPS_ACCOUNT_FUZZY_THRESHOLD)
            finally:
                gc.enable()
            cached = _CACHE[key] = _Cached(index, versions, top, time.monotonic())
            return cached.index
        full = time.monotonic() - cached.checked_all_at > FULL_CHECK_SECONDS
        if not full and top <= cached.history:
            return cached.index
        if full:
            current = dict(Account.objects.values_list("id", "updated_at"))
            touched = set(current) | cached.index.ids()
        else:
            touched = set(Account.history.filter(history_id__gt=cached.history - HISTORY_OVERLAP)
                          .values_list("id", flat=True))  # fmt: skip
            current = dict(Account.objects.filter(id__in=touched).values_list("id", "updated_at"))
        for gone in touched - current.keys():
            cached.index.remove(gone)
            cached.versions.pop(gone, None)
        stale = [account_id for account_id, version in current.items() if cached.versions.get(account_id) != version]
        for start in range(0, len(stale), 20_000):
            records, versions = _records(stale[start:start + 20_000])
            for record in records:
                cached.index.upsert(record)
            cached.versions.update(versions)
        if full:
            cached.checked_all_at = time.monotonic()
        cached.history = max(top, cached.history)
        return cached.index


def index_lock() -> threading.RLock:
    """Held while matching against (or changing) the shared index."""
    return _LOCK


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

    matches: dict[int, tuple[int, Any]] = {}
    errors: dict[int, str] = {}
    with index_lock():
        index = account_index()
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
    with index_lock():
        found = account_index().match(email=data.get("email") or "", website=data.get("website") or "",
                                      company=data.get("company") or "")  # fmt: skip
    match = None
    if found is not None:
        account = account_facts([found.account_id]).get(found.account_id)
        if account is not None:
            match = AccountMatch(account=account, method=found.method, score=found.score, evidence=found.evidence)
    return with_account(facts, match=match)
