from django.apps import AppConfig


class RepsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reps"
    verbose_name = "Reps"

    def ready(self) -> None:
        from reps.notifications import on_routing_event
        from routing.services import listen

        listen(on_routing_event)
