"""Reference data for lead intake: ISO codes (pycountry), ops' synonyms and exchange rates.

Codes come from pycountry, which packages the Debian iso-codes database (ISO 3166-1 countries,
ISO 3166-2 subdivisions, ISO 639 languages, ISO 4217 currencies). Ops add spellings LeadOps
should accept (``LeadSynonym``: intent "hot" means "high") and maintain exchange rates
(``ExchangeRate``); nothing is fetched from the network.

Currency policy (docs/lead-intake.md, "Lead values and currencies"): a lead's
value is converted to settings.LEADOPS_BASE_CURRENCY at intake with the newest rate whose
``as_of`` is on or before the day the lead is received. A lead in a currency without a rate is
accepted, keeps its own value and currency, and has no base value: conditions over ``value``
and the high-value threshold do not match it, and its decisions carry a ``no_exchange_rate``
warning so ops can add the rate.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Final

import pycountry

INTENTS: Final = ("high", "medium", "low")
# Lead fields whose spellings ops can add synonyms for (the LeadSynonym model's choices).
SYNONYM_FIELDS: Final = ("country", "state", "language", "currency", "intent", "account_tier", "product_line")
INTENT_LABELS: Final = {"high": "High", "medium": "Medium", "low": "Low"}


def lookup_key(text: str) -> str:
    """How a spelling is matched: NFKC, case folded, accents and surrounding spaces removed,
    inner runs of spaces, dots, hyphens and underscores collapsed ("Côte d’Ivoire" ~ "cote d'ivoire")."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    bare = "".join(ch for ch in folded if not unicodedata.combining(ch))
    bare = bare.replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(bare.replace(".", " ").replace("_", " ").replace("-", " ").split())


@lru_cache(maxsize=1)
def _country_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("alpha_2", "alpha_3", "numeric", "name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if value:
                index.setdefault(lookup_key(value), country.alpha_2)
    return index


@lru_cache(maxsize=512)
def _subdivision_index(country: str) -> dict[str, str]:
    index: dict[str, str] = {}
    for sub in pycountry.subdivisions.get(country_code=country) or ():
        suffix = sub.code.split("-", 1)[1]
        for spelling in (suffix, sub.code, sub.name):
            index.setdefault(lookup_key(spelling), suffix)
    return index


@lru_cache(maxsize=1)
def _language_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for language in pycountry.languages:
        code = getattr(language, "alpha_2", None)
        if not code:
            continue
        for attr in ("alpha_2", "alpha_3", "bibliographic", "name", "common_name"):
            value = getattr(language, attr, None)
            if value:
                index.setdefault(lookup_key(value), code)
    return index


def country_code(text: str) -> str | None:
    """ISO 3166-1 alpha-2 code for a code (US, USA, 840) or name (United States), else None."""
    return _country_index().get(lookup_key(text))


def subdivision_code(country: str, text: str) -> str | None:
    """The ISO 3166-2 subdivision code without the country prefix (US + "California" -> "CA";
    "US-CA" and "ca" too), or None when ``country`` has no such subdivision."""
    return _subdivision_index(country).get(lookup_key(text))


def place_problem_or_codes(*, country: str, region: str = "") -> tuple[str, str] | dict[str, str]:
    """A territory's country and region as the lead normaliser stores them, so territories match
    normalised leads: ``("United States", "California")`` -> ``("US", "CA")``; ``("DEU", "Bayern")``
    -> ``("DE", "BY")``. Returns ``{field: message}`` for an unknown country or region instead.
    Codes as before (``US``, ``CA``) stay as they are."""
    code = country_code(country)
    if code is None:
        return {"country": f"Unknown country {country[:60]!r}: use an ISO 3166-1 code (US, DE) or the English name."}
    if not region.strip():
        return code, ""
    sub = subdivision_code(code, region)
    if sub is None:
        return {"region": f"Unknown state or region of {code}: {region[:60]!r}. Use an ISO 3166-2 code or name, "
                          "e.g. CA or California."}  # fmt: skip
    return code, sub


def jurisdiction_code(text: str) -> str | None:
    """A licence jurisdiction as leads are compared with it: a country (``US``, ``United States``)
    -> ``"US"``; a subdivision (``US-CA``, ``US-California``) -> ``"US-CA"``; else None."""
    text = text.strip()
    whole = country_code(text)
    if whole is not None:
        return whole
    country, sep, region = text.partition("-")
    code = country_code(country) if sep else None
    sub = subdivision_code(code, region) if code else None
    return f"{code}-{sub}" if sub else None


def has_subdivisions(country: str) -> bool:
    return bool(_subdivision_index(country))


def language_code(text: str) -> str | None:
    """ISO 639-1 code for a code (en, eng), a name (English) or a language tag (en-US, pt_BR:
    the primary subtag), else None (also for languages without a two-letter code)."""
    key = lookup_key(text)
    found = _language_index().get(key)
    if found is None and " " in key:
        primary = key.split(" ", 1)[0]
        if 2 <= len(primary) <= 3:
            found = _language_index().get(primary)
    return found


def currency_code(text: str) -> str | None:
    """ISO 4217 alphabetic code (eur, EUR) or None."""
    key = lookup_key(text).upper()
    if len(key) == 3 and pycountry.currencies.get(alpha_3=key) is not None:
        return key
    return None


# --- the ops-maintained vocabulary -------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    rate: Decimal  # base-currency units per unit of the currency
    as_of: dt.date


@dataclass(frozen=True)
class Vocabulary:
    """What intake needs from the database, loaded once per request or import.

    ``synonyms``: field -> lookup_key(alias) -> stored value. ``rates``: currency -> its rates,
    newest first.
    """

    base_currency: str = "USD"
    synonyms: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    rates: Mapping[str, tuple[Rate, ...]] = field(default_factory=dict)

    def synonym(self, field_name: str, text: str) -> str | None:
        return self.synonyms.get(field_name, {}).get(lookup_key(text))

    def rate_on(self, currency: str, day: dt.date) -> Rate | None:
        """The newest rate of ``currency`` with ``as_of`` on or before ``day``; the base is 1."""
        if currency == self.base_currency:
            return Rate(Decimal(1), dt.date.min)
        return next((r for r in self.rates.get(currency, ()) if r.as_of <= day), None)

    def to_base(self, amount: Decimal, currency: str, day: dt.date) -> Decimal | None:
        """``amount`` of ``currency`` in the base currency, to the cent (half up), or None
        without a rate. Zero is zero in any currency."""
        if amount == 0:
            return Decimal("0.00")
        rate = self.rate_on(currency, day)
        if rate is None:
            return None
        return (amount * rate.rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def vocabulary_load() -> Vocabulary:
    """The current synonyms and exchange rates (two queries)."""
    from django.conf import settings

    from routing.models import ExchangeRate, LeadSynonym

    synonyms: dict[str, dict[str, str]] = {}
    for field_name, alias, value in LeadSynonym.objects.values_list("field", "alias", "value"):
        synonyms.setdefault(field_name, {})[lookup_key(alias)] = value
    rates: dict[str, list[Rate]] = {}
    for currency, rate, as_of in ExchangeRate.objects.order_by("currency", "-as_of").values_list("currency", "rate", "as_of"):
        rates.setdefault(currency, []).append(Rate(rate, as_of))
    return Vocabulary(
        base_currency=settings.LEADOPS_BASE_CURRENCY,
        synonyms=synonyms,
        rates={currency: tuple(items) for currency, items in rates.items()},
    )


# --- services: ops edit rates and synonyms (the exchange rates & synonyms page) ------------------------------


class ReferenceDataError(ValueError):
    """A refused rate or synonym; ``errors`` maps field -> message, safe to show."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def synonym_target_problem(field_name: str, value: str) -> str | None:
    """Why ``value`` cannot be what a synonym of ``field_name`` stands for, or None."""
    if field_name == "intent" and value not in INTENTS:
        return f"Intent synonyms stand for one of {', '.join(INTENTS)}."
    if field_name == "country" and (len(value) != 2 or country_code(value) != value):
        return "Country synonyms stand for an ISO 3166-1 alpha-2 code, e.g. GB."
    if field_name == "language" and (len(value) != 2 or language_code(value) != value):
        return "Language synonyms stand for an ISO 639-1 code, e.g. es."
    if field_name == "currency" and currency_code(value) != value:
        return "Currency synonyms stand for an ISO 4217 code, e.g. EUR."
    if field_name == "state" and pycountry.subdivisions.get(code=value) is None:
        return "State synonyms stand for a full ISO 3166-2 code, e.g. US-CA."
    return None


def lead_synonym_create(*, field_name: str, alias: str, value: str) -> object:
    """Add a synonym: senders' ``alias`` (matched ignoring case and accents) means ``value``.

    Codes are upper-cased (country, currency, state) or lower-cased (language, intent, free
    fields) before the check. Raises ReferenceDataError naming the field."""
    from routing.models import LeadSynonym

    alias = unicodedata.normalize("NFC", alias.strip())
    value = value.strip()
    value = value.upper() if field_name in ("country", "currency", "state") else value.casefold()
    if field_name not in LeadSynonym.Field.values:
        raise ReferenceDataError({"field": "Choose a field."})
    if not lookup_key(alias):
        raise ReferenceDataError({"alias": "Enter what senders write."})
    problem = synonym_target_problem(field_name, value)
    if problem:
        raise ReferenceDataError({"value": problem})
    if LeadSynonym.objects.filter(field=field_name, alias__iexact=alias).exists():
        raise ReferenceDataError({"alias": f"{alias!r} is already a synonym for this field."})
    synonym = LeadSynonym(field=field_name, alias=alias, value=value)
    synonym.full_clean()
    synonym.save()
    return synonym


def exchange_rate_create(*, currency: str, rate: Decimal, as_of: dt.date, note: str = "") -> object:
    """Record that one ``currency`` unit is worth ``rate`` base units from ``as_of`` on.

    Raises ReferenceDataError naming the field (unknown currency, the base currency, a rate that is
    not positive, a second rate for the same day)."""
    from django.conf import settings

    from routing.models import ExchangeRate

    code = currency_code(currency)
    if code is None:
        raise ReferenceDataError({"currency": "Use an ISO 4217 code such as JPY."})
    if code == settings.LEADOPS_BASE_CURRENCY:
        raise ReferenceDataError({"currency": f"{code} is the base currency: its rate is always 1."})
    if not rate.is_finite() or rate <= 0:
        raise ReferenceDataError({"rate": "The rate must be a positive number."})
    if ExchangeRate.objects.filter(currency=code, as_of=as_of).exists():
        raise ReferenceDataError({"as_of": f"{code} already has a rate for {as_of}; add one for another day."})
    row = ExchangeRate(currency=code, rate=rate, as_of=as_of, note=note.strip())
    row.full_clean()
    row.save()
    return row


def lead_synonym_delete(*, synonym: object) -> None:
    """Remove a synonym; leads already stored keep the value it gave them."""
    synonym.delete()  # type: ignore[attr-defined]
