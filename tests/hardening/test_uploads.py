"""CSV lead import and configuration upload: odd files are refused by field, never a 500 or a partial write."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from reps.models import Rep, Skill
from routing.config_io import config_export
from routing.models import Lead
from tests.factories import RepFactory, SkillFactory
from tests.hardening.conftest import row_counts

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


def _upload(client: Client, url: str, name: str, content: bytes, field: str = "file") -> tuple[int, str]:
    response = client.post(url, {field: SimpleUploadedFile(name, content)}, follow=True)
    return response.status_code, response.content.decode()


# --- CSV import ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "content", "named"), [
    ("leads.csv", b"", "The submitted file is empty"),
    ("leads.csv", PNG, "Could not read line"),  # 0x81..0x9D: neither UTF-8 nor cp1252
    ("leads.csv", "source,external_id\xff\n".encode("latin-1"), "Unknown column(s): external_idÿ"),
    ("leads.txt", b"source,external_id\nweb,1\n", "Upload a .csv file"),
    ("leads.csv", b"source,external_id,bogus\nweb,1,x\n", "Unknown column(s): bogus"),
    ("leads.csv", b"company\nAcme\n", "must include source and external_id"),
    ("leads.csv", b"\x00\x00\x00", "Unknown column"),
    ("leads.csv", b"source;external_id;bogus\nweb;1;x\n", "read as semicolon-separated"),
])  # fmt: skip
def test_a_bad_csv_file_is_refused_whole(ops_client: Client, name: str, content: bytes, named: str) -> None:
    before = {k: v for k, v in row_counts().items() if k != "routing.LeadImport"}
    status, html = _upload(ops_client, "/leads/import/", name, content)
    assert status == 200
    assert named in html
    assert {k: v for k, v in row_counts().items() if k != "routing.LeadImport"} == before


def test_a_latin1_file_is_decoded_whole_as_windows_1252(ops_client: Client) -> None:
    content = "source,external_id,company\nweb,1,Caf\xe9\n".encode("latin-1")
    status, html = _upload(ops_client, "/leads/import/", "leads.csv", content)
    assert status == 200 and "Read as cp1252" in html
    assert Lead.objects.get().company == "Café"


@pytest.mark.parametrize("row", [
    "web,\x00,Acme,", "web,1,Ac\x00me,", "web,2,Acme,hot\x00", "we b!,3,,", "web,4," + "x" * 300 + ",",
    "web,5,Acme,x,extra-cell", "web," + "9" * 200 + ",,",
])  # fmt: skip
def test_bad_csv_rows_are_reported_by_line_and_field_and_not_imported(ops_client: Client, row: str) -> None:
    content = f"source,external_id,company,attr.tag\n{row}\nweb,good,Fine Co,\n".encode()
    status, html = _upload(ops_client, "/leads/import/", "leads.csv", content)
    assert status == 200
    assert "1 row rejected" in html and "<td>2</td>" in html
    assert list(Lead.objects.values_list("external_id", flat=True)) == ["good"]
    assert not Lead.objects.filter(attributes__has_key="tag").exists()


def test_csv_field_larger_than_the_csv_limit_refuses_the_file(ops_client: Client) -> None:
    content = b"source,external_id,company\nweb,1,\"" + b"x" * 200_000 + b"\"\n"
    status, html = _upload(ops_client, "/leads/import/", "leads.csv", content)
    assert status == 200 and "Unreadable CSV at line 2" in html
    assert not Lead.objects.exists()


# --- configuration upload ------------------------------------------------------------------


@pytest.mark.parametrize(("content", "named"), [
    (b"", "The submitted file is empty"), (PNG, "not UTF-8"), ("{\"a\": \"caf\xe9\"}".encode("latin-1"), "not UTF-8"),
    (b"{not json", "Not valid JSON"), (b"[" * 20_000 + b"]" * 20_000, "nested too deeply"),
    (b"[]", "one JSON object"), (b"null", "one JSON object"), (b'"text"', "one JSON object"),
    (b'{"skills": [{"kind": "product", "code": "a\\u0000"}]}', "NUL"),
])  # fmt: skip
def test_a_bad_config_file_is_refused_on_the_file_field(ops_client: Client, content: bytes, named: str) -> None:
    before = row_counts()
    status, html = _upload(ops_client, "/ops/config/", "config.json", content)
    assert status == 200
    assert named in html
    assert row_counts() == before


@pytest.mark.parametrize(("doc", "named"), [
    ({"format": "other"}, "format"),
    ({"skills": "abc"}, "skills: expected a list"),
    ({"skills": [{"kind": "product", "code": "x" * 500}]}, "skills[1]"),
    ({"skills": [{"kind": "product", "code": "not a slug!"}]}, "skills[1]"),
    ({"reps": [{"username": "zed", "display_name": "Zed", "max_open": 10**30}]}, "reps[1]"),
    ({"reps": [{"username": "zed", "display_name": "Zed", "max_open": -1}]}, "reps[1].max_open"),
    ({"reps": [{"username": "zed", "display_name": "Zed", "working_hours": "abc"}]}, "reps[1]"),
    ({"reps": [{"username": "zed", "display_name": "Zed", "working_hours": {"mon": [["9", "5"]]}}]}, "reps[1]"),
    ({"reps": [{"username": "z" * 400, "display_name": "Zed"}]}, "reps[1]"),
    ({"reps": [{"username": "zed", "display_name": "Zed", "timezone": "Mars/Base"}]}, "reps[1]"),
    ({"reps": [{"username": "zed", "display_name": "Zed", "email": "nope"}]}, "reps[1]"),
    ({"reps": [{"username": "zed", "display_name": "Zed"}, {"username": "zed", "display_name": "Z2"}]}, "duplicate"),
    ({"pools": [{"name": "P", "members": [{"rep": "ghost", "weight": -5}]}]}, "pools[0].members[0]"),
    ({"pools": [{"name": "P", "dynamic_weight": 10**30}]}, "pools[0]"),
    ({"segments": [{"slug": "a b", "name": "x", "sla_minutes": 0, "accept_fraction": 5}]}, "segments[0]"),
    ({"segments": [{"slug": "s", "name": "x", "sla_minutes": 5, "accept_fraction": "NaN"}]}, "segments[0]"),
    ({"rules": [{"name": "R", "pool": "ghost", "conditions": "x"}]}, "rules[0]"),
    ({"rules": [{"name": "R", "priority": 10**30, "pool": "ghost"}]}, "rules[0]"),
    ({"territories": [{"name": "T", "country": "USA", "parent": "T"}]}, "territories[0]"),
])  # fmt: skip
def test_an_invalid_config_document_names_its_path_and_writes_nothing(ops_client: Client, doc: dict, named: str) -> None:
    SkillFactory(kind="product", code="keep")
    RepFactory(user__username="kept")
    base = config_export()
    before = row_counts()
    full = {**base, **{k: (base.get(k, []) + v if isinstance(v, list) and isinstance(base.get(k), list) else v)
                       for k, v in doc.items()}}  # fmt: skip
    status, html = _upload(ops_client, "/ops/config/", "config.json", json.dumps(full).encode())
    assert status == 200
    assert named in html, html[html.find("<main"):][:3000]
    assert row_counts() == before
    # and the confirm step (the previewed payload is posted back) refuses it as well
    response = ops_client.post("/ops/config/", {"confirm": "1", "payload": json.dumps(full)})
    assert response.status_code == 200 and named in response.content.decode()
    assert row_counts() == before
    assert Skill.objects.get().code == "keep" and Rep.objects.get().user.username == "kept"


@pytest.mark.parametrize("payload", [
    "", "{not json", "[]", "null", "[" * 20_000 + "]" * 20_000, '{"skills": [{"kind": "product", "code": "a\\u0000"}]}',
    '{"reps": [{"username": "n\\u0000", "display_name": "x"}]}',
])  # fmt: skip
def test_a_tampered_confirm_payload_is_refused(ops_client: Client, payload: str) -> None:
    SkillFactory(kind="product", code="keep")
    before = row_counts()
    response = ops_client.post("/ops/config/", {"confirm": "1", "payload": payload})
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode() or "upload it again" in response.content.decode()
    assert row_counts() == before
