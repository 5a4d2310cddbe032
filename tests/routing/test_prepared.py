"""``routing.prepared``: statements planned once per connection on PostgreSQL and still Django
queries (logged, wrapped errors) everywhere; a PreparedQuery returns what its queryset would."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from routing.models import RouterWake
from reps.models import Pool
from routing.models import Offer
from routing.prepared import PreparedQuery, fetchone_prepared, pk_any
from tests.reps.helpers import make_world, open_offer, route_new_lead

pytestmark = pytest.mark.django_db


def test_the_statement_runs_is_logged_and_answers_like_a_cursor() -> None:
    RouterWake.objects.create(name="prepared-check")
    table = connection.ops.quote_name(RouterWake._meta.db_table)
    sql = f"SELECT name FROM {table} WHERE name = %s"
    with CaptureQueriesContext(connection) as ctx:
        assert fetchone_prepared(sql, ["prepared-check"]) == ("prepared-check",)
        assert fetchone_prepared(sql, ["nobody"]) is None
    assert len(ctx.captured_queries) == 2
    assert all(table in q["sql"] for q in ctx.captured_queries)


def test_a_database_error_is_djangos_and_leaves_the_transaction_usable() -> None:
    RouterWake.objects.create(name="taken")
    table = connection.ops.quote_name(RouterWake._meta.db_table)
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            fetchone_prepared(f"INSERT INTO {table} (name) VALUES (%s) RETURNING name", ["taken"])
    assert RouterWake.objects.filter(name="taken").count() == 1


@pytest.mark.postgres
def test_on_postgresql_the_statement_is_prepared_once_per_connection() -> None:
    if connection.settings_dict["OPTIONS"].get("prepare_threshold") is None:
        pytest.skip("preparation is off (LEADOPS_DB_PREPARED=0)")
    table = connection.ops.quote_name(RouterWake._meta.db_table)
    sql = f"SELECT count(*) /* prepared-once */ FROM {table} WHERE name = %s"
    for _ in range(3):
        assert fetchone_prepared(sql, ["x"]) == (0,)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), sum(generic_plans + custom_plans) FROM pg_prepared_statements "
                       "WHERE statement LIKE %s", ["%prepared-once%"])  # fmt: skip
        prepared, plans = cursor.fetchone()
    assert prepared == 1
    assert plans <= 3  # executions of one prepared statement (a plan per run would need three statements)


def _offers(rep_id: int, ids: list[int]):  # noqa: ANN202
    return (Offer.objects.filter(pk_any(ids), rep_id=rep_id).select_related("lead", "lead__segment", "decision")
            .only("id", "rep_id", "lead_id", "decision_id", "deadline", "lead__id", "lead__first_name", "lead__value",
                  "lead__segment_id", "lead__segment__id", "lead__segment__name", "decision__id", "decision__detail")
            .annotate(lead_product=F("lead__product_line")).order_by("-offered_at", "-id"))  # fmt: skip


def _snapshot(offers: list[Offer]) -> list[tuple]:
    """What a card reads, and which fields were loaded (deferred ones would cost a query each)."""
    return [(o.id, o.rep_id, o.deadline, o.get_deferred_fields(), o.lead.id, o.lead.first_name, o.lead.value,
             o.lead.get_deferred_fields(), o.lead.segment.name, o.decision.detail, o.lead_product)
            for o in offers]  # fmt: skip


def test_a_prepared_query_returns_what_its_queryset_returns_in_one_query() -> None:
    world = make_world(pool_size=1)
    offers = [open_offer(route_new_lead(product_line=f"p{i}")) for i in range(3)]
    prepared = PreparedQuery(_offers, standins={"rep_id": -1_000_001, "ids": [-1_000_002]})
    ids = [offers[0].id, offers[2].id, 10**9]  # one id that is no offer
    expected = list(_offers(world.primary.id, ids))
    assert len(expected) == 2
    for _ in range(2):  # the second run reuses the statement built by the first
        with CaptureQueriesContext(connection) as ctx:
            got = prepared.run(rep_id=world.primary.id, ids=ids)
        assert len(ctx.captured_queries) == 1
        assert _snapshot(got) == _snapshot(expected)
        assert [o.lead_product for o in got] == ["p2", "p0"]
    assert prepared.run(rep_id=world.backup.id, ids=ids) == []  # another rep's value, same statement
    assert [o.id for o in prepared.run(rep_id=world.primary.id, ids=[offers[1].id])] == [offers[1].id]


@pytest.mark.postgres  # other databases run the queryset itself
def test_a_stand_in_the_query_does_not_use_is_refused() -> None:
    prepared = PreparedQuery(lambda name, unused: Pool.objects.filter(name=name), standins={"name": "\x1fnone", "unused": -7})
    with pytest.raises(ValueError, match="unused"):
        prepared.run(name="x", unused=1)


@pytest.mark.postgres
def test_pk_any_is_one_statement_whatever_the_number_of_ids() -> None:
    pools = [Pool.objects.create(name=f"Pool {i}") for i in range(5)]
    texts = set()
    for size in (1, 2, 5):
        chosen = [p.id for p in pools[:size]]
        query = Pool.objects.filter(pk_any(chosen)).order_by("id")
        assert [p.id for p in query] == chosen
        texts.add(str(query.query.sql_with_params()[0]))
    assert len(texts) == 1
    assert list(Pool.objects.filter(pk_any([]))) == []
