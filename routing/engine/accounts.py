"""Accounts as the engine sees them: the ``account.*`` fields conditions read, and a match in words.

The match itself is worked out at fetch (``routing.matching``) and handed in on ``LeadFacts``:
this module only folds it into the lead's fields and describes it. Pure.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from routing.engine.types import AccountMatch, LeadFacts, MatchMethod, StickyHint

# Condition fields over the matched account (blank when the lead matched no account).
ACCOUNT_FIELDS: Final[dict[str, str]] = {
    "account.name": "str",
    "account.tier": "str",
    "account.status": "str",  # customer / prospect
    "account.territory": "str",
    "account.external_id": "str",
}

METHOD_WORDS: Final[dict[MatchMethod, str]] = {
    MatchMethod.EMAIL_DOMAIN: "the email domain",
    MatchMethod.WEBSITE_DOMAIN: "the website domain",
    MatchMethod.NAME: "the company name",
    MatchMethod.FUZZY_NAME: "a similar company name",
}

STICKY_WORDS: Final[dict[str, str]] = {
    "person": "the same person's earlier lead",
    "account": "the same account's earlier lead",
}


def account_fields(match: AccountMatch | None) -> dict[str, Any]:
    """``{"account.name": ..., ...}`` for ``match``; every field None without a match."""
    if match is None:
        return dict.fromkeys(ACCOUNT_FIELDS)
    account = match.account
    return {
        "account.name": account.name,
        "account.tier": account.tier or None,
        "account.status": account.status or None,
        "account.territory": account.territory or None,
        "account.external_id": account.external_id or None,
    }


def with_account(facts: LeadFacts, *, match: AccountMatch | None, sticky: StickyHint | None = None) -> LeadFacts:
    """``facts`` carrying its account match (and its ``account.*`` fields) and sticky hint."""
    fields = {**facts.fields, **account_fields(match)}
    return dataclasses.replace(facts, fields=fields, account=match, sticky=sticky)


def match_words(match: AccountMatch) -> str:
    """``matched Acme Corp by the email domain acme.com`` (fuzzy: with its similarity)."""
    words = f"matched {match.account.name} by {METHOD_WORDS.get(match.method, str(match.method))} {match.evidence}"
    if match.method is MatchMethod.FUZZY_NAME:
        words += f" ({match.score:.0f}% similar)"
    return words
