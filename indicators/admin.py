"""Admin for indicators and their targets, with CSV / XLSX import and export keyed by plan and codes."""

from typing import Any

from django.contrib import admin
from django.db.models import ForeignKey
from django.forms import ModelChoiceField
from django.http import HttpRequest

from indicators.models import Indicator, Target
from indicators.resources import IndicatorResource, TargetResource
from measures.admin import SpreadsheetAdmin, tasks_with_measure


class TargetInline(admin.StackedInline):
    model = Target
    extra = 0
    fields = (
        ("code", "region", "source"),
        ("comparator", "value", "tolerance"),
        ("deadline", "per_year"),
        ("baseline_value", "baseline_year"),
        "clause",
        "note",
    )
    autocomplete_fields = ("region",)


@admin.register(Indicator)
class IndicatorAdmin(SpreadsheetAdmin):
    resource_classes = (IndicatorResource,)
    list_display = ("code", "name", "kind", "unit", "measure", "is_supporting", "reporter", "lead_body", "is_active")
    list_display_links = ("code", "name")
    list_filter = ("plan", "kind", "is_supporting", "reporter", "is_active", "measure__programme", "lead_body")
    search_fields = ("code", "name", "name_en", "definition")
    list_select_related = ("measure", "lead_body")
    autocomplete_fields = ("lead_body",)
    inlines = (TargetInline,)
    fieldsets = (
        (None, {"fields": ("plan", "code", "name", "name_en", "definition")}),
        (None, {"fields": (("kind", "unit", "unit_en"), ("scale", "decimals"))}),
        (None, {"fields": ("numerator_label", "denominator_label")}),
        (None, {"fields": ("measure", "task", "is_supporting", "reporter", "lead_body", "sort_order", "is_active")}),
    )

    def formfield_for_foreignkey(
        self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if db_field.name == "task":
            kwargs["queryset"] = tasks_with_measure()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Target)
class TargetAdmin(SpreadsheetAdmin):
    resource_classes = (TargetResource,)
    list_display = ("code", "indicator", "region", "comparator", "value", "deadline", "per_year", "source")
    list_display_links = ("code", "indicator")
    list_filter = ("source", "per_year", "comparator", "indicator__plan", "indicator__measure__programme")
    search_fields = ("code", "indicator__code", "indicator__name", "clause")
    list_select_related = ("indicator", "region")
    autocomplete_fields = ("indicator", "region")
