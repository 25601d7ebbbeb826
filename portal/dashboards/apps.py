from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    """The dashboards: an app of its own only so that its translations (locale/) and template tags load."""

    name = "portal.dashboards"
    label = "dashboards"
    verbose_name = "进展看板"
