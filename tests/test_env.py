from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from leadops.env import database_from_url, envbool, envint


def test_envbool_accepts_the_usual_spellings(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("X_FLAG", "Yes")
    assert envbool("X_FLAG") is True
    monkeypatch.setenv("X_FLAG", "off")
    assert envbool("X_FLAG", True) is False


def test_envbool_fails_loudly_on_nonsense(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        envbool("X_FLAG")


def test_envint_checks_type_and_minimum(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("X_N", "abc")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        envint("X_N", 1)
    monkeypatch.setenv("X_N", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        envint("X_N", 1, minimum=1)


def test_database_url_selects_postgres() -> None:
    db = database_from_url("postgres://u:p%40ss@db.example:5433/leadops?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == ("u", "p@ss", "db.example", "5433", "leadops")
    assert db["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize("url", ["mysql://x/y", "postgres://host/"])
def test_database_url_rejects_what_it_cannot_use(url: str) -> None:
    with pytest.raises(ImproperlyConfigured):
        database_from_url(url)


def _settings_in_subprocess(env: dict[str, str], expr: str) -> subprocess.CompletedProcess:
    code = f"import django, os; django.setup(); from django.conf import settings; print({expr})"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "leadops.settings", **env},
    )  # fmt: skip


def test_production_refuses_to_start_without_a_secret_key(tmp_path) -> None:  # noqa: ANN001
    result = _settings_in_subprocess({"LEADOPS_PRODUCTION": "1", "LEADOPS_VAR_DIR": str(tmp_path)}, "1")
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def test_redis_url_switches_the_queue_broker(tmp_path) -> None:  # noqa: ANN001
    result = _settings_in_subprocess(
        {"REDIS_URL": "redis://127.0.0.1:6379/0", "LEADOPS_VAR_DIR": str(tmp_path)},
        "settings.Q_CLUSTER.get('redis'), settings.Q_CLUSTER.get('orm')",
    )
    assert result.stdout.strip() == "redis://127.0.0.1:6379/0 None", result.stderr


def test_default_is_sqlite_with_the_orm_broker(tmp_path) -> None:  # noqa: ANN001
    result = _settings_in_subprocess(
        {"LEADOPS_VAR_DIR": str(tmp_path)},
        "settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['OPTIONS']['transaction_mode'], settings.Q_CLUSTER['orm']",
    )
    assert result.stdout.split() == ["django.db.backends.sqlite3", "IMMEDIATE", "default"], result.stderr


def test_the_web_pool_has_room_for_the_inbox_feed_threads_on_top_of_the_requests(tmp_path) -> None:  # noqa: ANN001
    """Feed threads (reps.push) borrow from the web process's pool: it is LEADOPS_DB_POOL_MAX for
    requests plus one per feed thread, so a feed never takes a connection a request waits for."""
    base = {"DATABASE_URL": "postgres://u@db.example:5432/leadops", "LEADOPS_DB_POOL_MAX": "8", "LEADOPS_VAR_DIR": str(tmp_path)}
    expr = "settings.DATABASES['default']['OPTIONS']['pool']['max_size'], settings.LEADOPS_WEB_MAX_ACTIVE"
    assert _settings_in_subprocess(base, expr).stdout.split() == ["10", "8"]
    result = _settings_in_subprocess({**base, "LEADOPS_INBOX_FEED_THREADS": "3"}, expr)
    assert result.stdout.split() == ["11", "8"], result.stderr[-500:]
    result = _settings_in_subprocess({**base, "LEADOPS_INBOX_FEED_THREADS": "0"}, expr)
    assert result.returncode != 0 and "LEADOPS_INBOX_FEED_THREADS" in result.stderr
