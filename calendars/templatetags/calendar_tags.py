"""Times shown in a named zone, with the zone named: "Mon 30 Nov, 11:14 EST (America/New York)"."""

from __future__ import annotations

import datetime as dt
import json

from django import template
from django.utils.html import format_html

from routing.engine.business_time import zone

register = template.Library()


def local_text(moment: dt.datetime | None, zone_name: str) -> str:
    if moment is None:
        return "–"
    local = moment.astimezone(zone(zone_name or "UTC"))
    return f"{local:%a %d %b, %H:%M} {local.tzname()} ({(zone_name or 'UTC').replace('_', ' ')})"


@register.simple_tag
def local_time(moment: dt.datetime | None, zone_name: str) -> str:
    """``moment`` in ``zone_name`` as a ``<time>`` element carrying the exact instant."""
    if moment is None:
        return "–"
    return format_html('<time datetime="{}">{}</time>', moment.astimezone(dt.UTC).isoformat(), local_text(moment, zone_name))


@register.filter
def schedule_json(schedule: list | None) -> str:
    """Open stretches as a JSON list of [from, to] UTC strings (for a data attribute; the
    template's autoescaping makes it attribute-safe)."""
    return json.dumps([list(pair) for pair in schedule or []])
