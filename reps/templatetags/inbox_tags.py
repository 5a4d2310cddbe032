"""The inbox countdown, rendered by the server exactly as static/js/inbox.js renders it each second
afterwards (tests/reps/test_countdown_format.py runs both over the same table), so the text does
not change format when the script takes over."""

from __future__ import annotations

import datetime as dt
import json

from django import template
from django.utils import dateformat, timezone

register = template.Library()

# Django date format of "paused until …" (in the rep's timezone); the script shows the same
# strings, which the server renders for every point where the clock could resume.
RESUME_FORMAT = "D H:i T"


@register.filter
def countdown(seconds: int | float | None) -> str:
    """Seconds left as "m:ss left" under an hour, "2 h 05 min left" from an hour (inbox.js ``format``)."""
    total = max(0, int(seconds or 0))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours > 0:
        return f"{hours} h {minutes:02d} min left"
    return f"{minutes}:{secs:02d} left"


@register.filter
def resume_label(moment: dt.datetime | None) -> str:
    """When a paused countdown runs again, in the current (the rep's) timezone: "Tue 09:00 EST"."""
    if moment is None:
        return ""
    return dateformat.format(timezone.localtime(moment), RESUME_FORMAT)


@register.filter
def resume_labels_json(schedule: list | None) -> str:
    """For each open stretch of an offer's schedule ([from, to] UTC ISO strings), the label of its
    start: the script says "paused until <label>" with the next stretch's, as the server does."""
    labels = []
    for start, _end in schedule or []:
        labels.append(resume_label(dt.datetime.fromisoformat(str(start))))
    return json.dumps(labels)
