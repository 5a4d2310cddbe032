from django.urls import path, re_path
from django.views.generic import RedirectView

from routing.console import views

app_name = "console"
KINDS = "|".join(views.ENTITIES)
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="console:rules"), name="home"),
    path("rules/", views.rule_list, name="rules"),
    path("rules/new/", views.rule_edit, name="rule_new"),
    path("rules/<int:pk>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/move/<str:direction>/", views.rule_move, name="rule_move"),
    path("rules/<int:pk>/toggle/", views.rule_toggle, name="rule_toggle"),
    path("rules/<int:pk>/archive/", views.rule_archive, name="rule_archive"),
    path("rules/<int:pk>/history/", views.rule_history, name="rule_history"),
    path("rules/<int:pk>/history/<int:history_id>/restore/", views.rule_restore, name="rule_restore"),
    path("versions/", views.versions, name="versions"),
    path("versions/<int:version>/restore/", views.version_restore, name="version_restore"),
    path("test/", views.test_lead, name="test"),
    path("config/", views.config_page, name="config"),
    path("config/export.json", views.config_download, name="config_export"),
    # Only the known entities, so other /ops/ pages can be added beside these.
    re_path(rf"^(?P<kind>{KINDS})/$", views.object_list, name="objects"),
    re_path(rf"^(?P<kind>{KINDS})/new/$", views.object_edit, name="object_new"),
    re_path(rf"^(?P<kind>{KINDS})/(?P<pk>[0-9]+)/$", views.object_edit, name="object_edit"),
    re_path(rf"^(?P<kind>{KINDS})/(?P<pk>[0-9]+)/deactivate/$", views.object_deactivate, name="object_deactivate"),
]
