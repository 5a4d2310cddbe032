"""Shared fixtures of the input-hardening tests: one small routed world, a client per role,
and a snapshot of every table's row count to prove a rejected write left nothing behind."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.apps import apps
from django.test import Client

from reps.models import Rep, Role
from routing.models import Lead, Offer
from tests.factories import user_with_role
from tests.reps.helpers import World, make_world, open_offer, route_new_lead

# Junk that every id-like, date-like or choice-like query parameter must survive.
JUNK = [
    "abc", "-1", "0", "99999999999999999999999", "1e5", "2026-13-45", "%%%", "%00", "\x00", "a\x00b",
    "💥ünïcødé", "x" * 5000, "' OR 1=1 --", "[]", "{}", "1.5", " ",
]  # fmt: skip


@dataclass
class Routed:
    world: World
    lead: Lead
    offer: Offer
    rep: Rep


@pytest.fixture
def routed(db) -> Routed:  # noqa: ANN001
    """A published rule and a lead offered to the primary rep (whose login is 'pat')."""
    world = make_world()
    lead = route_new_lead()
    return Routed(world=world, lead=lead, offer=open_offer(lead), rep=world.primary)


def logged_in(user, **kwargs) -> Client:  # noqa: ANN001, ANN003
    """A signed-in client that returns a 500 instead of raising, so a test can list every failure."""
    kwargs.setdefault("raise_request_exception", False)
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def ops_client(db) -> Client:  # noqa: ANN001
    return logged_in(user_with_role(Role.OPS, "ops"))


@pytest.fixture
def manager_client(db) -> Client:  # noqa: ANN001
    return logged_in(user_with_role(Role.MANAGER, "boss"))


@pytest.fixture
def rep_client(routed: Routed) -> Client:
    return logged_in(routed.rep.user)


def row_counts() -> dict[str, int]:
    """Rows per table of the project's apps (history tables included: a rejected save must not add one)."""
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.app_label in ("reps", "routing", "dashboards", "auth")
    }
