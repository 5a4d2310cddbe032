"""Inbox and team forms. Every input is validated here, HTMX or not."""

from __future__ import annotations

from django import forms
from django.db.models import QuerySet

from leadops.datetimes import ReadableDateTimeField
from reps.models import Absence, Rep
from routing.models import Lead, Offer, TouchChannel


class DeclineForm(forms.Form):
    reason = forms.ChoiceField(choices=[("", "Why not?")] + list(Offer.DeclineReason.choices))
    note = forms.CharField(max_length=500, required=False, widget=forms.TextInput(attrs={"placeholder": "Anything to add (optional)"}))


class FirstTouchForm(forms.Form):
    channel = forms.ChoiceField(choices=TouchChannel.choices)


class CloseForm(forms.Form):
    outcome = forms.ChoiceField(choices=[(Lead.Status.CONVERTED, "Converted"), (Lead.Status.CLOSED_LOST, "Closed lost")])


class HandBackForm(forms.Form):
    note = forms.CharField(max_length=400, required=False)


class AwayForm(forms.Form):
    """'now' = away until I come back, 'until' = away until a time (rep's local time), 'back'."""

    mode = forms.ChoiceField(choices=[("now", "Away now"), ("until", "Away until"), ("back", "I'm back")])
    until = ReadableDateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    # Going away releases the rep's open offers: the first post asks, the second carries the
    # fingerprint of the offers the rep saw when confirming (a new offer since then asks again).
    confirm = forms.CharField(required=False, max_length=32)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("mode") == "until" and not data.get("until"):
            self.add_error("until", "Pick the time you will be back.")
        return data


class AbsenceForm(forms.Form):
    rep = forms.ModelChoiceField(queryset=Rep.objects.none(), empty_label="Choose a rep")
    starts_at = ReadableDateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    ends_at = ReadableDateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    reason = forms.ChoiceField(choices=Absence.Reason.choices)
    note = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, reps: QuerySet[Rep], **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["rep"].queryset = reps

    def clean(self) -> dict:
        data = super().clean()
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", "The absence must end after it starts.")
        return data
