"""factory-boy factories for the whole domain. Users get the test password below."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth.models import Group, User
from django.utils import timezone

from reps.models import Absence, Licence, Pool, PoolMember, Rep, RepSkill, Role, Skill, Team, Territory
from routing.models import ApiToken, Lead, Rule, Segment

PASSWORD = "pw-for-tests-123"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs) -> None:  # noqa: ANN003
        if create and extracted:
            group, _ = Group.objects.get_or_create(name=extracted)
            self.groups.add(group)
        if create:
            self.save()


def user_with_role(role: Role, username: str | None = None) -> User:
    kwargs = {"role": role.value}
    if username:
        kwargs["username"] = username
    return UserFactory(**kwargs)


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")


class RepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rep

    user = factory.SubFactory(UserFactory, role=Role.REP.value)
    display_name = factory.Sequence(lambda n: f"Rep {n}")
    tier = 2
    timezone = "UTC"
    working_hours = factory.LazyFunction(dict)
    active = True


class SkillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Skill
        django_get_or_create = ("kind", "code")

    kind = Skill.Kind.PRODUCT
    code = factory.Sequence(lambda n: f"skill-{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())


class RepSkillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RepSkill

    rep = factory.SubFactory(RepFactory)
    skill = factory.SubFactory(SkillFactory)
    level = 3


class TerritoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Territory

    name = factory.Sequence(lambda n: f"Territory {n}")
    country = "US"
    region = ""


class LicenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Licence

    rep = factory.SubFactory(RepFactory)
    jurisdiction = "US-CA"
    product_line = "life"
    valid_from = factory.LazyFunction(lambda: timezone.now().date() - dt.timedelta(days=365))
    valid_until = None


class AbsenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Absence

    rep = factory.SubFactory(RepFactory)
    starts_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(hours=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=3))
    reason = Absence.Reason.VACATION


class PoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pool

    name = factory.Sequence(lambda n: f"Pool {n}")


class PoolMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PoolMember

    pool = factory.SubFactory(PoolFactory)
    rep = factory.SubFactory(RepFactory)
    weight = 1


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"segment-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    sla_minutes = 30
    accept_fraction = 0.6
    order = factory.Sequence(lambda n: n + 1)
    conditions = factory.LazyFunction(list)


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rule

    name = factory.Sequence(lambda n: f"Rule {n}")
    priority = factory.Sequence(lambda n: n + 1)
    pool = factory.SubFactory(PoolFactory)
    conditions = factory.LazyFunction(list)
    requirements = factory.LazyFunction(dict)
    fallback = factory.LazyFunction(lambda: [{"kind": "holding"}])
    relaxation = factory.LazyFunction(list)


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    source = "web"
    external_id = factory.Sequence(lambda n: f"ext-{n}")
    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Lovelace{n}")
    email = factory.LazyAttribute(lambda o: f"{o.external_id}@example.com")
    country = "US"
    state = "CA"
    language = "en"
    product_line = "life"
    value = Decimal("1000")
    intent = "medium"
    received_at = factory.LazyFunction(timezone.now)


def make_token(name: str = "test", *, scopes: tuple[str, ...] | None = None, user: User | None = None) -> str:
    """Create an API token and return the raw secret (scopes as TokenScope values; default
    intake). ``user``: a personal token acting as that user."""
    from routing.services_tokens import apitoken_create

    return apitoken_create(name=name, scopes=scopes, user=user)[1]


__all__ = [
    "PASSWORD", "AbsenceFactory", "ApiToken", "LeadFactory", "LicenceFactory", "PoolFactory",
    "PoolMemberFactory", "RepFactory", "RepSkillFactory", "RuleFactory", "SegmentFactory",
    "SkillFactory", "TeamFactory", "TerritoryFactory", "UserFactory", "make_token", "user_with_role",
]  # fmt: skip
