from django.urls import include, path

urlpatterns = [
    path("ops/", include("routing.console.urls")),
    path("dash/", include("routing.dashboards.urls")),
]
