"""Role checks for views. Permissions live here and in views, never only in templates."""

from __future__ import annotations

from functools import wraps
from typing import Callable

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from reps.models import Rep, Role

ROLE_NAMES = frozenset(r.value for r in Role)


def user_roles(user) -> frozenset[str]:  # noqa: ANN001
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_leadops_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ROLE_NAMES).values_list("name", flat=True))
        if user.is_superuser:
            cached = cached | {Role.OPS.value, Role.MANAGER.value}
        user._leadops_roles = cached
    return cached


def has_role(user, *roles: Role) -> bool:  # noqa: ANN001
    return bool(user_roles(user) & {r.value for r in roles})


def role_required(*roles: Role) -> Callable:
    """Anonymous users go to login; signed-in users without one of ``roles`` get 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # noqa: ANN002, ANN003
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, *roles):
                raise PermissionDenied("Your role does not allow this page")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


ops_required = role_required(Role.OPS)
manager_required = role_required(Role.MANAGER, Role.OPS)
rep_required = role_required(Role.REP)


def get_rep_for_user(user) -> Rep:  # noqa: ANN001
    """The signed-in user's rep profile, with the calendars its working time follows (its own and
    its team's: the inbox countdowns read them). Raises PermissionDenied when there is none."""
    try:
        return Rep.objects.select_related("calendar", "team__calendar").get(user=user)
    except Rep.DoesNotExist:
        raise PermissionDenied("This account is not linked to a rep profile") from None
