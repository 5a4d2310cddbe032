"""Strict validation of lead input from the API, CSV and forms: errors keyed by field name."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

STRING_FIELDS: dict[str, int] = {
    "source": 60, "external_id": 120, "first_name": 100, "last_name": 100, "email": 254,
    "phone": 40, "company": 200, "title": 120, "country": 2, "state": 10, "postal_code": 20,
    "language": 10, "product_line": 50, "currency": 3, "account_tier": 30, "intent": 30,
}  # fmt: skip
REQUIRED = ("source", "external_id")
ALL_FIELDS = frozenset(STRING_FIELDS) | {"value", "fit_score", "attributes"}
MAX_VALUE = Decimal("999999999999.99")
_SLUGISH = re.compile(r"^[A-Za-z0-9._:\-/ ]+$")


def contains_nul(value: Any) -> bool:
    """Whether a NUL is anywhere in a decoded JSON value: PostgreSQL refuses it in text and jsonb."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(contains_nul(v) for v in value)
    return False


class LeadInputError(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def clean_lead(data: Any, *, strict_types: bool = True) -> dict[str, Any]:
    """Validate a lead payload; return cleaned data or raise LeadInputError({field: [msgs]}).

    ``strict_types=False`` is for CSV, where every cell arrives as text.
    """
    if not isinstance(data, dict):
        raise LeadInputError({"__all__": ["Expected a JSON object with the lead's fields."]})
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}

    def err(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    for key in data:
        if key not in ALL_FIELDS:
            err(str(key)[:60], "Unknown field.")
    for name, max_len in STRING_FIELDS.items():
        raw = data.get(name)
        if raw is None or raw == "":
            if name in REQUIRED:
                err(name, "This field is required.")
            continue
        if not isinstance(raw, str):
            if strict_types:
                err(name, f"Expected a string, got {type(raw).__name__}.")
                continue
            raw = str(raw)
        value = raw.strip()
        if "\x00" in value:
            err(name, "Contains a NUL character.")
            continue
        if len(value) > max_len:
            err(name, f"At most {max_len} characters (got {len(value)}).")
            continue
        cleaned[name] = value
    if "source" in cleaned and not _SLUGISH.match(cleaned["source"]):
        err("source", "Use letters, digits and . _ : - / only.")
    if "email" in cleaned:
        try:
            validate_email(cleaned["email"])
        except ValidationError:
            err("email", "Enter a valid email address.")
    if "country" in cleaned:
        if not re.fullmatch(r"[A-Za-z]{2}", cleaned["country"]):
            err("country", "Use a two-letter ISO country code, e.g. US.")
        cleaned["country"] = cleaned["country"].upper()
    if "state" in cleaned:
        cleaned["state"] = cleaned["state"].upper()
    if "currency" in cleaned:
        if not re.fullmatch(r"[A-Za-z]{3}", cleaned["currency"]):
            err("currency", "Use a three-letter ISO currency code, e.g. USD.")
        cleaned["currency"] = cleaned["currency"].upper()
    for lower in ("language", "intent", "product_line", "account_tier"):
        if lower in cleaned:
            cleaned[lower] = cleaned[lower].lower()

    raw_value = data.get("value")
    if raw_value is not None and raw_value != "":
        if isinstance(raw_value, bool) or (strict_types and not isinstance(raw_value, int | float | str)):
            err("value", "Expected a number.")
        else:
            try:
                amount = Decimal(str(raw_value).strip())
                if not amount.is_finite():
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                err("value", "Expected a number, e.g. 52000 or 52000.50.")
            else:
                if amount < 0:
                    err("value", "Must not be negative.")
                elif amount > MAX_VALUE:
                    err("value", f"Must be at most {MAX_VALUE}.")
                else:
                    cleaned["value"] = amount.quantize(Decimal("0.01"))
    raw_fit = data.get("fit_score")
    if raw_fit is not None and raw_fit != "":
        fit: int | None = None
        if isinstance(raw_fit, bool):
            fit = None
        elif isinstance(raw_fit, int):
            fit = raw_fit
        elif isinstance(raw_fit, str) and not strict_types and raw_fit.strip().isdigit():
            fit = int(raw_fit.strip())
        if fit is None:
            err("fit_score", "Expected a whole number from 0 to 100.")
        elif not 0 <= fit <= 100:
            err("fit_score", "Must be between 0 and 100.")
        else:
            cleaned["fit_score"] = fit
    attributes = data.get("attributes")
    if attributes is not None:
        if not isinstance(attributes, dict):
            err("attributes", "Expected a JSON object.")
        elif len(str(attributes)) > 8000:
            err("attributes", "Too large (at most about 8 KB).")
        elif contains_nul(attributes):
            err("attributes", "Contains a NUL character.")
        else:
            cleaned["attributes"] = attributes
    if errors:
        raise LeadInputError(errors)
    return cleaned
