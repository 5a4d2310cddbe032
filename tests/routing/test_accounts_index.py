"""The per-process account match index (routing.accounts.account_index) follows the table: a new,
changed or deleted account is matched as the table says on the next call, with one aggregate
query when nothing changed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from routing import accounts, services
from routing.models import Account

pytestmark = pytest.mark.django_db


def _upsert(external_id: str, name: str, *domains: str) -> Account:
    return services.account_upsert(data=services.account_validate(
        {"external_id": external_id, "name": name, "domains": list(domains)}))[0]  # fmt: skip


def _match(**lead: str) -> str | None:
    with accounts.index_lock():
        found = accounts.account_index().match(**lead)
    return Account.objects.get(id=found.account_id).external_id if found else None


def test_the_index_follows_new_changed_and_deleted_accounts() -> None:
    acme = _upsert("crm-1", "Acme Corp", "acme.com")
    assert _match(email="a@acme.com") == "crm-1" and _match(company="Globex") is None
    with CaptureQueriesContext(connection) as queries, accounts.index_lock():
        accounts.account_index()
    assert len(queries) == 1  # nothing changed: one read of the newest history id

    _upsert("crm-2", "Globex GmbH", "globex.de")
    assert _match(company="Globex") == "crm-2"
    _upsert("crm-1", "Acme Anvils", "anvils.example")  # renamed, domains replaced
    assert _match(email="a@acme.com") is None and _match(email="a@anvils.example") == "crm-1"
    assert _match(company="Acme Anvils Inc.") == "crm-1"
    services.account_delete(account_id=acme.id)
    assert _match(email="a@anvils.example") is None and _match(company="Globex") == "crm-2"


def test_a_change_older_than_the_newest_seen_is_caught_by_the_full_check(monkeypatch: pytest.MonkeyPatch) -> None:
    globex = _upsert("crm-2", "Globex GmbH", "globex.de")
    _upsert("crm-3", "Initech", "initech.io")
    assert _match(company="Initech") == "crm-3"
    # A change committed late, stamped before the newest change the index has already seen.
    Account.objects.filter(external_id="crm-3").update(
        name="Umbrella", name_key="umbrella", updated_at=globex.updated_at - dt.timedelta(hours=1))
    assert _match(company="Umbrella") is None  # written without history: not seen yet
    monkeypatch.setattr(accounts, "FULL_CHECK_SECONDS", -1)  # the periodic full comparison is due
    assert _match(company="Umbrella") == "crm-3" and _match(company="Initech") is None
