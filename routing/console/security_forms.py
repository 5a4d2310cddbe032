"""Forms of the ops security pages: API tokens and login unlocks."""

from __future__ import annotations

from django import forms

from routing.models import TokenScope


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name", help_text="Who or what uses it, e.g. “Website form”.")
    scopes = forms.MultipleChoiceField(
        choices=TokenScope.choices, widget=forms.CheckboxSelectMultiple, initial=[TokenScope.INTAKE.value],
        label="Allowed to", help_text="Nothing ticked means “Send leads” only.", required=False,
    )  # fmt: skip

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name or any(ord(c) < 32 for c in name):
            raise forms.ValidationError("Use a plain one-line name.")
        return name


class UnlockForm(forms.Form):
    username = forms.CharField(max_length=150, required=False)
    ip_address = forms.GenericIPAddressField(required=False, label="Client address")

    def clean(self) -> dict:
        data = super().clean()
        if bool(data.get("username")) == bool(data.get("ip_address")):
            raise forms.ValidationError("Unlock either one account or one client address.")
        return data
