"""The CSV import page: upload (checked against the size limit), then a progress page that polls
until the background import finishes and shows its report."""

from __future__ import annotations

import uuid
from pathlib import Path

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from reps.access import ops_required
from routing.csv_import import lead_import_create, lead_import_enqueue
from routing.models import LeadImport

ENCODING_CHOICES = [("", "Detect (UTF-8, UTF-16 or Windows Excel)"), ("utf-8", "UTF-8"), ("utf-16", "UTF-16"),
                    ("cp1252", "Windows (Excel, Western European)"), ("latin-1", "ISO-8859-1 (Latin-1)")]  # fmt: skip
SEPARATOR_CHOICES = [("", "Detect from the header"), (",", "Comma"), (";", "Semicolon"), ("\t", "Tab"), ("|", "Pipe")]


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KB"


class CsvUploadForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="Header: lead field names; attr.<key> for custom attributes")
    encoding = forms.ChoiceField(choices=ENCODING_CHOICES, required=False, label="Encoding")
    separator = forms.ChoiceField(choices=SEPARATOR_CHOICES, required=False, label="Separator")

    def clean_file(self):  # noqa: ANN201
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(".csv"):
            raise forms.ValidationError("Upload a .csv file.")
        limit = settings.LEADOPS_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {_megabytes(upload.size)}; the limit is {_megabytes(limit)}. Split it into smaller "
                "files, or ask an administrator to run manage.py importleads on the server."
            )
        return upload


def _store(upload) -> Path:  # noqa: ANN001
    directory = settings.LEADOPS_IMPORT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}.csv"
    with path.open("wb") as out:
        for piece in upload.chunks():
            out.write(piece)
    return path


@ops_required
@require_http_methods(["GET", "POST"])
def leads_import(request: HttpRequest) -> HttpResponse:
    form = CsvUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        job = lead_import_create(path=_store(upload), file_name=upload.name, encoding=form.cleaned_data["encoding"],
                                 delimiter=form.cleaned_data["separator"], user=request.user)  # fmt: skip
        lead_import_enqueue(import_id=job.id)
        return redirect("leads-import-detail", import_id=job.id)
    recent = LeadImport.objects.order_by("-created_at", "-id")[:10]
    return render(request, "leads/import.html", {"form": form, "recent": recent})


@ops_required
@require_http_methods(["GET"])
@vary_on_headers("HX-Request")
def leads_import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    job = get_object_or_404(LeadImport, id=import_id)
    finished = job.status in (LeadImport.Status.DONE, LeadImport.Status.REFUSED)
    template = "leads/import_detail.html"
    if getattr(request, "htmx", False):
        template += "#import-progress"
    return render(request, template, {"job": job, "finished": finished})
