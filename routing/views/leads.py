"""The CSV import page: upload (checked against the size limit), the mapping step (each column of
the file mapped to a lead field, a custom attribute or nothing; a preview and a dry run), then a
progress page that polls until the background import finishes and shows its report.

A file already in LeadOps' own column names can skip the mapping step ("Import now")."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from reps.access import ops_required
from routing.csv_import import (
    CsvRefused, DryRun, encoding_name, import_mapping_save, lead_import_create, lead_import_dry_run,
    lead_import_enqueue, lead_import_start,
)  # fmt: skip
from routing.import_mapping import (
    ATTRIBUTE_PREFIX, FIELD_LABELS, IGNORE, ColumnMapping, MappingError, attribute_target, mapping_parse, mapping_suggest,
    target_label,
)  # fmt: skip
from routing.models import ImportMapping, LeadImport

ENCODING_CHOICES = [("", "Detect (UTF-8, UTF-16 or Windows Excel)"), ("utf-8", "UTF-8"), ("utf-16", "UTF-16"),
                    ("cp1252", "Windows (Excel, Western European)"), ("latin-1", "ISO-8859-1 (Latin-1)")]  # fmt: skip
SEPARATOR_CHOICES = [("", "Detect from the header"), (",", "Comma"), (";", "Semicolon"), ("\t", "Tab"), ("|", "Pipe")]


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KB"


class CsvUploadForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="Any header row: the next step maps its columns to lead fields")
    encoding = forms.ChoiceField(choices=ENCODING_CHOICES, required=False, label="Encoding")
    separator = forms.ChoiceField(choices=SEPARATOR_CHOICES, required=False, label="Separator")
    saved_mapping = forms.ModelChoiceField(queryset=ImportMapping.objects.all(), required=False, to_field_name="name",
                                           label="Saved mapping", empty_label="Suggest one from the headers")  # fmt: skip

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
    """Upload. "Map columns" (the page's main button) leads to the mapping step; "Import now", or a
    post without a button (scripts), imports a file in LeadOps' own column names directly."""
    form = CsvUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload, saved = form.cleaned_data["file"], form.cleaned_data["saved_mapping"]
        to_map = request.POST.get("action") == "map"
        job = lead_import_create(path=_store(upload), file_name=upload.name, encoding=form.cleaned_data["encoding"],
                                 delimiter=form.cleaned_data["separator"], user=request.user, awaiting_mapping=to_map,
                                 mapping=mapping_parse(saved.as_json()) if saved and to_map else None,
                                 mapping_name=saved.name if saved and to_map else "")  # fmt: skip
        if to_map:
            return redirect("leads-import-mapping", import_id=job.id)
        lead_import_enqueue(import_id=job.id)
        return redirect("leads-import-detail", import_id=job.id)
    recent = LeadImport.objects.order_by("-created_at", "-id")[:10]
    return render(request, "leads/import.html", {"form": form, "recent": recent})


@ops_required
@require_http_methods(["GET"])
@vary_on_headers("HX-Request")
def leads_import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    job = get_object_or_404(LeadImport, id=import_id)
    if job.status == LeadImport.Status.MAPPING:  # nothing runs until its columns are mapped
        return redirect("leads-import-mapping", import_id=job.id)
    finished = job.status in (LeadImport.Status.DONE, LeadImport.Status.REFUSED)
    template = "leads/import_detail.html"
    if getattr(request, "htmx", False):
        template += "#import-progress"
    return render(request, template, {"job": job, "finished": finished})


# --- the mapping step --------------------------------------------------------------------------


def _target_choices(header: str, current: str) -> list[tuple[str, str]]:
    """What a column can fill: every lead field, a custom attribute named after the column (and
    the saved one, when it differs), or nothing."""
    own = attribute_target(header)
    attributes = [own] + ([current] if current.startswith(ATTRIBUTE_PREFIX) and current != own else [])
    return ([(IGNORE, target_label(IGNORE))] + [(name, label) for name, label in FIELD_LABELS.items()]
            + [(a, target_label(a)) for a in attributes])  # fmt: skip


class MappingForm(forms.Form):
    """The mapping step: one select per column, a fixed source and currency, the file's encoding
    and separator, and a name to save the mapping under. The mapping itself is validated by
    ``ColumnMapping`` (``mapping_parse``), the one schema the command line and config import use."""

    encoding = forms.ChoiceField(choices=ENCODING_CHOICES, required=False, label="Encoding")
    separator = forms.ChoiceField(choices=SEPARATOR_CHOICES, required=False, label="Separator")
    source = forms.CharField(required=False, max_length=200, label="Source for every row",
                             help_text="Used when no column fills the source, e.g. trade-show-2026")  # fmt: skip
    currency = forms.CharField(required=False, max_length=20, label="Currency of the value column",
                               help_text="ISO code such as EUR; used when no column fills the currency")  # fmt: skip
    save_as = forms.CharField(required=False, max_length=100, label="Save this mapping as",
                              help_text="e.g. Trade show scanner; leave blank not to save")  # fmt: skip

    def __init__(self, *args: Any, headers: list[str], initial_mapping: ColumnMapping, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.headers = headers
        for i, header in enumerate(headers):
            current = initial_mapping.columns.get(header, IGNORE)
            self.fields[f"col_{i}"] = forms.ChoiceField(choices=_target_choices(header, current), label=header,
                                                        initial=current)  # fmt: skip
        self.fields["source"].initial = initial_mapping.source
        self.fields["currency"].initial = initial_mapping.currency

    def column_fields(self) -> list[forms.BoundField]:
        return [self[f"col_{i}"] for i in range(len(self.headers))]

    def mapping(self) -> ColumnMapping | None:
        """The mapping posted, or None with the problems added to the form (after is_valid)."""
        data = {
            "columns": {h: self.cleaned_data[f"col_{i}"] for i, h in enumerate(self.headers)},
            "source": self.cleaned_data["source"], "currency": self.cleaned_data["currency"],
        }  # fmt: skip
        try:
            return mapping_parse(data)
        except MappingError as exc:
            for path, messages in exc.errors.items():
                name = path.split(".", 1)[0]
                self.add_error(name if name in ("source", "currency") else None, " ".join(messages))
            return None


def fingerprint(mapping: ColumnMapping, encoding: str, separator: str) -> str:
    """Identifies what a dry run checked, so "Import" runs only what the page previewed."""
    text = json.dumps([mapping.model_dump(), encoding, separator], sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _awaiting(request: HttpRequest, import_id: int) -> LeadImport | HttpResponse:
    job = get_object_or_404(LeadImport, id=import_id)
    if job.status != LeadImport.Status.MAPPING:
        return redirect("leads-import-detail", import_id=job.id)
    return job


@ops_required
@require_http_methods(["GET", "POST"])
def leads_import_mapping(request: HttpRequest, import_id: int) -> HttpResponse:
    """GET: the suggested (or saved) mapping with its preview and dry run. POST ``preview``: the
    changed mapping's preview and dry run; POST ``import``: starts the import when the mapping is
    the one just previewed (else shows the new preview first)."""
    job = _awaiting(request, import_id)
    if isinstance(job, HttpResponse):
        return job
    encoding = request.POST.get("encoding", job.encoding) if request.method == "POST" else job.encoding
    separator = request.POST.get("separator", job.delimiter) if request.method == "POST" else job.delimiter
    context: dict[str, Any] = {"job": job, "saved": ImportMapping.objects.all()}
    try:
        header = _header(job, encoding, separator)
    except CsvRefused as exc:
        header, context["refusal"] = [], str(exc)
    initial = _initial_mapping(job, header, request.GET.get("saved", ""))
    form = MappingForm(request.POST or None, headers=header, initial_mapping=initial,
                       initial={"encoding": encoding, "separator": separator})  # fmt: skip
    mapping = initial if request.method == "GET" else (form.mapping() if form.is_valid() else None)
    if mapping is not None and header:
        key = fingerprint(mapping, encoding, separator)
        if request.POST.get("action") == "import" and request.POST.get("previewed") == key:
            started = _start(job, form, mapping, encoding, separator)
            if started is not None:
                return started
        if request.POST.get("action") == "import":
            context["changed"] = True
        context["dry_run"] = _dry_run(job, mapping, encoding, separator, context)
        context["previewed"] = key if context["dry_run"] is not None else ""
    context["form"] = form
    context["columns"] = _columns_with_samples(form, context.get("dry_run"))
    return render(request, "leads/import_mapping.html", context)


def _columns_with_samples(form: MappingForm, dry_run: DryRun | None) -> list[tuple[forms.BoundField, str]]:
    """Each column's select with the first values of that column in the file ("Ana, Bo, Cy")."""
    rows = [cells for _line, cells, _lead, _errors in dry_run.preview] if dry_run else []
    columns = []
    for header, field in zip(form.headers, form.column_fields(), strict=True):
        values = [cells.get(header, "").strip() for cells in rows]
        shown = ", ".join([v[:40] for v in values if v][:3])
        columns.append((field, shown))
    return columns


def _header(job: LeadImport, encoding: str, separator: str) -> list[str]:
    from routing.csv_import import csv_inspect

    chosen = encoding_name(encoding) if encoding else None
    return list(csv_inspect(Path(job.path), encoding=chosen, delimiter=separator or None, check_header=False).header)


def _initial_mapping(job: LeadImport, header: list[str], saved_name: str) -> ColumnMapping:
    """A saved mapping asked for by name, else the one recorded with the upload, else the
    suggestion; columns the saved mapping does not name get the suggestion."""
    suggested = ColumnMapping.model_validate({"columns": mapping_suggest(header)}) if len(set(header)) == len(header) \
        else ColumnMapping()
    chosen = ImportMapping.objects.filter(name=saved_name).first() if saved_name else None
    base = mapping_parse(chosen.as_json()) if chosen else (ColumnMapping.model_validate(job.mapping) if job.mapping else None)
    if base is None:
        return suggested
    columns = {h: base.columns.get(h, suggested.columns.get(h, IGNORE)) for h in header}
    try:
        return mapping_parse({"columns": columns, "source": base.source, "currency": base.currency})
    except MappingError:  # a saved column and a suggested one fill the same field: keep the saved one
        used = {t for h, t in base.columns.items() if h in columns}
        columns = {h: base.columns[h] if h in base.columns else (t if t not in used else IGNORE)
                   for h, t in columns.items()}  # fmt: skip
        return mapping_parse({"columns": columns, "source": base.source, "currency": base.currency})


def _dry_run(job: LeadImport, mapping: ColumnMapping, encoding: str, separator: str,
             context: dict[str, Any]) -> DryRun | None:  # fmt: skip
    try:
        return lead_import_dry_run(path=Path(job.path), mapping=mapping, encoding=encoding_name(encoding) if encoding else None,
                                   delimiter=separator or None, limit=settings.LEADOPS_IMPORT_DRY_RUN_ROWS)  # fmt: skip
    except CsvRefused as exc:
        context["refusal"] = str(exc)
        return None


def _start(job: LeadImport, form: MappingForm, mapping: ColumnMapping, encoding: str,
           separator: str) -> HttpResponse | None:  # fmt: skip
    """Save the mapping when asked, start the import and go to its progress page; None (with
    the error on the form) when the mapping cannot be saved under that name."""
    from django.core.exceptions import ValidationError

    name = form.cleaned_data["save_as"].strip()
    if name:
        try:
            import_mapping_save(name=name, mapping=mapping)
        except ValidationError as exc:
            form.add_error("save_as", " ".join(exc.messages))
            return None
    lead_import_start(job=job, mapping=mapping, mapping_name=name or job.mapping_name,
                      encoding=encoding_name(encoding) if encoding else "", delimiter=separator)  # fmt: skip
    return redirect("leads-import-detail", import_id=job.id)
