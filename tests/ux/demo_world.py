"""The demo world (seed_demo's reps, pools, segments and rules) with routed leads and every kind
of object a page can show: decisions with skipped reps, a decline, a held lead, rule history with
a restore, a draft that differs from the live version, and a finished what-if replay."""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.core.management import call_command
from django.utils import timezone

from reps.models import Role
from routing import services
from routing.demo.data import demo_lead
from routing.models import Decision, Lead, Offer, Rule
from routing.reference import vocabulary_load
from routing.validation import clean_lead
from tests.factories import user_with_role

PASSWORD = "pw-for-tests-123"


@dataclass
class DemoWorld:
    users: dict[str, str]  # role -> username
    lead_id: int  # a routed lead with skipped reps
    rule_id: int
    job_id: int
    import_id: int  # a finished CSV import with a refused row


def make_demo_world(*, leads: int = 24) -> DemoWorld:
    call_command("seed_demo", verbosity=0)
    for username in ("ops", "manager", "ana"):
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.get(username=username)
        user.set_password(PASSWORD)
        user.save()
    rng, vocabulary = random.Random(15), vocabulary_load()
    for n in range(leads):
        data = demo_lead(rng, 1000 + n)
        services.lead_intake(data=clean_lead({**data, "value": str(data["value"])}, vocabulary=vocabulary))
    services.leads_route_all_pending()
    offer = Offer.objects.filter(status=Offer.Status.OPEN).order_by("id").first()
    services.offer_decline(offer_id=offer.id, rep=offer.rep, reason="not_my_product")
    services.leads_route_all_pending()

    # Rule history: two edits and a restore; then a draft change left unpublished.
    from routing.console import services as console_services

    rule = Rule.objects.filter(archived=False).exclude(conditions=[]).order_by("priority").first()
    first = rule.history.earliest().history_id
    rule.conditions = [*rule.conditions, {"field": "state", "op": "in", "value": ["TX", "FL"]}]
    console_services.rule_save(rule=rule, values={"conditions": rule.conditions})
    console_services.rule_restore_version(rule=rule, history_id=first)
    console_services.rule_save(rule=None, values={
        "name": "Texas and Florida", "priority": 5, "enabled": True, "pool_id": rule.pool_id, "strategy": "weighted_fair",
        "conditions": [{"field": "state", "op": "not_in", "value": ["TX", "FL"]}, {"field": "value", "op": "between", "value": [10, 20]},
                       {"field": "attributes.vertical", "op": "is_set"}],
        "requirements": {"skills": [], "licence": True}, "fallback": [{"kind": "holding"}], "relaxation": ["working_hours"],
    })  # fmt: skip

    from routing.dashboards import services as dash_services
    from routing.dashboards.tasks import replay_run

    dash_services.equity_rollup()
    today = timezone.now().date()
    job = dash_services.replay_create(start=today, end=today, pool_id=None)
    replay_run(job.id)
    # (Decision.step, not a lookup into the detail: the detail column is stored compact)
    lead = Lead.objects.filter(decisions__outcome="offer").exclude(decisions__step="").order_by("id").first()
    from calendars.models import BusinessCalendar

    BusinessCalendar.objects.get_or_create(name="US office", defaults={"timezone": "America/New_York", "holiday_country": "US"})
    services.account_upsert(data=services.account_validate({"external_id": "crm-1", "name": "Acme Mutual", "owner": "ana",
                                                          "status": "customer"}))
    import tempfile
    from pathlib import Path

    from routing.csv_import import lead_import_create, lead_import_process

    path = Path(tempfile.mkdtemp()) / "leads.csv"
    path.write_text("source,external_id,email,country,state,value\nweb,csv-1,a@example.com,US,CA,52000\n"
                    "web,csv-2,not-an-email,US,CA,100\n")  # fmt: skip
    imported = lead_import_process(import_id=lead_import_create(path=path, file_name="leads.csv").id)
    user_with_role(Role.OPS, username="ops2")  # a second ops account, as the security pages list them
    return DemoWorld(users={"ops": "ops", "manager": "manager", "rep": "ana"}, lead_id=lead.id, rule_id=rule.id,
                     job_id=job.id, import_id=imported.id)  # fmt: skip


def counts() -> tuple[int, int]:
    return Decision.objects.count(), Offer.objects.count()
