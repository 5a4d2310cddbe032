from django.urls import path

from reps import views

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/events/", views.inbox_events, name="inbox-events"),
    path("inbox/offers/<int:offer_id>/accept/", views.offer_accept, name="inbox-offer-accept"),
    path("inbox/offers/<int:offer_id>/decline/", views.offer_decline, name="inbox-offer-decline"),
    path("inbox/leads/<int:lead_id>/", views.lead_detail, name="inbox-lead"),
    path("inbox/leads/<int:lead_id>/close/", views.lead_close, name="inbox-lead-close"),
    path("inbox/leads/<int:lead_id>/first-touch/", views.lead_first_touch, name="inbox-lead-first-touch"),
    path("inbox/leads/<int:lead_id>/hand-back/", views.lead_hand_back, name="inbox-lead-hand-back"),
    path("inbox/away/", views.away, name="inbox-away"),
    path("team/", views.team, name="team"),
    path("team/absences/", views.absence_create, name="team-absence-create"),
    path("team/absences/<int:absence_id>/end/", views.absence_end, name="team-absence-end"),
]
