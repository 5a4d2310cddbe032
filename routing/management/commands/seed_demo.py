from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import Group, User
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from reps.models import Role
from routing.config_io import config_import
from routing.demo.data import DEMO_LOGINS, demo_config
from routing.models import Rule
from routing.services import rule_publish


class Command(BaseCommand):
    help = "Load demo reps, pools, segments and rules (only into an empty database unless --force) and publish them."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--force", action="store_true", help="Import even if rules already exist")

    def handle(self, *args, force: bool, **options) -> None:  # noqa: ANN002, ANN003
        if settings.PRODUCTION:  # demo accounts have published passwords (README): never in production
            raise CommandError("seed_demo refuses to run with production settings (LEADOPS_PRODUCTION=1): "
                               "its demo logins have well-known passwords.")
        for role in Role:
            Group.objects.get_or_create(name=role.value)
        if Rule.objects.exists() and not force:
            self.stdout.write("Demo data: database already configured, leaving it alone.")
        else:
            with transaction.atomic():
                result = config_import(demo_config(timezone.now().date() - dt.timedelta(days=0)))
                rule_publish(note="demo data")
            self.stdout.write(f"Demo data loaded: {len(result.changes)} objects, {len(result.users_created)} rep accounts; rule set published.")
        for username, (role, password) in DEMO_LOGINS.items():
            user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
            user.set_password(password)
            user.is_staff = role == Role.OPS.value
            user.save()
            user.groups.add(Group.objects.get(name=role))
            if username == "manager":  # the manager also works leads that escalate to them
                user.groups.add(Group.objects.get(name=Role.REP.value))
