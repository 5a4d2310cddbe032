from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from routing.demo.simulate import simulate_tick


class Command(BaseCommand):
    help = ("Demo only: simulated reps accept, decline and close their leads at a human pace "
            "(every rep except the demo login 'ana'), through the same services as the inbox.")

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--speed", type=float, default=1.0, help="Faster than a human by this factor (default 1)")
        parser.add_argument("--interval", type=float, default=2.0, help="Seconds between looks at the inboxes")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--once", action="store_true", help="Look once and stop")

    def handle(self, *args, speed: float, interval: float, seed: int, once: bool, **options) -> None:  # noqa: ANN002, ANN003
        if settings.PRODUCTION:
            raise CommandError("simulatereps is for the demo: it refuses to run with production settings.")
        if speed <= 0 or interval <= 0:
            raise CommandError("--speed and --interval must be more than 0")
        try:
            while True:
                done = simulate_tick(speed=speed, seed=seed)
                acted = {k: v for k, v in done.items() if v}
                if acted:
                    self.stdout.write("demo reps: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in acted.items()))
                if once:
                    return
                time.sleep(interval)
        except KeyboardInterrupt:
            pass
