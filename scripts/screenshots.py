"""Screenshots of the main pages for each role, from the demo data, for the README (issue 15).

    .venv/bin/python scripts/screenshots.py              # fresh demo on SQLite in a temp dir, then shoot
    .venv/bin/python scripts/screenshots.py --url http://127.0.0.1:8000   # shoot a running `make run`

By default it starts the same demo as `make run` (``manage.py rundemo``: seed data, web, worker,
sweeper, lead stream and simulated reps) on a free port with a brand-new SQLite database, lets it
run for --warmup seconds with a faster stream and faster simulated reps so the dashboards have a
history, then logs in as each demo role with Playwright driving Chromium and saves PNGs to
docs/screenshots/: every page at 1366 px wide and a few at 390 px (a phone). Screenshots are of
the visible window (not the whole scrolled page), at a device scale of 1, to keep the files small.

Needs Chromium (Debian: apt-get install -y chromium; --chromium to point elsewhere).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routing.demo.data import DEMO_LOGINS  # noqa: E402  (no Django setup needed: plain data)

WIDE, PHONE = (1366, 860), (390, 844)
# (file name, login, path or a callable that finds it, sizes)
SHOTS = [
    ("rep-inbox", "ana", "/inbox/", [WIDE, PHONE]),
    ("rep-lead", "ana", "lead", [PHONE]),
    ("manager-dashboards", "manager", "/dash/", [WIDE]),
    ("manager-sla", "manager", "/dash/sla/", [WIDE, PHONE]),
    ("manager-equity", "manager", "/dash/equity/", [WIDE]),
    ("manager-decisions", "manager", "/dash/decisions/", [WIDE]),
    ("manager-team", "manager", "/team/", [WIDE]),
    ("ops-rules", "ops", "/ops/rules/", [WIDE, PHONE]),
    ("ops-test-a-lead", "ops", "/ops/test/", [WIDE]),
    ("ops-system", "ops", "/ops/system/", [WIDE]),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health/live", timeout=2):  # noqa: S310 - our own local server
                return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"the demo did not answer at {url} within {seconds:.0f} s")


def start_demo(*, warmup: float, rate: float, speed: float, workdir: Path) -> tuple[subprocess.Popen, str]:
    """A fresh `make run`-style demo on SQLite under ``workdir``; returns the process and its URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "DJANGO_"))}
    env.update({"LEADOPS_VAR_DIR": str(workdir), "DJANGO_DEBUG": "1", "PYTHONUNBUFFERED": "1"})
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    log = open(workdir / "rundemo.out", "w")  # noqa: SIM115 - closed with the process
    demo = subprocess.Popen(
        [*manage, "rundemo", "--bind", f"127.0.0.1:{port}", "--rate", str(rate), "--speed", str(speed)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    _wait_for(url, 120)
    print(f"demo running at {url}; warming up for {warmup:.0f} s (logs in {workdir})", flush=True)
    time.sleep(warmup)
    return demo, url


def stop_demo(demo: subprocess.Popen) -> None:
    if demo.poll() is None:
        demo.send_signal(signal.SIGTERM)  # rundemo stops its children
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)


def _login(page, url: str, username: str) -> None:  # noqa: ANN001
    page.goto(f"{url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_LOGINS[username][1])
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def _rep_lead_path(page, url: str) -> str:  # noqa: ANN001
    """The rep's first lead: accept her newest offer in the inbox (so her accepted list shows
    too), then open that lead's page."""
    page.goto(f"{url}/inbox/")
    offer = page.locator("#inbox-offers .offer").first
    if offer.count():
        href = offer.locator(".lead-name a").get_attribute("href")
        offer.get_by_role("button", name="Accept").click()
        page.wait_for_load_state("networkidle")
        return href
    lead = page.locator("#inbox-leads .lead-name a").first
    return lead.get_attribute("href") if lead.count() else "/inbox/"


def shoot(url: str, out: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
        for username in ("ana", "manager", "ops"):
            context = browser.new_context(viewport={"width": WIDE[0], "height": WIDE[1]}, device_scale_factor=1)
            page = context.new_page()
            _login(page, url, username)
            for name, who, path, sizes in SHOTS:
                if who != username:
                    continue
                if path == "lead":
                    page.set_viewport_size({"width": WIDE[0], "height": WIDE[1]})
                    path = _rep_lead_path(page, url)
                for width, height in sizes:
                    page.set_viewport_size({"width": width, "height": height})
                    page.goto(url + path)
                    page.wait_for_load_state("networkidle")
                    page.wait_for_timeout(300)  # countdowns and charts settle
                    overflow = page.evaluate("document.documentElement.scrollWidth") - width
                    target = out / f"{name}-{width}.png"
                    page.screenshot(path=str(target))
                    saved.append(target)
                    note = f" (page {overflow} px wider than the window)" if overflow > 0 else ""
                    print(f"{target.relative_to(ROOT)}: {target.stat().st_size // 1024} KB{note}", flush=True)
            context.close()
        browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="Shoot a demo that is already running (make run) instead of starting one")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--warmup", type=float, default=150.0, help="Seconds the fresh demo runs before shooting")
    parser.add_argument("--rate", type=float, default=1.0, help="Leads per second while warming up")
    parser.add_argument("--speed", type=float, default=4.0, help="How much faster the simulated reps act")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    if args.url:
        shoot(args.url.rstrip("/"), args.out, args.chromium)
        return
    with tempfile.TemporaryDirectory(prefix="leadops-screens-") as tmp:
        demo, url = start_demo(warmup=args.warmup, rate=args.rate, speed=args.speed, workdir=Path(tmp))
        try:
            shoot(url, args.out, args.chromium)
        finally:
            stop_demo(demo)


if __name__ == "__main__":
    main()
