"""Reads for the inbox and the team page: a fixed number of queries per list."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import models
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from leadops.datetimes import LATEST
from reps.access import user_roles
from reps.models import Absence, Pool, Rep, RepLoad, Role, Skill
from reps.scope import visibility_for
from reps.why import why_offered
from routing.models import Lead, Offer
from routing.prepared import PreparedQuery, pk_any

# "Away now" means away until the rep switches back. Rep.away_until has no indefinite value, so
# it holds this far-future sentinel (rather than NULL, which means "available"): every reader that
# asks "is away_until in the future?" keeps working, and nobody silently reappears after a while.
# Far from datetime.max so that date arithmetic on it (a day added in a report) cannot overflow.
AWAY_UNTIL_BACK = LATEST  # the latest time any input may set (leadops.datetimes)


def away_is_until_back(until: dt.datetime | None) -> bool:
    """True when an away marker means "until I come back" rather than a chosen time."""
    return until is not None and until >= AWAY_UNTIL_BACK


# Newest offer first: a new offer appears at the top of the inbox, where the rep looks.
OFFER_ORDER = ("-offered_at", "-id")
# The inbox shows a rep's newest open offers up to this many (and says how many more there are):
# a page of hundreds of cards (a manager receiving escalations, reps without caps) took ~2 ms a
# card to build and was no use to read. The others stay offered until their deadlines.
INBOX_OFFERS_SHOWN = 50


# What an offer card reads (templates/reps/inbox.html#offer-card, reps.why, calendars.offer_clocks):
# the lead's ~45 columns and the decision's inputs are most of what the row would otherwise carry,
# and building the SELECT for all of them was a third of an inbox ask's CPU. A field read that is
# not listed here costs a query per card (tests/reps/test_views_inbox.py counts them).
OFFER_CARD_FIELDS = (
    "id", "rep_id", "lead_id", "decision_id", "status", "mode", "deadline", "offered_at",
    *(f"lead__{name}" for name in (
        "id", "first_name", "last_name", "company", "source", "email", "phone", "high_value", "currency", "value",
        "country", "state", "postal_code", "language", "product_line", "segment_id", "status", "accepted_at",
    )),
    "lead__segment__id", "lead__segment__name", "lead__segment__sla_clock", "lead__segment__calendar_id",
    "decision__id", "decision__kind", "decision__detail",
)  # fmt: skip


def _offer_cards(*, rep_id: int, now: dt.datetime, ids: list[int] | None = None) -> QuerySet[Offer]:
    """The query behind offer_list_open_for_rep: live offers with what a card reads, and the
    product line's name from the skills list (``product_name``, None without a product skill)."""
    live = Offer.objects.filter(rep_id=rep_id, status=Offer.Status.OPEN, deadline__gt=now)
    if ids is not None:
        live = live.filter(pk_any(ids))
    product = Skill.objects.filter(kind=Skill.Kind.PRODUCT, code=models.OuterRef("lead__product_line")).order_by().values("name")[:1]
    return (live.select_related("lead", "lead__segment", "decision").only(*OFFER_CARD_FIELDS)
            .annotate(product_name=models.Subquery(product)).order_by(*OFFER_ORDER))  # fmt: skip


_STANDIN_NOW = dt.datetime(1901, 2, 3, 4, 5, 6, 789_012, tzinfo=dt.UTC)
# Built once per process, prepared once per connection (routing.prepared): compiling these queries
# cost an open inbox's event stream more than PostgreSQL's work (py-spy, docs/performance.md round 13).
_OFFER_CARDS_BY_IDS = PreparedQuery(lambda rep_id, now, ids: _offer_cards(rep_id=rep_id, now=now, ids=ids),
                                    standins={"rep_id": -918_273_641, "now": _STANDIN_NOW, "ids": [-918_273_642]})  # fmt: skip


@functools.lru_cache(maxsize=8)
def _offer_cards_newest(limit: int) -> PreparedQuery:
    """The newest ``limit`` live offers (a LIMIT is part of a statement's text: one per limit)."""
    return PreparedQuery(lambda rep_id, now: _offer_cards(rep_id=rep_id, now=now)[:limit],
                         standins={"rep_id": -918_273_641, "now": _STANDIN_NOW})  # fmt: skip

_POOL_NAMES = PreparedQuery(lambda ids: Pool.objects.filter(pk_any(ids)).order_by().only("id", "name"),
                            standins={"ids": [-918_273_643]})  # fmt: skip


_REP_WITH_CALENDARS = PreparedQuery(lambda rep_id: Rep.objects.select_related("calendar", "team__calendar").filter(id=rep_id),
                                    standins={"rep_id": -918_273_644})  # fmt: skip


def rep_with_calendars(*, rep_id: int) -> Rep | None:
    """Rep ``rep_id`` with its own and its team's business calendars (what an offer card's
    countdown reads), or None; one statement prepared once per connection on PostgreSQL."""
    found = _REP_WITH_CALENDARS.run(rep_id=rep_id)
    return found[0] if found else None


def offer_list_open_for_rep(*, rep: Rep, now: dt.datetime | None = None, ids: Iterable[int] | None = None,
                            limit: int | None = None) -> list[Offer]:  # fmt: skip
    """The rep's live offers, newest first, each with ``why`` (its decision in the rep's words,
    reps.why), ``product`` (the product line's name) and ``language_name``. Two queries (one
    without pools to name), each a statement prepared once per connection on PostgreSQL
    (routing.prepared) when ``ids`` or ``limit`` is given. An offer past its deadline
    leaves the inbox at once, even before the sweeper has expired it.
    ``ids``: only these offers (those of them still live), e.g. the ones an open inbox lacks;
    ``limit``: at most this many, the newest (the inbox passes INBOX_OFFERS_SHOWN)."""
    now = now or timezone.now()
    if ids is not None:
        ids = list(ids)
        offers = _OFFER_CARDS_BY_IDS.run(rep_id=rep.id, now=now, ids=ids) if ids else []
        if limit is not None:
            offers = offers[:limit]
    elif limit is not None:
        offers = _offer_cards_newest(limit).run(rep_id=rep.id, now=now)
    else:
        offers = list(_offer_cards(rep_id=rep.id, now=now))
    pool_ids: set[int] = set()
    for offer in offers:
        detail = offer.decision.detail if offer.decision_id else {}
        pool_ids.update(_pool_ids(detail))
    pool_names = {pool.id: pool.name for pool in _POOL_NAMES.run(ids=sorted(pool_ids))} if pool_ids else {}
    for offer in offers:
        lead = offer.lead
        lead.product = offer.product_name if offer.product_name is not None else lead.product_line
        lead.language_name = language_name(lead.language)
        offer.why = why_offered(
            detail=offer.decision.detail if offer.decision_id else None,
            kind=offer.decision.kind if offer.decision_id else "", rep_id=rep.id, pool_names=pool_names,
            language=lead.language_name,
        )  # fmt: skip
    return offers


def offer_open_for_rep_lead(*, rep: Rep, lead_id: int, now: dt.datetime | None = None) -> Offer | None:
    """The rep's live offer of this lead, if any (the lead page's Accept and Decline)."""
    return _open_offers(rep=rep, now=now or timezone.now()).filter(lead_id=lead_id).first()


def _pool_ids(detail: object) -> set[int]:
    if not isinstance(detail, dict):
        return set()
    ids = {s.get("pool_id") for s in detail.get("steps") or [] if isinstance(s, dict)}
    ids.add((detail.get("rule") or {}).get("pool_id"))
    return {i for i in ids if isinstance(i, int)}


def product_names(codes: list[str]) -> dict[str, str]:
    """Product-line codes -> their names from the skills list ("life" -> "Life insurance"); one
    query, none for an empty list. Codes with no product skill are left out."""
    codes = sorted({c for c in codes if c})
    if not codes:
        return {}
    return dict(Skill.objects.filter(kind=Skill.Kind.PRODUCT, code__in=codes).order_by().values_list("code", "name"))


def language_name(code: str) -> str:
    """An ISO 639-1 code in English words ("de" -> "German"); the code itself if unknown, "" if empty."""
    if not code:
        return ""
    import pycountry

    found = pycountry.languages.get(alpha_2=code.lower())
    return found.name if found is not None else code


def lead_get_for_rep(*, rep: Rep, lead_id: int) -> Lead | None:
    """A lead this rep may read: one offered to them now, or one they own; else None."""
    offered = Offer.objects.filter(rep=rep, lead_id=lead_id, status=Offer.Status.OPEN)
    lead = (
        Lead.objects.filter(id=lead_id)
        .filter(models.Q(owner=rep) | models.Q(id__in=offered.values("lead_id")))
        .select_related("segment", "owner")
        .first()
    )
    if lead is not None:
        lead.product = product_names([lead.product_line]).get(lead.product_line, lead.product_line)
        lead.language_name = language_name(lead.language)
    return lead


def _open_offers(*, rep: Rep, now: dt.datetime) -> QuerySet[Offer]:
    return Offer.objects.filter(rep=rep, status=Offer.Status.OPEN, deadline__gt=now)


def offer_ids_open_for_rep(*, rep: Rep, now: dt.datetime | None = None, limit: int | None = None) -> list[int]:
    """The ids of the rep's live offers in inbox order (newest first), at most ``limit``, from one
    ids-only query."""
    now = now or timezone.now()
    ids = _open_offers(rep=rep, now=now).order_by(*OFFER_ORDER).values_list("id", flat=True)
    return list(ids if limit is None else ids[:limit])


# The stream's per-event read (offer_ids_open_for_signed_in_rep): built by the ORM once per process
# with stand-in values, then run as a prepared statement with each event's values in their places.
_STANDINS = {
    "rep_id": -918_273_645, "user_id": -918_273_646, "password": "\x1fstand-in password", "session_key": "\x1fstand-in key",
    "now": dt.datetime(1901, 2, 3, 4, 5, 6, 789_012, tzinfo=dt.UTC), "role": "\x1fstand-in role",
}  # fmt: skip
_SIGNED_IN_LIVE_IDS: dict[str, tuple[str, list[tuple]]] = {}  # database alias -> (SQL, its parameters' slots)


def _signed_in_live_ids_statement(db) -> tuple[str, list[tuple]]:  # noqa: ANN001
    from django.contrib.postgres.expressions import ArraySubquery
    from django.contrib.sessions.models import Session
    from django.db.models import Exists, OuterRef

    from django.contrib.auth.models import Group

    v = _STANDINS
    live = _open_offers(rep=OuterRef("pk"), now=v["now"]).order_by(*OFFER_ORDER).values("id")[:INBOX_OFFERS_SHOWN]
    query = (
        Rep.objects.using(db.alias)
        .filter(pk=v["rep_id"], user_id=v["user_id"], user__is_active=True, user__password=v["password"])
        .filter(Exists(Group.objects.filter(user=OuterRef("user_id"), name=v["role"])))
        .filter(Exists(Session.objects.filter(session_key=v["session_key"], expire_date__gt=v["now"])))
        .annotate(live=ArraySubquery(live)).values_list("live", flat=True).query
    )  # fmt: skip
    sql, params = query.sql_with_params()
    # Each parameter is a stand-in (filled in per event) or one of the query's constants (kept).
    slots = [next(((k, None) for k, standin in v.items() if type(param) is type(standin) and param == standin), (None, param))
             for param in params]  # fmt: skip
    return sql, slots


def offer_ids_open_for_signed_in_rep(
    *, rep_id: int, user_id: int, password: str, session_key: str, now: dt.datetime,
) -> list[int] | None:  # fmt: skip
    """The ids of rep ``rep_id``'s live offers in inbox order (newest first, at most
    INBOX_OFFERS_SHOWN), or None unless the database session ``session_key`` still signs in
    user ``user_id`` as that rep: the session exists and expires after ``now``, the user is
    active with the password hash ``password`` (the one the session was signed in with; a changed
    password signs sessions out, django.contrib.auth.get_user), holds the Rep role, and owns the
    rep. One prepared statement on PostgreSQL (built by the ORM once per process: the same
    filter as offer_ids_open_for_rep), for the inbox stream's every event (reps.views.OffersFeed).
    Needs PostgreSQL and database sessions."""
    from django.db import connection

    from routing.snapshots import fetchone_prepared

    if connection.alias not in _SIGNED_IN_LIVE_IDS:
        _SIGNED_IN_LIVE_IDS[connection.alias] = _signed_in_live_ids_statement(connection)
    sql, slots = _SIGNED_IN_LIVE_IDS[connection.alias]
    values = {"rep_id": rep_id, "user_id": user_id, "password": password, "session_key": session_key, "now": now,
              "role": Role.REP.value}  # fmt: skip
    row = fetchone_prepared(sql, [values[name] if name else constant for name, constant in slots], using=connection)
    return None if row is None else list(row[0] or [])


def offer_count_open_for_rep(*, rep: Rep, now: dt.datetime | None = None) -> int:
    """How many live offers the rep has (one count query)."""
    return _open_offers(rep=rep, now=now or timezone.now()).count()


def offers_fingerprint_now(*, rep: Rep, now: dt.datetime | None = None) -> str:
    """The fingerprint of the rep's live offers from one ids-only query: what an inbox page from
    before ``have`` (reps.views) sends as ``v``, to be answered 'no change'."""
    return _fingerprint(offer_ids_open_for_rep(rep=rep, now=now))


def _fingerprint(ids: object) -> str:
    return hashlib.sha1(",".join(str(i) for i in ids).encode()).hexdigest()[:16]  # noqa: S324


def lead_list_accepted_for_rep(*, rep: Rep) -> list[Lead]:
    return list(
        Lead.objects.filter(owner=rep, status=Lead.Status.ACCEPTED)
        .select_related("segment")
        .order_by("-accepted_at", "-id")
    )


def rep_list_for_manager(*, user, now: dt.datetime | None = None) -> QuerySet[Rep]:  # noqa: ANN001
    """Active reps a manager may manage: their team (reps.scope), themselves excluded; every
    active rep for Sales Ops."""
    now = now or timezone.now()
    qs = visibility_for(user).reps(Rep.objects.filter(active=True))
    if Role.OPS.value not in user_roles(user):
        qs = qs.exclude(user=user)
    upcoming = Absence.objects.filter(ends_at__gt=now).order_by("starts_at")
    return qs.select_related("load").prefetch_related(Prefetch("absences", queryset=upcoming, to_attr="upcoming_absences"))


def absence_list_scheduled_for_rep(*, rep: Rep, now: dt.datetime | None = None) -> list[Absence]:
    """The rep's current and upcoming absences, soonest first."""
    now = now or timezone.now()
    return list(Absence.objects.filter(rep=rep, ends_at__gt=now).order_by("starts_at", "id"))


def absence_get_for_manager(*, user, absence_id: int) -> Absence | None:  # noqa: ANN001
    """An absence of a rep this user may manage (see rep_list_for_manager), else None."""
    reps = rep_list_for_manager(user=user)
    return Absence.objects.select_related("rep").filter(id=absence_id, rep__in=reps.values("id")).first()


def rep_load_for(*, rep: Rep) -> RepLoad | None:
    return RepLoad.objects.filter(rep=rep).first()


def rep_unavailable_reason(*, rep_id: int, now: dt.datetime | None = None) -> str | None:
    """Why this rep cannot take a lead now (inactive, absent, away), in words for the rep, or None.

    Reads the committed rows (two small queries), never a cached snapshot: offer_accept and the
    availability services ask it right before they act.
    """
    now = now or timezone.now()
    row = Rep.objects.filter(id=rep_id).values("active", "away_until").first()
    if row is None or not row["active"]:
        return "Your account is inactive, so you cannot take leads; this offer is moving on to another rep."
    if Absence.objects.filter(rep_id=rep_id, starts_at__lte=now, ends_at__gt=now).exists():
        return "You are marked absent right now, so you cannot take leads; this offer is moving on to another rep."
    if row["away_until"] is not None and row["away_until"] > now:
        return "You are marked away, so you cannot take leads; switch to \"I'm back\" first."
    return None


@dataclass(frozen=True)
class OpenOffersTotal:
    """What going away would release: how many open offers, their value per currency, and the
    fingerprint of that set (reps.views.away asks again if it changed)."""

    count: int
    value_text: str  # "USD 500,000" or "USD 250,000 + EUR 12,500.50"; "" for no offers
    fingerprint: str


def _money(currency: str, amount: Decimal) -> str:
    text = f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"
    return f"{currency} {text}"


def offers_open_total(*, rep: Rep, now: dt.datetime | None = None) -> OpenOffersTotal:
    """The rep's live offers as a count and a total value (one query)."""
    now = now or timezone.now()
    rows = list(_open_offers(rep=rep, now=now).order_by(*OFFER_ORDER).values_list("id", "lead__currency", "lead__value"))
    totals: dict[str, Decimal] = {}
    for _, currency, value in rows:
        totals[currency] = totals.get(currency, Decimal(0)) + (value or Decimal(0))
    text = " + ".join(_money(c, v) for c, v in sorted(totals.items(), key=lambda cv: -cv[1]))
    return OpenOffersTotal(count=len(rows), value_text=text, fingerprint=_fingerprint(r[0] for r in rows))
