from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from tests.factories import LeadFactory, RepFactory

pytestmark = pytest.mark.django_db


def test_superusers_can_browse_the_admin_and_cannot_edit_the_audit_trail(client) -> None:  # noqa: ANN001
    admin = User.objects.create_superuser("root", "root@example.com", "pw-for-tests-123")
    client.force_login(admin)
    lead = LeadFactory()
    RepFactory()
    for name in ("reps_rep_changelist", "reps_pool_changelist", "routing_lead_changelist",
                 "routing_decision_changelist", "routing_rule_changelist"):
        assert client.get(reverse(f"admin:{name}")).status_code == 200, name
    assert client.post(reverse("admin:routing_lead_change", args=[lead.id]), {"status": "converted"}).status_code == 403
    lead.refresh_from_db()
    assert lead.status == "pending"


def test_staff_without_superuser_cannot_reach_model_admin(client) -> None:  # noqa: ANN001
    user = User.objects.create_user("staffer", password="pw-for-tests-123", is_staff=True)
    client.force_login(user)
    assert client.get(reverse("admin:routing_lead_changelist")).status_code == 403
