"""Inputs of the dashboard filters: every query parameter is validated, HTMX or not."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from reps.models import Pool

MAX_ID = 2**63 - 1  # ids are bigint; a larger number would overflow the SQLite driver (a 500)
# Day arithmetic (end + 1 day, UTC offsets) overflows at the ends of the calendar: keep dates sane.
DAY_RANGE = [MinValueValidator(dt.date(2000, 1, 1)), MaxValueValidator(dt.date(2100, 12, 31))]
WINDOW_CHOICES = [("today", "Today"), ("7d", "Last 7 days"), ("30d", "Last 30 days"), ("custom", "Custom")]


class WindowForm(forms.Form):
    window = forms.ChoiceField(choices=WINDOW_CHOICES, required=False, initial="7d")
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), validators=DAY_RANGE)
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), validators=DAY_RANGE)

    def clean(self) -> dict:
        data = super().clean()
        data["window"] = data.get("window") or "7d"
        if data["window"] == "custom":
            if not data.get("start") or not data.get("end"):
                raise forms.ValidationError("A custom window needs a start and an end date.")
            if data["start"] > data["end"]:
                raise forms.ValidationError("The start date must not be after the end date.")
            if (data["end"] - data["start"]).days > 366:
                raise forms.ValidationError("A custom window is at most a year long.")
        return data


class EquityForm(WindowForm):
    pool = forms.ModelChoiceField(queryset=Pool.objects.filter(active=True), required=False, empty_label=None)
    field_order = ["pool", "window", "start", "end"]


class SlaForm(WindowForm):
    by = forms.ChoiceField(choices=[("segment", "Segment"), ("pool", "Pool"), ("rep", "Rep")], required=False)
    field_order = ["by", "window", "start", "end"]


class DecisionFilterForm(forms.Form):
    """Ids rather than model choices: the template renders the option lists from one cheap
    query each, since widget rendering of 1,000 reps would cost more than the whole page."""

    start = forms.DateField(required=False, label="From", validators=DAY_RANGE)
    end = forms.DateField(required=False, label="To (inclusive)", validators=DAY_RANGE)
    pool = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    rule = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    rep = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    outcome = forms.ChoiceField(choices=[("", "Any"), ("offer", "Offer"), ("holding", "Holding")], required=False)
    segment = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    lead = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, label="Lead id")
    cursor = forms.CharField(required=False, max_length=80)


class ReplayForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), validators=DAY_RANGE)
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), validators=DAY_RANGE)
    pool = forms.ModelChoiceField(queryset=Pool.objects.filter(active=True), required=False, empty_label="All pools",
                                  help_text="Limit the share comparison to one pool")  # fmt: skip

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                raise forms.ValidationError("The start date must not be after the end date.")
            if (end - start).days > 92:
                raise forms.ValidationError("Replay at most 93 days at a time.")
            if end > dt.date.today() + dt.timedelta(days=1):
                raise forms.ValidationError("Replay needs a past window.")
        return data
