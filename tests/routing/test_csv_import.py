"""CSV import: whole-file decoding or refusal (issue 11, input 1), every row accounted for, checks
after normalisation (input 2), and the command's exit status."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from routing.csv_import import csv_inspect, lead_import_create, lead_import_process
from routing.models import Decision, Lead, LeadImport
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, RuleFactory

pytestmark = pytest.mark.django_db

CSV = """source,external_id,email,country,state,value,fit_score,attr.vertical
web,1,a@example.com,US,CA,52000,80,insurance
web,2,not-an-email,US,CA,100,50,saas
web,3,c@example.com,USA,CA,abc,50,saas
web,1,dup@example.com,US,NY,5,5,saas
partner,4,d@example.com,US,TX,75000.50,101,insurance
"""

SURNAMES = ["Smith", "Jones", "García", "Müller", "Dupont"]


def run_import(tmp_path: Path, content: bytes, *, encoding: str = "", delimiter: str = "") -> LeadImport:
    path = tmp_path / "leads.csv"
    path.write_bytes(content)
    job = lead_import_create(path=path, file_name="leads.csv", encoding=encoding, delimiter=delimiter)
    result = lead_import_process(import_id=job.id)
    assert result is not None
    return result


def excel_rows(count: int = 500, *, special_line: int = 401, special: str = "Muñoz", sep: str = ",") -> str:
    """A spreadsheet export: header on line 1, one lead per line; ``special`` on ``special_line``."""
    lines = [sep.join(["source", "external_id", "first_name", "last_name", "country", "state", "value"])]
    for n in range(1, count + 1):
        surname = special if n + 1 == special_line else SURNAMES[n % len(SURNAMES)]
        lines.append(sep.join(["excel", f"x-{n}", "Ana", surname, "US", "CA", str(1000 + n)]))
    return "\r\n".join(lines) + "\r\n"


def test_it_keeps_good_rows_and_reports_bad_ones_by_line_and_field(tmp_path: Path) -> None:
    job = run_import(tmp_path, CSV.encode())
    assert (job.status, job.rows_total, job.created, job.already_present, job.rejected) == ("done", 5, 1, 1, 3)
    by_line = {(e["line"], e["field"]) for e in job.errors}
    assert by_line == {(3, "email"), (4, "value"), (6, "fit_score")}  # "USA" is now a valid country
    lead = Lead.objects.get()
    assert (lead.external_id, lead.attributes, str(lead.value)) == ("1", {"vertical": "insurance"}, "52000.00")


def test_an_unknown_column_refuses_the_whole_file(tmp_path: Path) -> None:
    job = run_import(tmp_path, b"source,external_id,shoe_size\nweb,1,44\n")
    assert job.status == "refused" and "shoe_size" in job.refusal
    assert Lead.objects.count() == 0


def test_importing_the_same_file_twice_creates_no_duplicates(tmp_path: Path) -> None:
    run_import(tmp_path, CSV.encode())
    again = run_import(tmp_path, CSV.encode())
    assert again.created == 0 and again.already_present == 2 and Lead.objects.count() == 1


# --- input 1: Excel on Windows, cp1252, Muñoz on line 401 -------------------------------------


def test_a_cp1252_excel_file_is_imported_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(excel_rows().encode("cp1252"))
    call_command("importleads", str(path))  # no CommandError: exit status 0
    out = capsys.readouterr().out
    assert "500 row(s) read as cp1252" in out and "Imported 500 lead(s)" in out and "0 rejected" in out
    assert Lead.objects.count() == 500
    assert Lead.objects.get(external_id="x-400").last_name == "Muñoz"


@pytest.mark.parametrize(
    ("encoding", "sep", "bom"),
    [
        ("utf-8", ",", b""),
        ("utf-8", ",", codecs.BOM_UTF8),  # Excel "CSV UTF-8"
        ("utf-16-le", "\t", codecs.BOM_UTF16_LE),  # Excel "Unicode text"
        ("utf-16-be", ",", codecs.BOM_UTF16_BE),
        ("utf-16-le", ",", b""),  # no BOM: recognised from the NUL bytes
        ("cp1252", ";", b""),  # European Excel: semicolons
        ("utf-8", "|", b""),
    ],
)
def test_common_encodings_and_separators_are_recognised(tmp_path: Path, encoding: str, sep: str, bom: bytes) -> None:
    content = bom + excel_rows(60, special_line=30, special="Ñúñez Çağlar" if encoding != "cp1252" else "Ñúñez", sep=sep).encode(encoding)
    job = run_import(tmp_path, content)
    assert (job.status, job.rows_total, job.created, job.rejected) == ("done", 60, 60, 0), job.refusal or job.errors
    assert job.delimiter == sep
    assert Lead.objects.get(external_id="x-29").last_name.startswith("Ñúñez")


def test_a_file_that_decodes_in_no_encoding_is_refused_naming_the_line(tmp_path: Path) -> None:
    # 0x81 is undefined in cp1252 and not UTF-8 either.
    content = excel_rows().encode("cp1252").replace("Muñoz".encode("cp1252"), b"Mu\x81oz")
    path = tmp_path / "broken.csv"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=r"line 401 .*Nothing was imported"):
        call_command("importleads", str(path))
    assert Lead.objects.count() == 0


def test_the_encoding_can_be_chosen_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(excel_rows(10, special_line=5, special="Muñoz").encode("latin-1"))
    call_command("importleads", str(path), "--encoding", "latin-1")
    assert "read as iso8859-1" in capsys.readouterr().out
    assert Lead.objects.get(external_id="x-4").last_name == "Muñoz"
    with pytest.raises(CommandError, match="Unknown encoding"):
        call_command("importleads", str(path), "--encoding", "klingon")


def test_a_wrong_separator_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_bytes(excel_rows(5, sep=";").encode())
    with pytest.raises(CommandError, match="read as comma-separated"):
        call_command("importleads", str(path), "--separator", "comma")
    assert Lead.objects.count() == 0


def test_rows_in_the_file_equal_imported_plus_already_present_plus_rejected(tmp_path: Path) -> None:
    rows = excel_rows(40).splitlines()
    rows[10] = "excel,x-10,Ana,Smith,US,Narnia,5"  # unknown state
    rows[20] = "excel,x-20,Ana,Smith,US,CA,lots"  # bad value
    rows[30] = "excel,x-1,Ana,Smith,US,CA,5"  # same id as line 2
    rows.insert(25, "")  # a blank line is not a row
    job = run_import(tmp_path, "\n".join(rows).encode())
    assert job.rows_total == 40
    assert (job.created, job.already_present, job.rejected) == (37, 1, 2)
    assert job.created + job.already_present + job.rejected == job.rows_total
    assert {(e["line"], e["field"]) for e in job.errors} == {(11, "state"), (21, "value")}


def test_the_command_exits_non_zero_when_any_row_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(CSV)
    with pytest.raises(CommandError, match="3 row"):
        call_command("importleads", str(path))
    out, err = capsys.readouterr()
    assert "Imported 1 lead(s); 1 already present; 3 rejected" in out
    assert "line 3: email" in err


def test_the_command_refuses_a_missing_file() -> None:
    with pytest.raises(CommandError, match="no such file"):
        call_command("importleads", "/nonexistent.csv")


# --- input 2: checks after normalisation, in a CSV after the first committed chunk -----------------


@override_settings(LEADOPS_IMPORT_CHUNK=100)
def test_a_state_that_grows_when_upper_cased_is_rejected_by_name_after_a_committed_chunk(tmp_path: Path) -> None:
    rows = excel_rows(250).splitlines()
    rows[150] = "excel,x-150,Ana,Smith,US,ßßßßßßßßß,5"
    job = run_import(tmp_path, "\n".join(rows).encode())
    assert job.status == "done"
    assert (job.created, job.rejected) == (249, 1)
    assert [(e["line"], e["field"]) for e in job.errors] == [(151, "state")]
    assert not Lead.objects.filter(external_id="x-150").exists()


def test_inspect_refuses_an_oversized_cell_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b'source,external_id,company\nweb,1,"' + b"x" * 200_000 + b'"\n')
    from routing.csv_import import CsvRefused

    with pytest.raises(CsvRefused, match="Unreadable CSV at line 2"):
        csv_inspect(path)


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
