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

    acts_as = forms.CharField(
        max_length=150, required=False, label="Acts as (personal token)",
        help_text="A username: the token then needs that user's role too and sees only their team, "
                  "e.g. a rep's mobile app. Blank: an integration's token, which sees every team.",
    )  # fmt: skip

    def clean_acts_as(self):  # noqa: ANN201 - a User or None
        username = self.cleaned_data["acts_as"].strip()
        if not username:
            return None
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"No active user {username!r}.")
        return user

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
