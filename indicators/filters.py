"""Query-string filters for indicators and targets; the conventions of `measures.filters` (codes and numbers as
people cite them, bad values refused with 400 naming the parameter).
"""

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError

from indicators.models import Indicator, Target
from measures.filters import IntegerFilter, StrictBooleanFilter, plan_filter
from measures.selectors import body_list, region_list


class IndicatorFilter(filters.FilterSet):
    plan = plan_filter("plan")
    measure = IntegerFilter(field_name="measure__number", label=_("举措序号"))
    kind = filters.ChoiceFilter(choices=Indicator.Kind.choices, label=_("汇总方式"))
    is_supporting = StrictBooleanFilter(field_name="is_supporting", label=_("是否辅助指标（非方案目标）"))
    reporter = filters.ChoiceFilter(choices=Indicator.Reporter.choices, label=_("填报主体"))
    body = filters.ModelChoiceFilter(
        field_name="lead_body", to_field_name="code", queryset=body_list(), label=_("填报/牵头单位代码")
    )
    is_active = StrictBooleanFilter(field_name="is_active", label=_("是否启用"))

    class Meta:
        model = Indicator
        fields = ["plan", "measure", "kind", "is_supporting", "reporter", "body", "is_active"]


class TargetFilter(filters.FilterSet):
    plan = plan_filter("indicator__plan")
    indicator = filters.CharFilter(method="filter_indicator", label=_("指标代码"))
    source = filters.ChoiceFilter(choices=Target.Source.choices, label=_("目标来源"))
    per_year = StrictBooleanFilter(field_name="per_year", label=_("是否每年目标"))
    region = filters.ModelChoiceFilter(
        field_name="region", to_field_name="code", queryset=region_list(), label=_("适用地区代码（分解到市的目标）")
    )

    class Meta:
        model = Target
        fields = ["plan", "indicator", "source", "per_year", "region"]

    def filter_indicator(self, queryset: QuerySet[Target], name: str, value: str) -> QuerySet[Target]:
        # Indicator codes are unique per plan only, so this is not a ModelChoiceFilter; an unknown code is
        # still refused rather than answered with an empty list that looks like "no targets".
        if not Indicator.objects.filter(code=value).exists():
            raise ValidationError({name: [_("没有代码为“%(code)s”的指标。") % {"code": value}]})
        return queryset.filter(indicator__code=value)
