from django.urls import path

from routing.dashboards import views

app_name = "dashboards"
urlpatterns = [
    path("", views.home, name="home"),
    path("equity/", views.equity, name="equity"),
    path("equity/export.csv", views.equity_export, name="equity_export"),
    path("sla/", views.sla, name="sla"),
    path("capacity/", views.capacity, name="capacity"),
    path("decisions/", views.decisions, name="decisions"),
    path("decisions/export.csv", views.decisions_export, name="decisions_export"),
    path("leads/<int:lead_id>/", views.lead_timeline, name="lead"),
    path("leads/<int:lead_id>/retry/", views.lead_quarantine_retry, name="lead_retry"),
    path("replay/", views.replay, name="replay"),
    path("replay/<int:job_id>/", views.replay_detail, name="replay_detail"),
]
