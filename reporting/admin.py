"""Reporting in the admin: periods (deadline and closing go through the services), and read-only views
of submissions and figures for support staff. Data entry and approval happen in the portal, not here."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from common.errors import ApplicationError
from reporting.models import ConsistencyCheck, Period, Submission
from reporting.services.periods import period_close, period_set_deadline


@admin.register(Period)
class PeriodAdmin(SimpleHistoryAdmin):
    list_display = ["code", "start", "end", "deadline", "status"]
    list_filter = ["year", "status"]
    readonly_fields = ["year", "quarter", "start", "end", "status", "version"]
    fields = ["year", "quarter", "start", "end", "deadline", "status", "version"]
    actions = ["close_periods"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # The deadline rule (not before quarter end), the coordinator check and the version bump live
        # in the service; the admin form only collects the date.
        try:
            period_set_deadline(period=obj, user=request.user, deadline=form.cleaned_data["deadline"])
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, str(exc), level=messages.ERROR)

    @admin.action(description=_("关闭所选填报期"))
    def close_periods(self, request, queryset):
        for period in queryset:
            try:
                period_close(period=period, user=request.user)
            except (ApplicationError, PermissionDenied) as exc:
                self.message_user(request, f"{period.code}: {exc}", level=messages.WARNING)


class ReadOnlyMixin:
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Submission)
class SubmissionAdmin(ReadOnlyMixin, SimpleHistoryAdmin):
    list_display = ["period", "region", "body", "status", "is_late", "submitted_at", "confirmed_at", "version"]
    list_filter = ["status", "is_late", "period"]
    list_select_related = ["period", "region", "body"]
    search_fields = ["region__name", "body__name"]


@admin.register(ConsistencyCheck)
class ConsistencyCheckAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["checked_at", "plan", "figures_checked", "drift_count", "repaired"]
