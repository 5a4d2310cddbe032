"""Failing input 1 of issue 12: login flooding, lockout, unlock by ops, password rules.

Logins go through the real login form, django-axes' real database handler and the real
password hashers; only the client address is chosen per request (REMOTE_ADDR).
"""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings

from reps.models import Role
from tests.factories import PASSWORD, UserFactory, user_with_role
from tests.security.hashers import CountingHasher

pytestmark = pytest.mark.django_db

COUNTING = ["tests.security.hashers.CountingHasher"]


def _login(client: Client, username: str, password: str, ip: str = "198.51.100.7") -> int:
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip).status_code


@override_settings(PASSWORD_HASHERS=COUNTING)
def test_200_wrong_passwords_lock_the_account_and_stop_costing_hashes() -> None:
    UserFactory(username="ana")
    CountingHasher.verified = 0
    limit = settings.AXES_FAILURE_LIMIT
    client = Client()
    statuses = [_login(client, "ana", f"guess-{i}") for i in range(200)]
    assert statuses[: limit - 1] == [200] * (limit - 1)  # the form again, with its error
    assert set(statuses[limit - 1 :]) == {429}  # locked from the limit on
    assert CountingHasher.verified == limit  # once locked, no attempt reaches the password check

    page = client.post("/login/", {"username": "ana", "password": PASSWORD}, REMOTE_ADDR="198.51.100.7")
    assert page.status_code == 429 and "_auth_user_id" not in client.session
    text = page.content.decode()
    assert "Too many failed logins" in text and "Sales Ops to unlock" in text


def test_the_lock_is_per_account_whatever_the_address() -> None:
    UserFactory(username="ana")
    client = Client()
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "ana", "wrong", ip=f"203.0.113.{i + 1}")  # a botnet: a new address each try
    assert _login(client, "ana", PASSWORD, ip="192.0.2.200") == 429


def test_the_lock_is_per_address_whatever_the_account() -> None:
    UserFactory(username="ana")
    client = Client()
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, f"someone-{i}", "wrong", ip="203.0.113.66")  # one address spraying accounts
    assert _login(client, "ana", PASSWORD, ip="203.0.113.66") == 429
    assert _login(Client(), "ana", PASSWORD, ip="192.0.2.1") == 302  # ana from elsewhere is fine


def test_ops_unlock_an_account_on_the_security_page() -> None:
    UserFactory(username="ana")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(), "ana", "wrong")
    ops = Client()
    ops.force_login(user_with_role(Role.OPS))
    page = ops.get("/ops/security/logins/").content.decode()
    assert "Account <strong>ana</strong>" in page and "locked" in page
    assert ops.post("/ops/security/logins/unlock/", {"username": "ana"}).status_code == 302
    assert not AccessAttempt.objects.filter(username="ana").exists()
    client = Client()
    assert _login(client, "ana", PASSWORD) == 302 and "_auth_user_id" in client.session


def test_the_unlock_form_refuses_junk_and_non_ops() -> None:
    ops = Client()
    ops.force_login(user_with_role(Role.OPS))
    response = ops.post("/ops/security/logins/unlock/", {"ip_address": "not-an-ip"}, follow=True)
    assert "Unlocked" not in response.content.decode()
    manager = Client()
    manager.force_login(user_with_role(Role.MANAGER))
    assert manager.post("/ops/security/logins/unlock/", {"username": "ana"}).status_code == 403


def test_the_axes_reset_commands_unlock_too() -> None:
    UserFactory(username="ana")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(), "ana", "wrong")
    call_command("axes_reset_username", "ana")
    assert _login(Client(), "ana", PASSWORD) == 302


def test_a_successful_login_clears_earlier_failures() -> None:
    UserFactory(username="ana")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "ana", "wrong")
    assert _login(client, "ana", PASSWORD) == 302
    assert _login(Client(), "ana", "wrong-again") == 200  # counting starts over, not locked


def test_the_password_change_page_enforces_djangos_validators() -> None:
    user = UserFactory(username="ana")
    client = Client()
    client.force_login(user)
    assert client.get("/password/").status_code == 200
    weak = client.post("/password/", {"old_password": PASSWORD, "new_password1": "password", "new_password2": "password"})
    assert weak.status_code == 200 and "too common" in weak.content.decode()
    short = client.post("/password/", {"old_password": PASSWORD, "new_password1": "a1b2", "new_password2": "a1b2"})
    assert "too short" in short.content.decode()
    strong = "Lantern-orbit-57-mosaic"
    done = client.post("/password/", {"old_password": PASSWORD, "new_password1": strong, "new_password2": strong})
    assert done.status_code == 302 and done["Location"] == "/password/done/"
    user.refresh_from_db()
    assert user.check_password(strong)


def test_the_password_change_page_needs_a_login() -> None:
    response = Client().get("/password/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_seed_demo_refuses_production_settings() -> None:
    with override_settings(PRODUCTION=True), pytest.raises(CommandError, match="LEADOPS_PRODUCTION=1"):
        call_command("seed_demo")
    assert not User.objects.filter(username="ops").exists()  # no demo login with a published password
