"""Large CSV files (issue 11, input 6): an upload limit with a clear message, a background import
with a progress page and a final report, and a killed worker that resumes without importing a
row twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from reps.models import Role
from routing.bench.workers import worker_env
from routing.csv_import import lead_import_create, lead_imports_resume_stale
from routing.models import Lead, LeadImport, LeadSynonym
from tests.factories import user_with_role


def hot_means_high() -> None:
    """The migration seeds this synonym, but transactional tests empty every table after them."""
    LeadSynonym.objects.get_or_create(field="intent", alias="hot", defaults={"value": "high"})


def big_csv(rows: int) -> bytes:
    lines = ["source,external_id,last_name,country,state,value,intent"]
    lines += [f"bulk,b-{n},Muñoz,US,California,{n % 90000},{('hot', 'medium', 'low')[n % 3]}" for n in range(rows)]
    return ("\n".join(lines) + "\n").encode("cp1252")


@pytest.fixture
def ops_client(client):  # noqa: ANN001, ANN201
    client.force_login(user_with_role(Role.OPS))
    return client


@pytest.mark.django_db
def test_the_import_page_is_for_ops_only(client) -> None:  # noqa: ANN001
    assert client.get("/leads/import/").status_code == 302
    client.force_login(user_with_role(Role.REP))
    assert client.get("/leads/import/").status_code == 403
    job = lead_import_create(path=Path("/nonexistent.csv"), file_name="x.csv")
    assert client.get(f"/leads/import/{job.id}/").status_code == 403


@pytest.mark.django_db
@override_settings(LEADOPS_IMPORT_MAX_BYTES=2048)
def test_a_file_over_the_upload_limit_is_refused_with_a_clear_message(ops_client, tmp_path: Path) -> None:  # noqa: ANN001
    with override_settings(LEADOPS_IMPORT_DIR=tmp_path):
        response = ops_client.post("/leads/import/", {"file": SimpleUploadedFile("big.csv", big_csv(200))})
    assert response.status_code == 200
    assert "the limit is 2 KB" in response.content.decode()
    assert not LeadImport.objects.exists() and not list(tmp_path.iterdir())


@pytest.mark.django_db
@override_settings(LEADOPS_IMPORT_CHUNK=50)
def test_an_upload_is_imported_in_the_background_with_progress_and_a_final_report(ops_client, tmp_path: Path) -> None:  # noqa: ANN001
    hot_means_high()
    with override_settings(LEADOPS_IMPORT_DIR=tmp_path):
        response = ops_client.post("/leads/import/", {"file": SimpleUploadedFile("bulk.csv", big_csv(300))})
    job = LeadImport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/leads/import/{job.id}/"
    # LEADOPS_Q_SYNC: the django-q2 task ran inline, in chunks of 50 rows with a checkpoint each.
    assert (job.status, job.rows_total, job.rows_done, job.created, job.rejected) == ("done", 300, 300, 300, 0)
    page = ops_client.get(response["Location"]).content.decode()
    assert "<strong>300</strong> leads imported" in page and "Read as cp1252, comma-separated" in page
    assert 'hx-trigger="every 1s"' not in page  # finished: no more polling
    assert not list(tmp_path.iterdir())  # the stored upload is deleted once imported
    fragment = ops_client.get(response["Location"], headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment and 'id="import-progress"' in fragment
    lead = Lead.objects.get(external_id="b-1")
    assert (lead.last_name, lead.state, lead.intent) == ("Muñoz", "CA", "medium")  # "hot" -> "high" via the seeded synonym
    assert Lead.objects.get(external_id="b-0").intent == "high"


@pytest.mark.django_db
def test_an_unfinished_import_shows_a_polling_progress_bar(ops_client) -> None:  # noqa: ANN001
    job = lead_import_create(path=Path("/nonexistent.csv"), file_name="x.csv")
    LeadImport.objects.filter(id=job.id).update(status="running", rows_total=1000, rows_done=250)
    fragment = ops_client.get(f"/leads/import/{job.id}/", headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 1s"' in fragment and 'value="25"' in fragment and "250 of 1000 rows" in fragment


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_killed_import_worker_resumes_from_its_checkpoint_without_importing_a_row_twice(tmp_path: Path) -> None:
    hot_means_high()
    rows = 20_000
    path = tmp_path / "bulk.csv"
    path.write_bytes(big_csv(rows))
    job = lead_import_create(path=path, file_name="bulk.csv")
    env = {**worker_env(), "LEADOPS_IMPORT_CHUNK": "500"}
    worker = subprocess.Popen([sys.executable, "manage.py", "importleads", "--resume", str(job.id)], env=env,
                              cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.rows_done >= 2000:
                break
            assert worker.poll() is None, "the worker finished before it could be killed"
            time.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)  # a worker killed mid-import: no cleanup runs
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    job.refresh_from_db()
    killed_at = job.rows_done
    assert job.status == "running" and 0 < killed_at < rows
    assert (job.rejected, job.already_present) == (0, 0), job.errors[:3]
    assert Lead.objects.count() == job.created == killed_at  # the checkpoint and the leads agree

    with override_settings(LEADOPS_IMPORT_STALE_SECONDS=1):
        time.sleep(1.5)
        assert lead_imports_resume_stale() == 1  # the sweep's pass; the task runs inline (LEADOPS_Q_SYNC)
    job.refresh_from_db()
    assert job.status == "done" and job.rows_done == job.rows_total == rows
    assert (job.created, job.already_present, job.rejected) == (rows, 0, 0)  # no row handled twice
    assert Lead.objects.count() == rows


@pytest.mark.django_db
def test_the_encoding_and_separator_can_be_chosen_on_the_page(ops_client, tmp_path: Path) -> None:  # noqa: ANN001
    content = "source;external_id;last_name\nweb;1;Muñoz\n".encode("latin-1")
    with override_settings(LEADOPS_IMPORT_DIR=tmp_path):
        response = ops_client.post("/leads/import/", {"file": SimpleUploadedFile("l.csv", content), "encoding": "latin-1",
                                                      "separator": ";"}, follow=True)  # fmt: skip
    assert "Read as iso8859-1, semicolon-separated" in response.content.decode()
    assert Lead.objects.get().last_name == "Muñoz"
