"""Input and output shapes of the reporting API.

Inputs are flat on purpose: a values list is taken as plain objects and checked by
`submission_values_put`, which knows each indicator's kind and names the failing field
(`values.<indicator code>.<field>`). A serializer per value would double the work and the messages
(DRF field validation is the largest CPU cost of an ingest). Outputs read prefetched rows only.
"""

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.serializers import FieldsOnceModelSerializer
from indicators.models import Indicator
from measures.models import Measure, Plan, Region, ResponsibleBody
from measures.serializers import BodySummarySerializer, RegionSummarySerializer
from reporting.models import DataValue, Evidence, Narrative, Period, Submission
from reporting.selectors import period_get_by_code
from reporting.selectors.submissions import submission_actions_allowed

ACTIONS = ["edit", "submit", "city_approve", "confirm", "return", "reopen"]


class PeriodSerializer(serializers.ModelSerializer):
    code = serializers.CharField(read_only=True, help_text=_("如 2025Q4"))
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Period
        fields = ["code", "year", "quarter", "start", "end", "deadline", "status", "status_label", "version"]


class PeriodDeadlineSerializer(serializers.Serializer):
    deadline = serializers.DateField(help_text=_("新的填报截止日期，不早于季度结束日期"))


class ReasonSerializer(serializers.Serializer):
    # Blank is let through so that the service's own message ("必须填写原因") is the one shown.
    reason = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)


class VersionField(serializers.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("help_text", _("读取时的版本号（与 If-Match 二选一）；已过期则 412，不会覆盖他人的修改"))
        super().__init__(**kwargs)


class WorkflowActionSerializer(serializers.Serializer):
    """Body of submit / city-approve / confirm: optional; a version makes the step conditional."""

    version = VersionField()


class ReasonedActionSerializer(ReasonSerializer):
    """Body of return / reopen: the reason is required."""

    version = VersionField()


class SubmissionCreateSerializer(serializers.Serializer):
    period = serializers.CharField(max_length=16, help_text=_("填报期代码，如 2025Q4"))
    region = serializers.CharField(
        max_length=12, required=False, help_text=_("设区市行政区划代码，如 320100；与 body 二选一")
    )
    body = serializers.CharField(max_length=64, required=False, help_text=_("省级责任单位代码；与 region 二选一"))
    plan = serializers.CharField(
        max_length=64, required=False, help_text=_("方案代码；省略时为最早印发的方案（目前只有一个）")
    )

    def _known(self, name: str, key: str | None) -> Any:
        """What `report_definitions_read` read for `name` under exactly `key` (context "definitions"), or None."""
        known = self.context.get("definitions")
        return known.get(name, key) if known is not None else None

    def validate_period(self, value: str) -> Period:
        period = self._known("period", value) or period_get_by_code(code=value)
        if period is None:
            raise serializers.ValidationError(_("没有代码为“%(code)s”的填报期（格式如 2025Q4）。") % {"code": value})
        return period

    def validate_region(self, value: str) -> Region:
        region = self._known("region", value.strip()) or Region.objects.filter(code=value.strip()).first()
        if region is None:
            raise serializers.ValidationError(_("没有代码为“%(code)s”的行政区划。") % {"code": value})
        return region

    def validate_body(self, value: str) -> ResponsibleBody:
        body = self._known("body", value.strip()) or ResponsibleBody.objects.filter(code=value.strip()).first()
        if body is None:
            raise serializers.ValidationError(_("没有代码为“%(code)s”的责任单位。") % {"code": value})
        return body

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        plan = self._known("plan", attrs.get("plan"))
        if plan is None:
            plans = Plan.objects.order_by("issued_on", "code")
            plan = plans.filter(code=attrs["plan"]).first() if "plan" in attrs else plans.first()
        if plan is None:
            raise serializers.ValidationError({"plan": [_("没有这个方案。")]})
        attrs["plan"] = plan
        return attrs


class ValueItemSerializer(serializers.Serializer):
    """One indicator's value, for the schema only: items are checked by the service, by indicator kind."""

    indicator = serializers.CharField(help_text=_("指标代码"))
    value = serializers.DecimalField(
        max_digits=20, decimal_places=4, required=False, allow_null=True, help_text=_("存量、流量指标的数值")
    )
    numerator = serializers.DecimalField(
        max_digits=20, decimal_places=4, required=False, allow_null=True, help_text=_("比率、占比指标的分子")
    )
    denominator = serializers.DecimalField(
        max_digits=20, decimal_places=4, required=False, allow_null=True, help_text=_("比率、占比指标的分母")
    )
    done = serializers.BooleanField(required=False, allow_null=True, help_text=_("里程碑是否完成"))
    done_on = serializers.DateField(required=False, allow_null=True, help_text=_("里程碑完成日期"))
    comment = serializers.CharField(required=False, allow_blank=True, help_text=_("说明；较上季度变化过大时必填"))


class NarrativeItemSerializer(serializers.Serializer):
    """One measure's narrative, for the schema only: items are checked by the service."""

    measure = serializers.IntegerField(help_text=_("举措序号 1–23"))
    progress = serializers.CharField(required=False, allow_blank=True, help_text=_("进展情况"))
    problems = serializers.CharField(required=False, allow_blank=True, help_text=_("存在问题"))
    next_steps = serializers.CharField(required=False, allow_blank=True, help_text=_("下步计划"))


@extend_schema_field(ValueItemSerializer(many=True))
class ValueItemsField(serializers.ListField):
    """A list of plain objects passed to the service as they came."""


@extend_schema_field(NarrativeItemSerializer(many=True))
class NarrativeItemsField(serializers.ListField):
    """A list of plain objects passed to the service as they came."""


class ValuesPutSerializer(serializers.Serializer):
    values = ValueItemsField(max_length=2000, help_text=_("要写入的数值；未列出的指标保持不变"))
    version = VersionField()


class ReportUploadSerializer(SubmissionCreateSerializer):
    """A whole report in one call: the reporter and period as for creating it, its values, and whether to submit."""

    values = ValueItemsField(max_length=2000, help_text=_("要写入的数值；未列出的指标保持不变"))
    submit = serializers.BooleanField(
        required=False, default=False, help_text=_("写入后立即提交（先校验完整性）；不完整则整个请求不写入")
    )
    version = VersionField(
        help_text=_("报表已存在时必填（或 If-Match）：读取时的版本号；已过期则 412。本次新建的报表无需填写")
    )


class NarrativesPutSerializer(serializers.Serializer):
    narratives = NarrativeItemsField(max_length=200, help_text=_("各举措的进展情况、存在问题、下步计划"))
    version = VersionField()


class EvidenceUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text=_("PDF、PNG、JPEG、DOCX 或 XLSX，按内容而非扩展名检查"))
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    measure = serializers.IntegerField(required=False, allow_null=True, help_text=_("所佐证的举措序号"))
    indicator = serializers.CharField(max_length=64, required=False, allow_blank=True, help_text=_("所佐证的指标代码"))
    version = VersionField()

    def validate_measure(self, value: int | None) -> Measure | None:
        if value is None:
            return None
        measure = Measure.objects.filter(plan_id=self.context["submission"].plan_id, number=value).first()
        if measure is None:
            raise serializers.ValidationError(_("没有序号为 %(n)s 的举措。") % {"n": value})
        return measure

    def validate_indicator(self, value: str) -> Indicator | None:
        if not value:
            return None
        indicator = Indicator.objects.filter(plan_id=self.context["submission"].plan_id, code=value).first()
        if indicator is None:
            raise serializers.ValidationError(_("未知的指标代码“%(code)s”。") % {"code": value[:64]})
        return indicator


class UserNameField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str:
        return value.get_username()


class DataValueSerializer(serializers.ModelSerializer):
    indicator = serializers.CharField(source="indicator.code", read_only=True)
    indicator_name = serializers.CharField(source="indicator.name", read_only=True)
    kind = serializers.CharField(source="indicator.kind", read_only=True)
    unit = serializers.CharField(source="indicator.unit", read_only=True)
    updated_by = UserNameField()

    class Meta:
        model = DataValue
        fields = [
            "indicator",
            "indicator_name",
            "kind",
            "unit",
            "value",
            "numerator",
            "denominator",
            "done",
            "done_on",
            "comment",
            "updated_at",
            "updated_by",
        ]


class NarrativeSerializer(serializers.ModelSerializer):
    measure = serializers.IntegerField(source="measure.number", read_only=True)
    measure_title = serializers.CharField(source="measure.title", read_only=True)
    updated_by = UserNameField()

    class Meta:
        model = Narrative
        fields = ["measure", "measure_title", "progress", "problems", "next_steps", "updated_at", "updated_by"]


class EvidenceSerializer(serializers.ModelSerializer):
    measure = serializers.IntegerField(source="measure.number", read_only=True, allow_null=True, default=None)
    indicator = serializers.CharField(source="indicator.code", read_only=True, allow_null=True, default=None)
    uploaded_by = UserNameField()
    removed_by = UserNameField()

    class Meta:
        model = Evidence
        fields = [
            "id",
            "original_name",
            "content_type",
            "size",
            "sha256",
            "description",
            "measure",
            "indicator",
            "uploaded_at",
            "uploaded_by",
            "removed_at",
            "removed_by",
            "removal_reason",
        ]


class SubmissionSerializer(FieldsOnceModelSerializer):
    """A submission as listed: who reports, for which period, its state and what the reader may do now."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    plan = serializers.CharField(source="plan.code", read_only=True)
    period = serializers.CharField(source="period.code", read_only=True)
    region = RegionSummarySerializer(read_only=True, allow_null=True)
    body = BodySummarySerializer(read_only=True, allow_null=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    allowed_actions = serializers.SerializerMethodField(help_text=_("当前用户此刻可以进行的操作"))

    class Meta:
        model = Submission
        fields = [
            "id",
            "plan",
            "period",
            "region",
            "body",
            "reporter_name",
            "status",
            "status_label",
            "version",
            "is_late",
            "return_reason",
            "created_at",
            "updated_at",
            "submitted_at",
            "city_approved_at",
            "confirmed_at",
            "allowed_actions",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=ACTIONS)))
    def get_allowed_actions(self, submission: Submission) -> list[str]:
        return submission_actions_allowed(submission=submission, user=self.context["request"].user)


class SubmissionDetailSerializer(SubmissionSerializer):
    """A submission with its values, narratives and the evidence still attached (removed files are in the history)."""

    values = DataValueSerializer(many=True, read_only=True)
    narratives = NarrativeSerializer(many=True, read_only=True)
    evidence = EvidenceSerializer(many=True, read_only=True)

    class Meta(SubmissionSerializer.Meta):
        fields = [*SubmissionSerializer.Meta.fields, "values", "narratives", "evidence"]


class WriteSummarySerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class WriteResultSerializer(serializers.Serializer):
    """The answer to a bulk write: the submission's new state and version, and what the write changed."""

    id = serializers.UUIDField(source="submission.public_id")
    status = serializers.CharField(source="submission.status")
    version = serializers.IntegerField(source="submission.version")
    summary = WriteSummarySerializer()


class ReportUploadResultSerializer(SubmissionSerializer):
    """The answer to a whole-report upload: the submission as listed, and what the values write changed."""

    summary = serializers.SerializerMethodField()

    class Meta(SubmissionSerializer.Meta):
        fields = [*SubmissionSerializer.Meta.fields, "summary"]

    @extend_schema_field(WriteSummarySerializer)
    def get_summary(self, submission: Submission) -> dict[str, int]:
        return self.context["summary"]


class EvidenceWriteResultSerializer(EvidenceSerializer):
    """An evidence file as attached or removed, with the submission's new version."""

    version = serializers.IntegerField(source="submission.version", read_only=True)

    class Meta(EvidenceSerializer.Meta):
        fields = [*EvidenceSerializer.Meta.fields, "version"]


class DueSubmissionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Submission
        fields = ["id", "status", "status_label", "version", "return_reason"]


class DueItemSerializer(serializers.Serializer):
    plan = serializers.CharField(source="plan.code")
    period = serializers.CharField(source="period.code")
    region = RegionSummarySerializer(allow_null=True)
    body = BodySummarySerializer(allow_null=True)
    deadline = serializers.DateField(source="period.deadline")
    days_left = serializers.IntegerField(help_text=_("距截止日期的天数；负数表示已逾期"))
    overdue = serializers.BooleanField(help_text=_("尚未提交且已过截止日期"))
    submission = DueSubmissionSerializer(allow_null=True, help_text=_("尚未创建时为空"))


class HistoryChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class HistoryEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    user = serializers.CharField(allow_null=True)
    kind = serializers.ChoiceField(
        choices=["submission", "state", "value", "narrative", "evidence"],
        help_text=_("state：流转（提交、审核、退回等）；value：数值；narrative：进展情况；evidence：佐证材料"),
    )
    subject = serializers.CharField(help_text=_("指标代码、举措序号或文件名"))
    action = serializers.CharField(help_text=_("created/changed/deleted/removed，或流转操作 submit/return 等"))
    changes = HistoryChangeSerializer(many=True)
    reason = serializers.CharField(allow_blank=True)
