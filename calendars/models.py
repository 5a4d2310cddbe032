"""Business calendars: when a team, a segment's SLA clock or a rep is open for business.

A calendar is a timezone, weekly hours (split and overnight shifts), public holidays of one
country (and optionally one subdivision) from the ``holidays`` library, and company days off.
Segments, pools and teams may point at one; a rep keeps their own hours and may follow one.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from reps.models import validate_timezone, validate_working_hours


def supported_countries() -> dict[str, list[str]]:
    """ISO 3166-1 alpha-2 code -> subdivision codes the ``holidays`` library knows."""
    import holidays

    return holidays.list_supported_countries()


class BusinessCalendar(models.Model):
    name = models.CharField(max_length=100, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    weekly_hours = models.JSONField(
        default=dict, blank=True, validators=[validate_working_hours],
        help_text='{"mon": [["09:00", "17:00"]], ...}; "22:00"-"06:00" runs past midnight; empty = always open',
    )  # fmt: skip
    holiday_country = models.CharField(max_length=2, blank=True, help_text="ISO country code, e.g. US; blank = none")
    holiday_subdivision = models.CharField(max_length=10, blank=True, help_text="State or region, e.g. NY")
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.holiday_country = self.holiday_country.strip().upper()
        self.holiday_subdivision = self.holiday_subdivision.strip().upper()
        if not self.holiday_country:
            if self.holiday_subdivision:
                raise ValidationError({"holiday_subdivision": "Choose a country before a subdivision"})
            return
        countries = supported_countries()
        if self.holiday_country not in countries:
            raise ValidationError({"holiday_country": f"No public holidays known for {self.holiday_country!r}"})
        subdivisions = {s.upper() for s in countries[self.holiday_country]}
        if self.holiday_subdivision and self.holiday_subdivision not in subdivisions:
            raise ValidationError(
                {"holiday_subdivision": f"{self.holiday_subdivision!r} is not a subdivision of {self.holiday_country}"}
            )


class CompanyDayOff(models.Model):
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="days_off")
    date = models.DateField()
    name = models.CharField(max_length=100, default="Company day off")
    history = HistoricalRecords()

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="company_day_off_unique")]

    def __str__(self) -> str:
        return f"{self.date}: {self.name}"
