"""The one lead normaliser: every lead from the API, a CSV row, the dry run, the console's test
lead and the demo stream goes through ``clean_lead``, which validates ``LeadIn``.

``LeadIn`` is a pydantic v2 model, so the same declaration also describes the API
(``LeadIn.model_json_schema()`` is the request body in /api/v1/openapi.json).

Rules, in order, for every text field:
1. Text only (a number where text is expected is an error); blank means absent.
2. Refused when the database could not store it: NUL (PostgreSQL text and jsonb refuse U+0000)
   or a lone surrogate (not encodable as UTF-8).
3. Surrounding whitespace stripped, Unicode NFC applied, then the field's own normalisation
   (ISO codes, synonyms, case folding).
4. Length limits are checked on the normalised value, which is what is stored: "ßßßßßßßßß"
   becomes "SSSSSSSSSSSSSSSSSS" when upper-cased, so a check before it proves nothing.

Errors are ``{field: [message, ...]}``; every message names what to send instead.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any, Final

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from routing import reference
from routing.reference import INTENTS, Vocabulary

if TYPE_CHECKING:
    from routing.snapshots import IntakeReference

MAX_VALUE: Final = Decimal("999999999999.99")
MAX_BASE_VALUE: Final = Decimal("99999999999999.99")  # Lead.value_base: 16 digits, 2 decimals
MAX_ATTRIBUTES_BYTES: Final = 8000
MAX_ATTRIBUTES_DEPTH: Final = 8
MAX_ATTRIBUTE_KEY: Final = 100
SOURCE_PATTERN: Final = r"^[A-Za-z0-9._:\-/ ]+$"
_SURROGATE = re.compile("[\ud800-\udfff]")
EMPTY_VOCABULARY: Final = Vocabulary()


class LeadInputError(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("lead_input", message)


def storable_text_problem(text: str) -> str | None:
    """Why PostgreSQL could not store ``text`` as UTF-8 text, or None."""
    if "\x00" in text:
        return "Contains a NUL character (U+0000)."
    match = _SURROGATE.search(text)
    if match:
        return f"Contains a lone surrogate (U+{ord(match.group()):04X}), which is not valid Unicode text."
    return None


def contains_nul(value: Any) -> bool:
    """Whether a NUL is anywhere in a decoded JSON value: PostgreSQL refuses it in text and jsonb."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(contains_nul(v) for v in value)
    return False


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(f"Expected text, got {_json_type(value)}.")
    problem = storable_text_problem(value)
    if problem:
        raise _fail(problem)
    return unicodedata.normalize("NFC", value.strip())


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _vocabulary(info: ValidationInfo) -> Vocabulary:
    """The vocabulary to normalise with: ``context["vocabulary"]`` (``clean_lead``), else, when
    the API validates a request body (django-ninja passes ``context["request"]``), the live one
    (``request_reference``); else ISO codes only."""
    context = info.context or {}
    if context.get("vocabulary") is not None:
        return context["vocabulary"]
    request = context.get("request")
    if request is None:
        return EMPTY_VOCABULARY
    return request_reference(request).vocabulary


def request_reference(request: Any) -> IntakeReference:
    """The live rule set, vocabulary and segment ids (``snapshots.intake_reference``) as this
    request first read them: validating its body and storing the lead use the same ones."""
    from routing.snapshots import intake_reference

    found = getattr(request, "_leadops_reference", None)
    if found is None:
        found = request._leadops_reference = intake_reference()  # noqa: SLF001
    return found


def request_vocabulary(request: Any) -> Vocabulary:
    """The vocabulary the API used to validate ``request``'s body (read now if it was not)."""
    return request_reference(request).vocabulary


def _source(value: str) -> str:
    if not re.fullmatch(SOURCE_PATTERN, value):
        raise _fail("Use letters, digits, spaces and . _ : - / only.")
    return value


def _email(value: str) -> str:
    try:
        validate_email(value)
    except DjangoValidationError:
        raise _fail("Enter a valid email address.") from None
    return value


def _country(value: str, info: ValidationInfo) -> str:
    code = _vocabulary(info).synonym("country", value) or reference.country_code(value)
    if code is None:
        raise _fail(f"Unknown country {value[:60]!r}: use an ISO 3166-1 code (US, DE) or the English name.")
    return code


def _language(value: str, info: ValidationInfo) -> str:
    code = _vocabulary(info).synonym("language", value) or reference.language_code(value)
    if code is None:
        raise _fail(f"Unknown language {value[:60]!r}: use an ISO 639-1 code (en, es) or the English name.")
    return code


def _currency(value: str, info: ValidationInfo) -> str:
    code = _vocabulary(info).synonym("currency", value) or reference.currency_code(value)
    if code is None:
        raise _fail(f"Unknown currency {value[:60]!r}: use an ISO 4217 code such as USD, EUR or JPY.")
    return code


def _intent(value: str, info: ValidationInfo) -> str:
    code = _vocabulary(info).synonym("intent", value) or reference.lookup_key(value)
    if code not in INTENTS:
        raise _fail(f"Unknown intent {value[:60]!r}: use one of {', '.join(INTENTS)} (or ask ops to add a synonym).")
    return code


def _folded(field_name: str):  # noqa: ANN202
    def normalise(value: str, info: ValidationInfo) -> str:
        return _vocabulary(info).synonym(field_name, value) or unicodedata.normalize("NFC", value.casefold())

    return normalise


def _value(raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, Decimal, str)):
        raise _fail(f"Expected a number, got {_json_type(raw)}.")
    if isinstance(raw, str):
        problem = storable_text_problem(raw)
        if problem:
            raise _fail(problem)
    try:
        amount = Decimal(str(raw).strip()) if not isinstance(raw, Decimal) else raw
    except (InvalidOperation, ValueError):
        raise _fail("Expected a number, e.g. 52000 or 52000.50.") from None
    if not amount.is_finite():
        raise _fail("Expected a finite number.")
    if amount < 0:
        raise _fail("Must not be negative.")
    if amount > MAX_VALUE:
        raise _fail(f"Must be at most {MAX_VALUE}.")
    return amount.quantize(Decimal("0.01"))


def _fit_score(raw: Any) -> int:
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise _fail("Expected a whole number from 0 to 100.")
    if not 0 <= raw <= 100:
        raise _fail("Must be between 0 and 100.")
    return raw


def _attributes(raw: Any) -> dict[str, Any]:
    """Custom attributes as JSON the database can store: an object, at most 8 levels deep and
    about 8 KB; text NFC-normalised, without NUL or lone surrogates; numbers finite."""
    if not isinstance(raw, dict):
        raise _fail(f"Expected a JSON object, got {_json_type(raw)}.")
    cleaned = _attribute_value(raw, path="", depth=1)
    size = len(json.dumps(cleaned, ensure_ascii=False).encode("utf-8"))
    if size > MAX_ATTRIBUTES_BYTES:
        raise _fail(f"Too large: {size} bytes as JSON, at most {MAX_ATTRIBUTES_BYTES}.")
    return cleaned


def _attribute_value(value: Any, *, path: str, depth: int) -> Any:
    where = path or "attributes"
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        problem = storable_text_problem(value)
        if problem:
            raise _fail(f"{where}: {problem}")
        return unicodedata.normalize("NFC", value)
    if isinstance(value, int):
        if abs(value) >= 10**18:
            raise _fail(f"{where}: whole numbers must be below 10^18 in size.")
        return value
    if isinstance(value, (float, Decimal)):
        number = float(value)
        if not math.isfinite(number):
            raise _fail(f"{where}: {value} is not a finite number.")
        return number
    if depth > MAX_ATTRIBUTES_DEPTH:
        raise _fail(f"{where}: nested more than {MAX_ATTRIBUTES_DEPTH} levels deep.")
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _fail(f"{where}: keys must be text.")
            problem = storable_text_problem(key)
            if problem:
                raise _fail(f"{where}: a key: {problem}")
            name = unicodedata.normalize("NFC", key.strip())
            if not name or len(name) > MAX_ATTRIBUTE_KEY:
                raise _fail(f"{where}: keys must be 1 to {MAX_ATTRIBUTE_KEY} characters.")
            out[name] = _attribute_value(item, path=f"{path}.{name}" if path else name, depth=depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_attribute_value(item, path=f"{where}[{index}]", depth=depth + 1) for index, item in enumerate(value)]
    raise _fail(f"{where}: {_json_type(value)} is not a JSON value.")


def _text_field(max_length: int, *after: Any, pattern: str | None = None, description: str | None = None,
                input_max_length: int | None = None, required: bool = False) -> Any:  # fmt: skip
    """A text field: validated by ``_text``, then ``after`` (normalisers), then the length check
    on the normalised value (the constraint comes last on purpose, see the module docstring).
    ``input_max_length``: what the API description advertises when senders may send a longer
    spelling than is stored ("United States" for US). An optional field's description allows
    blank text, which means "not given" (rule 1); a required one's does not."""
    extra: dict[str, Any] = {"pattern": pattern} if pattern else {}
    schema_extra: dict[str, Any] = {}
    if input_max_length is not None:
        schema_extra["maxLength"] = input_max_length
    if pattern:  # pydantic leaves a pattern out of the description when validators wrap the type
        schema_extra["pattern"] = pattern if required else pattern.replace("]+$", "]*$")
    if not required:
        schema_extra["minLength"] = 0
    if schema_extra:
        extra["json_schema_extra"] = schema_extra
    return Annotated[
        str,
        BeforeValidator(_text),
        *(AfterValidator(fn) for fn in after),
        Field(min_length=1, max_length=max_length, description=description, **extra),
    ]


class LeadIn(BaseModel):
    """A lead as senders send it. Blank text means absent; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", title="Lead", hide_input_in_errors=True)

    source: _text_field(60, _source, pattern=SOURCE_PATTERN, description="Where the lead comes from, e.g. web", required=True)
    external_id: _text_field(120, description="The sender's id; source + external_id is unique", required=True)
    first_name: _text_field(100) | None = None
    last_name: _text_field(100) | None = None
    email: _text_field(254, _email) | None = None
    phone: _text_field(40) | None = None
    company: _text_field(200) | None = None
    website: _text_field(200, description="The company's website or domain, e.g. acme.com (matched to accounts)") | None = None
    title: _text_field(120) | None = None
    country: _text_field(2, _country, input_max_length=100, description="ISO 3166-1 alpha-2 code or English name; stored as the code") | None = None
    state: _text_field(100, description="ISO 3166-2 subdivision of `country` (code or name); stored as the code, e.g. CA") | None = None
    postal_code: _text_field(20) | None = None
    language: _text_field(10, _language, input_max_length=100, description="ISO 639-1 code, name or tag (en-US); stored as the code") | None = None
    product_line: _text_field(50, _folded("product_line")) | None = None
    currency: _text_field(3, _currency, input_max_length=20, description="ISO 4217 code; defaults to the base currency") | None = None
    value: Annotated[Decimal, BeforeValidator(_value), Field(ge=0, le=MAX_VALUE, description="Lead value in `currency`")] | None = None
    fit_score: Annotated[int, BeforeValidator(_fit_score), Field(ge=0, le=100)] | None = None
    account_tier: _text_field(30, _folded("account_tier")) | None = None
    intent: _text_field(30, _intent, description="One of high, medium, low (or an ops synonym)") | None = None
    attributes: Annotated[dict[str, Any], BeforeValidator(_attributes), Field(description="Custom attributes for rule conditions")] | None = None

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        """Null and blank text mean "not given" (rule 1 of the module docstring). Only for known
        fields: an unknown key is refused whatever its value, as the description says
        (``additionalProperties: false``)."""
        if not isinstance(data, dict):
            return data
        return {
            key: value for key, value in data.items()
            if key not in cls.model_fields or not (value is None or (isinstance(value, str) and value.strip() == ""))
        }  # fmt: skip

    @field_validator("state", mode="after")
    @classmethod
    def _state_in_country(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        vocabulary = _vocabulary(info)
        country = info.data.get("country")
        if not country:
            raise _fail("Give the country too: states and regions are checked against their country (ISO 3166-2).")
        synonym = vocabulary.synonym("state", value)
        code = reference.subdivision_code(country, synonym or value)
        if code is None:
            if not reference.has_subdivisions(country):
                raise _fail(f"{country} has no states or regions in ISO 3166-2; leave state blank.")
            raise _fail(f"Unknown state or region of {country}: {value[:60]!r}. Use an ISO 3166-2 code or name, e.g. CA or California.")
        return code


ALL_FIELDS: Final = frozenset(LeadIn.model_fields)


def lead_input_fields() -> dict[str, dict[str, Any]]:
    """Per LeadIn field, what senders may send: ``{"max_length": int | None, "description": str}``,
    read from the same JSON Schema the API publishes, so a form built from it accepts exactly
    the spellings the normaliser does ("United States" for a country stored as "US")."""
    found: dict[str, dict[str, Any]] = {}
    for name, spec in LeadIn.model_json_schema()["properties"].items():
        options = [o for o in spec.get("anyOf", [spec]) if o.get("type") != "null"]
        text = next((o for o in options if o.get("type") == "string"), options[0] if options else {})
        found[name] = {"max_length": text.get("maxLength"), "description": text.get("description", "")}
    return found
REQUIRED: Final = tuple(name for name, info in LeadIn.model_fields.items() if info.is_required())

_MESSAGES: Final = {
    "missing": "This field is required.",
    "extra_forbidden": "Unknown field.",
    "string_type": "Expected text.",
}


def _messages(exc: PydanticValidationError) -> dict[str, list[str]]:
    return error_messages(exc.errors(include_url=False, include_input=False))


def error_messages(errors: list[dict[str, Any]], *, skip: int = 0) -> dict[str, list[str]]:
    """Pydantic error dicts as ``{field: [message, ...]}``: the field is the first part of the
    location after ``skip`` parts (the API's ``("body", "lead")`` prefix); "__all__" when the
    error is about the whole object (not an object, nothing sent)."""
    messages: dict[str, list[str]] = {}
    for error in errors:
        loc = tuple(error.get("loc") or ())[skip:]
        name = str(loc[0])[:60] if loc else "__all__"
        kind = error.get("type", "")
        message = _MESSAGES.get(kind) or error.get("msg", "Invalid.")
        if not loc and kind in ("model_attributes_type", "dict_type", "model_type", "missing"):
            message = "Expected a JSON object."
        if kind in ("string_too_long", "too_long"):
            limit = (error.get("ctx") or {}).get("max_length")
            message = f"At most {limit} characters once normalised (as stored)."
        messages.setdefault(name, []).append(message)
    return messages


def clean_lead(data: Any, *, vocabulary: Vocabulary | None = None, today: dt.date | None = None) -> dict[str, Any]:
    """Validate and normalise one lead; return the fields to store, or raise LeadInputError.

    ``data``: a mapping of field name -> value as decoded from JSON (or all text, from a CSV
    row). ``vocabulary``: synonyms and exchange rates (``reference.vocabulary_load()``; empty
    when None: ISO codes only, no conversion but the base currency's). ``today``: the day whose
    exchange rate converts the value (default: today, UTC).

    Returns model field names -> values, with ``currency`` defaulted to the base currency and
    ``value_base`` (the value in the base currency, or None when the currency has no rate).
    Raises LeadInputError({field: [messages]}) naming every field that is wrong.
    """
    vocabulary = vocabulary or EMPTY_VOCABULARY
    if not isinstance(data, dict):
        raise LeadInputError({"__all__": ["Expected a JSON object with the lead's fields."]})
    try:
        lead = LeadIn.model_validate(data, context={"vocabulary": vocabulary})
    except PydanticValidationError as exc:
        raise LeadInputError(_messages(exc)) from None
    return lead_fields(lead, vocabulary=vocabulary, today=today)


def lead_fields(lead: LeadIn, *, vocabulary: Vocabulary, today: dt.date | None = None) -> dict[str, Any]:
    """The fields to store for a validated ``lead`` (see ``clean_lead``); raises LeadInputError
    on ``value`` when it is too large once converted to the base currency."""
    cleaned = lead.model_dump(exclude_none=True)
    cleaned.setdefault("currency", vocabulary.base_currency)
    amount = cleaned.get("value", Decimal("0.00"))
    day = today or dt.datetime.now(dt.UTC).date()
    value_base = vocabulary.to_base(amount, cleaned["currency"], day)
    if value_base is not None and value_base > MAX_BASE_VALUE:
        raise LeadInputError({"value": [f"Too large once converted to {vocabulary.base_currency}."]})
    cleaned["value_base"] = value_base
    return cleaned


class DryRunLeadIn(LeadIn):
    """A lead to route in a dry run: ``LeadIn`` with ``source`` and ``external_id`` optional
    (nothing is stored, so nothing needs to be unique)."""

    model_config = ConfigDict(title="DryRunLead")

    source: _text_field(60, _source, pattern=SOURCE_PATTERN, description="Where the lead comes from") = "dry-run"
    external_id: _text_field(120, description="The sender's id (ignored: nothing is stored)") = "dry-run"


def _storable(value: str) -> str:
    problem = storable_text_problem(value)
    if problem:
        raise _fail(problem)
    return value


# Free text from the API (notes, filters): refused by field when PostgreSQL could not store or
# compare it (a NUL, a lone surrogate), rather than failing in the database.
StorableText = Annotated[str, AfterValidator(_storable)]


_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _iso_only(value: Any) -> Any:
    """pydantic reads a number (or a numeric string) as Unix time; the API takes ISO 8601 only."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise _fail("Use an ISO 8601 date-time with an offset, e.g. 2026-12-01T09:00:00+01:00.")
    return value


def _storable_datetime(value: dt.datetime) -> dt.datetime:
    from leadops.datetimes import RANGE_TEXT, validate_readable_datetime

    try:
        validate_readable_datetime(value)
    except DjangoValidationError:
        raise _fail(f"Pick a date {RANGE_TEXT}.") from None
    return value.astimezone(dt.UTC)  # PostgreSQL refuses offsets beyond ±15:59; UTC it always reads


# A date-time from the API (filters, away-until, absences): ISO 8601 with an offset, within the
# range that can be stored and read back (leadops.datetimes), handed on in UTC.
ApiDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_only), AfterValidator(_storable_datetime)]
