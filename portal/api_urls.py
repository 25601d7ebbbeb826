"""`/api/v1/`: one router gathering each app's viewsets, plus the OpenAPI schema and its docs UI."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from indicators import api as indicators_api
from measures import api as measures_api
from portal.accounts import api as accounts_api
from portal.accounts import api_security as security_api
from reporting import api as reporting_api
from reporting import api_exports as exports_api
from reporting import api_progress as progress_api

router = DefaultRouter()
for module in (measures_api, indicators_api, reporting_api, progress_api, exports_api, security_api):
    for prefix, viewset, basename in module.routes:
        router.register(prefix, viewset, basename=basename)

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: the CSP (script-src 'self') blocks inline ones.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    # No ReDoc: its template loads fonts from a CDN, and the portal must work with no internet.
    *accounts_api.urlpatterns,
    path("", include(router.urls)),
]
