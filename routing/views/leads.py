from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from reps.access import ops_required
from routing.csv_import import leads_import_csv


class CsvUploadForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="Header: lead field names; attr.<key> for custom attributes")

    def clean_file(self):  # noqa: ANN201
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(".csv"):
            raise forms.ValidationError("Upload a .csv file.")
        return upload


@ops_required
def leads_import(request: HttpRequest) -> HttpResponse:
    report = None
    form = CsvUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        report = leads_import_csv(stream=form.cleaned_data["file"].file)
        if report.header_error:
            form.add_error("file", report.header_error)
    return render(request, "leads/import.html", {"form": form, "report": report})
