"""Issue 14 in the browser: Sales Ops import accounts from a CSV, a lead from one of those
companies is routed to its owner, and a manager opens the lead and reads the match; each page at
1366 px and at 390 px wide, without sideways scrolling."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import override_settings

from reps.models import Role
from routing import services
from routing.models import Account, Lead
from tests.conftest import login
from tests.factories import LeadFactory, PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, TeamFactory, UserFactory, user_with_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = ("external_id,name,domains,owner,status,tier,attr.industry\r\n"
       "crm-1,Acme Corporation S.A.,acme.com; acme.co.uk,ana,customer,enterprise,anvils\r\n"
       "crm-2,Société Générale,socgen.fr,,prospect,,banking\r\n")  # fmt: skip


def _fits(page) -> bool:  # noqa: ANN001
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_ops_import_accounts_and_a_manager_reads_the_match(page, live_server, tmp_path: Path) -> None:  # noqa: ANN001
    team = TeamFactory()
    manager = user_with_role(Role.MANAGER, "mia")
    RepFactory(user=manager, display_name="Mia Manager", team=team)
    ana = RepFactory(user=UserFactory(username="ana"), display_name="Ana Owner", team=team)
    pool = PoolFactory(name="Main")
    PoolMemberFactory(pool=pool, rep=RepFactory(display_name="Bob Rotation", team=team))
    RuleFactory(pool=pool, fallback=[{"kind": "account_owner"}, {"kind": "holding"}])
    services.rule_publish()
    user_with_role(Role.OPS, "olga")
    path = tmp_path / "accounts.csv"
    path.write_bytes(CSV.encode("utf-8"))

    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, live_server, "olga")
    with override_settings(LEADOPS_IMPORT_DIR=tmp_path / "store"):
        page.goto(f"{live_server.url}/ops/accounts/")
        page.set_input_files("#account-import-form input[name=file]", str(path))
        page.click("#account-import-form button[type=submit]")
        page.wait_for_load_state("networkidle")
    assert "Accounts imported: 2 new, 0 updated, 0 unchanged." in page.content()
    table = page.locator("#account-table").inner_text()
    assert "Acme Corporation S.A." in table and "acme.co.uk" in table and "Ana Owner" in table
    assert _fits(page)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert _fits(page) and page.locator("#account-import-form button[type=submit]").is_visible()
    assert Account.objects.get(external_id="crm-1").attributes == {"industry": "anvils"}

    lead = LeadFactory(email="jo@sales.acme.com", company="ACME corp")
    services.leads_route_all_pending()
    assert Lead.objects.get(id=lead.id).owner_id == ana.id

    page.context.clear_cookies()
    login(page, live_server, "mia")
    for width in (390, 1366):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/dash/leads/{lead.id}/")
        account = page.locator("#lead-account").inner_text()
        assert "Acme Corporation S.A." in account and "Matched Acme Corporation S.A. by the email domain acme.com" in account
        summary = page.locator(".event-decision .summary").first.inner_text()
        assert "offered to account owner Ana Owner of Acme Corporation S.A." in summary
        assert _fits(page), width
