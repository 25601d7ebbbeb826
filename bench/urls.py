"""The portal's URLs plus the bare views the benchmark uses as ceilings (mounted only by bench.settings)."""

from django.urls import path

from bench import views
from portal.urls import urlpatterns as portal_urlpatterns

urlpatterns = [
    path("bench/bare/ingest/", views.BareIngestView.as_view()),
    path("bench/bare/figures/", views.BareFiguresView.as_view()),
    *portal_urlpatterns,
]
