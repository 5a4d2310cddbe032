from django.apps import AppConfig


class OpsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from django_q.signals import pre_enqueue, pre_execute

        from ops import events, services
        from routing.services import listen

        listen(events.log_routing_events)
        pre_execute.connect(services.on_task_execute, dispatch_uid="ops-worker-heartbeat")
        pre_enqueue.connect(services.on_task_enqueue, dispatch_uid="ops-scheduler-heartbeat")
