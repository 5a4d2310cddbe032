"""The examples in docs/examples/ run against the live app: the Python client sends a lead,
pages through leads and decisions, and a rep accepts through a personal token; the webhook
receiver verifies the Standard Webhooks signature of the real deliveries and refuses a forged
one. The interactive docs load Swagger UI from our own static files under our CSP."""

from __future__ import annotations

import base64
import importlib.util
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from reps.notifications import webhooks_deliver_due
from routing import services
from routing.models import WebhookDelivery
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, make_token

EXAMPLES = Path(django_settings.BASE_DIR) / "docs" / "examples"
SECRET = "whsec_" + base64.b64encode(b"a shared secret for the example!").decode()


def _load(name: str):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def receiver():  # noqa: ANN201
    events: list[dict] = []
    server = _load("webhook_receiver").make_server(0, SECRET, events.append)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/", events
    server.shutdown()
    server.server_close()


@pytest.mark.django_db(transaction=True)
def test_the_client_and_the_webhook_receiver_work_against_the_running_app(live_server, receiver, settings) -> None:  # noqa: ANN001
    url, events = receiver
    settings.LEADOPS_WEBHOOK_URL, settings.LEADOPS_WEBHOOK_SECRET = url, SECRET
    rep = RepFactory(display_name="Ana")
    PoolMemberFactory(pool=(pool := PoolFactory()), rep=rep)
    RuleFactory(pool=pool, name="Everyone")
    services.rule_publish()
    client_module = _load("leadops_client")
    crm = client_module.LeadOpsClient(live_server.url, token=make_token("crm", scopes=("intake", "read")))

    created = crm.send_lead({"source": "web", "external_id": "EX-1", "email": "ada@example.com", "country": "US"})
    assert created["created"] is True
    with pytest.raises(client_module.LeadOpsError) as refused:
        crm.send_lead({"source": "web", "external_id": "EX-2", "email": "not an email"})
    assert refused.value.status == 400 and list(refused.value.errors) == ["email"]

    services.leads_route_all_pending()  # a worker's job; the live server's wake-up may have done it already
    assert [lead["external_id"] for lead in crm.leads()] == ["EX-1"]
    detail = crm.lead(created["id"])
    assert detail["owner"]["name"] == "Ana" and detail["decisions"][0]["candidates"][0]["rep_id"] == rep.id
    assert next(crm.decisions(rep=rep.id))["lead_id"] == created["id"]

    phone = client_module.LeadOpsClient(live_server.url, token=make_token("phone", scopes=("offers",), user=rep.user))
    (offer,) = list(phone.my_offers())
    assert phone.accept(offer["id"])["status"] == "accepted"

    webhooks_deliver_due()  # the sweeper's job; the live server's inline task may have sent them already
    assert list(WebhookDelivery.objects.order_by("id").values_list("event", "status")) == [
        ("offer.created", "delivered"), ("offer.accepted", "delivered")]
    assert [e["event"] for e in events][:2] == ["offer.created", "offer.accepted"]
    assert events[0]["data"]["lead_id"] == created["id"]

    forged = urllib.request.Request(url, data=json.dumps({"event": "offer.accepted"}).encode(), method="POST", headers={
        "webhook-id": "msg_forged", "webhook-timestamp": "1700000000", "webhook-signature": "v1,Zm9yZ2Vk",
        "Content-Type": "application/json"})  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(forged, timeout=5)  # noqa: S310
    assert answer.value.code == 401 and len(events) == 2


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_interactive_docs_render_offline_under_the_csp(live_server, page) -> None:  # noqa: ANN001
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text) if message.type == "error" else None)
    outside: list[str] = []
    page.on("request", lambda request: outside.append(request.url) if not request.url.startswith(live_server.url) else None)
    page.goto(f"{live_server.url}/api/v1/docs")
    page.wait_for_selector(".opblock-summary", timeout=60000)  # Swagger UI is 1.5 MB of script: slow on a loaded machine
    assert page.locator(".opblock").count() >= 22
    assert not outside, outside  # no CDN: everything from our static files
    assert not [m for m in blocked if "Content Security Policy" in m], blocked
