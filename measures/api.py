"""Read-only REST endpoints for the plan: plans, programmes, tasks, responsible bodies, regions.

`measures/` itself is served from `indicators.api`: its detail nests the indicators and targets of the
measure, and imports run one way (indicators → measures), so the endpoint lives above both.

Every endpoint is authenticated (the project's default permission) and reads through a selector.
"""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets

from measures import selectors
from measures.filters import ProgrammeFilter, RegionFilter, ResponsibleBodyFilter, TaskFilter
from measures.models import Plan, Programme, Region, ResponsibleBody, Task
from measures.serializers import (
    ErrorSerializer,
    PlanDetailSerializer,
    PlanSerializer,
    ProgrammeSerializer,
    RegionSerializer,
    ResponsibleBodySerializer,
    TaskSerializer,
)

BAD_FILTER = OpenApiResponse(
    ErrorSerializer, description="查询参数有误（未知的代码或取值），errors 中列出参数名。 Bad filter."
)
NOT_AUTHENTICATED = OpenApiResponse(ErrorSerializer, description="未登录或令牌无效。 Not authenticated.")
FORBIDDEN = OpenApiResponse(ErrorSerializer, description="无权访问。 Permission denied.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="不存在。 Not found.")


def read_only_schema(
    *,
    tag: str,
    list_summary: str,
    retrieve_summary: str,
    serializer: type[serializers.Serializer],
    detail_serializer: type[serializers.Serializer] | None = None,
    filtered: bool = True,
) -> Any:
    """Document a read-only viewset: bilingual summaries, one tag, and the error responses in the API's shape.

    The 200 responses are given explicitly because a `responses` mapping replaces drf-spectacular's inferred one.
    """
    list_errors = {401: NOT_AUTHENTICATED, 403: FORBIDDEN}
    if filtered:
        list_errors[400] = BAD_FILTER
    return extend_schema_view(
        list=extend_schema(tags=[tag], summary=list_summary, responses={200: serializer(many=True), **list_errors}),
        retrieve=extend_schema(
            tags=[tag],
            summary=retrieve_summary,
            responses={200: detail_serializer or serializer, 401: NOT_AUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND},
        ),
    )


@read_only_schema(
    tag="plan 方案",
    list_summary="方案列表 · List plans",
    retrieve_summary="方案详情（含总体要求、组织实施、工程与举措） · Plan with its sections, programmes and measures",
    serializer=PlanSerializer,
    detail_serializer=PlanDetailSerializer,
    filtered=False,
)
class PlanViewSet(viewsets.ReadOnlyModelViewSet):
    lookup_field = "code"

    def get_queryset(self) -> QuerySet[Plan]:
        if self.action == "retrieve":
            return selectors.plan_structure_list()
        return selectors.plan_list()

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return PlanDetailSerializer if self.action == "retrieve" else PlanSerializer


@read_only_schema(
    tag="plan 方案",
    list_summary="工程列表 · List programmes",
    retrieve_summary="工程详情 · Programme with its measures",
    serializer=ProgrammeSerializer,
)
class ProgrammeViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = ProgrammeSerializer
    filterset_class = ProgrammeFilter

    def get_queryset(self) -> QuerySet[Programme]:
        return selectors.programme_list()


@read_only_schema(
    tag="plan 方案",
    list_summary="任务列表 · List tasks",
    retrieve_summary="任务详情（含责任单位） · Task with its responsible bodies",
    serializer=TaskSerializer,
)
class TaskViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = TaskSerializer
    filterset_class = TaskFilter

    def get_queryset(self) -> QuerySet[Task]:
        return selectors.task_list()


@read_only_schema(
    tag="bodies and regions 单位与地区",
    list_summary="责任单位列表 · List responsible bodies",
    retrieve_summary="责任单位详情 · Responsible body",
    serializer=ResponsibleBodySerializer,
)
class ResponsibleBodyViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = ResponsibleBodySerializer
    filterset_class = ResponsibleBodyFilter
    lookup_field = "code"

    def get_queryset(self) -> QuerySet[ResponsibleBody]:
        return selectors.body_list()


@read_only_schema(
    tag="bodies and regions 单位与地区",
    list_summary="行政区划列表 · List regions",
    retrieve_summary="行政区划详情 · Region",
    serializer=RegionSerializer,
)
class RegionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = RegionSerializer
    filterset_class = RegionFilter
    lookup_field = "code"

    def get_queryset(self) -> QuerySet[Region]:
        return selectors.region_list()


routes = [
    ("plans", PlanViewSet, "plan"),
    ("programmes", ProgrammeViewSet, "programme"),
    ("tasks", TaskViewSet, "task"),
    ("bodies", ResponsibleBodyViewSet, "body"),
    ("regions", RegionViewSet, "region"),
]
