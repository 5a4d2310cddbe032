"""Failing input 6 of issue 12: DEBUG was on unless LEADOPS_PRODUCTION=1, and the README's
scale-out command bound 0.0.0.0 with it, so any 500 showed DATABASE_URL with its password."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from routing.management.commands.rundemo import _is_loopback

ROOT = Path(settings.BASE_DIR)
SERVER = re.compile(r"\b(gunicorn|uvicorn|daphne)\b|manage\.py\s+(runserver|qcluster|sweeper|rundemo)\b")


def _settings(env: dict[str, str], expr: str, tmp_path: Path) -> subprocess.CompletedProcess:
    code = f"import django; django.setup(); from django.conf import settings; print({expr})"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "leadops.settings", "LEADOPS_VAR_DIR": str(tmp_path), **env},
    )  # fmt: skip


def test_debug_is_off_unless_asked_for_by_name(tmp_path: Path) -> None:
    assert _settings({}, "settings.DEBUG", tmp_path).stdout.strip() == "False"
    assert _settings({"DJANGO_DEBUG": "1"}, "settings.DEBUG", tmp_path).stdout.strip() == "True"


def test_debug_cannot_be_combined_with_production(tmp_path: Path) -> None:
    result = _settings({"LEADOPS_PRODUCTION": "1", "DJANGO_DEBUG": "1", "DJANGO_SECRET_KEY": "x" * 60}, "1", tmp_path)
    assert result.returncode != 0 and "cannot be combined" in result.stderr


@pytest.mark.django_db
def test_a_500_without_debug_shows_no_settings(settings) -> None:  # noqa: ANN001
    """What a visitor sees when a view fails: Django's plain 500, no settings, no traceback.
    (With DEBUG on, the same request lists DATABASES: the leak this default prevents.)"""
    from django.test import Client

    settings.ROOT_URLCONF = "tests.security.urls_500"
    assert settings.DEBUG is False
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    assert b"DATABASES" not in response.content and b"Traceback" not in response.content
    settings.DEBUG = True
    assert b"DATABASES" in Client(raise_request_exception=False).get("/boom/").content


def _code_block_commands(text: str) -> list[tuple[str, list[str]]]:
    """(command line, lines of its code block before it) for every server command in fenced code."""
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        lines = block.splitlines()
        for i, line in enumerate(lines):
            command = line.split("#", 1)[0]
            if SERVER.search(command):
                found.append((line, lines[:i]))
    return found


def test_every_documented_server_command_uses_production_settings() -> None:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    commands = [(doc.name, line, before) for doc in docs for line, before in _code_block_commands(doc.read_text())]
    assert any("gunicorn" in line for _, line, _ in commands)  # the scale-out section is found at all
    wrong = [f"{name}: {line}" for name, line, before in commands
             if "LEADOPS_PRODUCTION=1" not in line and not any("LEADOPS_PRODUCTION=1" in b for b in before)]  # fmt: skip
    assert wrong == []
    assert not [line for _, line, _ in commands if "DJANGO_DEBUG=1" in line]


def test_make_run_asks_for_debug_explicitly_and_only_it() -> None:
    makefile = (ROOT / "Makefile").read_text()
    run = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "DJANGO_DEBUG=" in run and "rundemo" in run
    assert "DJANGO_DEBUG" not in makefile.split("\nrun:", 1)[0].split("\ncheck-deploy:", 1)[-1]


@pytest.mark.parametrize(("bind", "loopback"), [
    ("127.0.0.1:8000", True), ("localhost:8000", True), ("[::1]:8000", True),
    ("0.0.0.0:8000", False), ("10.0.0.5:8000", False), ("[::]:8000", False),
])  # fmt: skip
def test_the_demo_keeps_debug_pages_off_on_a_reachable_address(bind: str, loopback: bool) -> None:
    assert _is_loopback(bind) is loopback


def test_check_deploy_is_clean(tmp_path: Path) -> None:
    """`make check-deploy` without make: production settings, `check --deploy --fail-level WARNING`."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LEADOPS_PRODUCTION": "1", "LEADOPS_VAR_DIR": str(tmp_path),
        "DJANGO_SECRET_KEY": "k" + os.urandom(40).hex(), "DJANGO_ALLOWED_HOSTS": "leadops.example.com",
        "DJANGO_SETTINGS_MODULE": "leadops.settings",
    }  # fmt: skip
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout
