"""Exchange rates and lead synonyms, maintained by ops (see docs/lead-intake.md)."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from reps.access import ops_required
from routing.models import ExchangeRate, LeadSynonym
from routing.reference import ReferenceDataError, exchange_rate_create, lead_synonym_create, lead_synonym_delete


class ExchangeRateForm(forms.Form):
    currency = forms.CharField(max_length=3, min_length=3, help_text="ISO 4217 code, e.g. JPY")
    rate = forms.DecimalField(max_digits=20, decimal_places=10, min_value=Decimal("0.0000000001"),
                              help_text="Base-currency units for one unit of this currency")  # fmt: skip
    as_of = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), help_text="Applies from this day on")
    note = forms.CharField(max_length=200, required=False)


class SynonymForm(forms.Form):
    field = forms.ChoiceField(choices=LeadSynonym.Field.choices)
    alias = forms.CharField(max_length=100, help_text="What senders write, e.g. hot")
    value = forms.CharField(max_length=50, help_text="What LeadOps stores, e.g. high, GB, US-CA")


def _apply(form: forms.Form, service, **kwargs) -> bool:  # noqa: ANN001
    try:
        service(**kwargs)
    except ReferenceDataError as exc:
        for name, message in exc.errors.items():
            form.add_error(name if name in form.fields else None, message)
        return False
    return True


@ops_required
@require_http_methods(["GET", "POST"])
def reference_data(request: HttpRequest) -> HttpResponse:
    rate_form = ExchangeRateForm(request.POST if request.POST.get("kind") == "rate" else None, prefix="rate")
    synonym_form = SynonymForm(request.POST if request.POST.get("kind") == "synonym" else None, prefix="syn")
    if request.method == "POST":
        if rate_form.is_bound and rate_form.is_valid():
            data = rate_form.cleaned_data
            if _apply(rate_form, exchange_rate_create, currency=data["currency"], rate=data["rate"],
                      as_of=data["as_of"], note=data["note"]):  # fmt: skip
                messages.success(request, f"Rate for {data['currency'].upper()} saved.")
                return redirect("leads-reference")
        elif synonym_form.is_bound and synonym_form.is_valid():
            data = synonym_form.cleaned_data
            if _apply(synonym_form, lead_synonym_create, field_name=data["field"], alias=data["alias"], value=data["value"]):
                messages.success(request, f"Synonym {data['alias']!r} saved.")
                return redirect("leads-reference")
    context = {
        "rates": ExchangeRate.objects.all(), "synonyms": LeadSynonym.objects.all(),
        "rate_form": rate_form, "synonym_form": synonym_form, "base_currency": settings.LEADOPS_BASE_CURRENCY,
    }  # fmt: skip
    return render(request, "leads/reference.html", context)


@ops_required
@require_POST
def synonym_delete(request: HttpRequest, synonym_id: int) -> HttpResponse:
    synonym = LeadSynonym.objects.filter(id=synonym_id).first()
    if synonym is None:  # removed already (a second click, another tab): nothing to do
        messages.info(request, "That synonym was already removed.")
    else:
        lead_synonym_delete(synonym=synonym)
        messages.success(request, f"Synonym {synonym.alias!r} removed.")
    return redirect("leads-reference")
