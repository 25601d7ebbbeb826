"""Dashboard pages, mounted at /dashboard/ by portal/urls.py."""

from django.urls import path

from portal.dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("measures/<int:number>/", views.measure, name="measure"),
    path("indicators/<slug:code>/", views.indicator, name="indicator"),
    path("completeness/", views.completeness, name="completeness"),
    path("city/", views.city, name="city"),
]
