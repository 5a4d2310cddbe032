"""Managers read decisions in words: ties say which tie-break chose, score and credit are defined,
and the decisions CSV has human headers and each skipped rep's reasons."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from routing import services
from routing.models import Decision
from tests.factories import LeadFactory, PoolFactory, PoolMemberFactory, RepFactory, RuleFactory, SegmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_equal_reps() -> tuple:
    SegmentFactory(slug="standard", is_default=True)
    pool = PoolFactory(name="Main")
    ana, ben = RepFactory(display_name="Ana Equal"), RepFactory(display_name="Ben Equal")
    capped = RepFactory(display_name="Cat Capped", max_open=0)
    for rep in (ana, ben, capped):
        PoolMemberFactory(pool=pool, rep=rep, weight=1)
    RuleFactory(name="Everyone", pool=pool)
    services.rule_publish(note="v1")
    return pool, ana, ben, capped


def test_a_tie_names_the_tie_break_on_the_lead_page_and_in_test_a_lead(ops_client: Client, two_equal_reps: tuple) -> None:
    dry = ops_client.post("/ops/test/", {"mode": "live", "country": "US"}).content.decode()
    assert 'class="tie-note"' in dry and "was chosen because" in dry and 'id="glossary"' in dry
    LeadFactory(value=100)
    services.leads_route_all_pending()
    decision = Decision.objects.get()
    html = ops_client.get(f"/dash/leads/{decision.lead_id}/").content.decode()
    chosen = decision.chosen_rep.display_name
    other = ({"Ana Equal", "Ben Equal"} - {chosen}).pop()
    assert f"Tie: {chosen} and {other} both scored 0.500; {chosen} was chosen because the weighted-fair rotation" in html
    assert 'id="glossary"' in html and "Credit (leads owed)" in html and "leads the rep is owed" in html


def test_no_tie_note_when_the_scores_differ(ops_client: Client, two_equal_reps: tuple) -> None:
    LeadFactory(value=100)
    services.leads_route_all_pending()
    LeadFactory(value=100)
    services.leads_route_all_pending()
    second = Decision.objects.order_by("-id").first()
    assert "Tie:" not in ops_client.get(f"/dash/leads/{second.lead_id}/").content.decode()


def test_the_decisions_csv_has_headers_in_words_and_skip_reasons(ops_client: Client, two_equal_reps: tuple) -> None:
    LeadFactory(value=100, company="Acme")
    services.leads_route_all_pending()
    text = b"".join(ops_client.get("/dash/decisions/export.csv").streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    header = text.splitlines()[0]
    assert "__" not in header and "_id" not in header
    assert {"Lead id", "Company", "Rule", "Rule version", "Outcome", "Rep", "Reps skipped and why"} <= set(rows[0])
    assert rows[0]["Company"] == "Acme" and rows[0]["Outcome"] == "offered" and rows[0]["Rule version"] == "1"
    assert rows[0]["Reps skipped and why"] == "Cat Capped: at open-lead cap"
