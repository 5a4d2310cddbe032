from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from routing import api, views as routing_views

urlpatterns = [
    path("", routing_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urlpatterns),
    path("", include("ops.urls")),
    path("", include("routing.urls")),
    path("", include("reps.urls")),
    path("", include("calendars.urls")),
]
