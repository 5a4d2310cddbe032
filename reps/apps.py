from django.apps import AppConfig


class RepsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reps"
    verbose_name = "Reps"

    def ready(self) -> None:
        from reps.notifications import on_routing_events, webhooks_record
        from reps.push import inbox_publish
        from routing.services import listen

        listen(webhooks_record, in_transaction=True)
        listen(on_routing_events)
        listen(inbox_publish, in_transaction=True)
