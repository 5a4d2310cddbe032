"""Inbox push (reps/push.py): NOTIFY on commit, one rep's stream per rep, and a real ASGI server
(uvicorn, as in production) streaming an offer made by another process; a browser sees it
without polling."""

from __future__ import annotations

import asyncio
import http.client
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from django.db import connection, transaction
from django.test import AsyncRequestFactory, Client, RequestFactory

from reps import push, views
from reps.models import Rep, Role
from routing import services
from tests.conftest import login
from tests.factories import UserFactory
from tests.reps.helpers import make_world, open_offer, route_new_lead

ROOT = Path(__file__).resolve().parents[2]


def _client_for(rep: Rep) -> Client:
    client = Client()
    client.force_login(rep.user)
    return client


# --- the stream endpoint --------------------------------------------------------------------


@pytest.mark.django_db
def test_the_stream_is_for_reps_only() -> None:
    assert Client().get("/inbox/events/").status_code == 403  # anonymous: no session, no stream
    ops = UserFactory(username="olga")
    from django.contrib.auth.models import Group

    ops.groups.add(Group.objects.get_or_create(name=Role.OPS.value)[0])
    client = Client()
    client.force_login(ops)
    assert client.get("/inbox/events/").status_code == 403


@pytest.mark.django_db
def test_under_wsgi_the_page_polls_and_the_stream_says_no_content() -> None:
    world = make_world()
    client = _client_for(world.primary)
    page = client.get("/inbox/").content.decode()
    assert 'id="inbox-live" data-poll-seconds="3"' in page and "sse-connect" not in page
    assert client.get("/inbox/events/").status_code == 204  # EventSource stops; inbox.js polls


@pytest.mark.postgres
def test_push_is_offered_over_asgi_on_postgresql_unless_turned_off(settings) -> None:  # noqa: ANN001
    assert push.push_available(AsyncRequestFactory().get("/inbox/")) is True
    assert push.push_available(RequestFactory().get("/inbox/")) is False  # WSGI: a thread per stream
    # A page served by the production server's WSGI threads (leadops.asgi.StreamsAsync): the
    # stream itself is served on its event loop.
    assert push.push_available(RequestFactory().get("/inbox/", **{"leadops.streams": True})) is True
    settings.LEADOPS_INBOX_PUSH = False
    assert push.push_available(AsyncRequestFactory().get("/inbox/")) is False


# --- the feed: what an event carries ----------------------------------------------------------


def _feed_for(rep: Rep, client: Client, *, have: list[int] | None) -> views.OffersFeed:
    return views.OffersFeed(rep_id=rep.id, user=rep.user, session_key=client.session.session_key,
                            csrf_token="csrf-of-the-page", have=have)  # fmt: skip


@pytest.mark.django_db
def test_an_event_carries_only_the_cards_the_page_lacks_and_none_when_nothing_changed() -> None:
    world = make_world()
    client = _client_for(world.primary)
    kept = open_offer(route_new_lead(company="Kept Ltd"))
    feed = _feed_for(world.primary, client, have=[kept.id])
    assert feed() is None  # the page shows exactly the live offers: no event

    new = open_offer(route_new_lead(company="New Ltd"))
    data = feed()
    assert f'data-live="{new.id},{kept.id}"' in data  # live ids, newest first
    assert f'id="offer-{new.id}"' in data and "New Ltd" in data
    assert f'id="offer-{kept.id}"' not in data and "Kept Ltd" not in data  # the page has that card
    assert 'name="csrfmiddlewaretoken" value="csrf-of-the-page"' in data  # its forms post as the page's
    assert feed() is None  # sent once

    services.offers_withdraw_for_away(rep=world.primary)  # withdrawals: the ids, no cards
    data = feed()
    assert 'data-live=""' in data and 'class="card offer"' not in data


@pytest.mark.django_db
def test_a_stream_opened_without_have_sends_every_live_card_once() -> None:
    world = make_world()
    client = _client_for(world.primary)
    offer = open_offer(route_new_lead(company="First Ltd"))
    feed = _feed_for(world.primary, client, have=None)
    data = feed()
    assert f'data-live="{offer.id}"' in data and "First Ltd" in data
    assert feed() is None


@pytest.mark.django_db
@pytest.mark.parametrize("engine", ["django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cache"])
@pytest.mark.parametrize("ending", ["signed out", "deactivated", "password changed", "no longer a rep", "expired"])
def test_the_feed_ends_the_stream_once_the_session_behind_it_is_no_longer_a_signed_in_rep(ending: str, engine: str, settings) -> None:  # noqa: ANN001
    settings.SESSION_ENGINE = engine
    world = make_world()
    client = _client_for(world.primary)
    open_offer(route_new_lead(company="Secret Ltd"))
    feed = _feed_for(world.primary, client, have=[])
    assert "Secret Ltd" in feed()  # signed in: the card is sent
    feed = _feed_for(world.primary, client, have=[])
    user = world.primary.user
    if ending == "signed out":
        client.logout()
    elif ending == "deactivated":
        user.is_active = False
        user.save()
    elif ending == "password changed":
        user.set_password("a-new-password-123")
        user.save()
    elif ending == "no longer a rep":
        user.groups.clear()
    else:
        session = client.session
        session.set_expiry(-1)
        session.save()
    with pytest.raises(push.StreamEnded):
        feed()


@pytest.mark.django_db
def test_a_feed_for_another_reps_stream_reads_nothing() -> None:
    """A session's feed reads only the rep the session is signed in as: Bo's session and user
    asking for Pat's rep get nothing."""
    world = make_world()
    open_offer(route_new_lead(company="Pat's Ltd"))
    bo = _client_for(world.backup)
    feed = views.OffersFeed(rep_id=world.primary.id, user=world.backup.user, session_key=bo.session.session_key,
                            csrf_token="x", have=[])  # fmt: skip
    with pytest.raises(push.StreamEnded):
        feed()


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_streams_one_statement_reads_the_inbox_ids_and_only_for_a_signed_in_rep() -> None:
    import datetime as dt

    from django.utils import timezone

    from reps import selectors
    from routing.models import Offer

    world = make_world()
    client = _client_for(world.primary)
    offers = [open_offer(route_new_lead(company=f"Co {i}")) for i in range(3)]
    assert {o.rep_id for o in offers} == {world.primary.id}
    Offer.objects.filter(id=offers[0].id).update(deadline=timezone.now() - dt.timedelta(seconds=1))  # due, not yet swept
    now = timezone.now()
    user = world.primary.user
    signed_in = {"rep_id": world.primary.id, "user_id": user.id, "password": user.password,
                 "session_key": client.session.session_key, "now": now}  # fmt: skip

    live = selectors.offer_ids_open_for_signed_in_rep(**signed_in)
    assert live == selectors.offer_ids_open_for_rep(rep=world.primary, now=now, limit=selectors.INBOX_OFFERS_SHOWN)
    assert live == [offers[2].id, offers[1].id]  # newest first; the one past its deadline is gone
    for wrong in ({"password": "pbkdf2_sha256$other"}, {"session_key": "no-such-session"}, {"user_id": world.backup.user.id},
                  {"rep_id": world.backup.id}, {"now": now + dt.timedelta(days=400)}):  # fmt: skip
        assert selectors.offer_ids_open_for_signed_in_rep(**{**signed_in, **wrong}) is None, wrong
    user.groups.clear()
    assert selectors.offer_ids_open_for_signed_in_rep(**signed_in) is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_stream_sends_what_the_feed_answers_falls_back_to_asking_and_stops_when_told() -> None:
    answers = iter(["<div data-live=\"7\">\n<article>x</article></div>", None, RuntimeError("database gone"), push.StreamEnded()])

    def feed() -> str | None:
        answer = next(answers)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def scenario() -> list[str]:
        other = push.hub.subscribe(999_999)  # starts the LISTEN connection: its connect wake-up comes first
        await asyncio.wait_for(push.hub.listening.wait(), timeout=30)
        await asyncio.sleep(0)
        stream = push.rep_event_stream(rep_id=1234, heartbeat_seconds=60, feed=feed)
        out: asyncio.Queue[str] = asyncio.Queue()

        async def read() -> None:
            async for message in stream:
                await out.put(message)
            await out.put("<ended>")

        reader = asyncio.get_running_loop().create_task(read())
        sent = [await out.get(), await out.get()]  # retry + "connected"; the connect wake-up's answer
        for wait in (1.0, 30, 30):  # None sends nothing; the error falls back to "inbox"; StreamEnded ends it
            push.hub._wake(1234)
            try:
                sent.append(await asyncio.wait_for(out.get(), timeout=wait))
            except TimeoutError:
                sent.append("<nothing>")
        await reader
        push.hub.unsubscribe(999_999, other)
        push.hub._task.cancel()
        return sent

    with ThreadPoolExecutor(1) as pool:
        sent = pool.submit(lambda: asyncio.run(scenario())).result(timeout=120)
    assert sent[1] == 'event: offers\ndata: <div data-live="7">\ndata: <article>x</article></div>\n\n'
    assert sent[2:] == ["<nothing>", "event: inbox\ndata: changed\n\n", "<ended>"]


# --- NOTIFY on commit -----------------------------------------------------------------------


def _listener() -> psycopg.Connection:
    conn = psycopg.connect(autocommit=True, **push._conninfo())
    conn.execute(f"LISTEN {push.CHANNEL}")
    return conn


def _payloads(conn: psycopg.Connection, *, wait: float) -> list[str]:
    return [n.payload for n in conn.notifies(timeout=wait, stop_after=50)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_rep_is_notified_when_the_offer_commits_and_never_for_a_rolled_back_one() -> None:
    world = make_world()
    listener = _listener()
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            route_new_lead()
            raise RuntimeError("roll the offer back")
        lead = route_new_lead()
        offer = open_offer(lead)
        assert offer.rep_id == world.primary.id
        received = _payloads(listener, wait=5)
        # The rolled-back offer sent nothing; the committed one told its rep exactly once.
        assert received == [str(world.primary.id)]

        services.offers_withdraw_for_away(rep=world.primary)  # a withdrawal is pushed too,
        received = _payloads(listener, wait=5)  # and the backup rep hears of the lead it gets next
        assert received.count(str(world.primary.id)) == 1 and str(world.backup.id) in received
    finally:
        listener.close()


# --- the hub: one LISTEN connection, each rep woken only by their own notifications ----------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_hub_wakes_only_the_rep_a_notification_names() -> None:
    conninfo = push._conninfo()

    async def scenario() -> tuple[bool, bool]:
        hub = push.Hub()
        alice, bob = hub.subscribe(1001), hub.subscribe(1002)
        await asyncio.wait_for(hub.listening.wait(), timeout=30)
        await asyncio.sleep(0)  # the (re)connect wake-up has run
        alice.clear()
        bob.clear()
        sender = await psycopg.AsyncConnection.connect(autocommit=True, **conninfo)
        await sender.execute("SELECT pg_notify(%s, %s)", [push.CHANNEL, "1001"])
        await sender.close()
        await asyncio.wait_for(alice.wait(), timeout=30)
        woke_bob = bob.is_set()
        hub.unsubscribe(1001, alice)
        hub.unsubscribe(1002, bob)
        hub._task.cancel()
        return alice.is_set(), woke_bob

    # Its own thread and event loop: Playwright's sync API may hold a running loop in this one.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(lambda: asyncio.run(scenario())).result(timeout=120) == (True, False)


# --- a real ASGI server process -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def asgi_server(request, transactional_db):  # noqa: ANN001, ANN201
    """uvicorn serving leadops.asgi (as gunicorn's uvicorn workers do in production) on the test
    database, with the inbox's fallback poll set to an hour so anything that arrives was pushed.
    Indirect parametrisation adds environment variables (``{"LEADOPS_INBOX_PUSH_CARDS": "0"}``)."""
    db = connection.settings_dict
    url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "leadops.test_settings",
           "LEADOPS_INBOX_POLL_SECONDS": "3600", "LEADOPS_INBOX_HEARTBEAT_SECONDS": "2", "LEADOPS_Q_SYNC": "0",
           "LEADOPS_DB_POOL_MAX": "4", **getattr(request, "param", {})}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "leadops.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--lifespan", "off", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"uvicorn exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("uvicorn did not start")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


class _Stream:
    """An open event stream read by a thread: each SSE message (its lines) lands on a queue."""

    def __init__(self, base: str, session: str, *, have: str | None = None) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        path = "/inbox/events/" if have is None else f"/inbox/events/?have={have}"
        self.conn.request("GET", path, headers={"Cookie": f"sessionid={session}", "Accept": "text/event-stream"})
        self.response = self.conn.getresponse()
        self.messages: queue.Queue[str] = queue.Queue()
        self.finished = threading.Event()  # set when the server ends the stream
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        lines: list[str] = []
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\r\n")
                if line:
                    lines.append(line)
                elif lines:
                    self.messages.put("\n".join(lines))
                    lines = []
        except (OSError, ValueError, AttributeError):  # closed by close(): the test is done with it
            return
        self.finished.set()

    def next_event(self, name: str, *, timeout: float) -> str:
        """The next message that is the event ``name`` (skipping comments); raises queue.Empty."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.messages.get(timeout=max(deadline - time.monotonic(), 0.01))
            if f"event: {name}" in message:
                return message

    def drain(self) -> None:
        while not self.messages.empty():
            self.messages.get_nowait()

    def close(self) -> None:
        self.conn.close()


@pytest.mark.postgres
@pytest.mark.slow
def test_an_offer_made_in_another_process_reaches_an_open_stream(asgi_server) -> None:  # noqa: ANN001
    world = make_world()
    stream = _Stream(asgi_server, _client_for(world.primary).cookies["sessionid"].value)
    try:
        assert stream.response.status == 200
        assert stream.response.getheader("Content-Type", "").startswith("text/event-stream")
        # On connect: the live ids (none), which covers the page-load gap.
        assert 'data: <div data-live="">' in stream.next_event("offers", timeout=30)
        # Wait for a heartbeat: by then the server's LISTEN connection is up and any connect
        # wake-ups have been sent, so the next event can only come from the new offer.
        _wait_for_comment(stream, timeout=30)
        stream.drain()

        lead = route_new_lead(company="Pushed Ltd")  # this test process routes; uvicorn streams
        offer = open_offer(lead)
        assert offer.rep_id == world.primary.id
        message = stream.next_event("offers", timeout=30)  # the card itself, no ask needed
        assert f'data-live="{offer.id}"' in message and f'id="offer-{offer.id}"' in message and "Pushed Ltd" in message

        _wait_for_comment(stream, timeout=30)
        stream.drain()
        services.offers_withdraw_for_away(rep=world.primary)  # withdrawals are pushed as well
        message = stream.next_event("offers", timeout=30)
        assert 'data-live=""' in message and "Pushed Ltd" not in message
    finally:
        stream.close()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("then", ["an offer comes", "nothing happens"])
def test_a_stream_whose_session_signed_out_closes_without_sending_the_next_offer(asgi_server, then: str) -> None:  # noqa: ANN001
    """Closed at the next event, or at the next heartbeat (2 s here) when no event comes."""
    world = make_world()
    client = _client_for(world.primary)
    stream = _Stream(asgi_server, client.cookies["sessionid"].value, have="")
    try:
        _wait_for_comment(stream, timeout=30)  # connected and listening; nothing live, nothing sent
        client.logout()  # e.g. from another tab
        if then == "an offer comes":
            open_offer(route_new_lead(company="After Logout Ltd"))
        stream.finished.wait(timeout=30)
        assert stream.finished.is_set()  # the server closed the stream
        assert not any("After Logout" in m for m in list(stream.messages.queue))
    finally:
        stream.close()


def _wait_for_comment(stream: _Stream, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        message = stream.messages.get(timeout=max(deadline - time.monotonic(), 0.01))
        if message.startswith(": keep-alive"):
            return


def _open_empty_inbox(page, base: str, rep: Rep) -> None:  # noqa: ANN001
    """Sign ``rep`` in on the server at ``base`` and open their (empty) inbox, htmx loaded."""

    class _Server:  # login() wants something with .url
        url = base

    login(page, _Server, rep.user.username)
    page.goto(f"{base}/inbox/")
    page.get_by_text("No offers right now").wait_for()
    page.wait_for_function("() => window.htmx !== undefined")


@pytest.mark.postgres
@pytest.mark.browser
@pytest.mark.slow
def test_an_open_inbox_shows_a_new_offer_without_polling(asgi_server, page) -> None:  # noqa: ANN001
    world = make_world()
    inbox_requests: list[str] = []
    page.on("request", lambda r: inbox_requests.append(r.url) if "/inbox/" in r.url else None)

    _open_empty_inbox(page, asgi_server, world.primary)
    assert page.locator("#inbox-live").get_attribute("data-poll-seconds") == "3600"

    asks_before = [u for u in inbox_requests if "/inbox/?" in u]

    lead = route_new_lead(company="Pushed Rockets")  # after the page is open; polls are an hour apart
    offer = open_offer(lead)
    card = page.locator(f"#offer-{offer.id}")
    card.wait_for(timeout=30_000)
    assert "Pushed Rockets" in card.inner_text()
    assert any("/inbox/events/" in u for u in inbox_requests)  # it came down the stream,
    assert [u for u in inbox_requests if "/inbox/?" in u] == asks_before  # in the event itself: no ask
    assert page.locator("#inbox-have").input_value() == str(offer.id)
    assert page.locator("#offers-empty").is_hidden()

    # A reason being typed on one card survives the next pushed card, and a pushed card's forms work.
    page.select_option(f"#decline-reason-{offer.id}", index=1)
    second = open_offer(route_new_lead(company="Second Rockets"))
    page.locator(f"#offer-{second.id}").wait_for(timeout=30_000)
    assert page.locator("#offer-cards .offer").evaluate_all("els => els.map(e => e.id)") == [f"offer-{second.id}", f"offer-{offer.id}"]
    assert page.locator(f"#decline-reason-{offer.id}").evaluate("el => el.selectedIndex") == 1
    assert [u for u in inbox_requests if "/inbox/?" in u] == asks_before
    page.locator(f"#offer-{second.id} button.accept").click()
    page.get_by_text("Accepted:").wait_for(timeout=30_000)
    assert page.locator(f"#offer-{second.id}").count() == 0
    assert page.locator(f"#decline-reason-{offer.id}").evaluate("el => el.selectedIndex") == 1


@pytest.mark.postgres
@pytest.mark.slow
def test_the_production_server_takes_intake_with_and_without_a_content_length(asgi_server) -> None:  # noqa: ANN001
    """Pages and the API run on the server's WSGI threads (leadops.asgi.StreamsAsync); a body sent
    chunked, with no length, goes through Django's ASGI handler instead, which reads it whole."""
    import json

    from routing.models import Lead
    from tests.factories import make_token

    token = make_token(scopes=("intake",))
    host, port = asgi_server.removeprefix("http://").split(":")
    for external_id, chunked in (("sized", False), ("chunked", True)):
        body = json.dumps({"source": "web", "external_id": external_id, "company": "Framed Ltd"}).encode()
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        if chunked:
            conn.request("POST", "/api/v1/leads", body=iter([body[:10], body[10:]]), headers=headers, encode_chunked=True)
        else:
            conn.request("POST", "/api/v1/leads", body=body, headers=headers)
        response = conn.getresponse()
        assert (external_id, response.status) == (external_id, 201), response.read()[:300]
        conn.close()
    assert set(Lead.objects.values_list("external_id", flat=True)) == {"sized", "chunked"}


@pytest.mark.postgres
@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("asgi_server", [{"LEADOPS_INBOX_PUSH_CARDS": "0"}], indirect=True)
def test_an_offer_pushed_while_the_inbox_is_asking_still_shows(asgi_server, page) -> None:  # noqa: ANN001
    """With cards off the stream (LEADOPS_INBOX_PUSH_CARDS=0, and whenever a feed fails) each event
    makes the inbox ask. An event that comes while the inbox's ask is in flight asks once more
    afterwards (htmx 2 queues the last request triggered on an element that has one in flight).
    Were it dropped, the new offer would stay unseen until the rep's next event: here never, polls
    are an hour apart."""
    world = make_world()

    _open_empty_inbox(page, asgi_server, world.primary)
    page.wait_for_timeout(500)  # the connect event's ask is answered
    page.evaluate("() => { window.inboxEvents = 0; document.addEventListener('htmx:sseMessage', () => window.inboxEvents++); }")

    held: list = []  # the first ask: answered by the server at once, its answer held back

    def hold(route) -> None:  # noqa: ANN001
        if held:
            route.continue_()  # later asks go through
        else:
            held.append((route, route.fetch()))

    page.route(lambda url: "/inbox/?" in url and "have=" in url, hold)
    first = route_new_lead(company="First Rockets")
    page.wait_for_function("() => window.inboxEvents >= 1")
    deadline = time.monotonic() + 30
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert held, "the inbox did not ask after the first event"

    second = route_new_lead(company="Second Rockets")  # its event comes while the first ask is in flight
    page.wait_for_function("() => window.inboxEvents >= 2")
    route, response = held[0]
    assert "Second Rockets" not in response.text()  # the first answer predates the second offer
    route.fulfill(response=response)

    page.locator(f"#offer-{open_offer(first).id}").wait_for(timeout=15_000)
    card = page.locator(f"#offer-{open_offer(second).id}")
    card.wait_for(timeout=15_000)
    assert "Second Rockets" in card.inner_text()


@pytest.mark.postgres
@pytest.mark.browser
@pytest.mark.slow
def test_an_inbox_whose_session_ended_goes_to_the_login_page_at_its_next_ask(asgi_server, page) -> None:  # noqa: ANN001
    from django.contrib.sessions.models import Session

    world = make_world()

    _open_empty_inbox(page, asgi_server, world.primary)
    Session.objects.all().delete()  # signed out elsewhere, or expired
    page.evaluate("() => htmx.trigger(document.getElementById('inbox-offers'), 'inbox-poll')")  # its next poll
    page.wait_for_url("**/login/**", timeout=30_000)
    assert page.locator("input[name=username]").is_visible()
