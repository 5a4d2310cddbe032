from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from routing.demo.data import DEMO_LOGINS


def _is_loopback(bind: str) -> bool:
    host = bind.rsplit(":", 1)[0].strip("[]") if ":" in bind else bind
    return host in {"127.0.0.1", "localhost", "::1"} or host.startswith("127.")


class Command(BaseCommand):
    help = "Seed demo data if empty, then run web (gunicorn with uvicorn workers), worker (qcluster), sweeper and a demo lead stream."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--bind", default=os.environ.get("LEADOPS_BIND", "127.0.0.1:8000"))
        parser.add_argument("--rate", type=float, default=0.3, help="Demo leads per second")
        parser.add_argument("--no-stream", action="store_true")

    def handle(self, *args, bind: str, rate: float, no_stream: bool, **options) -> None:  # noqa: ANN002, ANN003
        call_command("seed_demo")
        call_command("setup_schedules")  # the backup sweep, rollups and the scheduler's heartbeat
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if settings.DEBUG and not _is_loopback(bind):
            # Debug pages print settings (with DATABASE_URL) to whoever triggers an error.
            self.stderr.write(f"Debug pages stay off: {bind} is reachable from other machines.")
            env["DJANGO_DEBUG"] = "0"
        procs = {
            # The production set-up (leadops/gunicorn.conf.py: uvicorn workers, so inbox streams are cheap).
            "web": [sys.executable, "-m", "gunicorn", "leadops.asgi:application", "--config",
                    str(settings.BASE_DIR / "leadops" / "gunicorn.conf.py"), "--bind", bind, "--access-logfile", "-",
                    "--log-level", "warning"],
            "worker": [*manage, "qcluster"],
            "sweeper": [*manage, "sweeper"],
        }  # fmt: skip
        if not no_stream:
            procs["stream"] = [*manage, "streamleads", "--rate", str(rate)]
        running = {name: subprocess.Popen(cmd, env=env, cwd=settings.BASE_DIR) for name, cmd in procs.items()}
        time.sleep(2)
        host = bind if "://" in bind else f"http://{bind}"
        self.stdout.write("\n" + "=" * 64)
        self.stdout.write(f"LeadOps is running at {host}/  (Ctrl-C stops everything)")
        for username, (role, password) in DEMO_LOGINS.items():
            self.stdout.write(f"  {role:<10} login: {username:<8} password: {password}")
        self.stdout.write("  API: python manage.py createapitoken NAME [--scope read ...], then POST /api/v1/leads")
        self.stdout.write("=" * 64 + "\n")

        def stop(*_: object) -> None:
            for proc in running.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in running.values():
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, stop)
        try:
            while True:
                for name, proc in list(running.items()):
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with {proc.returncode}; restarting it")
                        running[name] = subprocess.Popen(procs[name], env=env, cwd=settings.BASE_DIR)
                time.sleep(2)
        except KeyboardInterrupt:
            stop()
