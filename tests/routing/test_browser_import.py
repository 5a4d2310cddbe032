"""Ops import a Windows Excel CSV in the browser, and watch a running import's progress bar
update itself until the report appears (issue 11, inputs 1 and 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import override_settings

from reps.models import Role
from routing.csv_import import lead_import_create, lead_import_process
from routing.models import Lead, LeadImport
from tests.conftest import login
from tests.factories import user_with_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXCEL = "source,external_id,last_name,country,state,value,currency\r\n" + "".join(
    f"excel,e-{n},{'Muñoz' if n == 7 else 'Smith'},US,California,{n * 1000},USD\r\n" for n in range(1, 21)
)


def test_ops_upload_an_excel_csv_and_read_the_report(page, live_server, tmp_path: Path) -> None:  # noqa: ANN001
    user_with_role(Role.OPS, "ops")
    path = tmp_path / "excel.csv"
    path.write_bytes(EXCEL.encode("cp1252"))
    login(page, live_server, "ops")
    with override_settings(LEADOPS_IMPORT_DIR=tmp_path / "store"):
        page.goto(f"{live_server.url}/leads/import/")
        page.set_input_files("input[name=file]", str(path))
        page.get_by_role("button", name="Import now (LeadOps column names)").click()
        page.locator("#import-report").wait_for()
    text = page.locator("#import-progress").inner_text()
    assert "20 leads imported" in text and "0 rows rejected" in text and "Read as cp1252" in text
    assert Lead.objects.get(external_id="e-7").last_name == "Muñoz"


def test_a_running_import_updates_its_progress_bar_until_the_report(page, live_server, tmp_path: Path) -> None:  # noqa: ANN001
    user_with_role(Role.OPS, "ops")
    path = tmp_path / "excel.csv"
    path.write_bytes(EXCEL.encode("cp1252"))
    job = lead_import_create(path=path, file_name="excel.csv")
    LeadImport.objects.filter(id=job.id).update(status="running", rows_total=20)
    login(page, live_server, "ops")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/leads/import/{job.id}/")
    assert page.locator("#import-progress progress").get_attribute("value") == "0"
    LeadImport.objects.filter(id=job.id).update(status="queued", rows_total=None)
    lead_import_process(import_id=job.id)  # the worker finishes while the page is open
    page.locator("#import-report").get_by_text("20 leads imported").wait_for()
    assert page.locator("#import-progress progress").get_attribute("value") == "100"
