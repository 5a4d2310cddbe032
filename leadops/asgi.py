"""ASGI entry point: what production serves (gunicorn with uvicorn workers, see README), so the
inbox's event stream (an async view held open per rep) costs no worker thread."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadops.settings")
application = get_asgi_application()
