from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import post_migrate


class RoutingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "routing"
    verbose_name = "Routing"

    def ready(self) -> None:
        from routing import reference
        from routing.engine import schema

        # Conditions on these fields store the codes the lead normaliser stores (see schema.CODED_FIELDS).
        schema.CODED_FIELDS.update(country=reference.country_code, language=reference.language_code,
                                   currency=reference.currency_code)  # fmt: skip
        post_migrate.connect(_partitions_after_migrate, sender=self)


def _partitions_after_migrate(using: str = DEFAULT_DB_ALIAS, **_: Any) -> None:
    """Every ``migrate`` makes the coming months' partitions (routing.services_retention), so a
    deployment never waits for the hourly schedule. A no-op on SQLite."""
    if using != DEFAULT_DB_ALIAS:
        return
    from routing.services_retention import partitions_ensure

    partitions_ensure()
