from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from routing.config_io import config_export
from routing.models import Segment
from tests.factories import RuleFactory, SegmentFactory

pytestmark = pytest.mark.django_db


def upload(client: Client, data: object) -> str:
    file = SimpleUploadedFile("config.json", json.dumps(data).encode(), content_type="application/json")
    return client.post("/ops/config/", {"file": file}).content.decode()


def test_download_is_the_export(ops_client: Client) -> None:
    RuleFactory(name="Exported")
    response = ops_client.get("/ops/config/export.json")
    assert response["Content-Disposition"].startswith("attachment")
    assert json.loads(response.content)["rules"][0]["name"] == "Exported"


def test_upload_previews_then_confirm_applies(ops_client: Client) -> None:
    SegmentFactory(slug="hot", sla_minutes=5)
    data = config_export()
    data["segments"][0]["sla_minutes"] = 15
    html = upload(ops_client, data)
    assert 'id="import-preview"' in html and "sla_minutes" in html
    assert Segment.objects.get().sla_minutes == 5  # preview keeps nothing
    payload = html.split('name="payload" value="', 1)[1].split('"', 1)[0]
    import html as html_lib

    response = ops_client.post("/ops/config/", {"confirm": "1", "payload": html_lib.unescape(payload)})
    assert response.status_code == 302
    assert Segment.objects.get().sla_minutes == 15
    assert Segment.history.latest().history_user.username == "ops"


def test_a_bad_file_lists_errors_by_path_and_changes_nothing(ops_client: Client) -> None:
    SegmentFactory(slug="hot", sla_minutes=5)
    data = config_export()
    data["segments"][0]["sla_minutes"] = 15
    data["rules"] = [{"name": "R", "pool": "X"}]
    html = upload(ops_client, data)
    assert 'id="import-errors"' in html and "rules[0].pool: no pool named &#x27;X&#x27;" in html
    assert Segment.objects.get().sla_minutes == 5


def test_a_file_that_is_not_json_is_a_form_error(ops_client: Client) -> None:
    file = SimpleUploadedFile("config.json", b"{oops", content_type="application/json")
    html = ops_client.post("/ops/config/", {"file": file}).content.decode()
    assert "Not valid JSON" in html
