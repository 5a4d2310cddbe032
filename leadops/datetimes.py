"""The range of date-times LeadOps accepts from any outside input, in one place.

PostgreSQL stores ``timestamptz`` up to the year 294276, but Python's ``datetime`` (and so the
database driver) stops at 9999-12-31. A time entered as ``9999-12-31T23:59`` in America/New_York
is 10000-01-01 04:59 UTC: PostgreSQL takes it, and every later read of that row fails. So every
date-time a user, a file or the API can set is checked against this range *after* conversion to
UTC: by the model fields (``full_clean``: console forms, Django admin, config import), by the
form field below (team and inbox forms), and by check constraints in the database as the last
line. The upper end is also the "away until I come back" marker (``reps.selectors.AWAY_UNTIL_BACK``),
far enough from the driver's limit that adding a day in a report cannot overflow.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError

EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
RANGE_TEXT = "between the years 1900 and 8999"


def validate_readable_datetime(value: dt.datetime | None) -> None:
    """Refuse a date-time that could not be read back once stored.

    ``value``: a timezone-aware datetime (naive ones are read as UTC). Raises ``ValidationError``
    (code ``out_of_range``) when, converted to UTC, it falls outside [EARLIEST, LATEST].
    """
    if value is None:
        return
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    try:
        in_utc = aware.astimezone(dt.UTC)
    except (OverflowError, ValueError):  # 9999-12-31 23:59 at UTC-5 is past datetime.max in UTC
        in_utc = None
    if in_utc is None or not (EARLIEST <= in_utc <= LATEST):
        raise ValidationError(f"Pick a date {RANGE_TEXT}.", code="out_of_range")


class ReadableDateTimeField(forms.DateTimeField):
    """A form date-time (read in the current time zone) limited to what can be stored and read."""

    default_validators = [validate_readable_datetime]
