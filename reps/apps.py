from django.apps import AppConfig


class RepsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reps"
    verbose_name = "Reps"
