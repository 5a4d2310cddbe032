"""Intake reads the live rule set, vocabulary and segment ids through one cached snapshot
(``routing.snapshots.intake_reference``): one query per lead while nothing changed, and every
change ops can make is seen by the next lead (issue 16, less work per decision)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.test import Client

from routing import snapshots
from routing.console.services import ruleset_publish
from routing.models import Lead, LeadSynonym, Segment
from routing.reference import exchange_rate_create, lead_synonym_create, lead_synonym_delete
from tests.factories import PoolFactory, RuleFactory, SegmentFactory, make_token

pytestmark = pytest.mark.django_db


def test_an_unchanged_reference_costs_one_query(django_assert_num_queries) -> None:  # noqa: ANN001
    RuleFactory(pool=PoolFactory())
    ruleset_publish(note="v1")
    first = snapshots.intake_reference()
    with django_assert_num_queries(1):
        again = snapshots.intake_reference()
    assert again is first
    assert first.config.version == 1


def _add_synonym() -> None:
    lead_synonym_create(field_name="state", alias="Calif.", value="US-CA")


def _delete_synonym() -> None:
    lead_synonym_delete(synonym=LeadSynonym.objects.get(alias="Golden"))


def _add_rate() -> None:
    exchange_rate_create(currency="JPY", rate=Decimal("0.0067"), as_of=dt.date(2026, 1, 1))


def _add_segment() -> None:
    SegmentFactory(slug="enterprise")


def _delete_segment() -> None:
    Segment.objects.get(slug="smb").delete()


def _publish() -> None:
    RuleFactory(pool=PoolFactory(), name="Second")
    ruleset_publish(note="v2")


CHANGES = {
    "synonym added": (_add_synonym, lambda ref: ref.vocabulary.synonym("state", "calif.") == "US-CA"),
    "synonym deleted": (_delete_synonym, lambda ref: ref.vocabulary.synonym("state", "golden") is None),
    "rate added": (_add_rate, lambda ref: ref.vocabulary.rate_on("JPY", dt.date(2026, 6, 1)) is not None),
    "segment added": (_add_segment, lambda ref: any(s.id in ref.segment_ids for s in Segment.objects.filter(slug="enterprise"))),
    "segment deleted": (_delete_segment, lambda ref: len(ref.segment_ids) == 0),
    "rule set published": (_publish, lambda ref: ref.config.version == 2 and len(ref.config.rules) == 2),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_change_ops_make_is_seen_by_the_next_lead(change: str) -> None:
    SegmentFactory(slug="smb")
    lead_synonym_create(field_name="state", alias="Golden", value="US-CA")
    RuleFactory(pool=PoolFactory())
    ruleset_publish(note="v1")
    before = snapshots.intake_reference()
    make_change, seen = CHANGES[change]
    assert not seen(before)
    make_change()
    assert seen(snapshots.intake_reference())


def test_a_write_that_bypasses_the_history_is_seen_within_the_max_age(monkeypatch) -> None:  # noqa: ANN001
    lead_synonym_create(field_name="state", alias="Calif.", value="US-CA")
    assert snapshots.intake_reference().vocabulary.synonym("state", "calif.") == "US-CA"
    LeadSynonym.objects.filter(alias="Calif.").update(value="US-NV")  # no history row: the fingerprint stays
    import time

    later = time.monotonic() + snapshots.INTAKE_REFERENCE_MAX_AGE_SECONDS + 1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert snapshots.intake_reference().vocabulary.synonym("state", "calif.") == "US-NV"


def test_the_api_validates_and_stores_a_lead_with_one_reference() -> None:
    """The synonym that validated the body and the rule set that classified the lead are read
    once per request: a synonym added between two leads applies to the second."""
    client, auth = Client(), {"HTTP_AUTHORIZATION": f"Bearer {make_token(scopes=('intake',))}"}

    def send(external_id: str) -> int:
        body = {"source": "web", "external_id": external_id, "country": "US", "state": "Calif."}
        return client.post("/api/v1/leads", data=json.dumps(body), content_type="application/json", **auth).status_code

    assert send("a") == 400  # "Calif." is no state yet
    lead_synonym_create(field_name="state", alias="Calif.", value="US-CA")
    assert send("b") == 201
    assert Lead.objects.get(external_id="b").state == "CA"
