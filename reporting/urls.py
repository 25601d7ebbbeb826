"""Web pages for quarterly reporting, mounted at /report/ by portal/urls.py."""

from django.urls import path

from reporting import views

app_name = "reporting"

urlpatterns = [
    path("", views.due, name="due"),
    path("start/", views.start, name="start"),
    path("review/", views.review, name="review"),
    path("<uuid:public_id>/", views.report, name="report"),
    path("<uuid:public_id>/history/", views.history, name="history"),
    path("<uuid:public_id>/template.xlsx", views.template_xlsx, name="template"),
    path("<uuid:public_id>/upload/", views.upload_xlsx, name="upload"),
    path("<uuid:public_id>/evidence/", views.evidence_upload, name="evidence_upload"),
    path("<uuid:public_id>/evidence/<int:evidence_id>/", views.evidence_download, name="evidence_download"),
    path("<uuid:public_id>/evidence/<int:evidence_id>/remove/", views.evidence_delete, name="evidence_remove"),
    path("<uuid:public_id>/city-approve/", views.city_approve, name="city_approve"),
    path("<uuid:public_id>/confirm/", views.confirm, name="confirm"),
    path("<uuid:public_id>/return/", views.return_, name="return"),
    path("<uuid:public_id>/reopen/", views.reopen, name="reopen"),
]
