from __future__ import annotations

import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from reps.models import Role
from routing.csv_import import leads_import_csv
from routing.models import Decision, Lead
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, user_with_role

pytestmark = pytest.mark.django_db

CSV = """source,external_id,email,country,state,value,fit_score,attr.vertical
web,1,a@example.com,US,CA,52000,80,insurance
web,2,not-an-email,US,CA,100,50,saas
web,3,c@example.com,USA,CA,abc,50,saas
web,1,dup@example.com,US,NY,5,5,saas
partner,4,d@example.com,US,TX,75000.50,101,insurance
"""


def test_it_keeps_good_rows_and_reports_bad_ones_by_row_and_field() -> None:
    report = leads_import_csv(stream=io.StringIO(CSV))
    assert report.created == 1
    assert report.duplicates == 1
    by_row = {(e.row, e.field) for e in report.errors}
    assert by_row == {(3, "email"), (4, "country"), (4, "value"), (6, "fit_score")}
    lead = Lead.objects.get()
    assert (lead.external_id, lead.attributes, str(lead.value)) == ("1", {"vertical": "insurance"}, "52000.00")


def test_an_unknown_column_imports_nothing() -> None:
    report = leads_import_csv(stream=io.StringIO("source,external_id,shoe_size\nweb,1,44\n"))
    assert "shoe_size" in report.header_error
    assert Lead.objects.count() == 0


def test_importing_the_same_file_twice_creates_no_duplicates() -> None:
    leads_import_csv(stream=io.StringIO(CSV))
    again = leads_import_csv(stream=io.StringIO(CSV))
    assert again.created == 0 and Lead.objects.count() == 1


def test_the_command_reports_row_errors(tmp_path, capsys) -> None:  # noqa: ANN001
    path = tmp_path / "leads.csv"
    path.write_text(CSV)
    call_command("importleads", str(path))
    out, err = capsys.readouterr()
    assert "Imported 1 lead(s)" in out
    assert "row 3: email" in err


def test_the_command_refuses_a_missing_file() -> None:
    with pytest.raises(CommandError, match="no such file"):
        call_command("importleads", "/nonexistent.csv")


def test_the_import_page_is_for_ops_only(client) -> None:  # noqa: ANN001
    assert client.get("/leads/import/").status_code == 302
    client.force_login(user_with_role(Role.REP))
    assert client.get("/leads/import/").status_code == 403
    client.force_login(user_with_role(Role.OPS))
    upload = SimpleUploadedFile("leads.csv", CSV.encode(), content_type="text/csv")
    response = client.post("/leads/import/", {"file": upload})
    assert response.status_code == 200
    assert re.search(rb"\d+ rows? rejected", response.content)
    assert Lead.objects.count() == 1


def test_route_dry_run_command_explains_without_writing(tmp_path, capsys) -> None:  # noqa: ANN001
    rep = RepFactory(display_name="Zed")
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=rep)
    RuleFactory(pool=pool, name="All")
    path = tmp_path / "lead.json"
    path.write_text(json.dumps({"country": "US", "value": 10}))
    call_command("route", str(path), "--dry-run")
    out = capsys.readouterr().out
    assert "Zed" in out and '"outcome": "offer"' in out
    assert Lead.objects.count() == 0 and Decision.objects.count() == 0


def test_route_dry_run_command_names_the_bad_field(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "lead.json"
    path.write_text(json.dumps({"value": "lots"}))
    with pytest.raises(CommandError, match="value"):
        call_command("route", str(path), "--dry-run")
