from __future__ import annotations

import pytest
from django.test import Client

from reps.models import Licence, Pool, PoolMember, Rep, RepSkill, Skill, Territory
from routing.models import Segment
from tests.factories import (
    LicenceFactory, PoolFactory, PoolMemberFactory, RepFactory, RepSkillFactory, SegmentFactory, SkillFactory,
    TeamFactory, TerritoryFactory,
)  # fmt: skip

pytestmark = pytest.mark.django_db

EMPTY_SETS = {
    **{f"{p}-{k}": v for p in ("repskill", "licence", "absence") for k, v in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))},
}


def rep_post(**extra: object) -> dict:
    data = {"username": "carla", "email": "carla@example.com", "display_name": "Carla", "tier": "2",
            "timezone": "Europe/Berlin", "working_hours_0": "09:00", "working_hours_1": "17:00", "active": "on",
            "max_open": "5", **EMPTY_SETS}  # fmt: skip
    data.update(extra)
    return data


def test_ops_creates_a_rep_with_account_skills_and_licences(ops_client: Client) -> None:
    skill = SkillFactory(code="auto")
    response = ops_client.post("/ops/reps/new/", rep_post(**{
        "repskill-TOTAL_FORMS": "1", "repskill-0-skill": str(skill.id), "repskill-0-level": "4",
        "licence-TOTAL_FORMS": "1", "licence-0-jurisdiction": "US-CA", "licence-0-product_line": "auto",
        "licence-0-valid_from": "2025-01-01",
    }))  # fmt: skip
    assert response.status_code == 302
    rep = Rep.objects.get(display_name="Carla")
    assert rep.user.username == "carla" and not rep.user.has_usable_password()
    assert rep.user.groups.filter(name="Rep").exists()
    assert RepSkill.objects.get(rep=rep).level == 4 and Licence.objects.get(rep=rep).jurisdiction == "US-CA"
    assert rep.working_hours == {"mon": [["09:00", "17:00"]]}
    assert rep.history.latest().history_user.username == "ops"


def test_rep_validation_errors_render_in_the_fragment(htmx_client: Client) -> None:
    response = htmx_client.post("/ops/reps/new/", rep_post(timezone="Mars/Base", working_hours_1="",
                                                           display_name=""))  # fmt: skip
    html = response.content.decode()
    assert "<html" not in html and 'id="object-form"' in html
    assert "Select a valid choice" in html and "Monday, shift 1: give both times" in html
    assert "This field is required" in html
    assert not Rep.objects.exists()


def test_editing_a_rep_updates_caps_and_manager(ops_client: Client) -> None:
    rep, boss = RepFactory(display_name="Dan"), RepFactory(display_name="Boss")
    response = ops_client.post(f"/ops/reps/{rep.id}/", rep_post(display_name="Dan", manager=str(boss.id),
                                                               max_daily="3", team=str(TeamFactory().id)))  # fmt: skip
    assert response.status_code == 302
    rep.refresh_from_db()
    assert rep.manager == boss and rep.max_daily == 3


def test_pool_members_and_weights_are_edited_in_place(ops_client: Client) -> None:
    pool = PoolFactory(name="P")
    member = PoolMemberFactory(pool=pool, weight=1)
    newcomer = RepFactory()
    response = ops_client.post(f"/ops/pools/{pool.id}/", {
        "name": "P", "active": "on", "dynamic_min_level": "1", "dynamic_weight": "2",
        "poolmember-TOTAL_FORMS": "2", "poolmember-INITIAL_FORMS": "1",
        "poolmember-0-id": str(member.id), "poolmember-0-rep": str(member.rep_id), "poolmember-0-weight": "5",
        "poolmember-1-rep": str(newcomer.id), "poolmember-1-weight": "2",
    })  # fmt: skip
    assert response.status_code == 302
    assert dict(PoolMember.objects.filter(pool=pool).values_list("rep_id", "weight")) == {member.rep_id: 5, newcomer.id: 2}
    assert Pool.objects.get().dynamic_weight == 2


def test_segment_conditions_use_the_condition_builder(ops_client: Client, htmx_client: Client) -> None:
    data = {"slug": "hot", "name": "Hot", "sla_minutes": "5", "accept_fraction": "0.5", "priority": "1", "order": "1",
            "cond_field": ["intent"], "cond_op": ["in"], "cond_value": ["high, very high"], "action": "save"}  # fmt: skip
    assert ops_client.post("/ops/segments/new/", data).status_code == 302
    assert Segment.objects.get().conditions == [{"field": "intent", "op": "in", "value": ["high", "very high"]}]
    bad = htmx_client.post("/ops/segments/new/", {**data, "slug": "x", "sla_minutes": "0", "cond_op": ["gte"]})
    html = bad.content.decode()
    assert "needs a number" in html and "must be at least 1" in html and 'id="object-form"' in html


def test_territory_and_skill_create(ops_client: Client) -> None:
    r = ops_client.post("/ops/territories/new/", {"name": "Cal", "country": "us", "region": "ca", "active": "on"})
    assert r.status_code == 302 and Territory.objects.get().country == "US"
    r = ops_client.post("/ops/skills/new/", {"kind": "product", "code": "home", "name": "Home", "active": "on"})
    assert r.status_code == 302 and Skill.objects.get().key == "product:home"


def test_search_returns_the_table_fragment(htmx_client: Client) -> None:
    RepFactory(display_name="Zelda")
    RepFactory(display_name="Mario")
    html = htmx_client.get("/ops/reps/?q=zel").content.decode()
    assert "<html" not in html and html.lstrip().startswith('<table id="object-table"')
    assert "Zelda" in html and "Mario" not in html


def test_deactivate_keeps_the_row_and_returns_the_fragment(htmx_client: Client) -> None:
    territory = TerritoryFactory()
    html = htmx_client.post(f"/ops/territories/{territory.id}/deactivate/").content.decode()
    territory.refresh_from_db()
    assert not territory.active and 'id="object-table"' in html and "<html" not in html


def test_segments_cannot_be_deactivated(ops_client: Client) -> None:
    segment = SegmentFactory()
    assert ops_client.post(f"/ops/segments/{segment.id}/deactivate/").status_code == 404


def _grow(kind: str) -> None:
    if kind == "reps":
        for _ in range(8):
            rep = RepFactory(manager=RepFactory(), team=TeamFactory())
            RepSkillFactory(rep=rep)
            LicenceFactory(rep=rep)
    elif kind == "pools":
        for _ in range(8):
            PoolMemberFactory(pool=PoolFactory(manager=RepFactory(), dynamic_skill=SkillFactory()))
    elif kind == "segments":
        SegmentFactory.create_batch(8)
    elif kind == "territories":
        parent = TerritoryFactory()
        TerritoryFactory.create_batch(8, parent=parent)
    else:
        SkillFactory.create_batch(8)


@pytest.mark.parametrize("kind", ["reps", "pools", "segments", "territories", "skills"])
def test_list_query_count_does_not_grow_with_rows(ops_client: Client, django_assert_max_num_queries, kind: str) -> None:  # noqa: ANN001
    _grow(kind)
    with django_assert_max_num_queries(12) as few:
        ops_client.get(f"/ops/{kind}/")
    _grow(kind)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = ops_client.get(f"/ops/{kind}/")
    assert response.status_code == 200


def test_deactivating_a_rep_moves_their_open_offers_on(ops_client) -> None:  # noqa: ANN001
    from django.utils import timezone

    from routing.models import Lead, Offer
    from tests.factories import LeadFactory, PoolFactory, PoolMemberFactory, RepFactory, RuleFactory

    leaving, staying = RepFactory(display_name="Leaving"), RepFactory(display_name="Staying")
    pool = PoolFactory()
    PoolMemberFactory(pool=pool, rep=leaving)
    RuleFactory(pool=pool)
    lead = LeadFactory()
    from routing.services import leads_route_all_pending

    leads_route_all_pending(now=timezone.now())
    assert Offer.objects.get(lead=lead).rep == leaving
    PoolMemberFactory(pool=pool, rep=staying)
    assert ops_client.post(f"/ops/reps/{leaving.id}/deactivate/").status_code in (200, 302)
    leads_route_all_pending()
    lead.refresh_from_db()
    assert Offer.objects.get(lead=lead, rep=leaving).status == Offer.Status.WITHDRAWN
    assert (lead.status, lead.owner) == (Lead.Status.OFFERED, staying)


def test_the_weekly_hours_grid_saves_split_and_overnight_shifts(ops_client: Client) -> None:
    """Monday 09:00-12:00 and 13:00-17:00 (split); Friday 22:00 to 06:00 (past midnight);
    a "to" of 00:00 is midnight at the end of the day."""
    grid = {"working_hours_0": "09:00", "working_hours_1": "12:00", "working_hours_2": "13:00",
            "working_hours_3": "17:00", "working_hours_16": "22:00", "working_hours_17": "06:00",
            "working_hours_24": "18:00", "working_hours_25": "00:00"}  # fmt: skip
    assert ops_client.post("/ops/reps/new/", rep_post(**grid)).status_code == 302
    rep = Rep.objects.get(display_name="Carla")
    assert rep.working_hours == {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "fri": [["22:00", "06:00"]],
                                 "sun": [["18:00", "24:00"]]}  # fmt: skip
    page = ops_client.get(f"/ops/reps/{rep.id}/").content.decode()
    assert 'data-weekly-hours' in page and 'aria-label="Friday shift 1 from"' in page and 'value="22:00"' in page
