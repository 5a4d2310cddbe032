"""Request metrics across gunicorn workers: with PROMETHEUS_MULTIPROC_DIR one scrape sums every
worker's requests (prometheus-client's multiprocess mode), whichever worker answers it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (loopback)
        return response.read()


def test_one_scrape_counts_the_requests_of_every_gunicorn_worker(tmp_path: Path) -> None:
    db = connection.settings_dict
    port = _free_port()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "leadops.settings",
           "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"}  # fmt: skip
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "leadops.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                            "--log-level", "warning"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _get(f"{base}/health/live")
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.3)
        pids: set[str] = set()
        sent = 1  # the start-up probe that answered
        with ThreadPoolExecutor(max_workers=8) as pool:  # concurrent, so both workers answer
            for _ in range(40):
                list(pool.map(lambda _: _get(f"{base}/health/live"), range(8)))
                sent += 8
                pids = {p.name.split("_")[-1] for p in tmp_path.glob("*.db")}
                if len(pids) >= 2:
                    break
        assert len(pids) >= 2, "both workers should have answered some requests"
        text = _get(f"{base}/metrics").decode()
        counted = sum(
            s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == "leadops_http_requests_total" and s.labels == {"method": "GET", "status": "200"}
        )  # fmt: skip
        views = {
            s.labels["view"]: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == "leadops_http_request_duration_seconds_count"
        }  # fmt: skip
        answered = views["ops:live"]
        # Every GET so far was /health/live, and all of them are counted although two workers
        # shared them.
        assert answered == sent
        assert counted == sent
    finally:
        web.send_signal(signal.SIGTERM)
        try:
            web.wait(timeout=30)
        except subprocess.TimeoutExpired:
            web.kill()
