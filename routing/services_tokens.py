"""API token lifecycle. The raw token is shown once; only its SHA-256 digest is stored.

Scopes (``routing.models.TokenScope``): intake, read, dry-run, admin. A new token gets ``intake``
only unless more are asked for, so a token pasted into a web form can send leads and nothing else.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Iterable

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Q
from django.utils import timezone

from routing.models import ApiToken, TokenScope
from routing.snapshots import fetchone_prepared

# Last use is written at most this often per token, so a busy intake client does not turn every
# request into a row update.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def apitoken_clean_scopes(scopes: Iterable[str] | None) -> list[str]:
    """Validate scope names; None or empty means the default (intake only).

    Raises ValidationError naming the unknown scope(s).
    """
    chosen = [s.strip() for s in (scopes or ()) if s and s.strip()]
    unknown = sorted({s for s in chosen if s not in TokenScope.values})
    if unknown:
        raise ValidationError(
            {"scopes": f"Unknown scope(s): {', '.join(unknown)}. Use {', '.join(TokenScope.values)}."}
        )
    ordered = [s for s in TokenScope.values if s in chosen]
    return ordered or [TokenScope.INTAKE.value]


def apitoken_create(
    *, name: str, scopes: Iterable[str] | None = None, created_by=None, user=None,  # noqa: ANN001
) -> tuple[ApiToken, str]:
    """Create a token; returns (row, raw secret). ``scopes`` as in apitoken_clean_scopes.

    ``user``: a personal token, which acts as that user (their roles and team scope apply on top
    of the scopes, e.g. a rep's mobile app accepting their own offers); None: an integration's
    token, which sees every team. Raises ValidationError naming the field.
    """
    clean = apitoken_clean_scopes(scopes)
    name = name.strip()[:100]
    if not name:
        raise ValidationError({"name": "Give the token a name (who or what uses it)."})
    raw = "lo_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name, prefix=raw[:10], digest=ApiToken.hash(raw), scopes=clean, created_by=created_by, user=user
    )
    return token, raw


def apitoken_revoke(*, name: str) -> int:
    """Revoke every active token with this name; returns how many."""
    return ApiToken.objects.filter(name=name, revoked_at__isnull=True).update(revoked_at=timezone.now())


def apitoken_revoke_one(*, token_id: int) -> bool:
    """Revoke one token by id; False when it was already revoked or does not exist."""
    return bool(ApiToken.objects.filter(id=token_id, revoked_at__isnull=True).update(revoked_at=timezone.now()))


def apitoken_authenticate(*, raw: str, now: dt.datetime | None = None) -> ApiToken | None:
    """The active token with this secret, or None (also when it is personal and its user is
    deactivated). Records the use (at most once a minute). One query for an integration token,
    two for a personal one (its user is read only then): the digest is unique, so no ordering,
    and no join for the integration tokens intake runs on (a third of the query's CPU was
    building the join and the ordering; most of the rest was Django compiling the SELECT, which
    ``_active_token`` does once per process)."""
    token = _active_token(ApiToken.hash(raw))
    if token is None or (token.user_id is not None and not token.user.is_active):
        return None
    now = now or timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ApiToken.objects.filter(stale, id=token.id).update(last_used_at=now)
        token.last_used_at = now
    return token


# The active-token SELECT per connection alias: (SQL, column attnames, (index, column
# expression, its converters) for each column the ORM would convert on reading).
_TOKEN_SELECT: dict[str, tuple[str, list[str], list[tuple[int, Any, list[Any]]]]] = {}


def _active_token(digest: str) -> ApiToken | None:
    """The unrevoked token with this digest (unique), read with a statement built once per
    connection: every API request authenticates, and compiling the same ``filter()`` each time
    cost as much CPU as the rest of the look-up. Values are converted as the ORM converts them
    (its backend's and each field's converters: JSON decoded, SQLite datetimes made aware)."""
    db = connections[DEFAULT_DB_ALIAS]
    cached = _TOKEN_SELECT.get(db.alias)
    if cached is None:
        meta = ApiToken._meta
        qn = db.ops.quote_name
        fields = list(meta.concrete_fields)
        sql = (f"SELECT {', '.join(qn(f.column) for f in fields)} FROM {qn(meta.db_table)} "
               f"WHERE {qn(meta.get_field('digest').column)} = %s "
               f"AND {qn(meta.get_field('revoked_at').column)} IS NULL")  # fmt: skip
        columns = [(index, f.get_col(meta.db_table)) for index, f in enumerate(fields)]
        converting = [(index, col, convs) for index, col in columns
                      if (convs := db.ops.get_db_converters(col) + col.get_db_converters(db))]  # fmt: skip
        cached = _TOKEN_SELECT[db.alias] = (sql, [f.attname for f in fields], converting)
    sql, attnames, converting = cached
    row = fetchone_prepared(sql, [digest], using=db)
    if row is None:
        return None
    values = list(row)
    for index, col, convs in converting:
        for convert in convs:
            values[index] = convert(values[index], col, db)
    return ApiToken.from_db(db.alias, attnames, values)
