from __future__ import annotations

import pytest
from django.test import Client

from reps.models import Role
from tests.console.conftest import CONSOLE_PAGES, client_for
from tests.factories import PoolFactory, RuleFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", CONSOLE_PAGES)
def test_anonymous_users_are_sent_to_login(url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("role", [Role.REP, Role.MANAGER])
@pytest.mark.parametrize("url", CONSOLE_PAGES)
def test_reps_and_managers_cannot_open_the_console(role: Role, url: str) -> None:
    assert client_for(role).get(url).status_code == 403


@pytest.mark.parametrize("url", CONSOLE_PAGES)
def test_ops_can_open_every_console_page(ops_client: Client, url: str) -> None:
    assert ops_client.get(url).status_code == 200


@pytest.mark.parametrize("role", [Role.REP, Role.MANAGER])
def test_reps_and_managers_cannot_change_configuration(role: Role) -> None:
    rule = RuleFactory(enabled=True)
    pool = PoolFactory()
    client = client_for(role)
    for url in (f"/ops/rules/{rule.id}/toggle/", f"/ops/rules/{rule.id}/move/down/", f"/ops/pools/{pool.id}/deactivate/",
                "/ops/versions/", f"/ops/rules/{rule.id}/"):
        assert client.post(url, {"name": "hacked"}).status_code == 403
    rule.refresh_from_db()
    pool.refresh_from_db()
    assert rule.enabled and pool.active and rule.name != "hacked"


def test_managers_can_read_a_rule_history_but_not_restore_it() -> None:
    rule = RuleFactory(name="Readable")
    rule.name = "Readable v2"
    rule.save()
    client = client_for(Role.MANAGER)
    page = client.get(f"/ops/rules/{rule.id}/history/")
    assert page.status_code == 200
    assert b"Readable v2" in page.content and b"Restore this version" not in page.content
    oldest = rule.history.order_by("history_id").first()
    assert client.post(f"/ops/rules/{rule.id}/history/{oldest.history_id}/restore/").status_code == 403
    rule.refresh_from_db()
    assert rule.name == "Readable v2"
    assert client_for(Role.REP).get(f"/ops/rules/{rule.id}/history/").status_code == 403
