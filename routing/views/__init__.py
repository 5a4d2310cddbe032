from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from reps.access import user_roles
from reps.models import Role


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to its working screen."""
    roles = user_roles(request.user)
    if Role.MANAGER.value in roles or Role.OPS.value in roles:
        return redirect("/dash/")
    if Role.REP.value in roles:
        return redirect("/inbox/")
    return render(request, "home.html")
