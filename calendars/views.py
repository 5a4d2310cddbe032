"""The calendars page: each business calendar, whether it is open now, and its next holidays."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from calendars import selectors
from reps.access import manager_required


@require_GET
@manager_required
def calendar_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    return render(request, "calendars/calendars.html", {"calendars": selectors.calendar_overview(now=now), "now": now})
