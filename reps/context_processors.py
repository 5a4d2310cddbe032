from __future__ import annotations

from django.http import HttpRequest

from reps.access import user_roles


def roles(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    found = user_roles(user) if user is not None and user.is_authenticated else frozenset()
    return {
        "roles": found,
        "is_ops": "Sales Ops" in found,
        "is_manager": "Manager" in found or "Sales Ops" in found,
        "is_rep": "Rep" in found,
    }
