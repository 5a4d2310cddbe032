"""The configuration file's sections for intake reference data and saved import mappings:
exchange rates, lead synonyms and column mappings (issue 11, issue 20).

They are part of the one configuration schema (read by ``routing.config_io``, documented with the
engine's models in docs/config-format.md) but live outside ``routing.engine`` because their checks
need the ISO tables (pycountry, through ``routing.reference``) and the column mapping model of
``routing.import_mapping``; the engine imports no data library.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from routing.engine import schema
from routing.engine.schema import Text, _Model, _shown
from routing.import_mapping import ColumnMapping
from routing.reference import SYNONYM_FIELDS, currency_code, synonym_target_problem


def _rate(value: Any) -> Any:
    """An exchange rate written as text or a number (``"0.0067"``, ``0.0067``) -> Decimal."""
    shown = {"value": _shown(value)}
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise PydanticCustomError("rate", "expected a rate such as \"0.0067\", got {value}", shown)
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except (InvalidOperation, ValueError):
        raise PydanticCustomError("rate", "expected a rate such as \"0.0067\", got {value}", shown) from None
    if not number.is_finite() or number <= 0:
        raise PydanticCustomError("rate", "expected a positive rate, got {value}", shown)
    if number >= Decimal("1e10") or number != number.quantize(Decimal("1e-10"), rounding="ROUND_DOWN"):
        raise PydanticCustomError("rate", "at most 10 digits before the point and 10 after, got {value}", shown)
    return number


def _iso_date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()) else None
        except ValueError:
            pass
    raise PydanticCustomError("date", "expected a date YYYY-MM-DD, got {value}", {"value": _shown(value)})


class ExchangeRateFile(_Model):
    """An exchange rate ops maintain: one unit of ``currency`` in the base currency from ``as_of`` on."""

    currency: str = Field(min_length=3, max_length=3, description="ISO 4217 code in capitals, e.g. `JPY`; not the base currency")
    rate: Annotated[Decimal, BeforeValidator(_rate)] = Field(
        description="base-currency units for one unit of `currency`, as text, e.g. `\"0.0067\"`; positive, "
                    "at most 10 decimals")  # fmt: skip
    as_of: Annotated[dt.date, BeforeValidator(_iso_date)] = Field(description="YYYY-MM-DD: the rate applies to leads received on or after this day")
    note: Text = Field("", max_length=200, description="free text, e.g. where the rate comes from")

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if currency_code(value) != value:
            raise PydanticCustomError("currency", "unknown currency {value}: use an ISO 4217 code in capitals such as JPY",
                                      {"value": _shown(value)})  # fmt: skip
        return value

    def dump(self) -> dict[str, Any]:
        return {"currency": self.currency, "rate": format(self.rate.normalize(), "f"), "as_of": self.as_of.isoformat(),
                "note": self.note}  # fmt: skip


class LeadSynonymFile(_Model):
    """A spelling senders use that the lead normaliser accepts: ``alias`` in ``field`` means ``value``."""

    field: str = Field(description="`" + "`, `".join(SYNONYM_FIELDS) + "`")
    alias: str = Field(min_length=1, max_length=100, description="what senders write, e.g. `hot` (matched ignoring case and accents)")
    value: str = Field(min_length=1, max_length=50, description="what LeadOps stores: `high` for intent, an ISO code for "
                                                                "country (`GB`), state (`US-CA`), language (`es`), currency")  # fmt: skip

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value not in SYNONYM_FIELDS:
            raise PydanticCustomError("field", "unknown field {value}; use one of {known}",
                                      {"value": _shown(value), "known": ", ".join(SYNONYM_FIELDS)})  # fmt: skip
        return value

    @model_validator(mode="after")
    def _target(self) -> LeadSynonymFile:
        problem = synonym_target_problem(self.field, self.value)
        if problem:
            raise PydanticCustomError("synonym", "value: {problem}", {"problem": problem})
        return self

    def dump(self) -> dict[str, Any]:
        return {"field": self.field, "alias": self.alias, "value": self.value}


class ImportMappingFile(ColumnMapping):
    """A saved column mapping for lead imports, chosen by name on the import page and by
    ``importleads --mapping NAME`` (fields as in ``routing.import_mapping.ColumnMapping``)."""

    name: str = Field(min_length=1, max_length=100, description="unique, e.g. `Trade show scanner`")

    def dump(self) -> dict[str, Any]:
        return {"name": self.name, "columns": dict(self.columns), "source": self.source, "currency": self.currency}


# Documented in docs/config-format.md with the engine's models (``manage.py configdoc``).
DOCUMENTED: Final[dict[str, type[BaseModel]]] = {
    **schema.DOCUMENTED,
    "exchange_rates[]": ExchangeRateFile, "lead_synonyms[]": LeadSynonymFile, "import_mappings[]": ImportMappingFile,
}  # fmt: skip


def reference_markdown() -> str:
    """The field reference of docs/config-format.md: every documented model of the file format."""
    return schema.reference_markdown(DOCUMENTED)
