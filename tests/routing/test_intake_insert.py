"""Intake stores a lead with one prepared INSERT ... ON CONFLICT (routing.services._lead_insert):
the row is the one ``Model.save`` would write, a retry answers with the stored lead, and a refused
row leaves the caller's transaction usable."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from routing import services
from routing.models import Lead
from routing.snapshots import intake_reference
from routing.validation import clean_lead

pytestmark = pytest.mark.django_db

FULL = {"source": "web", "external_id": "F-1", "first_name": "Ana", "last_name": "Ruiz", "email": "ana@example.com",
        "phone": "+34 600 000 000", "company": "Acme", "country": "es", "state": "ES-M", "language": "es",
        "product_line": "Life", "value": 1250.5, "currency": "EUR", "fit_score": 80, "intent": "high",
        "attributes": {"campaign": "q4", "pages": [1, 2]}}  # fmt: skip


def _columns(lead: Lead) -> dict[str, object]:
    return {f.attname: getattr(lead, f.attname) for f in Lead._meta.concrete_fields if f is not Lead._meta.pk}


def test_the_stored_row_is_the_one_the_orm_would_write() -> None:
    now = timezone.now().replace(microsecond=0)
    data = clean_lead(FULL)
    stored, created = services.lead_intake(data=data, now=now)
    assert created and stored.id is not None and stored._state.adding is False
    reference = intake_reference()
    by_orm = services.lead_build(data={**data, "external_id": "F-2"}, config=reference.config, now=now,
                                 segment_ids=reference.segment_ids)  # fmt: skip
    by_orm.save(force_insert=True)
    read_back = _columns(Lead.objects.get(id=stored.id))
    assert read_back == {**_columns(Lead.objects.get(id=by_orm.id)), "external_id": "F-1"}
    assert read_back["attributes"] == {"campaign": "q4", "pages": [1, 2]}
    assert read_back["value"] == Decimal("1250.50") and read_back["queue_at"] is not None
    assert read_back["status"] == Lead.Status.PENDING


def test_a_retry_answers_with_the_stored_lead_and_queues_no_wake_up(django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    with django_capture_on_commit_callbacks() as callbacks:
        first, created = services.lead_intake(data=clean_lead(FULL))
    assert created and len(callbacks) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        again, created = services.lead_intake(data=clean_lead({**FULL, "value": 1, "email": "other@example.com"}))
    assert (again.id, created, callbacks) == (first.id, False, [])
    assert Lead.objects.get().email == "ana@example.com"


def test_inside_a_transaction_a_duplicate_or_a_refused_row_leaves_it_usable() -> None:
    services.lead_intake(data=clean_lead(FULL))
    with transaction.atomic():
        again, created = services.lead_intake(data=clean_lead(FULL))
        assert not created
        with pytest.raises(IntegrityError):  # the value check, for input that skipped validation
            services.lead_intake(data={**clean_lead({**FULL, "external_id": "F-3"}), "value": Decimal("-1")})
        services.lead_intake(data=clean_lead({**FULL, "external_id": "F-4"}))  # still takes writes
    assert sorted(Lead.objects.values_list("external_id", flat=True)) == ["F-1", "F-4"]
