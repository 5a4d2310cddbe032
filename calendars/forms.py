"""Form pieces for schedules: a weekly hours grid (not raw JSON) and a timezone picker.

Used by the calendar form here and by the rep form of the ops console.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from calendars.models import BusinessCalendar, CompanyDayOff
from reps.models import WEEKDAYS, validate_working_hours

DAY_LABELS = dict(zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"), strict=True))
SHIFTS_PER_DAY = 2
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@lru_cache(maxsize=1)
def timezone_choices() -> list[tuple[str, str]]:
    """Every IANA zone of the system's tz database, UTC first, then by name."""
    zones = sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
    return [("UTC", "UTC"), *((z, z.replace("_", " ")) for z in zones)]


class TimezoneField(forms.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "Times and working hours are read in this zone")
        super().__init__(choices=timezone_choices, **kwargs)

    def valid_value(self, value: Any) -> bool:
        # Keep zones that are valid but not listed (e.g. "Etc/GMT+5" saved by an import).
        if super().valid_value(value):
            return True
        try:
            zoneinfo.ZoneInfo(str(value))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return False
        return True


class WeeklyHoursWidget(forms.MultiWidget):
    """Seven days x two shifts x (from, to) time inputs, laid out as a grid."""

    template_name = "calendars/weekly_hours_widget.html"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        widgets = [forms.TimeInput(attrs={"type": "time", "step": 60}, format="%H:%M")
                   for _ in range(len(WEEKDAYS) * SHIFTS_PER_DAY * 2)]  # fmt: skip
        super().__init__(widgets, attrs)

    def decompress(self, value: Any) -> list[str]:
        values = [""] * (len(WEEKDAYS) * SHIFTS_PER_DAY * 2)
        if not isinstance(value, dict):
            return values
        for d, day in enumerate(WEEKDAYS):
            for s, pair in enumerate((value.get(day) or [])[:SHIFTS_PER_DAY]):
                if isinstance(pair, (list, tuple)) and len(pair) == 2:
                    start, end = pair
                    values[(d * SHIFTS_PER_DAY + s) * 2] = start
                    values[(d * SHIFTS_PER_DAY + s) * 2 + 1] = "00:00" if end == "24:00" else end
        return values

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        subs = context["widget"]["subwidgets"]
        per_day = SHIFTS_PER_DAY * 2
        for d, day in enumerate(WEEKDAYS):
            for s in range(SHIFTS_PER_DAY):
                for k, word in enumerate(("from", "to")):
                    subs[(d * per_day) + 2 * s + k]["attrs"]["aria-label"] = f"{DAY_LABELS[day]} shift {s + 1} {word}"
        context["days"] = [
            {"label": DAY_LABELS[day], "key": day,
             "shifts": [(subs[(d * per_day) + 2 * s], subs[(d * per_day) + 2 * s + 1]) for s in range(SHIFTS_PER_DAY)]}
            for d, day in enumerate(WEEKDAYS)
        ]  # fmt: skip
        return context


class WeeklyHoursField(forms.MultiValueField):
    """Posts 28 times; cleans to ``{"mon": [["09:00", "17:00"]], ...}`` (the model's JSON).

    A shift needs both times; "to" at or before "from" runs past midnight (22:00 to 06:00);
    "to" 00:00 means midnight at the end of the day. An empty grid means "no schedule".
    """

    widget = WeeklyHoursWidget

    def __init__(self, **kwargs: Any) -> None:
        fields = [forms.CharField(required=False) for _ in range(len(WEEKDAYS) * SHIFTS_PER_DAY * 2)]
        kwargs.setdefault("help_text", "Up to two shifts a day; leave a day empty for a day off; "
                                       "an empty grid means always working. A shift may run past midnight.")  # fmt: skip
        super().__init__(fields, require_all_fields=False, required=False, **kwargs)

    def compress(self, data_list: list[str]) -> dict[str, list[list[str]]]:
        if not data_list:
            return {}
        hours: dict[str, list[list[str]]] = {}
        errors = []
        for d, day in enumerate(WEEKDAYS):
            for s in range(SHIFTS_PER_DAY):
                start = (data_list[(d * SHIFTS_PER_DAY + s) * 2] or "").strip()[:5]
                end = (data_list[(d * SHIFTS_PER_DAY + s) * 2 + 1] or "").strip()[:5]
                if not start and not end:
                    continue
                if not (_HHMM.match(start) and _HHMM.match(end)):
                    errors.append(f"{DAY_LABELS[day]}, shift {s + 1}: give both times as HH:MM")
                    continue
                if start == end:
                    errors.append(f"{DAY_LABELS[day]}, shift {s + 1}: starts and ends at {start}")
                    continue
                hours.setdefault(day, []).append([start, "24:00" if end == "00:00" else end])
        if errors:
            raise ValidationError(errors)
        validate_working_hours(hours)
        return hours


class CalendarForm(forms.ModelForm):
    timezone = TimezoneField()
    weekly_hours = WeeklyHoursField(label="Weekly hours")

    class Meta:
        model = BusinessCalendar
        fields = ["name", "timezone", "weekly_hours", "holiday_country", "holiday_subdivision"]
        labels = {"holiday_country": "Public holidays of (country code)", "holiday_subdivision": "… and state or region"}


CompanyDayOffFormSet = forms.inlineformset_factory(
    BusinessCalendar, CompanyDayOff, fields=["date", "name"], extra=1, can_delete=True, max_num=366,
    absolute_max=366, validate_max=True, widgets={"date": forms.DateInput(attrs={"type": "date"})},
)  # fmt: skip
