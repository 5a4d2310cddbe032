"""Accounts in the ops console: list and search, create and edit, delete, import from CSV.

Every write goes through ``routing.services`` (``account_upsert``, ``account_delete``,
``accounts_import_rows``); every input is read through the one account schema
(``routing.engine.schema.AccountFile``) via ``services.account_validate``.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from reps.access import ops_required
from reps.models import Rep
from routing import services
from routing.csv_import import CsvRefused, csv_inspect, csv_records, separator_hint
from routing.models import Account
from routing.views.leads import ENCODING_CHOICES, SEPARATOR_CHOICES

MAX_IMPORT_BYTES = 10 * 1024 * 1024  # imported while the page waits: bigger files go through the API or config
MAX_IMPORT_ROWS = 20_000
LIST_LIMIT = 100
HEADER_HELP = "external_id,name,domains,owner,tier,territory,status and attr.<key> for custom attributes"


class AccountForm(forms.Form):
    """The account fields as text; ``services.account_validate`` reads them through the schema."""

    external_id = forms.CharField(label="CRM id", max_length=120, help_text="The account's id in your CRM")
    name = forms.CharField(label="Company name", max_length=200)
    domains = forms.CharField(label="Domains", required=False, max_length=5000,
                              help_text="Web and email domains, separated by spaces or commas, e.g. acme.com acme.co.uk")  # fmt: skip
    owner = forms.ChoiceField(label="Owner", required=False)
    tier = forms.CharField(label="Tier", required=False, max_length=30)
    territory = forms.CharField(label="Territory", required=False, max_length=100)
    status = forms.ChoiceField(label="Relationship", choices=Account.Status.choices, initial=Account.Status.PROSPECT)
    attributes = forms.CharField(label="Custom attributes (JSON object)", required=False, max_length=20_000,
                                 widget=forms.Textarea(attrs={"rows": 3}))  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reps = Rep.objects.select_related("user").order_by("display_name")
        self.fields["owner"].choices = [("", "— nobody —")] + [(r.user.get_username(), r.display_name) for r in reps]

    def clean_attributes(self) -> dict[str, Any]:
        raw = self.cleaned_data.get("attributes") or ""
        if not raw.strip():
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            raise forms.ValidationError("Write a JSON object, e.g. {\"industry\": \"retail\"}.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("Write a JSON object, e.g. {\"industry\": \"retail\"}.")
        return value

    def account(self) -> Any:
        """The schema's account, or None with the schema's errors added to their fields."""
        try:
            return services.account_validate(dict(self.cleaned_data))
        except services.AccountError as exc:
            self.add_errors(exc.errors)
            return None

    def add_errors(self, errors: dict[str, list[str]]) -> None:
        for field, messages_ in errors.items():
            for message in messages_:
                self.add_error(field if field in self.fields else None, message)


def _initial(account: Account) -> dict[str, Any]:
    return {
        "external_id": account.external_id, "name": account.name,
        "domains": " ".join(account.domains.values_list("domain", flat=True)),
        "owner": account.owner.user.get_username() if account.owner_id else "", "tier": account.tier,
        "territory": account.territory, "status": account.status,
        "attributes": json.dumps(account.attributes, ensure_ascii=False) if account.attributes else "",
    }  # fmt: skip


class AccountImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text=f"Header: {HEADER_HELP}")
    encoding = forms.ChoiceField(choices=ENCODING_CHOICES, required=False, label="Encoding")
    separator = forms.ChoiceField(choices=SEPARATOR_CHOICES, required=False, label="Separator")

    def clean_file(self):  # noqa: ANN201
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(".csv"):
            raise forms.ValidationError("Upload a .csv file.")
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError("The file is larger than 10 MB: split it, or sync accounts through the API.")
        return upload


def _account_header(header: list[str], delimiter: str, *, guessed: bool) -> None:
    """The accounts CSV header: known columns and attr.<key> only, external_id and name required."""
    hint = separator_hint(delimiter, guessed=guessed)
    if not header or header == [""]:
        raise CsvRefused("The file is empty or has no header row.")
    unknown = [h for h in header if h not in services.ACCOUNT_CSV_COLUMNS and not h.startswith("attr.")]
    if unknown:
        raise CsvRefused(f"Unknown column(s): {', '.join(h[:40] for h in unknown[:10])}{hint}. Use {HEADER_HELP}.")
    missing = [name for name in ("external_id", "name") if name not in header]
    if missing:
        raise CsvRefused(f"The header must include external_id and name (missing: {', '.join(missing)}){hint}.")


@ops_required
@require_http_methods(["GET", "POST"])
def accounts(request: HttpRequest) -> HttpResponse:
    """The account list (search by name, CRM id or domain) and the CSV import."""
    form = AccountImportForm(request.POST or None, request.FILES or None)
    report = refused = None
    if request.method == "POST" and form.is_valid():
        report, refused = _import(form, user=request.user)
        if report is not None and not report.errors:
            messages.success(request, f"Accounts imported: {report.created} new, {report.updated} updated, "
                                      f"{report.unchanged} unchanged.")  # fmt: skip
            return redirect("console:accounts")
    q = (request.GET.get("q") or "").strip()[:100]
    rows = Account.objects.select_related("owner").prefetch_related("domains")
    if q:
        rows = rows.filter(Q(name__icontains=q) | Q(external_id__icontains=q) | Q(domains__domain__icontains=q)).distinct()
    context = {"form": form, "report": report, "refused": refused, "q": q, "total": Account.objects.count(),
               "accounts": rows[:LIST_LIMIT], "limit": LIST_LIMIT}  # fmt: skip
    return render(request, "accounts/list.html", context, status=400 if refused or (report and report.errors) else 200)


def _import(form: AccountImportForm, *, user: Any) -> tuple[Any, str | None]:
    directory = Path(settings.LEADOPS_IMPORT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"accounts-{uuid.uuid4().hex}.csv"
    try:
        with path.open("wb") as out:
            for piece in form.cleaned_data["file"].chunks():
                out.write(piece)
        chosen = form.cleaned_data["separator"] or None
        layout = csv_inspect(path, encoding=form.cleaned_data["encoding"] or None, delimiter=chosen, check_header=False)
        _account_header(list(layout.header), layout.delimiter, guessed=chosen is None)
        if layout.rows_total > MAX_IMPORT_ROWS:
            raise CsvRefused(f"The file has {layout.rows_total:,} rows; the page imports at most {MAX_IMPORT_ROWS:,}. "
                             "Split it, or sync accounts through the API.")  # fmt: skip
        rows = ((line, cells) for _row, line, cells in csv_records(path, encoding=layout.encoding, delimiter=layout.delimiter))
        return services.accounts_import_rows(rows=rows, by=user), None
    except CsvRefused as exc:
        return None, str(exc)
    finally:
        path.unlink(missing_ok=True)


@ops_required
@require_http_methods(["GET", "POST"])
def account_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    account = get_object_or_404(Account, pk=pk) if pk is not None else None
    form = AccountForm(request.POST or None, initial=_initial(account) if account else None)
    if request.method == "POST" and form.is_valid():
        data = form.account()
        if data is not None and account is None and Account.objects.filter(external_id=data.external_id).exists():
            form.add_error("external_id", "An account with this CRM id exists: edit it instead.")
            data = None
        if data is not None:
            try:
                saved, _created = services.account_upsert(data=data, account_id=account.id if account else None,
                                                          by=request.user)  # fmt: skip
            except services.AccountError as exc:
                form.add_errors(exc.errors)
            else:
                messages.success(request, f"Account {saved.name} saved.")
                return redirect("console:accounts")
    return render(request, "accounts/form.html", {"form": form, "account": account},
                  status=400 if form.errors else 200)  # fmt: skip


@ops_required
@require_POST
def account_delete(request: HttpRequest, pk: int) -> HttpResponse:
    account = Account.objects.filter(pk=pk).first()
    if account is None:  # deleted already (a second click, another tab): the outcome asked for holds
        messages.info(request, "That account was already deleted.")
        return redirect("console:accounts")
    services.account_delete(account_id=account.id, by=request.user)
    messages.success(request, f"Account {account.name} deleted.")
    return redirect("console:accounts")


__all__ = ["account_delete", "account_edit", "accounts"]
