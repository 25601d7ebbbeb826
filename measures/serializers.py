"""Output shapes of the plan, read-only. Chinese text with its English title beside it (`title` + `title_en`);
every enum gives its code and its display label (`kind` + `kind_label`) so clients need no copy of the choices.

Each serializer expects the queryset of the matching selector in `measures.selectors`; the nested fields read
prefetched rows and never query on their own.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from common.serializers import FieldsOnceModelSerializer
from measures.models import Measure, Plan, PlanSection, Programme, Region, Responsibility, ResponsibleBody, Task


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API (see `portal.api_errors`), declared here for the schema only."""

    message = serializers.CharField(help_text=_("给人看的错误说明，语言随 Accept-Language"))
    # The serializer's own `errors` property is shadowed only on the class body, which DRF pops into fields.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text=_("按字段列出的错误；与字段无关的错误为空对象"),
    )


class PlanSectionSerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = PlanSection
        fields = ["kind", "kind_label", "number", "title", "title_en", "text"]


class MeasureSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Measure
        fields = ["id", "number", "title", "title_en"]


class ProgrammeSerializer(serializers.ModelSerializer):
    plan: serializers.SlugRelatedField[Plan] = serializers.SlugRelatedField(slug_field="code", read_only=True)
    measures = MeasureSummarySerializer(many=True, read_only=True)

    class Meta:
        model = Programme
        fields = ["id", "plan", "number", "title", "title_en", "heading", "measures"]


class ProgrammeInPlanSerializer(serializers.ModelSerializer):
    measures = MeasureSummarySerializer(many=True, read_only=True)

    class Meta:
        model = Programme
        fields = ["id", "number", "title", "title_en", "heading", "measures"]


class PlanSerializer(serializers.ModelSerializer):
    class Meta:
        model = Plan
        fields = [
            "code",
            "document_number",
            "title",
            "title_en",
            "issuing_bodies",
            "issued_on",
            "start_year",
            "end_year",
        ]


class PlanDetailSerializer(PlanSerializer):
    sections = PlanSectionSerializer(many=True, read_only=True)
    programmes = ProgrammeInPlanSerializer(many=True, read_only=True)

    class Meta(PlanSerializer.Meta):
        fields = [*PlanSerializer.Meta.fields, "preamble", "source_sha256", "sections", "programmes"]


class ResponsibleBodySerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = ResponsibleBody
        fields = ["code", "name", "name_en", "short_name", "kind", "kind_label", "is_active"]


class BodySummarySerializer(FieldsOnceModelSerializer):
    """A body where it is named inside something else: enough to show and to filter by."""

    class Meta:
        model = ResponsibleBody
        fields = ["code", "name", "name_en", "short_name"]


class ResponsibilitySerializer(serializers.ModelSerializer):
    body = BodySummarySerializer(read_only=True)
    role_label = serializers.CharField(source="get_role_display", read_only=True)

    class Meta:
        model = Responsibility
        fields = ["body", "role", "role_label", "is_proposed"]


class ProgrammeSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Programme
        fields = ["id", "number", "title", "title_en"]


class MeasureSerializer(serializers.ModelSerializer):
    """A measure with the bodies that answer for it as a whole (task-level bodies are on its tasks)."""

    plan: serializers.SlugRelatedField[Plan] = serializers.SlugRelatedField(slug_field="code", read_only=True)
    programme = ProgrammeSummarySerializer(read_only=True)
    responsibilities = ResponsibilitySerializer(source="measure_responsibilities", many=True, read_only=True)

    class Meta:
        model = Measure
        fields = ["id", "plan", "programme", "number", "title", "title_en", "text", "responsibilities"]


class MeasureTaskSerializer(serializers.ModelSerializer):
    code = serializers.CharField(read_only=True, help_text=_("举措序号.任务序号，如 5.2"))
    recurrence_label = serializers.CharField(source="get_recurrence_display", read_only=True)
    responsibilities = ResponsibilitySerializer(many=True, read_only=True)

    class Meta:
        model = Task
        fields = [
            "id",
            "code",
            "number",
            "title",
            "title_en",
            "sentence",
            "deadline",
            "recurrence",
            "recurrence_label",
            "responsibilities",
        ]


class TaskSerializer(MeasureTaskSerializer):
    """A task on its own, so it says which plan and measure it belongs to."""

    plan: serializers.SlugRelatedField[Plan] = serializers.SlugRelatedField(
        source="measure.plan", slug_field="code", read_only=True
    )
    measure = MeasureSummarySerializer(read_only=True)

    class Meta(MeasureTaskSerializer.Meta):
        fields = ["id", "plan", "measure", *MeasureTaskSerializer.Meta.fields[1:]]


class RegionSerializer(serializers.ModelSerializer):
    level_label = serializers.CharField(source="get_level_display", read_only=True)
    # A declared field named like the serializer's own `parent` attribute: DRF pops it into fields, so no clash.
    parent: serializers.SlugRelatedField[Region] = serializers.SlugRelatedField(  # type: ignore[assignment]
        slug_field="code", read_only=True, allow_null=True, help_text=_("上级行政区划代码；省级为空")
    )

    class Meta:
        model = Region
        fields = ["code", "name", "name_en", "level", "level_label", "parent", "division_year", "sort_order"]


class RegionSummarySerializer(FieldsOnceModelSerializer):
    class Meta:
        model = Region
        fields = ["code", "name", "name_en"]


class TaskSummarySerializer(serializers.ModelSerializer):
    code = serializers.CharField(read_only=True, help_text=_("举措序号.任务序号，如 5.2"))

    class Meta:
        model = Task
        fields = ["id", "code", "title", "title_en"]
