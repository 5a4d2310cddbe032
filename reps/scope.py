"""What a staff user may see: the one helper every manager-facing list goes through.

Sales Ops (and superusers) see every rep and lead. A manager sees their team: the reps of their
own Team (``Rep.team``), their direct reports (``Rep.manager``) and themselves; and the leads that
were offered to one of those reps (an offer, open or past, links the lead to the team). Anyone
else sees nothing. Views call ``visibility_for(request.user)`` once and pass the result to the
selectors, which apply it with ``reps()``, ``leads()`` and ``offers()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from django.db.models import Model, Q, QuerySet

from reps.access import user_roles
from reps.models import Rep, Role

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Visibility:
    everything: bool
    rep_ids: frozenset[int] = frozenset()

    def reps(self, qs: QuerySet[M], field: str = "id") -> QuerySet[M]:
        """Rows whose ``field`` (a rep id) belongs to a visible rep."""
        return qs if self.everything else qs.filter(**{f"{field}__in": self.rep_ids})

    def offers(self, qs: QuerySet[M], field: str = "rep_id") -> QuerySet[M]:
        """Offers made to a visible rep."""
        return self.reps(qs, field)

    def leads(self, qs: QuerySet[M], field: str = "id") -> QuerySet[M]:
        """Rows whose ``field`` (a lead id) is a lead offered to a visible rep at least once."""
        if self.everything:
            return qs
        from routing.models import Offer

        offered = Offer.objects.filter(rep_id__in=self.rep_ids).values("lead_id")
        return qs.filter(**{f"{field}__in": offered})

    def sees_rep(self, rep_id: int | None) -> bool:
        return self.everything or (rep_id is not None and rep_id in self.rep_ids)


EVERYTHING = Visibility(everything=True)
NOTHING = Visibility(everything=False)


def visibility_for(user) -> Visibility:  # noqa: ANN001
    """The Visibility of a signed-in user (one query for a manager, none for ops); cached on
    the user object for the rest of the request."""
    cached = getattr(user, "_leadops_visibility", None)
    if cached is not None:
        return cached
    roles = user_roles(user)
    if Role.OPS.value in roles:
        found = EVERYTHING
    elif Role.MANAGER.value in roles:
        found = _team_of(user)
    else:
        found = NOTHING
    if user.is_authenticated:
        user._leadops_visibility = found
    return found


def _team_of(user) -> Visibility:  # noqa: ANN001
    me = Rep.objects.filter(user=user).values("id", "team_id").first()
    if me is None:
        return NOTHING
    mine = Q(id=me["id"]) | Q(manager_id=me["id"])
    if me["team_id"] is not None:
        mine |= Q(team_id=me["team_id"])
    return Visibility(everything=False, rep_ids=frozenset(Rep.objects.filter(mine).values_list("id", flat=True)))
