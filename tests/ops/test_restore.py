"""The runbook's backup and restore, command for command (docs/operations.md, 'Backups and
restore'): pg_dump the live database, restore it into a fresh database, check its migrations,
then route a lead there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from routing.models import Lead
from routing.services import leads_route_all_pending
from tests.factories import LeadFactory
from tests.reps.helpers import make_world

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)), None)
    assert found, f"{name} not found (apt-get install postgresql-client)"
    return str(found)


def test_a_dump_restored_into_a_new_database_routes_a_lead(tmp_path: Path) -> None:
    db = connection.settings_dict
    host, port, user = db["HOST"] or "127.0.0.1", str(db["PORT"] or 5432), db["USER"] or "postgres"
    conn = ["-h", host, "-p", port, "-U", user]
    world = make_world()
    LeadFactory(intent="high", external_id="before-backup")
    leads_route_all_pending()
    restored = f"{db['NAME']}_restore"
    dump = tmp_path / "leadops.dump"
    pg_env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    try:
        # 1. Back up (runbook: pg_dump --format=custom).
        subprocess.run([_tool("pg_dump"), *conn, "--format=custom", "--file", str(dump), db["NAME"]], check=True, env=pg_env, timeout=300)
        # 2. Restore into a new, empty database.
        subprocess.run([_tool("dropdb"), *conn, "--if-exists", restored], check=True, env=pg_env, timeout=120)
        subprocess.run([_tool("createdb"), *conn, restored], check=True, env=pg_env, timeout=120)
        subprocess.run([_tool("pg_restore"), *conn, "--no-owner", "--no-privileges", "--exit-on-error", "-d", restored, str(dump)],
                       check=True, env=pg_env, timeout=300)  # fmt: skip
        app_env = {**os.environ, "DATABASE_URL": f"postgres://{user}@{host}:{port}/{restored}",
                   "DJANGO_SETTINGS_MODULE": "leadops.settings", "LEADOPS_Q_SYNC": "1"}  # fmt: skip
        # 3. The restored schema matches the code.
        check = subprocess.run([sys.executable, "manage.py", "migrate", "--check"], cwd=ROOT, env=app_env,
                               capture_output=True, text=True, timeout=300)  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr
        # 4. Route a lead in the restored database (runbook's smoke test).
        csv_file = tmp_path / "smoke.csv"
        csv_file.write_text("source,external_id,first_name,intent,value\nsmoke,restore-smoke-1,Rita,high,5000\n")
        imported = subprocess.run([sys.executable, "manage.py", "importleads", str(csv_file)], cwd=ROOT, env=app_env,
                                  capture_output=True, text=True, timeout=300)  # fmt: skip
        assert imported.returncode == 0 and "Imported 1 lead(s)" in imported.stdout, imported.stdout + imported.stderr
        query = ("SELECT l.status, r.display_name, (SELECT count(*) FROM routing_lead) FROM routing_lead l "
                 "JOIN reps_rep r ON r.id = l.owner_id WHERE l.external_id IN ('restore-smoke-1', 'before-backup') "
                 "ORDER BY l.external_id")  # fmt: skip
        out = subprocess.run([_tool("psql"), *conn, "-d", restored, "-At", "-F", "|", "-c", query], check=True,
                             capture_output=True, text=True, env=pg_env, timeout=60).stdout.splitlines()  # fmt: skip
        assert out == [f"offered|{world.primary.display_name}|2", f"offered|{world.primary.display_name}|2"]
    finally:
        subprocess.run([_tool("dropdb"), *conn, "--if-exists", restored], env=pg_env, timeout=120)
    # The live database never saw the smoke lead.
    assert not Lead.objects.filter(external_id="restore-smoke-1").exists()
