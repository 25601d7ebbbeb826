"""Web pages for supervision (督查) reports, mounted at /exports/ by portal/urls.py."""

from django.urls import path

from reporting import views_exports as views

app_name = "exports"

urlpatterns = [
    path("", views.index, name="index"),
    path("<uuid:public_id>/", views.job, name="job"),
    path("<uuid:public_id>/download/", views.download, name="download"),
    path("snapshots/<uuid:public_id>/", views.snapshot, name="snapshot"),
    path("snapshots/<uuid:public_id>/export/", views.snapshot_export, name="snapshot_export"),
]
