"""The README's quick examples run as written in a fresh shell (issue 15: the API example failed
because the virtualenv is not on PATH, and `| awk` hid the error).

Every ```sh block right after a `<!-- tests/test_readme.py ... -->` marker is run with bash in an
environment like a new terminal's: the repository as the working directory, a PATH without the
virtualenv, no DJANGO_* or VIRTUAL_ENV variables. Two things differ from a reader's machine, and
only these: the server address (a live test server instead of `make run`'s 127.0.0.1:8000) and
DATABASE_URL (the test database, which is what `make run`'s processes share with that shell).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from routing.models import ApiToken, Lead

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- tests/test_readme.py"
README_SERVER = "http://127.0.0.1:8000"


def readme_examples(text: str) -> list[str]:
    """The ```sh blocks that follow a test marker, in order."""
    pattern = re.compile(re.escape(MARKER) + r"[^\n]*-->\s*\n```sh\n(.*?)```", re.S)
    return [m.group(1) for m in pattern.finditer(text)]


def _fresh_shell_env() -> dict[str, str]:
    db = connection.settings_dict
    keep = {k: os.environ[k] for k in ("HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    return {
        **keep, "PATH": "/usr/local/bin:/usr/bin:/bin",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
    }  # fmt: skip


def test_the_readme_marks_the_api_example() -> None:
    examples = readme_examples((ROOT / "README.md").read_text())
    assert any("/api/v1/leads" in block and README_SERVER in block for block in examples)
    assert all("awk" not in block and "| " not in block for block in examples)  # a pipe hides a failing step


def test_the_readme_examples_run_in_a_fresh_shell(live_server) -> None:  # noqa: ANN001
    assert (ROOT / ".venv" / "bin" / "python").exists(), "make run creates .venv/ (the README's examples use it)"
    for block in readme_examples((ROOT / "README.md").read_text()):
        script = block.replace(README_SERVER, live_server.url)
        result = subprocess.run(["bash", "-c", script], cwd=ROOT, env=_fresh_shell_env(), capture_output=True,
                                text=True, timeout=120)  # fmt: skip
        assert result.returncode == 0, f"README example failed:\n{block}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        assert result.stderr == "", result.stderr
        body = json.loads(result.stdout.strip().splitlines()[-1])
        assert Lead.objects.filter(id=body["id"], external_id="42", source="web").exists()
    assert ApiToken.objects.filter(name="crm").exists()


def test_a_failing_step_shows_its_error_and_fails_the_example(live_server) -> None:  # noqa: ANN001
    """The example's shape makes failures visible: with a scope that does not exist the token step
    prints Django's error and the request is refused, so the block exits non-zero."""
    block = next(b for b in readme_examples((ROOT / "README.md").read_text()) if "/api/v1/leads" in b)
    script = block.replace(README_SERVER, live_server.url).replace("--scope intake", "--scope no-such-scope")
    result = subprocess.run(["bash", "-c", script], cwd=ROOT, env=_fresh_shell_env(), capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode != 0 and "no-such-scope" in result.stderr
    assert not Lead.objects.filter(external_id="42").exists()
