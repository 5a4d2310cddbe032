"""Rep and pool forms: lists instead of free text, checkboxes instead of ctrl-click, another row
without saving, field names in words, and a dynamic pool listing who it routes to."""

from __future__ import annotations

import pytest
from django.test import Client

from reps.models import Licence, Pool, Rep
from tests.factories import PoolFactory, PoolMemberFactory, RepFactory, RepSkillFactory, SkillFactory

pytestmark = pytest.mark.django_db


def _management(html: str, prefix: str) -> int:
    marker = f'name="{prefix}-TOTAL_FORMS" value="'
    start = html.index(marker) + len(marker)
    return int(html[start:html.index('"', start)])


def test_the_rep_form_offers_lists_and_words(ops_client: Client) -> None:
    html = ops_client.get("/ops/reps/new/").content.decode()
    assert '<select name="licence-0-jurisdiction"' in html and "United States (US)" in html
    assert "California (US-CA)" in html  # nothing configured yet: the US states are offered
    assert '<select name="licence-0-product_line"' in html and "Any product line" in html
    assert "Most open leads at once" in html and "Max open" not in html
    assert 'name="working_hours_0"' in html and '<select name="timezone"' in html  # the calendars hours grid and zone list


def test_a_rep_form_with_a_territory_lists_its_country_s_states_and_saves_a_licence(ops_client: Client) -> None:
    from tests.factories import TerritoryFactory

    territory = TerritoryFactory(name="California", country="US", region="CA")
    SkillFactory(kind="product", code="life", name="Life insurance")
    rep = RepFactory(display_name="Ana")
    html = ops_client.get(f"/ops/reps/{rep.id}/").content.decode()
    assert "California (US-CA)" in html and "Life insurance" in html
    assert f'type="checkbox" name="territories" value="{territory.id}"' in html
    assert "Hold Ctrl" not in html


def test_add_another_row_keeps_what_was_typed_and_saves_nothing(ops_client: Client) -> None:
    pool = PoolFactory(name="Main")
    PoolMemberFactory(pool=pool, rep=RepFactory(display_name="Ana"))
    page = ops_client.get(f"/ops/pools/{pool.id}/").content.decode()
    rows = _management(page, "poolmember")
    data = {"name": "Renamed but not saved", "description": "", "active": "on", "dynamic_min_level": "1", "dynamic_weight": "1",
            "poolmember-TOTAL_FORMS": str(rows), "poolmember-INITIAL_FORMS": "1", "poolmember-MIN_NUM_FORMS": "0",
            "poolmember-MAX_NUM_FORMS": "1000", "action": "add_row:poolmember"}  # fmt: skip
    html = ops_client.post(f"/ops/pools/{pool.id}/", data).content.decode()
    assert _management(html, "poolmember") == rows + 1
    assert 'value="Renamed but not saved"' in html and "errorlist" not in html
    assert Pool.objects.get(pk=pool.pk).name == "Main"


def test_a_dynamic_pool_lists_the_reps_it_routes_to(ops_client: Client) -> None:
    spanish = SkillFactory(kind="language", code="es", name="Spanish")
    pool = PoolFactory(name="Spanish speakers", dynamic_skill=spanish)
    for name in ("Ana", "Bea", "Carla"):
        RepSkillFactory(rep=RepFactory(display_name=name), skill=spanish, level=3)
    RepSkillFactory(rep=RepFactory(display_name="Dormant", active=False), skill=spanish, level=3)
    listing = ops_client.get("/ops/pools/").content.decode()
    row = listing[listing.index(f'id="pool-{pool.id}"'):]
    assert "<td>3</td>" in row[:row.index("</tr>")]
    html = ops_client.get(f"/ops/pools/{pool.id}/").content.decode()
    start = html.index('id="current-members"')
    members = html[start:html.index("</section>", start)]
    assert "3 reps" in members and all(n in members for n in ("Ana", "Bea", "Carla")) and "Dormant" not in members


@pytest.mark.parametrize(("jurisdiction", "saved"), [("US-TX", True), ("de-by", True), ("XX-ZZ", False), ("Texas", False)])
def test_a_licence_jurisdiction_must_be_an_iso_code(ops_client: Client, jurisdiction: str, saved: bool) -> None:
    from tests.console.test_objects import rep_post

    response = ops_client.post("/ops/reps/new/", rep_post(**{
        "licence-TOTAL_FORMS": "1", "licence-0-jurisdiction": jurisdiction, "licence-0-product_line": "*",
        "licence-0-valid_from": "2025-01-01"}))  # fmt: skip
    assert (response.status_code == 302) is saved
    assert list(Licence.objects.values_list("jurisdiction", flat=True)) == ([jurisdiction.upper()] if saved else [])
