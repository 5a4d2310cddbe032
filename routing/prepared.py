"""Statements PostgreSQL plans once per connection, built by the ORM once per process.

A Django query compiles its SQL on every run: for the small reads an open inbox makes on every
event (reps.views.OffersFeed) that compiling cost more than PostgreSQL's own work. A
``PreparedQuery`` builds its queryset once with stand-in values, keeps the SQL, and on each run
fills in the real values and executes it as a prepared statement (psycopg's ``prepare=True``);
rows become model instances the way Django's own ModelIterable makes them (``select_related``
objects, deferred fields and annotations included). The filter is the queryset's, so a test can
check the two paths return the same objects. On other databases it simply runs the queryset.

Only for statements whose best plan does not depend on the values (rows by key, a rep's live
offers): PostgreSQL may switch a prepared statement to a generic plan (``fetchone_prepared``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from django.db import connection, connections
from django.db.models import F, Lookup, Model, Q, QuerySet


class _PreparingCursor(psycopg.Cursor):
    """A server-binding cursor that prepares every statement it runs (psycopg's ``prepare=True``)."""

    def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None) -> Any:
        return super().execute(query, params, prepare=True, binary=binary)


def _run_prepared(sql: str, params: Sequence[Any] | None, db: Any, *, one: bool) -> Any:
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() if one else cursor.fetchall()
    db.ensure_connection()
    db.validate_thread_sharing()
    raw = _PreparingCursor(db.connection)
    with db.make_debug_cursor(raw) if db.queries_logged else db.make_cursor(raw) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if one else cursor.fetchall()


def fetchone_prepared(sql: str, params: Sequence[Any] | None = None, *, using: Any = None) -> tuple | None:
    """Run ``sql`` (a statement whose text never changes, with ``%s`` placeholders for
    ``params``) and return its first row, or None. ``using``: a Django connection (default: the
    default one).

    On PostgreSQL the statement is prepared on first use on each connection (psycopg's
    ``prepare=True``) and only bound and executed after that: PostgreSQL plans it once per
    connection instead of on every run. Only for statements whose best plan does not depend on
    the values (one row by a unique key, fingerprints of newest ids): PostgreSQL switches a
    prepared statement to a generic plan, and for queries over skewed data that plan can be far
    worse (preparing every repeated statement, psycopg's ``prepare_threshold``, made the
    100,000-row CSV's routing 1.6 x slower here). The cursor is wrapped as Django wraps its own
    (query log, execute wrappers, Django's database errors)."""
    return _run_prepared(sql, params, using or connection, one=True)


def fetchall_prepared(sql: str, params: Sequence[Any] | None = None, *, using: Any = None) -> list[tuple]:
    """``fetchone_prepared``, every row."""
    return _run_prepared(sql, params, using or connection, one=False)


class PreparedQuery:
    """A queryset built once per process and database alias, run as a prepared statement.

    ``build(**values)`` returns the queryset (a model queryset: ``select_related``, ``only`` and
    ``annotate`` are fine; not ``values()``); ``standins`` gives, for every keyword of ``build``,
    a value no real call passes (an int, text, datetime or list of ints that appears nowhere
    else in the query), so that each parameter of the compiled SQL is known to be either a
    keyword's slot or one of the query's own constants. ``run(**values)`` returns the model
    instances ``list(build(**values))`` would, in the same order.

    Raises ImproperlyConfigured-free ValueError at build time if a stand-in is not found among the
    compiled parameters (a keyword the query ignores, or one it transforms, e.g. ``__in`` on a
    list: pass the list whole with ``id=Func(..., function="ANY")``)."""

    def __init__(self, build: Callable[..., QuerySet], *, standins: dict[str, Any]) -> None:
        self.build, self.standins = build, standins
        self._compiled: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def _compile(self, db: Any) -> tuple:
        queryset = self.build(**self.standins).using(db.alias)
        compiler = queryset.query.get_compiler(using=db.alias)
        sql, params = compiler.as_sql()  # also fills select, klass_info, annotation_col_map
        slots: list[tuple[str | None, Any]] = []
        for param in params:
            name = next((k for k, v in self.standins.items() if type(param) is type(v) and param == v), None)
            slots.append((name, None if name else param))
        missing = set(self.standins) - {name for name, _ in slots if name}
        if missing:
            raise ValueError(f"stand-ins not found in the compiled query: {sorted(missing)}")
        from django.db.models.query import _get_from_db, get_related_populators

        klass_info, select = compiler.klass_info, compiler.select
        fetch_mode = queryset._fetch_mode
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        init_list = [column[0].target.attname for column in select[start:end]]
        fields = [column[0] for column in select[0 : compiler.col_count]]
        return (sql, slots, compiler, compiler.get_converters(fields), _get_from_db(klass_info["model"], fetch_mode),
                init_list, (start, end), get_related_populators(klass_info, select, db, fetch_mode),
                compiler.annotation_col_map or {})  # fmt: skip

    def run(self, **values: Any) -> list[Model]:
        """The instances, as ``list(build(**values))`` (one prepared statement on PostgreSQL)."""
        db = connection
        if db.vendor != "postgresql":
            return list(self.build(**values))
        compiled = self._compiled.get(db.alias)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(db.alias) or self._compile(connections[db.alias])
                self._compiled[db.alias] = compiled
        sql, slots, compiler, converters, from_db, init_list, (start, end), populators, annotations = compiled
        rows = fetchall_prepared(sql, [values[name] if name else constant for name, constant in slots], using=db)
        if converters:
            rows = compiler.apply_converters(rows, converters)
        out = []
        for row in rows:
            obj = from_db(db.alias, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for attr, position in annotations.items():
                setattr(obj, attr, row[position])
            out.append(obj)
        return out


class AnyOf(Lookup):
    """``field = ANY(array)``: one bigint[] parameter however many ids (see ``pk_any``)."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, db: Any) -> tuple[str, list]:
        lhs, lhs_params = self.process_lhs(compiler, db)
        return f"{lhs} = ANY(%s::bigint[])", [*lhs_params, self.rhs]


def pk_any(ids: Any, *, field: str = "id") -> Any:
    """A filter ``field`` in ``ids`` (a list of ints) whose SQL text does not depend on how many
    ids there are (``= ANY(%s)`` with one array parameter on PostgreSQL), so a PreparedQuery can
    take the list as one value. Elsewhere a plain ``__in``."""
    if connection.vendor != "postgresql":
        return Q(**{f"{field}__in": list(ids)})
    return AnyOf(F(field), [int(i) for i in ids])
