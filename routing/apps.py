from django.apps import AppConfig


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
