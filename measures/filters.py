"""Query-string filters for the plan endpoints (django-filter).

Plans, bodies and regions are named by their codes, programmes, measures and tasks by their numbers, as
people cite them. An unknown code, a value outside a choice set or a malformed boolean is refused with 400
naming the parameter, rather than silently ignored: a typo must not look like "no filter".
"""

import re
import unicodedata
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django_filters import filters as plain_filters
from django_filters import rest_framework as filters

from measures.models import Measure, Programme, Region, ResponsibleBody, Task
from measures.selectors import body_list, plan_list, region_list, responsibility_exists


class StrictBooleanField(forms.TypedChoiceField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        kwargs.setdefault("coerce", lambda value: value == "true")
        kwargs.setdefault("empty_value", None)
        super().__init__(*args, **kwargs)


class StrictIntegerField(forms.IntegerField):
    """Whole numbers only. Django's IntegerField reads "1.0" as 1 and django-filter's NumberFilter reads "0.5"
    as a number, so a schema that says integer would be contradicted; full-width digits read as digits."""

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        text = unicodedata.normalize("NFKC", str(value)).strip()
        if not re.fullmatch(r"-?[0-9]+", text):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return int(text)


class IntegerFilter(plain_filters.NumberFilter):
    """A number a person cites (programme 3, measure 12): refused with 400 unless it is a whole number."""

    field_class = StrictIntegerField


class StrictBooleanFilter(plain_filters.BooleanFilter):
    """`true` or `false`. django-filter's DRF BooleanFilter (its BooleanWidget) turns any other value into
    "no filter"; the plain BooleanFilter is the base so that drf-spectacular still documents a boolean.
    """

    field_class = StrictBooleanField


def plan_filter(field_name: str) -> filters.ModelChoiceFilter:
    return filters.ModelChoiceFilter(
        field_name=field_name, to_field_name="code", queryset=plan_list(), label=_("方案代码，如 js-2018-28")
    )


def body_filter(*, method: str, label: str | Promise) -> filters.ModelChoiceFilter:
    # The method's type hint for `value` is what drf-spectacular documents: give it the model, read as a string.
    return filters.ModelChoiceFilter(to_field_name="code", queryset=body_list(), method=method, label=label)


class ProgrammeFilter(filters.FilterSet):
    plan = plan_filter("plan")

    class Meta:
        model = Programme
        fields = ["plan"]


class MeasureFilter(filters.FilterSet):
    plan = plan_filter("plan")
    programme = IntegerFilter(field_name="programme__number", label=_("工程序号"))
    number = IntegerFilter(field_name="number", label=_("举措序号"))
    body = body_filter(method="filter_body", label=_("责任单位代码（牵头或配合，举措或其任务）"))
    is_proposed = StrictBooleanFilter(method="filter_is_proposed", label=_("分工是否仍为建议（未经确认）"))

    class Meta:
        model = Measure
        fields = ["plan", "programme", "number", "body", "is_proposed"]

    # Both are applied together in filter_queryset, so that they hold on the same responsibility.
    def filter_body(self, queryset: QuerySet[Measure], name: str, value: ResponsibleBody) -> QuerySet[Measure]:
        return queryset

    def filter_is_proposed(self, queryset: QuerySet[Measure], name: str, value: bool) -> QuerySet[Measure]:
        return queryset

    def filter_queryset(self, queryset: QuerySet[Measure]) -> QuerySet[Measure]:
        queryset = super().filter_queryset(queryset)
        body = self.form.cleaned_data.get("body")
        is_proposed = self.form.cleaned_data.get("is_proposed")
        if body is None and is_proposed is None:
            return queryset
        return queryset.filter(responsibility_exists(outer="measure", body=body, is_proposed=is_proposed))


class TaskFilter(filters.FilterSet):
    plan = plan_filter("measure__plan")
    measure = IntegerFilter(field_name="measure__number", label=_("举措序号"))
    body = body_filter(method="filter_body", label=_("任务的责任单位代码（牵头或配合）"))
    has_deadline = StrictBooleanFilter(method="filter_has_deadline", label=_("原文是否规定完成时限"))

    class Meta:
        model = Task
        fields = ["plan", "measure", "body", "has_deadline"]

    def filter_body(self, queryset: QuerySet[Task], name: str, value: ResponsibleBody) -> QuerySet[Task]:
        return queryset.filter(responsibility_exists(outer="task", body=value))

    def filter_has_deadline(self, queryset: QuerySet[Task], name: str, value: bool) -> QuerySet[Task]:
        return queryset.filter(deadline__isnull=not value)


class ResponsibleBodyFilter(filters.FilterSet):
    kind = filters.ChoiceFilter(choices=ResponsibleBody.Kind.choices, label=_("单位类别"))
    is_active = StrictBooleanFilter(field_name="is_active", label=_("是否启用"))

    class Meta:
        model = ResponsibleBody
        fields = ["kind", "is_active"]


class RegionFilter(filters.FilterSet):
    level = filters.ChoiceFilter(choices=Region.Level.choices, label=_("层级"))
    parent = filters.ModelChoiceFilter(
        field_name="parent", to_field_name="code", queryset=region_list(), label=_("上级行政区划代码")
    )

    class Meta:
        model = Region
        fields = ["level", "parent"]
