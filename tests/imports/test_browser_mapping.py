"""The mapping journey in Chromium (issue 20): ops upload a CRM export, change one column, read the
preview and the dry-run counts, import, and the leads are routed; at 1366 and 390 px wide, with
no sideways scrolling."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.test import override_settings

from reps.models import Role
from routing import services
from routing.models import ImportMapping, Lead, Offer
from tests.conftest import login
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, SegmentFactory, user_with_role
from tests.imports.test_mapped_import import CRM_HEADER

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = [
    "Ana,Muñoz,ana@example.com,Acme,Webinar,California,United States,52000",
    "Bo,Li,bo@example.com,Initech,Web,Bayern,Germany,1200",
    "Cy,Ray,cy@example.com,Hooli,Web,CA,US,10",
    "Di,Ko,not-an-email,Umbrella,Web,CA,US,10",
]


def _no_sideways_scroll(page) -> bool:  # noqa: ANN001
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("width", [1366, 390])
def test_ops_map_a_crm_export_preview_the_dry_run_and_import_it_routed(live_server, page, tmp_path: Path,  # noqa: ANN001
                                                                      width: int) -> None:  # fmt: skip
    user_with_role(Role.OPS, "ops")
    SegmentFactory(slug="standard", is_default=True)
    pool = PoolFactory(name="Everyone")
    for name in ("Ann Able", "Ben Baker", "Cat Cole"):
        PoolMemberFactory(pool=pool, rep=RepFactory(display_name=name))
    RuleFactory(name="Catch-all", pool=pool)
    services.rule_publish()
    path = tmp_path / "crm-leads.csv"
    path.write_text("\n".join([CRM_HEADER, *ROWS]) + "\n", encoding="utf-8")

    page.set_viewport_size({"width": width, "height": 900})
    login(page, live_server, "ops")
    with override_settings(LEADOPS_IMPORT_DIR=tmp_path / "store"):
        page.goto(f"{live_server.url}/leads/import/")
        page.set_input_files("input[name=file]", str(path))
        page.get_by_role("button", name="Next: map columns and preview").click()
        page.locator("#dry-run-counts").wait_for()
        assert _no_sideways_scroll(page)
        lead_source = page.get_by_label("Lead Source", exact=True)
        assert lead_source.input_value() == "source"  # suggested from the header
        assert "3 would be imported" in page.locator("#dry-run-counts").inner_text()
        # The CRM's lead source becomes an attribute; every row gets a fixed source instead.
        lead_source.select_option("attributes.lead_source")
        page.get_by_label("Source for every row").fill("crm-export")
        page.get_by_label("Save this mapping as").fill("CRM export")
        page.get_by_role("button", name="Update preview").click()
        page.wait_for_load_state("networkidle")
        counts = page.locator("#dry-run-counts").inner_text()
        assert "3 would be imported" in counts and "0 already present" in counts and "1 rejected" in counts
        errors = page.locator("#dry-run-errors").inner_text()
        assert "5" in errors and "Email" in errors and "Enter a valid email address" in errors
        assert "crm-export" in page.locator("#preview").inner_text() and "lead_source" in page.locator("#preview").inner_text()
        assert not Lead.objects.exists()  # nothing written by the preview
        assert _no_sideways_scroll(page)
        page.locator("#import-button").click()
        page.locator("#import-report").get_by_text("3 leads imported").wait_for()
    assert _no_sideways_scroll(page)
    assert "State/Province" not in page.locator("#import-errors").inner_text()  # only the bad email row
    assert "Email" in page.locator("#import-errors").inner_text()
    deadline = time.monotonic() + 20
    while Offer.objects.count() < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(Lead.objects.values_list("source", "status")) == [("crm-export", "offered")] * 3  # routed
    assert Lead.objects.get(first_name="Bo").state == "BY"
    assert ImportMapping.objects.get().columns["Lead Source"] == "attributes.lead_source"
