"""Liveness and readiness: JSON with every check, 503 when one fails."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from ops import selectors
from ops.models import Component
from tests.ops.helpers import beat

pytestmark = pytest.mark.django_db


def test_liveness_answers_without_touching_the_database(django_assert_num_queries) -> None:  # noqa: ANN001
    with django_assert_num_queries(0):
        response = Client().get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_is_ok_with_every_check_passing_and_a_fresh_sweeper() -> None:
    beat(Component.SWEEPER, at=timezone.now())
    response = Client().get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "migrations", "queue", "sweeper"}
    assert all(check["ok"] for check in body["checks"].values())
    assert "up to date" in body["checks"]["migrations"]["detail"]


def test_readiness_fails_with_a_stale_sweeper_and_names_the_check() -> None:
    beat(Component.SWEEPER, at=timezone.now() - dt.timedelta(minutes=2))
    response = Client().get("/health/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["sweeper"]["ok"] is False and "silent for" in checks["sweeper"]["detail"]
    assert checks["database"]["ok"] and checks["migrations"]["ok"] and checks["queue"]["ok"]


def test_a_load_balancer_can_leave_the_sweeper_out_of_the_verdict_but_still_sees_it() -> None:
    beat(Component.SWEEPER, at=timezone.now() - dt.timedelta(minutes=2))
    response = Client().get("/health/ready?skip=sweeper")
    assert response.status_code == 200
    assert response.json()["checks"]["sweeper"] == {**response.json()["checks"]["sweeper"], "ok": False, "skipped": True}


@pytest.mark.parametrize(("query", "field"), [("?skip=sweeper,dragons", "skip"), ("?verbose=1", "verbose")])
def test_readiness_refuses_unknown_parameters_naming_the_field(query: str, field: str) -> None:
    response = Client().get(f"/health/ready{query}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_an_empty_skip_skips_nothing() -> None:
    assert Client().get("/health/ready?skip=").status_code == 503  # no sweeper has ever beaten here


def test_readiness_fails_while_a_migration_is_not_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    beat(Component.SWEEPER, at=timezone.now())
    monkeypatch.setattr(selectors, "_MIGRATION_LEAVES", [*selectors._migration_leaves(), ("ops", "9999_not_applied")])
    response = Client().get("/health/ready")
    assert response.status_code == 503
    assert "ops.9999_not_applied" in response.json()["checks"]["migrations"]["detail"]


def test_readiness_is_cheap(django_assert_max_num_queries) -> None:  # noqa: ANN001
    beat(Component.SWEEPER, at=timezone.now())
    selectors._migration_leaves()  # read from disk once per process
    with django_assert_max_num_queries(5):
        assert Client().get("/health/ready").status_code == 200


@pytest.mark.postgres
def test_readiness_reports_an_unreachable_database_in_a_second_connection(settings) -> None:  # noqa: ANN001
    """In-process variant: point a copy of the connection at a port nobody listens on (the
    throwaway-cluster test in test_readiness_cluster.py stops a real server)."""
    from django.db import connections
    from django.db.backends.postgresql.base import DatabaseWrapper

    dead = DatabaseWrapper({**connection.settings_dict, "PORT": "1", "OPTIONS": {"connect_timeout": 2}}, alias="default")
    real = connections["default"]
    connections["default"] = dead
    try:
        checks = selectors.readiness()
    finally:
        connections["default"] = real
    assert checks["database"].ok is False
    assert "OperationalError" in checks["database"].detail
    assert checks["migrations"].detail == "not checked: database unreachable"


def test_failure_details_are_only_for_monitoring_networks_or_the_token(settings) -> None:  # noqa: ANN001
    settings.LEADOPS_METRICS_TOKEN = "scrape-token-123"
    beat(Component.SWEEPER, at=timezone.now() - dt.timedelta(minutes=2))
    public = Client().get("/health/ready", REMOTE_ADDR="203.0.113.9").json()["checks"]
    assert public["sweeper"] == {"ok": False, "detail": "failed", "ms": public["sweeper"]["ms"]}
    assert public["database"]["detail"] == "reachable"
    monitoring = Client().get("/health/ready", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-token-123")
    assert "silent for" in monitoring.json()["checks"]["sweeper"]["detail"]


def test_production_opens_metrics_to_no_network_unless_named(tmp_path) -> None:  # noqa: ANN001
    import subprocess
    import sys

    from django.conf import settings

    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "leadops.settings", "LEADOPS_VAR_DIR": str(tmp_path),
           "LEADOPS_PRODUCTION": "1", "DJANGO_SECRET_KEY": "x" * 50, "DJANGO_ALLOWED_HOSTS": "example.com"}  # fmt: skip
    code = "import django; django.setup(); from django.conf import settings; print(settings.LEADOPS_METRICS_ALLOWED_NETWORKS)"
    result = subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
