"""Query-string filters for submissions (django-filter), with the conventions of `measures.filters`: periods,
regions and bodies named by their codes as people cite them (2025Q4, 320100, a body's code); an unknown
code or a malformed value is refused with 400 naming the parameter, never read as "no filter"."""

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError

from measures.filters import StrictBooleanFilter
from measures.selectors import body_list, region_list
from reporting.models import Submission
from reporting.selectors import period_get_by_code


class SubmissionFilter(filters.FilterSet):
    period = filters.CharFilter(method="filter_period", label=_("填报期代码，如 2025Q4"))
    status = filters.ChoiceFilter(choices=Submission.Status.choices, label=_("状态"))
    region = filters.ModelChoiceFilter(
        field_name="region", to_field_name="code", queryset=region_list(), label=_("设区市行政区划代码，如 320100")
    )
    body = filters.ModelChoiceFilter(
        field_name="body", to_field_name="code", queryset=body_list(), label=_("省级责任单位代码")
    )
    late = StrictBooleanFilter(field_name="is_late", label=_("是否逾期提交"))

    class Meta:
        model = Submission
        fields = ["period", "status", "region", "body", "late"]

    def filter_period(self, queryset: QuerySet[Submission], name: str, value: str) -> QuerySet[Submission]:
        period = period_get_by_code(code=value)
        if period is None:
            raise ValidationError({name: [_("没有代码为“%(code)s”的填报期（格式如 2025Q4）。") % {"code": value[:16]}]})
        return queryset.filter(period=period)
