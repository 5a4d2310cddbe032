"""The SLA page counts a business-time segment's times to accept in business time.

Hand-computed: New York rep, Mon-Fri 09:00-17:00, segment on the rep's clock.
  A: offered Fri 27 Nov 16:50, accepted Mon 30 Nov 09:20 ->  30 business min (64 h 30 min wall)
  B: offered Mon 10:00, accepted 11:00                    ->  60 min (60 wall)
  C: offered Mon 11:30, accepted 13:00                    ->  90 min (90 wall)
Business: median 60 min, p90 = 60 + 0.8 * (90 - 60) = 84 min (continuous percentile).
Wall-clock: median 90 min, p90 = 90 + 0.8 * (3870 - 90) = 3114 min = 51 h 54 min.
"""

from __future__ import annotations

import html as html_lib
import re

import pytest
from django.test import Client

from reps.models import Role
from routing import services
from routing.dashboards import selectors
from routing.models import Offer
from tests.calendars.helpers import make_world, new_lead, ny, route
from tests.factories import user_with_role

pytestmark = pytest.mark.django_db
WINDOW = {"by": "segment", "window": "custom", "start": "2026-11-20", "end": "2026-12-05"}


def _three_accepted_offers() -> None:
    world = make_world()
    for offered, accepted in (
        (ny(2026, 11, 27, 16, 50), ny(2026, 11, 30, 9, 20)),
        (ny(2026, 11, 30, 10, 0), ny(2026, 11, 30, 11, 0)),
        (ny(2026, 11, 30, 11, 30), ny(2026, 11, 30, 13, 0)),
    ):
        lead = new_lead(at=offered)
        route(offered)
        services.offer_accept(offer_id=Offer.objects.get(lead=lead).id, rep=world.rep, now=accepted)


def _row_cells(html: str) -> list[str]:
    row = re.search(r"<tbody>\s*<tr>(.*?)</tr>", html, re.S).group(1)
    return [html_lib.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def _page() -> list[str]:
    client = Client()
    client.force_login(user_with_role(Role.OPS))  # sees every team (a manager sees only their own: reps.scope)
    response = client.get("/dash/sla/", WINDOW)
    assert response.status_code == 200
    return _row_cells(response.content.decode())


def test_a_business_time_segment_shows_business_minutes() -> None:
    _three_accepted_offers()
    cells = _page()
    assert cells[0] == "Inbound"
    assert cells[1:3] == ["3", "3"]  # offered, accepted in time (deadlines are business time too)
    assert cells[6:9] == ["1 h 00 min", "1 h 24 min", "Business time (the offered rep's working hours)"]


def test_the_same_offers_on_a_wall_clock_segment_show_wall_clock_minutes() -> None:
    _three_accepted_offers()
    from routing.models import Segment

    segment = Segment.objects.get(slug="inbound")
    segment.sla_clock = "calendar"
    segment.save()
    cells = _page()
    assert cells[6:9] == ["1 h 30 min", "51 h 54 min", "Calendar time (nights and weekends count)"]


def test_the_selector_gives_seconds() -> None:
    _three_accepted_offers()
    import datetime as dt

    rows = selectors.sla_outcomes(start=ny(2026, 11, 20), end=ny(2026, 12, 5) + dt.timedelta(days=1))
    assert [(r.median_seconds, r.p90_seconds) for r in rows] == [(3600.0, 84 * 60.0)]
