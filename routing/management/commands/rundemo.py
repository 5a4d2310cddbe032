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


STATUS_EVERY_SECONDS = int(os.environ.get("LEADOPS_DEMO_STATUS_SECONDS", "60"))


def demo_status_line(host: str) -> str:
    """One line for the demo terminal: today's leads by state and where to log in (two queries)."""
    from django.db.models import Count
    from django.utils import timezone

    from routing.models import Lead, Offer

    since = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    by_status = dict(Lead.objects.filter(received_at__gte=since).values_list("status").annotate(n=Count("id")))
    worked = sum(by_status.get(s, 0) for s in (Lead.Status.ACCEPTED, Lead.Status.CONVERTED, Lead.Status.CLOSED_LOST))
    offered = Offer.objects.filter(status=Offer.Status.OPEN).count()
    return (f"{timezone.localtime():%H:%M} today: {sum(by_status.values())} leads, {worked} taken by reps, "
            f"{offered} offered now, {by_status.get(Lead.Status.HOLDING, 0)} in holding · {host}/ "
            f"logins: " + ", ".join(f"{u}/{p}" for u, (_r, p) in DEMO_LOGINS.items()))  # fmt: skip


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group ``proc`` leads (it was started in a session of its own);
    nothing when the group is already gone."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.poll()


class Command(BaseCommand):
    help = "Seed demo data if empty, then run web (gunicorn with uvicorn workers), worker (qcluster), sweeper and a demo lead stream."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--bind", default=os.environ.get("LEADOPS_BIND", "127.0.0.1:8000"))
        # One lead every 20 s on average: the demo team (25 reps, daily caps of 15-20) keeps up for hours.
        parser.add_argument("--rate", type=float, default=0.05, help="Demo leads per second (default 0.05)")
        parser.add_argument("--no-stream", action="store_true")
        parser.add_argument("--no-simulated-reps", action="store_true", help="No simulated reps (routing/demo/simulate.py)")
        parser.add_argument("--speed", type=float, default=1.0, help="Simulated reps act this many times faster than people")
        parser.add_argument("--verbose", action="store_true", help="Print every process's log here instead of to the log file")

    def handle(self, *args, bind: str, rate: float, no_stream: bool, no_simulated_reps: bool, speed: float,  # noqa: ANN002, ANN003
               verbose: bool, **options) -> None:  # fmt: skip
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
        if not no_simulated_reps:
            procs["reps"] = [*manage, "simulatereps", "--speed", str(speed)]
        # Every process logs to one file, so the terminal keeps the logins and a status line
        # (the console once scrolled them away with every email and request).
        log_path = settings.VAR_DIR / "log" / "demo.log"
        output = None
        if not verbose:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            output = open(log_path, "a", buffering=1)  # noqa: SIM115 - open for the life of the demo

        def start(name: str) -> subprocess.Popen:
            # Each in a process group of its own: Ctrl-C reaches this supervisor alone, which then
            # stops each process with one SIGTERM. Sent a terminal's SIGINT and then our SIGTERM,
            # django-q2's cluster could deadlock in its own signal handler and outlive the demo.
            return subprocess.Popen(procs[name], env=env, cwd=settings.BASE_DIR, stdout=output, stderr=output,
                                    start_new_session=True)  # fmt: skip

        running = {name: start(name) for name in procs}
        time.sleep(2)
        host = bind if "://" in bind else f"http://{bind}"
        where = "here" if verbose else f"to {log_path} (tail -f it to watch)"
        self.stdout.write(f"Web, worker, sweeper{', lead stream' if not no_stream else ''}"
                          f"{' and simulated reps' if not no_simulated_reps else ''} started; they log {where}.")  # fmt: skip
        self._logins(host)

        last_status = time.monotonic()

        def stop(*_: object) -> None:
            for proc in running.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in running.values():
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    _kill_group(proc)  # the process and whatever it started (qcluster's workers)
            for proc in running.values():
                _kill_group(proc)  # a child left behind by a process that did exit
            raise SystemExit(0)

        for sig in (signal.SIGTERM, signal.SIGHUP):  # a closed terminal no longer reaches the children
            signal.signal(sig, stop)
        try:
            while True:
                for name, proc in list(running.items()):
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with {proc.returncode}; restarting it" + ("" if verbose else f" (its log: {log_path})"))
                        running[name] = start(name)
                if time.monotonic() - last_status >= STATUS_EVERY_SECONDS:
                    last_status = time.monotonic()
                    self.stdout.write(demo_status_line(host))
                time.sleep(2)
        except KeyboardInterrupt:
            stop()

    def _logins(self, host: str) -> None:
        self.stdout.write("\n" + "=" * 64)
        self.stdout.write(f"LeadOps is running at {host}/  (Ctrl-C stops everything)")
        for username, (role, password) in DEMO_LOGINS.items():
            self.stdout.write(f"  {role:<10} login: {username:<8} password: {password}")
        self.stdout.write("  API: .venv/bin/python manage.py createapitoken NAME --scope intake, then POST /api/v1/leads")
        self.stdout.write(f"  A status line follows every {STATUS_EVERY_SECONDS} s, with the logins again.")
        self.stdout.write("=" * 64 + "\n")
