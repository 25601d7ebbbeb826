from django.contrib import admin
from django.urls import include, path

from portal import views
from portal.accounts import views as account_views

urlpatterns = [
    path("", views.home, name="home"),
    path("i18n/", include("django.conf.urls.i18n")),
    # Login and logout record every attempt in the security log; the rest are Django's own views.
    path("accounts/login/", account_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", account_views.LogoutView.as_view(), name="logout"),
    # The second factor (django-otp) for the roles in SECOND_FACTOR_ROLES; SecondFactorMiddleware sends them here.
    path("accounts/2fa/", account_views.second_factor_verify, name="second_factor_verify"),
    path("accounts/2fa/setup/", account_views.second_factor_setup, name="second_factor_setup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api_urls")),
    path("report/", include("reporting.urls")),
    path("exports/", include("reporting.urls_exports")),
    path("dashboard/", include("portal.dashboards.urls")),
]

# JSON in the API's error shape under /api/, Chinese pages elsewhere (portal/errors.py).
handler400 = "portal.errors.bad_request"
handler403 = "portal.errors.permission_denied"
handler404 = "portal.errors.page_not_found"
handler500 = "portal.errors.server_error"
