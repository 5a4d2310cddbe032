"""Issue 10, deliver 5: a stateful proof of the whole lead / offer / rep lifecycle on PostgreSQL.

Hypothesis drives random sequences of: intake (in the main thread, and in bursts of 2-3 threads
with their own connections, each intake waking the router in its thread, so batches really run
concurrently), accept, decline, expiry (the clock moves), sweeper passes (the real
``sweeper.run_pass``), close, hand-back, deactivate / reactivate (service, console, config import
"active": false, a file that leaves the rep out), absences (the team-page service and config
import, including 9999-12-31T23:59 in the rep's timezone, which must be refused), away / back,
caps changes, config import and publish that remove and restore segments, pools and reps, and
holding retries. Availability changes also race routing in the concurrent bursts.

After every step the invariants below are checked against the rows. Figures of a long run are
in docs/architecture.md ("Lead lifecycle"). The bounded CI run: LEADOPS_PROOF_EXAMPLES sequences
(default 6) of up to LEADOPS_PROOF_STEPS steps (default 14); the long run sets both higher.

The clock is virtual (``django.utils.timezone.now`` reads it) so offers expire and absences
begin without waiting; the database, the services, the sweeper pass and the queue (django-q2
in sync mode: wake-ups run in the thread that committed) are the real ones.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import threading
import zoneinfo
from collections import Counter, defaultdict
from typing import Any, Callable
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection, connections
from django.db.models import Q
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from reps import services as rep_services
from reps.management.commands.sweeper import run_pass
from reps.models import Absence, Rep, RepLoad
from reps.selectors import rep_unavailable_reason
from routing import services, snapshots
from routing.config_io import ConfigImportError, config_export, config_import
from routing.console import services as console_services
from routing.models import Decision, Lead, Offer
from routing.validation import clean_lead

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EXAMPLES = int(os.environ.get("LEADOPS_PROOF_EXAMPLES", "6"))
STEPS = int(os.environ.get("LEADOPS_PROOF_STEPS", "14"))
SHRINK = os.environ.get("LEADOPS_PROOF_SHRINK", "1") == "1"  # the long run prints a failing sequence unshrunk


USERNAMES = ("ana", "ben", "cy", "dee")  # dee is the default rule's named backup
TIMEZONES = {"ana": "UTC", "ben": "America/New_York", "cy": "Asia/Kolkata", "dee": "Pacific/Kiritimati"}
# "busy": the rep holding the oldest live offer (so availability changes often meet an open offer).
WHO = st.sampled_from((*USERNAMES, "busy", "busy", "busy", "busy"))
STATS: Counter[str] = Counter()  # sequences, steps, and what each step did (printed by the long run)


def base_doc() -> dict[str, Any]:
    reps = [
        {"username": u, "email": f"{u}@example.com", "display_name": u.title(), "tier": 2, "timezone": TIMEZONES[u],
         "working_hours": {}, "active": True, "team": None, "manager": None,
         "max_open": 2, "max_daily": 3, "max_weekly": 5, "skills": [], "territories": [], "licences": []}
        for u in USERNAMES
    ]  # fmt: skip
    pools = [
        {"name": "Hot", "description": "", "manager": None, "members": [{"rep": "ana", "weight": 2}, {"rep": "ben", "weight": 1}]},
        {"name": "Standard", "description": "", "manager": "dee",
         "members": [{"rep": "ben", "weight": 1}, {"rep": "cy", "weight": 1}]},
    ]  # fmt: skip
    segments = [
        {"slug": "hot", "name": "Hot", "sla_minutes": 10, "accept_fraction": 0.5, "priority": 1, "order": 1,
         "conditions": [{"field": "intent", "op": "equals", "value": "high"}], "is_default": False},
        {"slug": "standard", "name": "Standard", "sla_minutes": 60, "accept_fraction": 0.5, "priority": 2, "order": 2,
         "conditions": [], "is_default": True},
    ]  # fmt: skip
    rule_defaults = {"enabled": True, "strategy": "weighted_fair", "requirements": {}, "value_threshold": None,
                     "high_value_min_tier": None, "relaxation": [], "reroute_on_escalation": True}  # fmt: skip
    rules = [
        {**rule_defaults, "name": "Hot leads", "priority": 10, "pool": "Hot",
         "conditions": [{"field": "segment", "op": "equals", "value": "hot"}],
         "fallback": [{"kind": "pool", "pool": "Standard"}, {"kind": "holding"}]},
        {**rule_defaults, "name": "Everything else", "priority": 20, "pool": "Standard", "conditions": [],
         "fallback": [{"kind": "backup", "rep": "dee"}, {"kind": "holding"}]},
    ]  # fmt: skip
    return {"format": "leadops-config", "format_version": 1, "skills": [], "teams": [], "territories": [],
            "reps": reps, "pools": pools, "segments": segments, "rules": rules}  # fmt: skip


class Clock:
    def __init__(self, start: dt.datetime) -> None:
        self.value = start

    def now(self) -> dt.datetime:
        return self.value


def _empty_every_table() -> None:
    """A fresh database for each sequence: DELETE (with foreign-key triggers off for this session,
    so the order does not matter) is ~20x faster than TRUNCATE of every table on a busy machine."""
    keep = {"django_migrations", "django_content_type", "auth_permission", "auth_group", "auth_group_permissions"}
    tables = [t for t in connection.introspection.django_table_names(only_existing=True) if t not in keep]
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            for table in tables:
                cursor.execute(f"DELETE FROM {qn(table)}")
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
    snapshots._CONFIG_CACHE.clear()
    snapshots._INDEX_CACHE.clear()
    snapshots._DIRECTORY = None
    services._LAST_SEEN.clear()  # what this process's last sweep pass saw (holding wake-ups)


def _fast_commits(value: str = "off") -> None:
    """Commits of this session do not wait for the disk (a crash would lose the last few; a
    test database does not care). Locks, isolation and visibility are unchanged."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET synchronous_commit = {value}")


def _in_threads(jobs: list[Callable[[], Any]]) -> list[BaseException]:
    """Run the jobs at once, each in a thread with its own database connection; their errors."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Callable[[], Any]) -> None:
        try:
            close_old_connections()
            _fast_commits()
            barrier.wait(timeout=30)
            job()
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    return errors


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        _empty_every_table()
        _fast_commits()
        self.clock = Clock(timezone.now().replace(microsecond=0))
        self._patch = mock.patch.object(timezone, "now", self.clock.now)
        self._patch.start()
        self.intakes = 0
        self.last_sweep_at = self.clock.now()
        self.absence_seen_at: dict[int, dt.datetime] = {}  # absence id -> when a step created it
        STATS["sequences"] += 1

    def teardown(self) -> None:
        self._patch.stop()
        _fast_commits("DEFAULT")

    # --- set-up and helpers -------------------------------------------------------------------

    @initialize()
    def configure(self) -> None:
        config_import(base_doc())
        services.rule_publish(note="proof")
        for intent, value in (("high", 60_000), ("low", 500), ("high", 20)):
            self._intake(intent, value)

    def _who(self, who: str) -> str:
        if who != "busy":
            return who
        offer = Offer.objects.filter(status=Offer.Status.OPEN).select_related("rep__user").order_by("id").first()
        return offer.rep.user.username if offer else USERNAMES[0]

    def _rep(self, username: str) -> Rep:
        return Rep.objects.select_related("user").get(user__username=username)

    def _lead_data(self, n: int, *, intent: str, value: int) -> dict[str, Any]:
        return clean_lead({"source": "proof", "external_id": f"L{n}", "email": f"l{n}@example.com",
                           "intent": intent, "value": value})  # fmt: skip

    def _intake(self, intent: str, value: int) -> None:
        self.intakes += 1
        services.lead_intake(data=self._lead_data(self.intakes, intent=intent, value=value))

    def _step(self, name: str) -> None:
        STATS["steps"] += 1
        STATS[f"step:{name}"] += 1

    # --- intake and routing ---------------------------------------------------------------------

    @rule(intent=st.sampled_from(["high", "low"]), value=st.integers(0, 100_000))
    def intake(self, intent: str, value: int) -> None:
        self._step("intake")
        self._intake(intent, value)

    @rule(
        per_thread=st.lists(st.tuples(st.sampled_from(["high", "low"]), st.integers(0, 100_000)), min_size=1, max_size=3),
        threads=st.integers(2, 3),
        racer=st.sampled_from(["none", "deactivate", "reactivate", "away", "back", "absence", "import deactivate",
                               "import restore", "caps", "sweep", "holding"]),  # fmt: skip
        who=WHO,
    )
    def concurrent_burst(self, per_thread: list, threads: int, racer: str, who: str) -> None:
        """2-3 threads take in leads at once (each commit routes in its own thread), while another
        thread may change a rep's availability, run a sweeper pass or retry the holding pool."""
        who = self._who(who)
        self._step("concurrent_burst")
        jobs: list[Callable[[], Any]] = []
        for _ in range(threads):
            numbers = []
            for intent, value in per_thread:
                self.intakes += 1
                numbers.append((self.intakes, intent, value))
            jobs.append(lambda numbers=numbers: [services.lead_intake(data=self._lead_data(n, intent=i, value=v))
                                                 for n, i, v in numbers])  # fmt: skip
        jobs.append(lambda: services.leads_route_all_pending(batch=2))  # a plain worker too
        rep = self._rep(who)
        racers: dict[str, Callable[[], Any]] = {
            "deactivate": lambda: rep_services.rep_set_active(rep=rep, active=False),
            "reactivate": lambda: rep_services.rep_set_active(rep=rep, active=True),
            "away": lambda: rep_services.rep_set_away(rep=rep),
            "back": lambda: rep_services.rep_clear_away(rep=rep),
            "absence": lambda: rep_services.absence_create(
                rep=rep, starts_at=self.clock.now() - dt.timedelta(minutes=1),
                ends_at=self.clock.now() + dt.timedelta(hours=2), reason="illness", created_by=None),
            "import deactivate": lambda: self._import(
                lambda doc: next(r for r in doc["reps"] if r["username"] == who).update(active=False)),
            "import restore": lambda: self._import(lambda doc: _restore_rep(doc, who)),
            "caps": lambda: rep_services.rep_set_caps(rep=rep, max_open=None, max_daily=None, max_weekly=None),
            "sweep": lambda: self._sweep_pass(),
            "holding": lambda: services.holding_release(limit=100),
        }  # fmt: skip
        if racer != "none":
            jobs.append(racers[racer])
        errors = _in_threads(jobs)
        assert not errors, f"a concurrent job failed: {errors!r}"
        if racer == "absence":
            for absence in Absence.objects.filter(rep=rep).exclude(id__in=self.absence_seen_at):
                self.absence_seen_at[absence.id] = self.clock.now()

    @rule()
    def route_with_two_workers(self) -> None:
        self._step("route_with_two_workers")
        errors = _in_threads([lambda: services.leads_route_all_pending(batch=1)] * 2)
        assert not errors, errors

    @rule()
    def holding_retry(self) -> None:
        self._step("holding_retry")
        services.holding_release(limit=100)

    # --- offers and accepted leads ----------------------------------------------------------------

    def _pick(self, queryset: Any, index: int) -> Any:
        rows = list(queryset.order_by("id"))
        return rows[index % len(rows)] if rows else None

    @rule(index=st.integers(0, 50))
    def accept(self, index: int) -> None:
        offer = self._pick(Offer.objects.filter(status=Offer.Status.OPEN).select_related("rep"), index)
        if offer is None:
            return
        self._step("accept")
        now = self.clock.now()
        refusal = rep_unavailable_reason(rep_id=offer.rep_id, now=now)
        expired = offer.deadline <= now
        try:
            services.offer_accept(offer_id=offer.id, rep=offer.rep)
        except services.OfferError as exc:
            assert refusal or expired, f"offer {offer.id} to an available rep was refused: {exc}"
            STATS["accept refused (unavailable or expired)"] += 1
            if refusal and not expired:  # past its deadline is said first
                assert str(exc) == refusal
        else:
            assert not refusal, f"rep {offer.rep_id} accepted offer {offer.id} while unavailable: {refusal}"
            assert not expired, f"offer {offer.id} accepted after its deadline"

    @rule(index=st.integers(0, 50))
    def decline(self, index: int) -> None:
        offer = self._pick(Offer.objects.filter(status=Offer.Status.OPEN).select_related("rep"), index)
        if offer is None:
            return
        self._step("decline")
        services.offer_decline(offer_id=offer.id, rep=offer.rep, reason="no_capacity")

    @rule(index=st.integers(0, 50), outcome=st.sampled_from([Lead.Status.CONVERTED, Lead.Status.CLOSED_LOST]))
    def close(self, index: int, outcome: str) -> None:
        lead = self._pick(Lead.objects.filter(status=Lead.Status.ACCEPTED).select_related("owner"), index)
        if lead is None:
            return
        self._step("close")
        services.lead_close(lead_id=lead.id, rep=lead.owner, outcome=outcome)

    @rule(index=st.integers(0, 50))
    def hand_back(self, index: int) -> None:
        lead = self._pick(Lead.objects.filter(status=Lead.Status.ACCEPTED).select_related("owner"), index)
        if lead is None:
            return
        self._step("hand_back")
        services.lead_hand_back(lead_id=lead.id, rep=lead.owner, note="proof")

    # --- time and the sweeper ---------------------------------------------------------------------

    @rule(minutes=st.sampled_from([1, 4, 7, 20, 45, 180, 60 * 13, 60 * 24 * 3]))
    def time_passes(self, minutes: int) -> None:
        """Offers pass their deadline, absences begin and end, local days and weeks roll over."""
        self._step("time_passes")
        self.clock.value += dt.timedelta(minutes=minutes)

    def _sweep_pass(self) -> None:
        result = run_pass()
        assert result is not None and not result.get("failed"), f"a sweeper pass step failed: {result} (see the log)"

    @rule()
    def sweep(self) -> None:
        """One sweeper pass, 31 s after the last step (the recovery threshold is 30 s)."""
        self._step("sweep")
        self.clock.value += dt.timedelta(seconds=31)
        self._sweep_pass()
        self.last_sweep_at = self.clock.now()
        pending = list(Lead.objects.filter(status=Lead.Status.PENDING).values_list("id", flat=True))
        assert not pending, f"leads {pending} still pending after a sweeper pass"
        due = list(Offer.objects.filter(status=Offer.Status.OPEN, deadline__lte=self.clock.now()).values_list("id", flat=True))
        assert not due, f"offers {due} open past their deadline after a sweeper pass"

    # --- rep availability ---------------------------------------------------------------------------

    def _import(self, change: Callable[[dict[str, Any]], None]) -> None:
        doc = config_export(include_absences=False)
        change(doc)
        config_import(doc)

    @rule(who=WHO, path=st.sampled_from(["service", "console", "import false", "import omit"]))
    def deactivate(self, who: str, path: str) -> None:
        who = self._who(who)
        self._step(f"deactivate ({path})")
        rep = self._rep(who)
        if path == "service":
            rep_services.rep_set_active(rep=rep, active=False)
        elif path == "console":
            console_services.object_deactivate(obj=rep)
        elif path == "import false":
            self._import(lambda doc: next(r for r in doc["reps"] if r["username"] == who).update(active=False))
        else:
            self._import(lambda doc: _omit_rep(doc, who))
        rep.refresh_from_db()
        assert not rep.active

    @rule(who=st.sampled_from(USERNAMES), path=st.sampled_from(["service", "import"]))
    def reactivate(self, who: str, path: str) -> None:
        self._step(f"reactivate ({path})")
        rep = self._rep(who)
        if path == "service":
            rep_services.rep_set_active(rep=rep, active=True)
        else:
            self._import(lambda doc: _restore_rep(doc, who))
        rep.refresh_from_db()
        assert rep.active

    @rule(
        who=WHO,
        starts_in=st.sampled_from([-120, -1, 0, 5, 90]),
        ends=st.sampled_from(["minutes", "far", "end of time"]),
        minutes=st.integers(10, 3000),
        path=st.sampled_from(["service", "import"]),
    )
    def absence(self, who: str, starts_in: int, ends: str, minutes: int, path: str) -> None:
        """A manager records an absence; 9999-12-31T23:59 in the rep's zone is past what can be read."""
        who = self._who(who)
        self._step(f"absence ({ends}, {path})")
        rep = self._rep(who)
        zone = zoneinfo.ZoneInfo(rep.timezone)
        now = self.clock.now()
        starts_at = now + dt.timedelta(minutes=starts_in)
        ends_at = {
            "minutes": starts_at + dt.timedelta(minutes=minutes),
            "far": dt.datetime(8999, 6, 30, 23, 59, tzinfo=zone),  # storable: it reads back
            "end of time": dt.datetime(9999, 12, 31, 23, 59, tzinfo=zone),
        }[ends]
        before = set(Absence.objects.values_list("id", flat=True))
        refused = False
        if path == "service":
            try:
                rep_services.absence_create(rep=rep, starts_at=starts_at, ends_at=ends_at, reason="vacation", created_by=None)
            except ValidationError as exc:
                refused = True
                assert ends == "end of time" or ends_at <= now, exc
                if ends == "end of time":
                    assert "ends_at" in exc.message_dict
        else:
            row = {"starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(), "reason": "vacation", "note": ""}
            doc = config_export(include_absences=True)
            next(r for r in doc["reps"] if r["username"] == who)["absences"].append(row)
            try:
                config_import(doc)
            except ConfigImportError as exc:
                refused = True
                assert ends == "end of time", exc.errors
                assert any(".ends_at: Pick a date between" in e for e in exc.errors), exc.errors
        if ends == "end of time":
            assert refused, "an absence ending past the readable range was stored"
            STATS["end-of-time absence refused"] += 1
        for absence_id in set(Absence.objects.values_list("id", flat=True)) - before:
            self.absence_seen_at[absence_id] = now

    @rule(then_accept=st.booleans())
    def absence_begins_unannounced(self, then_accept: bool) -> None:
        """An absence set in advance begins with no event while its rep holds an offer: until the
        next sweeper pass the offer is still open, and accepting it must be refused."""
        offer = Offer.objects.filter(status=Offer.Status.OPEN).select_related("rep").order_by("id").first()
        if offer is None:
            return
        self._step("absence begins unannounced")
        now = self.clock.now()
        rep_services.absence_create(rep=offer.rep, starts_at=now + dt.timedelta(seconds=30),
                                    ends_at=now + dt.timedelta(hours=3), reason="vacation", created_by=None)  # fmt: skip
        for absence_id in Absence.objects.filter(rep=offer.rep).values_list("id", flat=True):
            self.absence_seen_at.setdefault(absence_id, now)
        self.clock.value += dt.timedelta(minutes=1)
        if then_accept:
            self.accept(index=list(Offer.objects.filter(status=Offer.Status.OPEN).order_by("id")).index(offer)
                        if Offer.objects.filter(id=offer.id, status=Offer.Status.OPEN).exists() else 0)  # fmt: skip

    @rule(index=st.integers(0, 50))
    def absence_end(self, index: int) -> None:
        absence = self._pick(Absence.objects.all(), index)
        if absence is None:
            return
        self._step("absence_end")
        try:
            rep_services.absence_end(absence_id=absence.id, by=None)
        except ValidationError:
            assert absence.ends_at <= self.clock.now(), "ending a current absence was refused"

    @rule(who=WHO, hours=st.sampled_from([None, 1, 30]))
    def away(self, who: str, hours: int | None) -> None:
        who = self._who(who)
        self._step("away")
        until = None if hours is None else self.clock.now() + dt.timedelta(hours=hours)
        rep_services.rep_set_away(rep=self._rep(who), until=until)

    @rule(who=st.sampled_from(USERNAMES))
    def back(self, who: str) -> None:
        self._step("back")
        rep_services.rep_clear_away(rep=self._rep(who))

    @rule(who=st.sampled_from(USERNAMES), raise_by=st.lists(st.one_of(st.none(), st.integers(0, 2)), min_size=3, max_size=3))
    def set_caps(self, who: str, raise_by: list[int | None]) -> None:
        """New caps at or above what the rep holds now (None: no cap): a cap is never below the load."""
        self._step("set_caps")
        rep = self._rep(who)
        counts = snapshots.capacity_counts(load=RepLoad.objects.filter(rep=rep).first(), tz_name=rep.timezone,
                                           now=self.clock.now())  # fmt: skip
        caps = [None if r is None else held + r for r, held in zip(raise_by, (counts.open, counts.today, counts.week), strict=True)]
        rep_services.rep_set_caps(rep=rep, max_open=caps[0], max_daily=caps[1], max_weekly=caps[2])

    # --- configuration --------------------------------------------------------------------------------

    @rule(
        change=st.sampled_from(["drop segment hot", "drop pool Standard", "drop rep", "restore all"]),
        who=WHO,
        publish=st.booleans(),
    )
    def import_config(self, change: str, who: str, publish: bool) -> None:
        who = self._who(who)
        self._step(f"import ({change}{', publish' if publish else ''})")

        def edit(doc: dict[str, Any]) -> None:
            if change == "drop segment hot":
                doc["segments"] = [s for s in doc["segments"] if s["slug"] != "hot"]
            elif change == "drop pool Standard":
                doc["pools"] = [p for p in doc["pools"] if p["name"] != "Standard"]
            elif change == "drop rep":
                _omit_rep(doc, who)
            else:
                base = base_doc()
                for name in ("segments", "pools"):
                    have = {_key(name, x) for x in doc[name]}
                    doc[name] += [copy.deepcopy(x) for x in base[name] if _key(name, x) not in have]
                for pool in doc["pools"]:
                    pool["active"] = True
                for username in USERNAMES:
                    _restore_rep(doc, username)

        self._import(edit)
        if publish:
            services.rule_publish(note=change)

    @rule()
    def publish(self) -> None:
        self._step("publish")
        services.rule_publish(note="proof")

    # --- invariants --------------------------------------------------------------------------------------

    @invariant()
    def no_lead_lost_and_states_agree(self) -> None:
        assert Lead.objects.count() == self.intakes, "a lead taken in was lost (or duplicated)"
        open_offers = defaultdict(list)
        for offer in Offer.objects.filter(status=Offer.Status.OPEN).values("id", "lead_id", "rep_id"):
            open_offers[offer["lead_id"]].append(offer)
        for lead_id, offers in open_offers.items():
            assert len(offers) == 1, f"lead {lead_id} has {len(offers)} live offers"
        for lead in Lead.objects.values("id", "status", "owner_id"):
            offers = open_offers.get(lead["id"], [])
            if lead["status"] == Lead.Status.OFFERED:
                assert offers and offers[0]["rep_id"] == lead["owner_id"], f"offered lead {lead['id']} without its offer"
            else:
                assert not offers, f"lead {lead['id']} is {lead['status']} yet has a live offer"
            if lead["status"] in (Lead.Status.PENDING, Lead.Status.HOLDING, Lead.Status.QUARANTINED):
                assert lead["owner_id"] is None, f"waiting lead {lead['id']} has an owner"
            if lead["status"] == Lead.Status.ACCEPTED:
                assert lead["owner_id"] is not None

    @invariant()
    def no_live_offer_for_an_unavailable_rep(self) -> None:
        now = self.clock.now()
        for offer in Offer.objects.filter(status=Offer.Status.OPEN).select_related("rep"):
            rep = offer.rep
            assert rep.active, f"inactive rep {rep.id} holds live offer {offer.id}"
            assert not (rep.away_until and rep.away_until > now), f"away rep {rep.id} holds live offer {offer.id}"
            for absence in rep.absences.filter(starts_at__lte=now, ends_at__gt=now):
                # An absence set in advance begins with no event: the next sweeper pass moves the offer.
                known_since = max(self.last_sweep_at, self.absence_seen_at.get(absence.id, absence.starts_at))
                assert absence.starts_at > known_since, f"absent rep {rep.id} holds live offer {offer.id}"

    @invariant()
    def caps_hold_and_counters_equal_the_rows(self) -> None:
        now = self.clock.now()
        owned = Counter(Lead.objects.filter(status__in=Lead.OPEN_STATUSES).values_list("owner_id", flat=True))
        for rep in Rep.objects.all():
            local = snapshots.local_day_and_week(now, rep.timezone)
            counted = snapshots.capacity_counts(load=RepLoad.objects.filter(rep=rep).first(), tz_name=rep.timezone, now=now)
            # New leads today / this week: offers still open or accepted, and accepted leads handed back
            # (a hand-back keeps the day's count; a decline, expiry or withdrawal gives it back).
            kept = Offer.objects.filter(rep=rep).filter(
                Q(status__in=[Offer.Status.OPEN, Offer.Status.ACCEPTED])
                | Q(status=Offer.Status.DECLINED, decline_note__startswith="handed back")
            )
            today = kept.filter(counted_day=local[0]).count()
            week = kept.filter(counted_week=local[1]).count()
            assert counted.open == owned.get(rep.id, 0), f"rep {rep.id} open counter {counted.open} != {owned.get(rep.id, 0)} leads"
            assert counted.today == today, f"rep {rep.id} daily counter {counted.today} != {today} offers today"
            assert counted.week == week, f"rep {rep.id} weekly counter {counted.week} != {week} offers this week"
            for cap, value, label in ((rep.max_open, counted.open, "open"), (rep.max_daily, counted.today, "daily"),
                                      (rep.max_weekly, counted.week, "weekly")):  # fmt: skip
                assert cap is None or value <= cap, f"rep {rep.id} {label} {value} over its cap {cap}"

    @invariant()
    def routing_never_failed(self) -> None:
        """Nothing in these sequences is poison: a quarantined lead means routing raised."""
        failed = list(Lead.objects.filter(status=Lead.Status.QUARANTINED).values_list("id", "quarantine_error")[:3])
        assert not failed, f"routing failed: {failed}"

    @invariant()
    def one_decision_per_change_of_outcome(self) -> None:
        offers = Offer.objects.count()
        offered = Decision.objects.filter(outcome="offer").count()
        assert offered == offers, f"{offered} offer decisions for {offers} offers"
        assert not Offer.objects.filter(decision__isnull=True).exists(), "an offer without its decision"
        ended = defaultdict(list)  # lead -> when its offers were declined, expired or withdrawn
        for lead_id, decided_at in Offer.objects.filter(
            status__in=[Offer.Status.DECLINED, Offer.Status.EXPIRED, Offer.Status.WITHDRAWN]
        ).values_list("lead_id", "decided_at"):  # fmt: skip
            ended[lead_id].append(decided_at)
        last: dict[int, tuple[str, str]] = {}
        for id_, lead_id, kind, outcome, created_at, detail in Decision.objects.order_by("id").values_list(
            "id", "lead_id", "kind", "outcome", "created_at", "detail"
        ):  # fmt: skip
            digest = _outcome_digest(detail)
            previous = last.get(lead_id)
            assert not (outcome == "holding" and previous == ("holding", digest)), (
                f"lead {lead_id}: decision {id_} repeats the held outcome before it (a retry that changed nothing)")
            if kind == Decision.Kind.ESCALATION:
                assert any(t <= created_at for t in ended[lead_id]), (
                    f"lead {lead_id}: decision {id_} is an escalation, but no offer of it was declined, expired "
                    f"or withdrawn before")  # fmt: skip
            if kind == Decision.Kind.RETRY:
                assert previous and previous[0] == "holding", f"lead {lead_id}: retry decision {id_} of a lead not held"
            last[lead_id] = (outcome, digest)


def _outcome_digest(detail: dict[str, Any]) -> str:
    """routing.batch.outcome_key of a stored decision: what it concluded and why (rule set,
    segment, rule, outcome, each step's candidates and reasons), not scores or counts."""
    parts = [detail.get("config_version"), (detail.get("segment") or {}).get("id"), (detail.get("rule") or {}).get("id"),
             detail.get("outcome"), detail.get("chosen_step") or "", detail.get("chosen_rep_id")]  # fmt: skip
    for step in detail.get("steps") or ():
        parts.append((step.get("kind"), step.get("pool_id"), tuple(step.get("relaxed") or ()),
                      tuple((c.get("rep_id"), c.get("eligible"), tuple(c.get("reasons") or ()))
                            for c in step.get("candidates") or ())))  # fmt: skip
    return repr(parts)


def _key(section: str, row: dict[str, Any]) -> str:
    return row["slug"] if section == "segments" else row["name"]


def _omit_rep(doc: dict[str, Any], username: str) -> None:
    """The file leaves the rep out (and every reference to them): the importer deactivates them."""
    doc["reps"] = [r for r in doc["reps"] if r["username"] != username]
    for rep in doc["reps"]:
        if rep["manager"] == username:
            rep["manager"] = None
    for pool in doc["pools"]:
        pool["members"] = [m for m in pool["members"] if m["rep"] != username]
        if pool["manager"] == username:
            pool["manager"] = None


def _restore_rep(doc: dict[str, Any], username: str) -> None:
    base = base_doc()
    row = next((r for r in doc["reps"] if r["username"] == username), None)
    if row is None:
        row = copy.deepcopy(next(r for r in base["reps"] if r["username"] == username))
        row["max_open"] = row["max_daily"] = row["max_weekly"] = None  # never below what they already hold
        doc["reps"].append(row)
    row["active"] = True
    for base_pool in base["pools"]:
        pool = next((p for p in doc["pools"] if p["name"] == base_pool["name"]), None)
        if pool is None:
            continue
        for member in base_pool["members"]:
            if member["rep"] == username and all(m["rep"] != username for m in pool["members"]):
                pool["members"].append(dict(member))
        if base_pool["manager"] == username:
            pool["manager"] = username


def test_the_lead_lifecycle_holds_its_invariants_under_random_sequences() -> None:
    STATS.clear()
    run_state_machine_as_test(
        LifecycleMachine,
        settings=settings(
            max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None,
            suppress_health_check=list(HealthCheck),
            phases=tuple(Phase) if SHRINK else (Phase.explicit, Phase.reuse, Phase.generate),
        ),
    )  # fmt: skip
    print(f"\nlifecycle proof: {dict(sorted(STATS.items()))}")  # noqa: T201 - the long run's figures
    assert STATS["sequences"] >= EXAMPLES and STATS["steps"] > 0
