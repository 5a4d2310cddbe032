from __future__ import annotations

import random
import time

from django.core.management.base import BaseCommand, CommandError

from routing.demo.data import demo_lead
from routing.models import Lead
from routing.services import lead_intake
from routing.reference import vocabulary_load
from routing.validation import LeadInputError, clean_lead


class Command(BaseCommand):
    help = "Stream realistic demo leads into intake (the same service the API uses)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--rate", type=float, default=0.5, help="Leads per second (default 0.5)")
        parser.add_argument("--count", type=int, default=0, help="Stop after this many (0 = forever)")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, rate: float, count: int, seed: int | None, **options) -> None:  # noqa: ANN002, ANN003
        if rate <= 0:
            raise CommandError("--rate must be positive")
        rng = random.Random(seed)
        vocabulary = vocabulary_load()
        start = Lead.objects.filter(source__in=["web", "partner", "webinar", "chat"]).count() + int(time.time())
        sent = 0
        try:
            while count == 0 or sent < count:
                data = demo_lead(rng, start + sent)
                try:
                    cleaned = clean_lead({**data, "value": str(data["value"])}, vocabulary=vocabulary)
                except LeadInputError as exc:  # never expected for generated data; say so loudly
                    raise CommandError(f"demo lead failed validation: {exc.errors}") from None
                lead, _ = lead_intake(data=cleaned)
                sent += 1
                self.stdout.write(f"lead {lead.id}: {cleaned['company']} {cleaned['state']} {cleaned['value']} "
                                  f"{cleaned['attributes']['vertical']} intent={cleaned['intent']}")  # fmt: skip
                time.sleep(rng.expovariate(rate))
        except KeyboardInterrupt:
            pass
