"""The rep inbox (offers, accepted leads, away toggle) and the manager's team page.

One page per screen; each swappable region is a partial named after its DOM id. Refusals are
rendered into the region with a 4xx status (static/js/inbox.js lets htmx swap those), and
without JavaScript the forms post normally and redirect back with a message.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from contextlib import contextmanager
from typing import Iterator

from django.contrib import messages
from django.core.exceptions import ValidationError
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from calendars.selectors import offer_clocks
from reps import push, selectors
from reps import services as rep_services
from reps.access import get_rep_for_user, has_role, manager_required, rep_required
from reps.forms import AbsenceForm, AwayForm, CloseForm, DeclineForm, FirstTouchForm, HandBackForm
from reps.models import Rep, Role
from routing import services as routing_services
from routing.models import Lead, Offer, TouchChannel
from routing.services import OfferError

INBOX = "reps/inbox.html"
# The decline reasons every offer card lists, read once (an unbound DeclineForm per event deep-copied its fields).
DECLINE_REASONS = DeclineForm.base_fields["reason"].choices
TEAM = "reps/team.html"
LEAD = "reps/lead.html"
INBOX_REGIONS = ("inbox-offers", "inbox-leads", "inbox-away")
NOT_YOURS = "That {} is not in your inbox, so nothing was changed."


class HtmxHttpRequest:  # typing aid only: request objects carry .htmx from HtmxMiddleware
    htmx: HtmxDetails


def _zone(name: str | None) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


@contextmanager
def _rep_time(rep: Rep | None) -> Iterator[None]:
    """Show and read times in the rep's own timezone (UTC for a user with no rep profile)."""
    with timezone.override(_zone(rep.timezone if rep else None)):
        yield


def _offer_cards_context(rep: Rep, offers: list[Offer], *, shown: list[int], now: dt.datetime) -> dict:
    """What the offer cards and the notes under them read: the offers with their countdowns
    (business time left, paused off duty), the forms, and ``shown`` (the ids the inbox will
    show, newest first) with the total when there are more than it shows."""
    clocks = offer_clocks(offers, rep_id=rep.id, now=now, rep=rep)
    for offer in offers:
        offer.clock = clocks[offer.id]
        offer.seconds_left = offer.clock.seconds_left
    total = selectors.offer_count_open_for_rep(rep=rep, now=now) if len(shown) >= selectors.INBOX_OFFERS_SHOWN else len(shown)
    return {
        "rep": rep, "offers": offers, "now": now, "tz_label": timezone.get_current_timezone_name(),
        "decline_reasons": DECLINE_REASONS, "touch_channels": TouchChannel.choices,
        "have": ",".join(map(str, shown)), "offers_shown": len(shown), "offers_total": total,
    }  # fmt: skip


def _inbox_context(rep: Rep, **extra: object) -> dict:
    now = timezone.now()
    offers = selectors.offer_list_open_for_rep(rep=rep, now=now, limit=selectors.INBOX_OFFERS_SHOWN)
    absences = selectors.absence_list_scheduled_for_rep(rep=rep, now=now)
    return {
        **_offer_cards_context(rep, offers, shown=[offer.id for offer in offers], now=now),
        "leads": selectors.lead_list_accepted_for_rep(rep=rep),
        "close_form": CloseForm(), "away_form": AwayForm(), "away": rep_services.rep_is_away(rep=rep, now=now),
        "away_until_back": selectors.away_is_until_back(rep.away_until),
        "absences": absences, "absent_now": next((a for a in absences if a.starts_at <= now), None),
        **extra,
    }  # fmt: skip


def _inbox_response(request: HtmxHttpRequest, rep: Rep, *, region: str, status: int = 200, **extra: object) -> HttpResponse:
    """Answer an inbox action: the region it targeted plus the other regions out of band (an
    accept moves a lead between lists, going away withdraws offers). Without htmx: redirect."""
    with _rep_time(rep):
        return _inbox_response_in_zone(request, rep, region=region, status=status, **extra)


def _inbox_response_in_zone(request: HtmxHttpRequest, rep: Rep, *, region: str, status: int, **extra: object) -> HttpResponse:
    error, notice = extra.get("error"), extra.get("notice")
    if not request.htmx:
        if (status >= 400 and status != 422) or extra.get("away_confirm"):  # a question, not a result: show it
            return render(request, INBOX, _inbox_context(rep, **extra), status=status)
        if error:
            messages.error(request, error)
        elif notice:
            messages.success(request, notice)
        return redirect("inbox")
    context = _inbox_context(rep, **extra)
    html = render_to_string(f"{INBOX}#{region}", context, request)
    for other in INBOX_REGIONS:
        if other != region:
            html += render_to_string(f"{INBOX}#{other}", {**context, "oob": True}, request)
    return HttpResponse(html, status=status)


# An open inbox lists at most this many offer ids in ``have``; a longer or malformed list is
# answered with the whole list of cards.
HAVE_MAX_IDS = 1000


def _parse_have(raw: str) -> list[int] | None:
    """The offer ids an open inbox says it shows ("12,9,7"; "" when none), or None when the value
    is not such a list (then the whole list is sent)."""
    if not raw:
        return []
    parts = raw.split(",")
    if len(parts) > HAVE_MAX_IDS or not all(part.isascii() and part.isdigit() and len(part) <= 18 for part in parts):
        return None
    return [int(part) for part in parts]


def _offers_delta(request: HtmxHttpRequest, rep: Rep, *, have: str) -> HttpResponse:
    """What an open inbox lacks, as out-of-band parts (the region is requested with hx-swap
    none): 204 when it shows exactly the live offers; else a delete for each card gone, the new
    offers' cards on top (the whole list when the new ones are not all newer than those kept, or
    ``have`` is unreadable), the ids now shown and the notes (none open; more open than shown).
    Renders only new cards, so an offer pushed to a rep with many open offers costs one card, not
    all of them. The inbox shows the newest INBOX_OFFERS_SHOWN live offers (while it shows the
    same ones, a change in how many more there are waits for the next change it shows)."""
    now = timezone.now()
    shown = _parse_have(have)
    live = selectors.offer_ids_open_for_rep(rep=rep, now=now, limit=selectors.INBOX_OFFERS_SHOWN)
    if shown is not None and set(shown) == set(live):
        return HttpResponse(status=204)  # nothing new: keep what the rep is typing
    kept = set(shown or ()) & set(live)
    new = [offer_id for offer_id in live if offer_id not in kept]
    whole = shown is None or live[: len(new)] != new  # new cards go on top only if they are the newest
    with _rep_time(rep):
        offers = selectors.offer_list_open_for_rep(rep=rep, now=now, ids=live if whole else new)
        rendered = {offer.id for offer in offers}  # an offer decided between the two reads is left for the next ask
        now_shown = [i for i in live if i in rendered or (i in kept and not whole)]
        context = {
            **_offer_cards_context(rep, offers, shown=now_shown, now=now), "whole": whole, "delta": True,
            "gone": [] if whole else [offer_id for offer_id in shown if offer_id not in kept],
        }  # fmt: skip
        return render(request, f"{INBOX}#offers-delta", context)


@require_GET
@rep_required
@vary_on_headers("HX-Request")
def inbox(request: HtmxHttpRequest) -> HttpResponse:
    rep = get_rep_for_user(request.user)
    target = request.htmx.target if request.htmx else None
    polling = target == "inbox-offers"
    if polling and "have" in request.GET:
        return _offers_delta(request, rep, have=request.GET["have"])
    # A page loaded before the inbox asked by ids (it sends its fingerprint "v" and swaps the region whole).
    if polling and request.GET.get("v") == selectors.offers_fingerprint_now(rep=rep):
        return HttpResponse(status=204)  # poll: nothing new, keep what the rep is typing
    with _rep_time(rep):
        context = _inbox_context(rep, push=push.push_available(request), poll_seconds=settings.LEADOPS_INBOX_POLL_SECONDS)
        if target in INBOX_REGIONS:  # a poll, or "Cancel" on the away confirmation
            return render(request, f"{INBOX}#{target}", context)
        return render(request, INBOX, context)


def _stream_rep_id(user) -> int | None:  # noqa: ANN001
    if not user.is_authenticated or not has_role(user, Role.REP):
        return None
    return Rep.objects.filter(user=user).values_list("id", flat=True).first()


def _release_db_connection() -> None:
    """Close this request's database connection before a stream that never queries in it: under
    ASGI each request keeps its own thread (and so its own connection) until it ends, and a stream
    lasts as long as the inbox is open: 200 open inboxes would otherwise hold 200 connections.
    (The stream's feed queries in reps.push's feed threads, which keep their own connections.)"""
    from django.db import connection

    if not connection.in_atomic_block:
        connection.close()


def _session_user(session_key: str | None):  # noqa: ANN202
    """The user the session ``session_key`` is signed in as, checked as on every request (the
    session exists and has not expired, the password hash it was signed in with still matches,
    the user is active: django.contrib.auth.get_user); AnonymousUser otherwise."""
    from importlib import import_module

    from django.contrib.auth import get_user
    from django.http import HttpRequest

    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return get_user(request)


class OffersFeed:
    """What one open inbox's event stream sends when the rep's offers may have changed
    (reps.push.rep_event_stream calls it in a feed thread): the ids of the live offers the inbox
    shows, newest first, and the cards of those among them the page does not have yet, rendered
    once here, so the page does not ask. ``have`` is the page's offer ids when the stream opened
    (``sse-connect="/inbox/events/?have=…"``); afterwards the feed counts what it sent. The page
    (static/js/inbox.js) keeps the cards it already shows, drops those no longer live and asks
    for any live one it lacks, so a feed that guessed wrong costs an ask, never a wrong inbox.

    Every call first checks that the stream's session still signs in this rep, as a request would
    (django.contrib.auth.get_user): the session exists and has not expired, the user is active,
    their password is the one the session was signed in with (a changed password signs other
    sessions out), and they still have the Rep role. Otherwise it raises push.StreamEnded before
    reading any offer. With database sessions on PostgreSQL (the default) that check and the live
    ids are one prepared statement (reps.selectors.offer_ids_open_for_signed_in_rep), and an
    event that changes nothing costs only that; a change adds the rep with its calendars (one
    query by id), for new cards the offers (3) and, with more live than the inbox shows, a count."""

    def __init__(self, *, rep_id: int, user, session_key: str | None, csrf_token: str, have: list[int] | None) -> None:  # noqa: ANN001
        self.rep_id, self.session_key, self.csrf_token = rep_id, session_key, csrf_token
        self.user_id, self.password = user.pk, user.password
        self.sent: set[int] = set(have or ())
        self.last: list[int] | None = have

    def _signed_in_rep(self) -> Rep | None:
        """The rep with its calendars, if the session still signs in its user as a rep (Django's
        own check, django.contrib.auth.get_user: any session engine, any database)."""
        user = _session_user(self.session_key)
        if not user.is_authenticated or user.pk != self.user_id or not has_role(user, Role.REP):
            return None
        return Rep.objects.select_related("calendar", "team__calendar").filter(id=self.rep_id, user=user).first()

    def __call__(self) -> str | None:
        from django.db import close_old_connections, connection

        if connection.in_atomic_block:  # a test calling it inside its transaction
            return self._read_and_render()
        close_old_connections()  # as around a request: drop a connection that broke or aged out,
        try:
            return self._read_and_render()
        finally:
            close_old_connections()  # and give a pooled one back (the web server's pool)

    def _read_and_render(self) -> str | None:
        from django.db import connection

        now = timezone.now()
        if settings.SESSION_ENGINE == "django.contrib.sessions.backends.db" and connection.vendor == "postgresql":
            live = selectors.offer_ids_open_for_signed_in_rep(  # the check and the ids: one prepared statement
                rep_id=self.rep_id, user_id=self.user_id, password=self.password, session_key=self.session_key or "", now=now,
            )  # fmt: skip
            if live is None:
                raise push.StreamEnded
            if live == self.last:
                return None
            # Signed in (just checked): the rep with its calendars and timezone, for the cards.
            rep = selectors.rep_with_calendars(rep_id=self.rep_id)
            if rep is None:
                raise push.StreamEnded
        else:
            rep = self._signed_in_rep()
            if rep is None:
                raise push.StreamEnded
            live = selectors.offer_ids_open_for_rep(rep=rep, now=now, limit=selectors.INBOX_OFFERS_SHOWN)
            if live == self.last:
                return None
        new = [offer_id for offer_id in live if offer_id not in self.sent]
        with _rep_time(rep):
            offers = selectors.offer_list_open_for_rep(rep=rep, now=now, ids=new) if new else []
            rendered = {offer.id for offer in offers}  # one decided between the two reads is not sent
            self.sent = {offer_id for offer_id in live if offer_id in self.sent or offer_id in rendered}
            self.last = live
            context = _offer_cards_context(rep, offers, shown=live, now=now)
            return render_to_string(f"{INBOX}#offers-push", {**context, "csrf_token": self.csrf_token})


@require_GET
async def inbox_events(request: HtmxHttpRequest) -> HttpResponse:
    """The rep's inbox as server-sent events (reps/push.py, OffersFeed): session auth, the rep's
    own offers only. 403 for anyone who is not a rep; 204 (the browser's EventSource then stops and
    the page polls) where push is unavailable: not PostgreSQL, push turned off, or not served over
    ASGI. ``have``: the offer ids the page shows ("12,9,7"), so the first event sends only what it
    lacks."""
    from django.middleware.csrf import get_token

    user = await request.auser()
    rep_id = await sync_to_async(_stream_rep_id)(user)
    if rep_id is None:
        return HttpResponse("Only reps have an inbox stream.", status=403, content_type="text/plain")
    if not push.push_available(request):
        return HttpResponse(status=204)
    await sync_to_async(_release_db_connection)()
    feed = None
    if settings.LEADOPS_INBOX_PUSH_CARDS:
        feed = OffersFeed(rep_id=rep_id, user=user, session_key=request.session.session_key, csrf_token=get_token(request),
                          have=_parse_have(request.GET.get("have", "")) if "have" in request.GET else None)  # fmt: skip
    stream = push.rep_event_stream(rep_id=rep_id, heartbeat_seconds=settings.LEADOPS_INBOX_HEARTBEAT_SECONDS, feed=feed)
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


@require_POST
@rep_required
def offer_accept(request: HtmxHttpRequest, offer_id: int) -> HttpResponse:
    rep = get_rep_for_user(request.user)
    if not Offer.objects.filter(id=offer_id, rep=rep).exists():
        return _inbox_response(request, rep, region="inbox-offers", status=403, error=NOT_YOURS.format("offer"))
    try:
        offer = routing_services.offer_accept(offer_id=offer_id, rep=rep)
    except OfferError as exc:
        return _inbox_response(request, rep, region="inbox-offers", status=409, error=str(exc))
    return _inbox_response(request, rep, region="inbox-offers", notice=f"Accepted: {offer.lead} is yours.")


@require_POST
@rep_required
def offer_decline(request: HtmxHttpRequest, offer_id: int) -> HttpResponse:
    rep = get_rep_for_user(request.user)
    if not Offer.objects.filter(id=offer_id, rep=rep).exists():
        return _inbox_response(request, rep, region="inbox-offers", status=403, error=NOT_YOURS.format("offer"))
    form = DeclineForm(request.POST)
    if not form.is_valid():
        return _inbox_response(
            request, rep, region="inbox-offers", status=422, error="Choose a reason to decline.",
            error_offer_id=offer_id, bound_decline_form=form,
        )  # fmt: skip
    try:
        routing_services.offer_decline(offer_id=offer_id, rep=rep, reason=form.cleaned_data["reason"], note=form.cleaned_data["note"])
    except OfferError as exc:
        return _inbox_response(request, rep, region="inbox-offers", status=409, error=str(exc))
    return _inbox_response(request, rep, region="inbox-offers", notice="Declined: the lead moves on to the next rep.")


@require_POST
@rep_required
def lead_first_touch(request: HtmxHttpRequest, lead_id: int) -> HttpResponse:
    """An assigned lead: the rep logs their first contact, which stops the SLA clock."""
    rep = get_rep_for_user(request.user)
    if not Lead.objects.filter(id=lead_id, owner=rep).exists():
        return _inbox_response(request, rep, region="inbox-offers", status=403, error=NOT_YOURS.format("lead"))
    form = FirstTouchForm(request.POST)
    if not form.is_valid():
        return _inbox_response(request, rep, region="inbox-offers", status=422, error="Choose how you made contact.")
    try:
        lead = routing_services.lead_first_touch(lead_id=lead_id, rep=rep, channel=form.cleaned_data["channel"])
    except OfferError as exc:
        return _inbox_response(request, rep, region="inbox-offers", status=409, error=str(exc))
    return _inbox_response(request, rep, region="inbox-offers", notice=f"First touch logged: {lead} is yours, the clock stopped.")


@require_POST
@rep_required
def lead_close(request: HtmxHttpRequest, lead_id: int) -> HttpResponse:
    rep = get_rep_for_user(request.user)
    if not Lead.objects.filter(id=lead_id, owner=rep).exists():
        return _inbox_response(request, rep, region="inbox-leads", status=403, lead_error=NOT_YOURS.format("lead"))
    form = CloseForm(request.POST)
    if not form.is_valid():
        return _inbox_response(request, rep, region="inbox-leads", status=422, lead_error="Choose converted or closed lost.")
    try:
        lead = routing_services.lead_close(lead_id=lead_id, rep=rep, outcome=form.cleaned_data["outcome"])
    except OfferError as exc:
        return _inbox_response(request, rep, region="inbox-leads", status=409, lead_error=str(exc))
    return _inbox_response(request, rep, region="inbox-leads", lead_notice=f"{lead} marked {lead.get_status_display().lower()}.")


@require_POST
@rep_required
def lead_hand_back(request: HtmxHttpRequest, lead_id: int) -> HttpResponse:
    rep = get_rep_for_user(request.user)
    if not Lead.objects.filter(id=lead_id, owner=rep).exists():
        return _inbox_response(request, rep, region="inbox-leads", status=403, lead_error=NOT_YOURS.format("lead"))
    form = HandBackForm(request.POST)
    if not form.is_valid():  # a note that is too long or holds a NUL is refused, not silently dropped
        return _inbox_response(request, rep, region="inbox-leads", status=422, lead_error=f"Note: {form.errors['note'][0]}")
    try:
        lead = routing_services.lead_hand_back(lead_id=lead_id, rep=rep, note=form.cleaned_data["note"])
    except OfferError as exc:
        return _inbox_response(request, rep, region="inbox-leads", status=409, lead_error=str(exc))
    return _inbox_response(request, rep, region="inbox-leads", lead_notice=f"{lead} handed back; it will be re-routed.")


@require_POST
@rep_required
def away(request: HtmxHttpRequest) -> HttpResponse:
    rep = get_rep_for_user(request.user)
    with _rep_time(rep):
        form = AwayForm(request.POST)
        if not form.is_valid():
            return _inbox_response(request, rep, region="inbox-away", status=422, away_form_bound=form)
        mode = form.cleaned_data["mode"]
        try:
            if mode != "back":
                rep_services.away_until_check(until=form.cleaned_data["until"] if mode == "until" else None)
                releasing = selectors.offers_open_total(rep=rep)
                if releasing.count and form.cleaned_data["confirm"] != releasing.fingerprint:
                    # Nothing changes yet: the rep sees what going away would release, and confirms.
                    return _inbox_response(request, rep, region="inbox-away", away_confirm=releasing, away_form_bound=form)
            if mode == "back":
                rep_services.rep_clear_away(rep=rep)
                notice = "Welcome back: new offers can reach you again."
            else:
                until = form.cleaned_data["until"] if mode == "until" else None
                moved = rep_services.rep_set_away(rep=rep, until=until)
                notice = "You are away." + (f" {_offers_moved(moved)} moved on to other reps." if moved else "")
        except ValidationError as exc:
            form.add_error(None, exc)  # a dict error lands on its field ("until")
            return _inbox_response(request, rep, region="inbox-away", status=422, away_form_bound=form)
        return _inbox_response(request, rep, region="inbox-away", away_notice=notice)


def _offers_moved(count: int) -> str:
    return "Your open offer" if count == 1 else f"Your {count} open offers"


@require_GET
@rep_required
def lead_detail(request: HtmxHttpRequest, lead_id: int) -> HttpResponse:
    """A lead offered to this rep or owned by them: contact details, product and facts."""
    rep = get_rep_for_user(request.user)
    lead = selectors.lead_get_for_rep(rep=rep, lead_id=lead_id)
    if lead is None:
        raise Http404("That lead is not offered to you or yours.")
    with _rep_time(rep):
        attributes = sorted((str(k).replace("_", " ").capitalize(), v) for k, v in (lead.attributes or {}).items())
        offer = selectors.offer_open_for_rep_lead(rep=rep, lead_id=lead.id)
        return render(request, LEAD, {
            "lead": lead, "rep": rep, "attributes": attributes, "offer": offer, "decline_form": DeclineForm(),
            "tz_label": timezone.get_current_timezone_name(),
        })  # fmt: skip


# --- manager: team and absences ----------------------------------------------------------


def _team_context(request: HtmxHttpRequest, form: AbsenceForm | None = None, **extra: object) -> dict:
    reps = selectors.rep_list_for_manager(user=request.user)
    now = timezone.now()
    for rep in reps:
        rep.absent_now = next((a for a in rep.upcoming_absences if a.starts_at <= now), None)
        rep.away_until_back = selectors.away_is_until_back(rep.away_until)
    return {
        "reps": reps, "form": form or AbsenceForm(reps=reps), "now": now,
        "tz_label": timezone.get_current_timezone_name(), **extra,
    }  # fmt: skip


def _viewer_rep(user) -> Rep | None:  # noqa: ANN001
    return Rep.objects.filter(user=user).first()


@require_GET
@manager_required
@vary_on_headers("HX-Request")
def team(request: HtmxHttpRequest) -> HttpResponse:
    template = f"{TEAM}#team-reps" if request.htmx and request.htmx.target == "team-reps" else TEAM
    with _rep_time(_viewer_rep(request.user)):
        return render(request, template, _team_context(request))


@require_POST
@manager_required
def absence_create(request: HtmxHttpRequest) -> HttpResponse:
    with _rep_time(_viewer_rep(request.user)):  # the form's times are read in the viewer's zone
        reps = selectors.rep_list_for_manager(user=request.user)
        form = AbsenceForm(request.POST, reps=reps)
        if form.is_valid():
            data = form.cleaned_data
            try:
                rep_services.absence_create(
                    rep=data["rep"], starts_at=data["starts_at"], ends_at=data["ends_at"], reason=data["reason"],
                    note=data["note"], created_by=request.user,
                )  # fmt: skip
            except ValidationError as exc:
                form.add_error(None, exc)
        if form.errors:
            if not request.htmx:
                return render(request, TEAM, _team_context(request, form), status=422)
            return render(request, f"{TEAM}#team-absence-form", _team_context(request, form), status=422)
        notice = f"Absence saved for {form.cleaned_data['rep']}."
        if not request.htmx:
            messages.success(request, notice)
            return redirect("team")
        context = _team_context(request, notice=notice)
        html = render_to_string(f"{TEAM}#team-absence-form", context, request)
        html += render_to_string(f"{TEAM}#team-reps", {**context, "oob": True}, request)
        return HttpResponse(html)


@require_POST
@manager_required
def absence_end(request: HtmxHttpRequest, absence_id: int) -> HttpResponse:
    """Cancel an absence that has not started, or end a current one now."""
    if selectors.absence_get_for_manager(user=request.user, absence_id=absence_id) is None:
        raise Http404("No such absence among your reports")
    with _rep_time(_viewer_rep(request.user)):
        try:
            ended = rep_services.absence_end(absence_id=absence_id, by=request.user)
        except ValidationError as exc:  # already over, or cancelled by someone else meanwhile
            level, text, status = messages.ERROR, " ".join(exc.messages), 409
        else:
            verb = "cancelled" if ended.cancelled else "ended: new offers can reach them again"
            level, text, status = messages.SUCCESS, f"Absence for {ended.rep} {verb}.", 200
        if not request.htmx:
            messages.add_message(request, level, text)
            return redirect("team")
        extra = {"team_error": text} if status >= 400 else {"team_notice": text}
        return render(request, f"{TEAM}#team-reps", _team_context(request, **extra), status=status)
