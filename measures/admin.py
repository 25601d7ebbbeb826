"""Admin for the plan: coordinators correct text, bodies, assignments and regions here.

Every model with a history shows it (SimpleHistoryAdmin). Bodies and regions import and export as CSV
or XLSX keyed by code. Foreign keys shown in lists are fetched with the rows (list_select_related),
so a changelist runs a fixed number of queries whatever its length.
"""

from typing import Any

from django.contrib import admin
from django.db.models import Count, ForeignKey, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin
from import_export.formats.base_formats import CSV
from simple_history.admin import SimpleHistoryAdmin

from measures.models import Measure, Plan, PlanSection, Programme, Region, Responsibility, ResponsibleBody, Task
from measures.resources import FormulaFreeXLSX, RegionResource, ResponsibleBodyResource


class SpreadsheetAdmin(ImportExportModelAdmin, SimpleHistoryAdmin):
    """CSV and XLSX import/export beside the history view."""

    formats = [CSV, FormulaFreeXLSX]
    # With a byte-order mark Excel opens a Chinese CSV as UTF-8 instead of the local code page.
    to_encoding = "utf-8-sig"

    # Import-export lets any staff user import and export unless told otherwise; tie both to the model's
    # own permissions instead: an import adds and changes rows, an export reads them.
    def has_import_permission(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)


def tasks_with_measure() -> QuerySet[Task]:
    # Task.__str__ shows "measure.task" numbers: without the join every option of a select is a query.
    return Task.objects.select_related("measure")


class PlanSectionInline(admin.StackedInline):
    model = PlanSection
    extra = 0
    fields = ("kind", "number", "title", "title_en", "text")


@admin.register(Plan)
class PlanAdmin(SimpleHistoryAdmin):
    list_display = ("document_number", "title", "code", "issuing_bodies", "issued_on", "start_year", "end_year")
    search_fields = ("code", "document_number", "title", "title_en")
    date_hierarchy = "issued_on"
    inlines = (PlanSectionInline,)


@admin.register(PlanSection)
class PlanSectionAdmin(admin.ModelAdmin):
    # PlanSection keeps no history of its own (the model has no HistoricalRecords).
    list_display = ("title", "kind", "number", "title_en", "plan")
    list_filter = ("kind", "plan")
    search_fields = ("title", "title_en", "text")
    list_select_related = ("plan",)


@admin.register(Programme)
class ProgrammeAdmin(SimpleHistoryAdmin):
    list_display = ("number", "title", "title_en", "measure_count", "plan")
    list_display_links = ("number", "title")
    list_filter = ("plan",)
    search_fields = ("title", "title_en", "heading")
    list_select_related = ("plan",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Programme]:
        return super().get_queryset(request).annotate(measure_total=Count("measures"))

    @admin.display(description=_("举措数"), ordering="measure_total")
    def measure_count(self, obj: Any) -> int:
        return obj.measure_total


class TaskInline(admin.StackedInline):
    model = Task
    extra = 0
    fields = (("number", "deadline", "recurrence"), "title", "title_en", "sentence")


class ResponsibilityInline(admin.TabularInline):
    model = Responsibility
    extra = 0
    fields = ("task", "body", "role", "is_proposed")
    autocomplete_fields = ("body",)

    def formfield_for_foreignkey(
        self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if db_field.name == "task":
            # Only the tasks of the measure being edited belong in this select.
            object_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            tasks = tasks_with_measure()
            kwargs["queryset"] = tasks.filter(measure_id=object_id) if object_id else tasks.none()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Measure)
class MeasureAdmin(SimpleHistoryAdmin):
    list_display = ("number", "title", "title_en", "programme", "task_count", "plan")
    list_display_links = ("number", "title")
    list_filter = ("plan", "programme")
    search_fields = ("title", "title_en", "text")
    list_select_related = ("programme", "plan")
    inlines = (TaskInline, ResponsibilityInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Measure]:
        return super().get_queryset(request).annotate(task_total=Count("tasks"))

    @admin.display(description=_("任务数"), ordering="task_total")
    def task_count(self, obj: Any) -> int:
        return obj.task_total


@admin.register(Task)
class TaskAdmin(SimpleHistoryAdmin):
    list_display = ("task_code", "title", "measure", "deadline", "recurrence")
    list_display_links = ("task_code", "title")
    list_filter = ("measure__plan", "measure__programme", "recurrence")
    search_fields = ("title", "title_en", "sentence")
    list_select_related = ("measure",)
    ordering = ("measure__plan", "measure__number", "number")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Task]:
        # Autocomplete answers use this queryset too, and render Task.__str__ with its measure.
        return super().get_queryset(request).select_related("measure")

    @admin.display(description=_("编号"), ordering="measure__number")
    def task_code(self, obj: Task) -> str:
        return obj.code


@admin.register(ResponsibleBody)
class ResponsibleBodyAdmin(SpreadsheetAdmin):
    resource_classes = (ResponsibleBodyResource,)
    list_display = ("code", "name", "short_name", "name_en", "kind", "is_active")
    list_display_links = ("code", "name")
    list_filter = ("kind", "is_active")
    search_fields = ("code", "name", "short_name", "name_en")


@admin.register(Responsibility)
class ResponsibilityAdmin(SimpleHistoryAdmin):
    list_display = ("measure", "task", "body", "role", "is_proposed")
    list_filter = ("role", "is_proposed", "measure__plan", "body")
    search_fields = ("measure__title", "task__title", "body__name")
    list_select_related = ("measure", "task__measure", "body")
    autocomplete_fields = ("body", "task")

    def formfield_for_foreignkey(
        self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if db_field.name == "task":
            kwargs["queryset"] = tasks_with_measure()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Region)
class RegionAdmin(SpreadsheetAdmin):
    resource_classes = (RegionResource,)
    list_display = ("code", "name", "name_en", "level", "parent", "division_year", "sort_order")
    list_display_links = ("code", "name")
    list_filter = ("level", "division_year")
    search_fields = ("code", "name", "name_en")
    list_select_related = ("parent",)
    autocomplete_fields = ("parent",)
