from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from routing.models import Decision, Offer
from tests.factories import (
    AbsenceFactory, LeadFactory, LicenceFactory, PoolMemberFactory, RepFactory, RepSkillFactory,
    SegmentFactory, TerritoryFactory,
)  # fmt: skip

pytestmark = pytest.mark.django_db


def _violates(factory, **kwargs) -> None:  # noqa: ANN001
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(**kwargs)


def test_source_and_external_id_are_unique_together() -> None:
    LeadFactory(source="web", external_id="1")
    LeadFactory(source="partner", external_id="1")
    _violates(LeadFactory, source="web", external_id="1")


def test_skill_levels_are_one_to_five() -> None:
    _violates(RepSkillFactory, level=6)
    _violates(RepSkillFactory, level=0)


def test_a_licence_cannot_end_before_it_starts() -> None:
    today = timezone.now().date()
    _violates(LicenceFactory, valid_from=today, valid_until=today - dt.timedelta(days=1))


def test_an_absence_must_end_after_it_starts() -> None:
    now = timezone.now()
    _violates(AbsenceFactory, starts_at=now, ends_at=now)


def test_pool_weights_are_positive_and_members_unique() -> None:
    member = PoolMemberFactory()
    _violates(PoolMemberFactory, pool=member.pool, rep=member.rep)
    _violates(PoolMemberFactory, weight=0)


def test_only_one_default_segment() -> None:
    SegmentFactory(slug="a", is_default=True)
    _violates(SegmentFactory, slug="b", is_default=True)


def test_a_lead_has_at_most_one_open_offer() -> None:
    lead = LeadFactory()
    now = timezone.now()
    Offer.objects.create(lead=lead, rep=RepFactory(), offered_at=now, deadline=now)
    with pytest.raises(IntegrityError), transaction.atomic():
        Offer.objects.create(lead=lead, rep=RepFactory(), offered_at=now, deadline=now)


def test_decisions_are_append_only() -> None:
    decision = Decision.objects.create(lead=LeadFactory(), created_at=timezone.now(), outcome="holding", summary="x")
    decision.summary = "rewritten"
    with pytest.raises(ValidationError):
        decision.save()
    with pytest.raises(ValidationError):
        Decision.objects.filter(id=decision.id).update(summary="rewritten")
    with pytest.raises(ValidationError):
        decision.delete()
    assert Decision.objects.get().summary == "x"


def test_rep_timezone_and_working_hours_are_validated() -> None:
    rep = RepFactory.build(timezone="Mars/Olympus", working_hours={"mon": [["09:00", "09:00"]]})
    with pytest.raises(ValidationError) as exc:
        rep.full_clean(exclude=["user"])
    assert {"timezone", "working_hours"} <= set(exc.value.message_dict)


def test_a_territory_cannot_be_its_own_ancestor() -> None:
    parent = TerritoryFactory()
    child = TerritoryFactory(parent=parent)
    parent.parent = child
    with pytest.raises(ValidationError):
        parent.full_clean()


def test_configuration_changes_are_versioned() -> None:
    rep = RepFactory(max_open=5)
    rep.max_open = 7
    rep.save()
    assert [h.max_open for h in rep.history.order_by("history_id")] == [5, 7]


def test_the_three_role_groups_exist_after_migrating() -> None:
    """The data migration creates the three roles, and running it again adds none. It runs here on
    an empty group table with the models as of that migration: a transactional test that ran
    before this one (in the same test process) may have emptied what migrating left."""
    from importlib import import_module

    from django.contrib.auth.models import Group
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    migration = import_module("reps.migrations.0002_role_groups")
    Group.objects.all().delete()
    state = MigrationLoader(connection).project_state(("reps", "0002_role_groups"))
    migration.create_groups(state.apps, None)
    migration.create_groups(state.apps, None)

    assert sorted(Group.objects.values_list("name", flat=True)) == ["Manager", "Rep", "Sales Ops"]
