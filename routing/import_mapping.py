"""Column mappings for lead imports: which column of someone else's file fills which lead field.

Files arrive as CRM exports, badge-scanner dumps and purchased lists, each with its own headers.
A mapping says, for each column, the lead field it fills (``first_name``), a custom attribute
(``attributes.<name>``) or ``ignore``; plus a fixed source and currency for files that carry none.

This module is pure (no ORM, no settings): it suggests a mapping from headers, checks one, and
turns a raw row into the payload the lead normaliser (``routing.validation``) takes. Saved mappings
(``routing.models.ImportMapping``) and the import itself live elsewhere.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from routing.reference import currency_code

IGNORE = "ignore"
ATTRIBUTE_PREFIX = "attributes."
LEGACY_ATTRIBUTE_PREFIX = "attr."  # LeadOps' own CSV header form for custom attributes

# Lead fields a column can fill, with the words ops see on the mapping page.
FIELD_LABELS: dict[str, str] = {
    "source": "Source",
    "external_id": "External id",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "phone": "Phone",
    "company": "Company",
    "title": "Job title",
    "country": "Country",
    "state": "State or province",
    "postal_code": "Postal code",
    "language": "Language",
    "product_line": "Product line",
    "value": "Value",
    "currency": "Currency",
    "fit_score": "Fit score",
    "account_tier": "Account tier",
    "intent": "Intent",
}

# Header names seen in common exports (CRMs, webinar tools, badge scanners, purchased lists), in
# English, German, French and Spanish. Matched after ``header_key`` folding, so "First Name",
# "FirstName", "first_name" and "FIRST-NAME" are one entry.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "source": ("lead source", "source", "origin", "channel", "quelle", "herkunft", "origine", "fuente"),
    "external_id": ("lead id", "record id", "id", "contact id", "external id", "crm id", "registrant id",
                    "badge id", "badge number", "prospect id"),  # fmt: skip
    "first_name": ("first name", "firstname", "given name", "forename", "vorname", "prenom", "nombre"),
    "last_name": ("last name", "lastname", "surname", "family name", "nachname", "nom", "nom de famille",
                  "apellido", "apellidos"),  # fmt: skip
    "email": ("email", "e-mail", "email address", "e-mail address", "work email", "business email",
              "e-mail-adresse", "courriel", "correo", "correo electronico"),  # fmt: skip
    "phone": ("phone", "phone number", "telephone", "mobile", "mobile phone", "work phone", "telefon",
              "telefonnummer", "telephone number", "telefono"),  # fmt: skip
    "company": ("company", "company name", "organization", "organisation", "account name", "employer",
                "firma", "unternehmen", "entreprise", "societe", "empresa"),  # fmt: skip
    "title": ("title", "job title", "position", "role", "jobtitel", "berufsbezeichnung", "poste", "cargo"),
    "country": ("country", "country code", "country/region", "land", "pays", "pais"),
    "state": ("state", "state/province", "state/region", "province", "region", "state code", "county", "bundesland",
              "provincia", "estado"),  # fmt: skip
    "postal_code": ("postal code", "zip", "zip code", "postcode", "zip/postal code", "plz", "postleitzahl",
                    "code postal", "codigo postal"),  # fmt: skip
    "language": ("language", "preferred language", "sprache", "langue", "idioma"),
    "product_line": ("product line", "product", "product interest", "interest", "produkt"),
    "value": ("value", "annual revenue", "amount", "deal value", "deal size", "budget", "estimated value",
              "opportunity amount", "umsatz", "montant", "importe"),  # fmt: skip
    "currency": ("currency", "currency code", "currency iso code", "wahrung", "devise", "moneda"),
    "fit_score": ("fit score", "lead score", "score", "rating"),
    "account_tier": ("account tier", "tier", "customer tier"),
    "intent": ("intent", "buying intent", "intent level", "lead intent"),
}


def header_key(text: str) -> str:
    """Fold a header for matching: accents removed, case folded, punctuation and spaces dropped.

    ``"State/Province"`` → ``"stateprovince"``; ``"Prénom"`` → ``"prenom"``; ``"E-Mail"`` → ``"email"``.
    """
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[\W_]+", "", bare.casefold())


def _attribute_name(header: str) -> str:
    """A custom attribute's key made from a header: ``"Event Booth #"`` → ``"event_booth"``."""
    decomposed = unicodedata.normalize("NFKD", header)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return re.sub(r"[\W_]+", "_", bare).strip("_")[:60] or "column"


def attribute_target(header: str) -> str:
    """The custom-attribute target a column would fill: ``"Event Booth #"`` → ``"attributes.event_booth"``."""
    return ATTRIBUTE_PREFIX + _attribute_name(header)


_INDEX: dict[str, str] = {}
for _field, _label in FIELD_LABELS.items():
    for _name in (_field, _label, *SYNONYMS.get(_field, ())):
        _INDEX.setdefault(header_key(_name), _field)


def target_label(target: str) -> str:
    """The words for a mapping target: ``"first_name"`` → "First name",
    ``"attributes.vertical"`` → "Custom attribute “vertical”", ``"ignore"`` → "Ignore this column"."""
    if target == IGNORE:
        return "Ignore this column"
    if target.startswith(ATTRIBUTE_PREFIX):
        return f"Custom attribute “{target[len(ATTRIBUTE_PREFIX):]}”"
    return FIELD_LABELS.get(target, target)


def mapping_suggest(headers: list[str]) -> dict[str, str]:
    """Suggest a target for every header: a lead field when the folded header matches a field
    name, its label or a synonym; ``attributes.<name>`` for LeadOps' own ``attr.<name>`` columns
    and for anything else (so no column is dropped unless ops choose "ignore"). A field is
    suggested for the first matching column only; later ones become attributes.

    ``headers``: the file's header row, in order. Returns {header: target} in the same order.
    """
    suggested: dict[str, str] = {}
    used: set[str] = set()
    for header in headers:
        if header in suggested:
            continue
        legacy = ATTRIBUTE_PREFIX + header[len(LEGACY_ATTRIBUTE_PREFIX):]
        if header.startswith(LEGACY_ATTRIBUTE_PREFIX) and _ATTRIBUTE_KEY.match(legacy[len(ATTRIBUTE_PREFIX):]) \
                and legacy not in used:
            used.add(legacy)
            suggested[header] = legacy
            continue
        field = _INDEX.get(header_key(header))
        if field and field not in used:
            used.add(field)
            suggested[header] = field
        elif header_key(header):
            name, n = _attribute_name(header), 1
            while ATTRIBUTE_PREFIX + name in used:
                n += 1
                name = f"{_attribute_name(header)[:56]}_{n}"
            used.add(ATTRIBUTE_PREFIX + name)
            suggested[header] = ATTRIBUTE_PREFIX + name
        else:
            suggested[header] = IGNORE
    return suggested


_ATTRIBUTE_KEY = re.compile(r"^\w[\w.\-]{0,59}$")
_SOURCE = re.compile(r"^[A-Za-z0-9._:\-/ ]{1,60}$")


class ColumnMapping(BaseModel):
    """A mapping as stored, exported with the configuration and given to ``importleads --mapping``.

    - ``columns``: {header as in the file: target}; target is a lead field name, ``ignore`` or
      ``attributes.<key>``. Headers missing from a file are ignored; columns of a file that the
      mapping does not name are ignored too (listed in the preview).
    - ``source``: the lead source for every row when no column fills ``source``.
    - ``currency``: ISO 4217 code for the value column when no column fills ``currency``.
    External ids: when no column fills ``external_id``, each row's id is derived (see
    ``mapping_apply``) so importing the same file twice creates no duplicates.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    columns: dict[str, str] = Field(default_factory=dict, max_length=500, description=(
        "{header as in the file: target}; target is a lead field (`first_name`, `email`, `state`, ...), "
        "`attributes.<key>` or `ignore`; each field filled by one column at most"))
    source: str = Field(default="", max_length=60, description="the lead source for every row when no column fills `source`")
    currency: str = Field(default="", max_length=20, description=(
        "ISO 4217 code of the value column when no column fills `currency`, e.g. `EUR`"))  # checked below

    @field_validator("columns")
    @classmethod
    def _targets(cls, columns: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for header, target in columns.items():
            if len(header) > 200 or "\x00" in header:
                raise ValueError(f"column “{header[:40]}”: header too long or contains a NUL character")
            if target == IGNORE:
                continue
            if target.startswith(ATTRIBUTE_PREFIX):
                if not _ATTRIBUTE_KEY.match(target[len(ATTRIBUTE_PREFIX):]):
                    raise ValueError(f"column “{header}”: attribute names use letters, digits, _ . - (at most 60 characters)")
            elif target not in FIELD_LABELS:
                raise ValueError(f"column “{header}”: unknown lead field “{target}”")
            if target in seen:
                raise ValueError(f"columns “{seen[target]}” and “{header}” both fill {target_label(target)}")
            seen[target] = header
        return columns

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if value and not _SOURCE.match(value):
            raise ValueError("use letters, digits and . _ : - / only")
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if value and (not re.fullmatch(r"[A-Za-z]{3}", value) or currency_code(value) != value.upper()):
            raise ValueError("use a three-letter ISO 4217 currency code, e.g. EUR")
        return value.upper()


class MappingError(Exception):
    """A mapping that cannot be used: ``errors`` is {field path: [messages]}, safe to show."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def mapping_parse(data: Any) -> ColumnMapping:
    """Validate a mapping from JSON (a file, the config document or the mapping form).

    Raises MappingError({"columns": [...], "source": [...], ...}) naming each bad field.
    """
    try:
        return ColumnMapping.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for problem in exc.errors():
            path = ".".join(str(part) for part in problem["loc"]) or "__all__"
            message = problem["msg"].removeprefix("Value error, ")
            errors.setdefault(path, []).append(message)
        raise MappingError(errors) from None


def mapping_check(mapping: ColumnMapping, headers: list[str]) -> dict[str, list[str]]:
    """Problems using ``mapping`` on a file with ``headers``: {field: [messages]}, empty if none.

    A lead needs a source: from a column or the mapping's fixed source.
    """
    errors: dict[str, list[str]] = {}
    present = set(headers)
    if doubled := sorted({h for h in headers if headers.count(h) > 1}):
        errors["columns"] = [f"Two columns share the header “{h}”: rename one in the file." for h in doubled]
    targets = {t for h, t in mapping.columns.items() if h in present}
    if "source" not in targets and not mapping.source:
        errors.setdefault("source", []).append(
            "No column fills the lead source: map one, or give a source for the whole file (e.g. trade-show-2026)."
        )
    if not targets - {IGNORE}:
        errors.setdefault("columns", []).append("No column of this file is mapped to a lead field.")
    return errors


def mapping_apply(row: dict[str, str], mapping: ColumnMapping) -> dict[str, Any]:
    """Turn one raw row ({header: cell text}) into the payload the lead normaliser takes.

    Empty cells are left out. When no column fills ``external_id`` the id is derived: from the
    email address when there is one (``email:<address folded>``), else from a SHA-1 of the mapped
    cells (``row:<hex>``), so the same row imported twice is one lead.
    """
    payload: dict[str, Any] = {}
    attributes: dict[str, str] = {}
    for header, target in mapping.columns.items():
        cell = row.get(header)
        if cell is None or target == IGNORE:
            continue
        cell = cell.strip()
        if not cell:
            continue
        if target.startswith(ATTRIBUTE_PREFIX):
            attributes[target[len(ATTRIBUTE_PREFIX):]] = cell
        else:
            payload[target] = cell
    if attributes:
        payload["attributes"] = attributes
    if "source" not in payload and mapping.source:
        payload["source"] = mapping.source
    if "currency" not in payload and mapping.currency and "value" in payload:
        payload["currency"] = mapping.currency
    if "external_id" not in payload:
        email = payload.get("email", "")
        if email:
            payload["external_id"] = f"email:{unicodedata.normalize('NFC', email).casefold()}"[:120]
        else:
            canonical = "\x1f".join(f"{k}={payload[k]}" for k in sorted(payload) if k != "attributes")
            canonical += "\x1f" + "\x1f".join(f"{k}={v}" for k, v in sorted(attributes.items()))
            payload["external_id"] = "row:" + hashlib.sha1(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    return payload


__all__ = [
    "ATTRIBUTE_PREFIX", "FIELD_LABELS", "IGNORE", "ColumnMapping", "MappingError", "attribute_target", "header_key",
    "mapping_apply", "mapping_check", "mapping_parse", "mapping_suggest", "target_label",
]  # fmt: skip
