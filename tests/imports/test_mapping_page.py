"""The import page's mapping step (issue 20): upload, suggested mapping, preview and dry run,
a changed column, saved mappings, and the import started only for what was previewed."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from reps.models import Role
from routing.csv_import import import_mapping_save
from routing.import_mapping import ColumnMapping
from routing.models import ImportMapping, Lead, LeadImport
from tests.factories import user_with_role
from tests.imports.test_mapped_import import CRM_HEADER, CRM_ROWS

pytestmark = pytest.mark.django_db
CRM = ("\n".join([CRM_HEADER, *CRM_ROWS]) + "\n").encode("utf-8")


@pytest.fixture
def ops_client(client: Client, tmp_path: Path):  # noqa: ANN201
    client.force_login(user_with_role(Role.OPS))
    with override_settings(LEADOPS_IMPORT_DIR=tmp_path):
        yield client


def _upload(client: Client, content: bytes = CRM, **extra: str) -> LeadImport:
    response = client.post("/leads/import/", {"file": SimpleUploadedFile("crm-leads.csv", content), "action": "map", **extra})
    job = LeadImport.objects.latest("id")
    assert response.status_code == 302 and response["Location"] == f"/leads/import/{job.id}/mapping/"
    return job


def _post(client: Client, job: LeadImport, action: str, changes: dict[str, str] | None = None, previewed: str = "") -> object:
    page = client.get(f"/leads/import/{job.id}/mapping/")
    form = page.context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    data |= {"action": action, "previewed": previewed or page.context.get("previewed", ""), **(changes or {})}
    return client.post(f"/leads/import/{job.id}/mapping/", data)


def test_an_upload_goes_to_the_mapping_step_with_suggested_fields_a_preview_and_dry_run_counts(ops_client: Client) -> None:
    job = _upload(ops_client)
    assert job.status == "mapping" and not Lead.objects.exists()
    page = ops_client.get(f"/leads/import/{job.id}/mapping/")
    form = page.context["form"]
    assert [form[f"col_{i}"].value() for i in range(8)] == [
        "first_name", "last_name", "email", "company", "source", "state", "country", "value"]
    html = page.content.decode()
    assert '<option value="attributes.lead_source">Custom attribute “lead_source”</option>' in html
    dry = page.context["dry_run"]
    assert (dry.created, dry.duplicated, dry.rejected) == (2, 1, 2)
    assert "<td>4</td><td>Email</td><td>email</td>" in html  # line, column, field
    assert "In the file: Ana, Bo, Cy" in html  # the first values of each column
    assert 'id="import-button"' in html and not Lead.objects.exists()


def test_ops_change_a_column_give_a_fixed_source_and_import_what_they_previewed(ops_client: Client,
                                                                               django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    job = _upload(ops_client)
    changes = {"col_4": "attributes.lead_source", "source": "crm-export", "currency": "usd", "save_as": "CRM export"}
    preview = _post(ops_client, job, "preview", changes)
    assert preview.status_code == 200 and preview.context["dry_run"].preview[0][2]["source"] == "crm-export"
    with django_capture_on_commit_callbacks(execute=True):  # the import is queued once the start is committed
        response = ops_client.post(f"/leads/import/{job.id}/mapping/", {
            **{name: preview.context["form"][name].value() or "" for name in preview.context["form"].fields},
            "action": "import", "previewed": preview.context["previewed"]})  # fmt: skip
    assert response.status_code == 302 and response["Location"] == f"/leads/import/{job.id}/"
    job.refresh_from_db()  # the task ran inline (LEADOPS_Q_SYNC)
    assert (job.status, job.created, job.already_present, job.rejected, job.mapping_name) == ("done", 2, 1, 2, "CRM export")
    ana = Lead.objects.get(external_id="email:ana@example.com")
    assert (ana.source, ana.attributes, ana.currency) == ("crm-export", {"lead_source": "Webinar"}, "USD")
    saved = ImportMapping.objects.get(name="CRM export")
    assert (saved.columns["Lead Source"], saved.source, saved.currency) == ("attributes.lead_source", "crm-export", "USD")
    report = ops_client.get(f"/leads/import/{job.id}/").content.decode()
    assert "saved mapping “CRM export”" in report and "<td>5</td><td>State/Province</td><td>state</td>" in report


def test_import_after_a_change_that_was_not_previewed_shows_the_new_preview_first(ops_client: Client) -> None:
    job = _upload(ops_client)
    response = _post(ops_client, job, "import", {"col_6": "ignore"})  # the previewed key is the unchanged mapping's
    assert response.status_code == 200 and response.context["changed"]
    assert "The mapping changed since the last preview" in response.content.decode()
    assert LeadImport.objects.get(id=job.id).status == "mapping" and not Lead.objects.exists()


@pytest.mark.parametrize(("changes", "named"), [
    ({"col_0": "email"}, "both fill Email"),  # two columns fill one field
    ({"currency": "EURO"}, "ISO 4217"),
    ({"currency": "XYZ"}, "ISO 4217"),
    ({"source": "a;b"}, "letters, digits"),
    ({"col_1": "attributes.bad key"}, "Select a valid choice"),
    ({"col_4": "ignore"}, "No column fills the lead source"),
])  # fmt: skip
def test_a_bad_mapping_is_refused_naming_the_field_and_nothing_is_imported(ops_client: Client, changes: dict,
                                                                           named: str) -> None:  # fmt: skip
    job = _upload(ops_client)
    response = _post(ops_client, job, "import", changes)
    assert response.status_code == 200 and named in response.content.decode()
    assert LeadImport.objects.get(id=job.id).status == "mapping" and not Lead.objects.exists()


def test_a_saved_mapping_is_chosen_on_upload_and_on_the_mapping_step(ops_client: Client) -> None:
    import_mapping_save(name="CRM export", mapping=ColumnMapping(columns={"Lead Source": "attributes.channel",
                                                                          "Email": "email"}, source="crm"))  # fmt: skip
    job = _upload(ops_client, saved_mapping="CRM export")
    form = ops_client.get(f"/leads/import/{job.id}/mapping/").context["form"]
    assert (form["col_4"].value(), form["col_2"].value(), form["col_0"].value(), form["source"].value()) == (
        "attributes.channel", "email", "first_name", "crm")  # unnamed columns keep the suggestion
    other = _upload(ops_client)
    form = ops_client.get(f"/leads/import/{other.id}/mapping/?saved=CRM+export").context["form"]
    assert form["col_4"].value() == "attributes.channel"


def test_a_file_that_cannot_be_read_is_explained_on_the_mapping_step(ops_client: Client) -> None:
    job = _upload(ops_client, b"First Name,Email\n\"Ana,ana@example.com\n" + b"x" * 10)
    html = ops_client.get(f"/leads/import/{job.id}/mapping/").content.decode()
    assert 'id="import-refusal"' in html and 'id="import-button"' not in html


def test_import_now_still_imports_a_file_in_leadops_column_names_at_once(ops_client: Client) -> None:
    response = ops_client.post("/leads/import/", {"file": SimpleUploadedFile("l.csv", b"source,external_id\nweb,1\n"),
                                                  "action": "import"})  # fmt: skip
    assert response.status_code == 302 and LeadImport.objects.get().status == "done" and Lead.objects.count() == 1


def test_the_mapping_step_is_for_ops_only_and_a_started_import_leaves_it(ops_client: Client) -> None:
    job = _upload(ops_client)
    client = Client()
    client.force_login(user_with_role(Role.REP))
    assert client.get(f"/leads/import/{job.id}/mapping/").status_code == 403
    assert client.post(f"/leads/import/{job.id}/mapping/", {"action": "import"}).status_code == 403
    LeadImport.objects.filter(id=job.id).update(status="done")
    response = ops_client.get(f"/leads/import/{job.id}/mapping/")
    assert response.status_code == 302 and response["Location"] == f"/leads/import/{job.id}/"


def test_the_progress_page_of_an_import_waiting_for_its_mapping_leads_to_the_mapping_step(ops_client: Client) -> None:
    job = _upload(ops_client)
    response = ops_client.get(f"/leads/import/{job.id}/")
    assert response.status_code == 302 and response["Location"] == f"/leads/import/{job.id}/mapping/"


def test_a_saved_mapping_is_checked_by_the_same_schema_in_the_admin_path() -> None:
    from django.core.exceptions import ValidationError

    bad = ImportMapping(name="Bad", columns={"A": "email", "B": "email"}, source="x")
    with pytest.raises(ValidationError) as caught:
        bad.full_clean()
    assert "both fill Email" in str(caught.value.message_dict["columns"])
    with pytest.raises(ValidationError):
        ImportMapping(name="Bad", columns=["email"]).full_clean()


def test_a_mapping_that_cannot_be_saved_is_named_on_its_field_and_nothing_starts(ops_client: Client,
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from django.core.exceptions import ValidationError

    from routing.views import leads

    def refuse(**kwargs: object) -> None:
        raise ValidationError({"name": "Import mapping with this Name already exists."})

    monkeypatch.setattr(leads, "import_mapping_save", refuse)
    job = _upload(ops_client)
    preview = _post(ops_client, job, "preview", {"save_as": "CRM export"})
    data = {name: preview.context["form"][name].value() or "" for name in preview.context["form"].fields}
    response = ops_client.post(f"/leads/import/{job.id}/mapping/", {**data, "action": "import",
                                                                    "previewed": preview.context["previewed"]})  # fmt: skip
    assert response.status_code == 200 and "already exists" in str(response.context["form"].errors["save_as"])
    assert response.context["columns"] and LeadImport.objects.get(id=job.id).status == "mapping"
