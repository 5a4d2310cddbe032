from django.urls import include, path

from routing.views.leads import leads_import, leads_import_detail

urlpatterns = [
    path("leads/import/", leads_import, name="leads-import"),
    path("leads/import/<int:import_id>/", leads_import_detail, name="leads-import-detail"),
    path("ops/", include("routing.console.urls")),
    path("dash/", include("routing.dashboards.urls")),
]
