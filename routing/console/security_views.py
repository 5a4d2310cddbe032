"""Ops security pages: API tokens (create with scopes, last use, revoke), locked logins
(unlock), and the outbox of failed or pending emails and webhooks (send again)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from reps.access import ops_required
from reps.notifications import email_resend, webhook_redeliver
from routing import security
from routing.console.security_forms import TokenForm, UnlockForm
from routing.models import ApiToken
from routing.services_tokens import apitoken_create, apitoken_revoke_one


def _tokens_page(request: HttpRequest, form: TokenForm, *, created: str = "", status: int = 200) -> HttpResponse:
    tokens = ApiToken.objects.select_related("created_by", "user").order_by("revoked_at", "name", "-created_at")
    return render(request, "console/security_tokens.html", {"form": form, "tokens": tokens, "created": created}, status=status)


@ops_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _tokens_page(request, TokenForm())
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            token, raw = apitoken_create(name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"],
                                         created_by=request.user, user=form.cleaned_data["acts_as"])  # fmt: skip
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            # Rendered, not redirected: the secret exists only in this response.
            response = _tokens_page(request, TokenForm(), created=raw)
            response["Cache-Control"] = "no-store"
            messages.success(request, f"Token “{token.name}” created. Copy it now: it is not shown again.")
            return response
    return _tokens_page(request, form, status=422)


@ops_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    if apitoken_revoke_one(token_id=token_id):
        messages.success(request, "Token revoked: requests with it are refused from now on.")
    else:
        messages.error(request, "That token was already revoked (or does not exist).")
    return redirect("console:security_tokens")


@ops_required
@require_GET
def logins(request: HttpRequest) -> HttpResponse:
    context = {"rows": security.failed_logins_recent(), "failure_limit": settings.AXES_FAILURE_LIMIT}
    return render(request, "console/security_logins.html", context)


@ops_required
@require_POST
def login_unlock(request: HttpRequest) -> HttpResponse:
    form = UnlockForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("__all__", [])) or form.errors.as_text())
        return redirect("console:security_logins")
    data = form.cleaned_data
    count = security.login_unlock(username=data["username"], ip_address=data["ip_address"] or "")
    who = f"account {data['username']}" if data["username"] else f"address {data['ip_address']}"
    messages.success(request, f"Unlocked {who} ({count} failed-login record(s) cleared).")
    return redirect("console:security_logins")


@ops_required
@require_GET
def outbox(request: HttpRequest) -> HttpResponse:
    context = {"emails": security.outbox_emails(), "webhooks": security.outbox_webhooks()}
    return render(request, "console/security_outbox.html", context)


@ops_required
@require_POST
def email_resend_view(request: HttpRequest, email_id: int) -> HttpResponse:
    if email_resend(email_id=email_id):
        messages.success(request, "Email queued again: it goes out within a few seconds.")
    else:
        messages.error(request, "Only an email that gave up can be sent again.")
    return redirect("console:security_outbox")


@ops_required
@require_POST
def webhook_redeliver_view(request: HttpRequest, delivery_id: int) -> HttpResponse:
    if webhook_redeliver(delivery_id=delivery_id):
        messages.success(request, "Webhook queued again: it goes out within a few seconds.")
    else:
        messages.error(request, "Only a webhook that gave up can be redelivered.")
    return redirect("console:security_outbox")
