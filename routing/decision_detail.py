"""Where a decision's detail is compacted on write and read back in words: the one path.

* ``DecisionDetailField`` is ``Decision.detail``: a ``JSONField`` (``jsonb``) whose reads go
  through ``routing.detail_codec.decode``, so ``decision.detail``, ``.values("detail")`` and
  ``.values_list(..., "detail")`` always give the engine's dict, for compact rows and for rows
  written before (plain dicts) alike. Every page, export, API answer and command reads it so.
* ``details_compact(decisions=...)`` is the write side, called by the routing batch before its
  ``COPY``: it encodes each unsaved decision's detail, makes sure the legend holds every text
  named (``legend_ensure``), and leaves ``decision.detail`` the same dict, carrying its stored
  form (``CompactedDetail``). Any other writer may keep saving plain dicts: they read the same.
* The legend (``routing.models.DecisionLegend``) is append-only and content-addressed (a code is
  its text's hash), cached per process. Concurrent writers insert with ``ON CONFLICT DO NOTHING``
  inside their own transaction: a worker inserting a text another worker has inserted but not
  committed waits for that commit (or inserts it itself after a rollback), so a committed
  decision never names a code whose text is not committed with or before it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models, transaction
from django.db.models.fields.json import KeyTransform

from routing import detail_codec

# code -> text: every text this process read from, or wrote to, the legend. Content-addressed,
# so an entry is right whatever database or transaction it came from.
_TEXTS: dict[int, str] = {}
# Codes this process saw committed in the legend: a writer may name them without inserting.
_COMMITTED: set[int] = set()
_LOCK = threading.Lock()
_TEXTS_LIMIT = 200_000  # texts kept (about 100 MB at most); past that the cache starts again


def legend_cache_clear() -> None:
    """Forget the cached legend (tests and the bench empty their databases; production never)."""
    with _LOCK:
        _TEXTS.clear()
        _COMMITTED.clear()


class CompactedDetail(dict):  # type: ignore[type-arg]
    """A detail dict that also carries its stored (compact) form, ``stored``: what
    ``DecisionDetailField`` writes. Made by ``details_compact`` only; never changed after."""

    __slots__ = ("stored",)

    def __init__(self, detail: Mapping[str, Any], stored: Any) -> None:
        super().__init__(detail)
        self.stored = stored


def legend_texts(codes: Iterable[int], *, using: str = "default") -> dict[int, str]:
    """The legend texts of ``codes`` (code -> text), from the cache or one query for the rest.

    Raises:
        detail_codec.DecodeError: a code the legend does not hold (a damaged database).
    """
    wanted = set(codes)
    texts: dict[int, str] = {}
    for code in wanted:
        text = _TEXTS.get(code)
        if text is not None:
            texts[code] = text
    missing = wanted - texts.keys()
    if missing:
        from routing.models import DecisionLegend

        found = dict(DecisionLegend.objects.using(using).filter(code__in=missing).values_list("code", "text"))
        if missing - found.keys():
            raise detail_codec.DecodeError(f"decision detail legend codes missing: {sorted(missing - found.keys())}")
        _remember(found)
        texts.update(found)
    return texts


def _remember(texts: Mapping[int, str]) -> None:
    with _LOCK:
        if len(_TEXTS) + len(texts) > _TEXTS_LIMIT:
            _TEXTS.clear()
        _TEXTS.update(texts)


def legend_ensure(entries: Mapping[int, str], *, using: str = "default") -> set[int]:
    """Make sure the legend holds ``entries`` (code -> text) in the current transaction.

    Inserts the codes this process has not seen committed, in code order (concurrent writers
    take their row locks in the same order), with ``ON CONFLICT DO NOTHING``, then reads the
    texts back. Returns the codes that are taken by a *different* text (a hash collision): the
    caller must not use them. Two queries when something is new, none otherwise. A code becomes
    "seen committed" only when the transaction commits (a rolled-back insert is forgotten).
    """
    new = {code: text for code, text in entries.items() if code not in _COMMITTED}
    if not new:
        return set()
    from routing.models import DecisionLegend

    DecisionLegend.objects.using(using).bulk_create(
        [DecisionLegend(code=code, text=new[code]) for code in sorted(new)], ignore_conflicts=True
    )
    stored = dict(DecisionLegend.objects.using(using).filter(code__in=new).values_list("code", "text"))
    taken = {code for code, text in new.items() if stored.get(code) != text}
    good = {code: text for code, text in new.items() if code not in taken}
    _remember(good)

    def committed() -> None:
        with _LOCK:
            _COMMITTED.update(good)

    transaction.on_commit(committed, using=using)
    return taken


def details_compact(*, decisions: list[Any], using: str = "default") -> None:
    """Give each unsaved ``Decision`` of ``decisions`` the compact stored form of its detail.

    ``decision.detail`` stays the same dict (a ``CompactedDetail``); what is written changes.
    A detail of another shape, or one naming a legend code taken by another text, is stored as
    the plain dict. Call inside the transaction that writes the decisions, before writing them.
    """
    encoded: list[tuple[Any, Any, dict[int, str]]] = []
    entries: dict[int, str] = {}
    for decision in decisions:
        detail = decision.detail
        stored, named = detail_codec.encode(detail)
        if named:
            encoded.append((decision, stored, named))
            entries.update(named)
    taken = legend_ensure(entries, using=using) if entries else set()
    for decision, stored, named in encoded:
        if not taken.isdisjoint(named):
            continue
        decision.detail = CompactedDetail(decision.detail, stored)


class DecisionDetailField(models.JSONField):
    """``Decision.detail``: stored compact (``routing.detail_codec``), read as the engine's dict.

    Reads decode whatever the row holds (a compact array, or a plain dict from before), with the
    dict keys in the order the database would have returned the plain dict (``jsonb`` order on
    PostgreSQL), so readers see exactly what they saw before compaction. Writes store a
    ``CompactedDetail``'s compact form and anything else as it is. Lookups into the JSON
    (``detail__steps``) see the stored form: read the field instead.
    """

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        value = super().from_db_value(value, expression, connection)
        if isinstance(expression, KeyTransform) or not detail_codec.is_compact(value):
            return value
        alias = connection.alias

        def lookup(codes: Iterable[int]) -> Mapping[int, str]:
            return legend_texts(codes, using=alias)

        return detail_codec.decode(value, lookup, jsonb_order=connection.vendor == "postgresql")

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, CompactedDetail):
            value = value.stored
        return super().get_prep_value(value)
