"""One small world with a user per role, and a browser probe that records what went wrong."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import Group

from reps.models import Role
from tests.factories import user_with_role
from tests.reps.helpers import World, make_world, route_new_lead


@dataclass
class RoleWorld:
    world: World
    lead_id: int
    users: dict[str, str]  # role label -> username


def make_role_world() -> RoleWorld:
    """A rep (pat) with an open offer, a manager (mia, also a rep) and a Sales Ops user (olga)."""
    world = make_world()
    world.manager.user.groups.add(Group.objects.get_or_create(name=Role.MANAGER.value)[0])
    user_with_role(Role.OPS, username="olga")
    lead = route_new_lead(company="Acme Rockets")
    return RoleWorld(world=world, lead_id=lead.id, users={"rep": "pat", "manager": "mia", "ops": "olga"})


@dataclass
class Probe:
    """Console errors, uncaught exceptions, failed requests and 4xx/5xx responses seen by a page."""

    problems: list[str] = field(default_factory=list)

    def attach(self, page) -> "Probe":  # noqa: ANN001
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text} @ {page.url}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e} @ {page.url}"))
        # net::ERR_ABORTED is the browser dropping a request the page no longer needs (the favicon
        # of a page navigated away from while it loaded: seen once in CI); a server that fails
        # answers 4xx/5xx or refuses the connection, which are still problems.
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} {r.failure}")
                if r.failure != "net::ERR_ABORTED" else None)  # fmt: skip
        page.on("response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
        return self
