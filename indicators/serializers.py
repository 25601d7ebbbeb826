"""Output shapes of indicators and targets, read-only; the same conventions as `measures.serializers`
(Chinese with English beside it, enum code with its display label). Decimal values come as strings, exactly.
"""

from rest_framework import serializers

from indicators.models import Indicator, Target
from measures.models import Plan
from measures.serializers import (
    BodySummarySerializer,
    MeasureSerializer,
    MeasureSummarySerializer,
    MeasureTaskSerializer,
    RegionSummarySerializer,
    TaskSummarySerializer,
)


class IndicatorTargetSerializer(serializers.ModelSerializer):
    """A target inside its indicator. `region` is empty for a province-wide target."""

    region = RegionSummarySerializer(read_only=True, allow_null=True)
    comparator_label = serializers.CharField(source="get_comparator_display", read_only=True)
    source_label = serializers.CharField(source="get_source_display", read_only=True)

    class Meta:
        model = Target
        fields = [
            "id",
            "code",
            "region",
            "value",
            "comparator",
            "comparator_label",
            "tolerance",
            "deadline",
            "per_year",
            "baseline_value",
            "baseline_year",
            "clause",
            "source",
            "source_label",
            "note",
        ]


class IndicatorSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Indicator
        fields = ["id", "code", "name", "name_en", "unit", "unit_en"]


class TargetSerializer(IndicatorTargetSerializer):
    """A target on its own, so it says which plan and indicator it belongs to."""

    plan: serializers.SlugRelatedField[Plan] = serializers.SlugRelatedField(
        source="indicator.plan", slug_field="code", read_only=True
    )
    indicator = IndicatorSummarySerializer(read_only=True)

    class Meta(IndicatorTargetSerializer.Meta):
        fields = ["id", "plan", "indicator", *IndicatorTargetSerializer.Meta.fields[1:]]


class IndicatorSerializer(serializers.ModelSerializer):
    plan: serializers.SlugRelatedField[Plan] = serializers.SlugRelatedField(slug_field="code", read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    reporter_label = serializers.CharField(source="get_reporter_display", read_only=True)
    measure = MeasureSummarySerializer(read_only=True)
    task = TaskSummarySerializer(read_only=True, allow_null=True)
    lead_body = BodySummarySerializer(read_only=True, allow_null=True)
    targets = IndicatorTargetSerializer(many=True, read_only=True)

    class Meta:
        model = Indicator
        fields = [
            "id",
            "plan",
            "code",
            "name",
            "name_en",
            "definition",
            "kind",
            "kind_label",
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
            "reporter_label",
            "lead_body",
            "sort_order",
            "is_active",
            "targets",
        ]


class MeasureDetailSerializer(MeasureSerializer):
    """What a measure commits to (tasks), who answers for it (responsibilities, also per task), and what is
    measured against which targets (indicators with their targets): one request answers all three.
    """

    tasks = MeasureTaskSerializer(many=True, read_only=True)
    indicators = IndicatorSerializer(many=True, read_only=True)

    class Meta(MeasureSerializer.Meta):
        fields = [*MeasureSerializer.Meta.fields, "tasks", "indicators"]
