"""The admin site's own titles, in the portal's language (Django's default reads "Django 站点管理员")."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

admin.site.site_header = _("产业工人队伍建设改革 推进平台 · 管理后台")
admin.site.site_title = _("推进平台管理后台")
admin.site.index_title = _("数据管理")
