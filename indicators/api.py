"""Read-only REST endpoints for measures (with what they commit to, who answers, and their targets),
indicators and targets. The measures endpoint lives here because its detail nests indicators and targets.
"""

from django.db.models import QuerySet
from rest_framework import serializers, viewsets

from indicators import selectors
from indicators.filters import IndicatorFilter, TargetFilter
from indicators.models import Indicator, Target
from indicators.serializers import IndicatorSerializer, MeasureDetailSerializer, TargetSerializer
from measures.api import read_only_schema
from measures.filters import MeasureFilter
from measures.models import Measure
from measures.selectors import measure_list
from measures.serializers import MeasureSerializer


@read_only_schema(
    tag="plan 方案",
    list_summary="举措列表 · List measures",
    retrieve_summary="举措详情：任务、责任单位、指标与目标 · Measure with its tasks, bodies, indicators and targets",
    serializer=MeasureSerializer,
    detail_serializer=MeasureDetailSerializer,
)
class MeasureViewSet(viewsets.ReadOnlyModelViewSet):
    filterset_class = MeasureFilter

    def get_queryset(self) -> QuerySet[Measure]:
        if self.action == "retrieve":
            return selectors.measure_detail_list()
        return measure_list()

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return MeasureDetailSerializer if self.action == "retrieve" else MeasureSerializer


@read_only_schema(
    tag="indicators 指标与目标",
    list_summary="指标列表（含目标） · List indicators with their targets",
    retrieve_summary="指标详情（含目标） · Indicator with its targets",
    serializer=IndicatorSerializer,
)
class IndicatorViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = IndicatorSerializer
    filterset_class = IndicatorFilter

    def get_queryset(self) -> QuerySet[Indicator]:
        return selectors.indicator_list()


@read_only_schema(
    tag="indicators 指标与目标",
    list_summary="目标列表 · List targets",
    retrieve_summary="目标详情 · Target",
    serializer=TargetSerializer,
)
class TargetViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = TargetSerializer
    filterset_class = TargetFilter

    def get_queryset(self) -> QuerySet[Target]:
        return selectors.target_list()


routes = [
    ("measures", MeasureViewSet, "measure"),
    ("indicators", IndicatorViewSet, "indicator"),
    ("targets", TargetViewSet, "target"),
]
