from django.urls import path

from calendars import views

urlpatterns = [path("calendars/", views.calendar_list, name="calendars")]
