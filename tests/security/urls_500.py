"""The app's URLs plus one view that fails, to see what a visitor gets from a 500."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from leadops.urls import urlpatterns as app_urlpatterns


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("something broke")


urlpatterns = [path("boom/", boom), *app_urlpatterns]
