from django.urls import include, path

from routing.views.leads import leads_import

urlpatterns = [
    path("leads/import/", leads_import, name="leads-import"),
    path("ops/", include("routing.console.urls")),
    path("dash/", include("routing.dashboards.urls")),
]
