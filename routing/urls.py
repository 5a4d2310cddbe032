from django.urls import include, path

from routing.views.leads import leads_import, leads_import_detail, leads_import_mapping
from routing.views.reference import reference_data, synonym_delete

urlpatterns = [
    path("leads/import/", leads_import, name="leads-import"),
    path("leads/import/<int:import_id>/", leads_import_detail, name="leads-import-detail"),
    path("leads/import/<int:import_id>/mapping/", leads_import_mapping, name="leads-import-mapping"),
    path("leads/reference/", reference_data, name="leads-reference"),
    path("leads/reference/synonyms/<int:synonym_id>/delete/", synonym_delete, name="leads-synonym-delete"),
    path("ops/", include("routing.console.urls")),
    path("dash/", include("routing.dashboards.urls")),
]
