from django.urls import path, re_path
from django.views.generic import RedirectView

from routing.console import security_views, views
from routing.views import accounts as account_views

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
    path("accounts/", account_views.accounts, name="accounts"),
    path("accounts/new/", account_views.account_edit, name="account_new"),
    path("accounts/<int:pk>/", account_views.account_edit, name="account_edit"),
    path("accounts/<int:pk>/delete/", account_views.account_delete, name="account_delete"),
    path("config/export.json", views.config_download, name="config_export"),
    path("security/tokens/", security_views.tokens, name="security_tokens"),
    path("security/tokens/<int:token_id>/revoke/", security_views.token_revoke, name="security_token_revoke"),
    path("security/logins/", security_views.logins, name="security_logins"),
    path("security/logins/unlock/", security_views.login_unlock, name="security_login_unlock"),
    path("security/outbox/", security_views.outbox, name="security_outbox"),
    path("security/outbox/emails/<int:email_id>/resend/", security_views.email_resend_view, name="security_email_resend"),
    path("security/outbox/webhooks/<int:delivery_id>/redeliver/", security_views.webhook_redeliver_view,
         name="security_webhook_redeliver"),
    # Only the known entities, so other /ops/ pages can be added beside these.
    re_path(rf"^(?P<kind>{KINDS})/$", views.object_list, name="objects"),
    re_path(rf"^(?P<kind>{KINDS})/new/$", views.object_edit, name="object_new"),
    re_path(rf"^(?P<kind>{KINDS})/(?P<pk>[0-9]+)/$", views.object_edit, name="object_edit"),
    re_path(rf"^(?P<kind>{KINDS})/(?P<pk>[0-9]+)/deactivate/$", views.object_deactivate, name="object_deactivate"),
]
