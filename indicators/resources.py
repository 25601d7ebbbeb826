"""Import-export mappings for the admin: indicators and targets, keyed by plan and codes.

An indicator is identified by (plan code, indicator code); a target by (plan code, indicator code,
target code). Measures are written by their number in the plan, tasks by their code ("3.2"), bodies
and regions by their codes.
"""

from typing import Any

from django.db.models import Model, QuerySet
from django.utils.encoding import force_str
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export import fields, widgets

from indicators.models import Indicator, Target
from measures.models import Measure, Plan, Region, ResponsibleBody, Task
from measures.resources import (
    CodeForeignKeyWidget,
    DateOnlyWidget,
    PortalResource,
    SafeTextWidget,
    spreadsheet_text_escape,
    spreadsheet_text_unescape,
    text_field,
)


def _row_text(row: Any, column: str) -> str:
    value = row.get(column) if row is not None else None
    if value is None:
        return ""
    return spreadsheet_text_unescape(text=force_str(value).strip())


class _PlanScopedWidget(widgets.ForeignKeyWidget):
    """A reference that only means something inside the plan named in the row's `plan` column."""

    label: Any = ""

    def __init__(self, model: type[Model]) -> None:
        super().__init__(model, "pk")

    def lookup(self, *, plan_code: str, key: str) -> Model:
        raise NotImplementedError

    def key_of(self, obj: Any) -> str:
        raise NotImplementedError

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        if value is None or force_str(value).strip() == "":
            return None
        key = spreadsheet_text_unescape(text=force_str(value).strip())
        plan_code = _row_text(row, "plan")
        try:
            return self.lookup(plan_code=plan_code, key=key)
        except self.model.DoesNotExist:
            raise ValueError(
                gettext("方案“%(plan)s”中不存在%(what)s“%(key)s”") % {"plan": plan_code, "what": self.label, "key": key}
            ) from None

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> Any:
        if value is None:
            return None if kwargs.get("force_native_type") else ""
        return spreadsheet_text_escape(text=self.key_of(value))


class MeasureByNumberWidget(_PlanScopedWidget):
    label = _("举措序号")

    def __init__(self) -> None:
        super().__init__(Measure)

    def lookup(self, *, plan_code: str, key: str) -> Model:
        try:
            number = int(float(key))
        except ValueError:
            raise Measure.DoesNotExist from None
        return Measure.objects.get(plan__code=plan_code, number=number)

    def key_of(self, obj: Any) -> str:
        return str(obj.number)

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> Any:
        # A measure number is a number: spreadsheets should see it as one.
        if value is None:
            return None if kwargs.get("force_native_type") else ""
        return value.number if kwargs.get("force_native_type") else str(value.number)


class TaskByCodeWidget(_PlanScopedWidget):
    label = _("任务编号")

    def __init__(self) -> None:
        super().__init__(Task)

    def lookup(self, *, plan_code: str, key: str) -> Model:
        measure_number, _dot, task_number = key.partition(".")
        if not (measure_number.isdigit() and task_number.isdigit()):
            raise Task.DoesNotExist
        return Task.objects.get(
            measure__plan__code=plan_code, measure__number=int(measure_number), number=int(task_number)
        )

    def key_of(self, obj: Any) -> str:
        return obj.code


class IndicatorByCodeWidget(_PlanScopedWidget):
    label = _("指标代码")

    def __init__(self) -> None:
        super().__init__(Indicator)

    def lookup(self, *, plan_code: str, key: str) -> Model:
        return Indicator.objects.select_related("plan").get(plan__code=plan_code, code=key)

    def key_of(self, obj: Any) -> str:
        return obj.code


def number_field(name: str, widget: widgets.Widget) -> fields.Field:
    return fields.Field(attribute=name, column_name=name, widget=widget)


class IndicatorResource(PortalResource):
    plan = fields.Field(attribute="plan", column_name="plan", widget=CodeForeignKeyWidget(Plan))
    code = text_field("code")
    name = text_field("name")
    name_en = text_field("name_en")
    definition = text_field("definition")
    kind = text_field("kind")
    unit = text_field("unit")
    unit_en = text_field("unit_en")
    scale = number_field("scale", widgets.DecimalWidget())
    decimals = number_field("decimals", widgets.IntegerWidget())
    numerator_label = text_field("numerator_label")
    denominator_label = text_field("denominator_label")
    measure = fields.Field(attribute="measure", column_name="measure", widget=MeasureByNumberWidget())
    task = fields.Field(attribute="task", column_name="task", widget=TaskByCodeWidget(), saves_null_values=True)
    is_supporting = number_field("is_supporting", widgets.BooleanWidget())
    reporter = text_field("reporter")
    lead_body = fields.Field(
        attribute="lead_body",
        column_name="lead_body",
        widget=CodeForeignKeyWidget(ResponsibleBody),
        saves_null_values=True,
    )
    sort_order = number_field("sort_order", widgets.IntegerWidget())
    is_active = number_field("is_active", widgets.BooleanWidget())

    class Meta:
        model = Indicator
        name = _("指标（按方案与代码）")
        fields = (
            "plan",
            "code",
            "name",
            "name_en",
            "definition",
            "kind",
            "unit",
            "unit_en",
            "scale",
            "decimals",
            "numerator_label",
            "denominator_label",
            "measure",
            "task",
            "is_supporting",
            "reporter",
            "lead_body",
            "sort_order",
            "is_active",
        )
        import_id_fields = ("plan", "code")
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def filter_export(self, queryset: QuerySet[Indicator], **kwargs: Any) -> QuerySet[Indicator]:
        return queryset.select_related("plan", "measure", "task__measure", "lead_body")


class TargetResource(PortalResource):
    # Read from the row by the indicator lookup; the target itself has no plan of its own.
    plan = fields.Field(attribute="indicator__plan__code", column_name="plan", widget=SafeTextWidget(), readonly=True)
    indicator = fields.Field(attribute="indicator", column_name="indicator", widget=IndicatorByCodeWidget())
    code = text_field("code")
    region = fields.Field(
        attribute="region", column_name="region", widget=CodeForeignKeyWidget(Region), saves_null_values=True
    )
    value = number_field("value", widgets.DecimalWidget())
    comparator = text_field("comparator")
    tolerance = number_field("tolerance", widgets.DecimalWidget())
    deadline = fields.Field(
        attribute="deadline", column_name="deadline", widget=DateOnlyWidget(), saves_null_values=True
    )
    per_year = number_field("per_year", widgets.BooleanWidget())
    baseline_value = fields.Field(
        attribute="baseline_value", column_name="baseline_value", widget=widgets.DecimalWidget(), saves_null_values=True
    )
    baseline_year = fields.Field(
        attribute="baseline_year", column_name="baseline_year", widget=widgets.IntegerWidget(), saves_null_values=True
    )
    clause = text_field("clause")
    source = text_field("source")
    note = text_field("note")

    class Meta:
        model = Target
        name = _("目标（按方案、指标与代码）")
        fields = (
            "plan",
            "indicator",
            "code",
            "region",
            "value",
            "comparator",
            "tolerance",
            "deadline",
            "per_year",
            "baseline_value",
            "baseline_year",
            "clause",
            "source",
            "note",
        )
        import_id_fields = ("indicator", "code")
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def filter_export(self, queryset: QuerySet[Target], **kwargs: Any) -> QuerySet[Target]:
        return queryset.select_related("indicator__plan", "region")
