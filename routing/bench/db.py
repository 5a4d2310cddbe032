"""The bench's own throwaway database on the configured PostgreSQL server.

The bench never writes to the configured database: it creates ``<name>_bench`` (or uses the
configured database itself when its name already contains "bench"), migrates it, and points
this process and every subprocess (workers, qcluster, gunicorn) at it.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import quote

import psycopg
from django.conf import settings
from django.db import connections

from django.core.management import call_command


def target_name(configured: str) -> str:
    return configured if "bench" in configured else f"{configured}_bench"


def _admin_conninfo() -> dict:
    db = settings.DATABASES["default"]
    return {"dbname": "postgres", "user": db.get("USER") or None, "password": db.get("PASSWORD") or None,
            "host": db.get("HOST") or None, "port": db.get("PORT") or None}  # fmt: skip


def database_url(name: str) -> str:
    db = settings.DATABASES["default"]
    auth = quote(db.get("USER") or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or "5432"
    return f"postgres://{auth}@{host}:{port}/{name}"


def recreate(name: str) -> None:
    """Drop and create ``name`` (a bench database), then point Django at it and migrate."""
    if "bench" not in name:
        raise ValueError(f"refusing to recreate {name!r}: not a bench database")
    connections.close_all()
    with psycopg.connect(**{k: v for k, v in _admin_conninfo().items() if v}, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    use(name)
    call_command("migrate", verbosity=0, interactive=False)


def create(name: str) -> None:
    if "bench" not in name:
        raise ValueError(f"refusing to create {name!r}: not a bench database")
    with psycopg.connect(**{k: v for k, v in _admin_conninfo().items() if v}, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop(name: str) -> None:
    if "bench" not in name:
        raise ValueError(f"refusing to drop {name!r}: not a bench database")
    connections.close_all()
    with psycopg.connect(**{k: v for k, v in _admin_conninfo().items() if v}, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def use(name: str) -> None:
    """Point this process (and, through the environment, its children) at database ``name``."""
    connections.close_all()
    settings.DATABASES["default"]["NAME"] = name
    connections["default"].settings_dict["NAME"] = name
    os.environ["DATABASE_URL"] = database_url(name)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "leadops.settings")
    env["LEADOPS_Q_SYNC"] = "0"
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def manage(*args: str) -> list[str]:
    return [sys.executable, str(settings.BASE_DIR / "manage.py"), *args]


def server_version() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]


__all__ = ["child_env", "database_url", "drop", "manage", "recreate", "server_version", "target_name", "use"]
