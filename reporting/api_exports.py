"""The REST API of supervision (督查) reports under `/api/v1/`: export jobs (the export log), their files,
and the as-of snapshots the reports are built from, with the difference between two snapshots.

Views parse HTTP and call one service or selector each. The export log is read-only: a job is created
by POST and moves on by itself; nothing updates or deletes it (405). Auditors may export and read
everything; they change nothing (the reporting endpoints refuse their writes with 403).
"""

import uuid
from typing import Any, cast

from django.contrib.auth.models import User
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from common.parsers import StrictJSONParser
from measures.models import Plan
from reporting.api import IDEMPOTENCY_KEY, errors, parsed
from reporting.exports.parts import PARTS_BY_KEY
from reporting.exports.render import CONTENT_TYPES, download_name, file_extension
from reporting.idempotency import idempotent
from reporting.models import ExportJob, ReportSnapshot
from reporting.selectors.exports import (
    export_audience,
    export_file_readable,
    export_jobs_visible,
    snapshot_diff,
    snapshots_visible,
)
from reporting.services.exports import export_download_log, export_file_path, export_job_create

TAGS = ["reports 督查报告"]
EXPORT_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="导出任务 ID · Export job id")
SNAPSHOT_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="快照 ID · Snapshot id")


class ExportCreateSerializer(serializers.Serializer):
    period = serializers.CharField(
        required=False,
        max_length=8,
        help_text="季度（2025Q4）或年度（2025）；给出 snapshot 时可省略 · A quarter (2025Q4) or a year (2025)",
    )
    format = serializers.ChoiceField(choices=ExportJob.Format.values, help_text="xlsx | pdf | csv")
    part = serializers.ChoiceField(
        choices=list(PARTS_BY_KEY),
        required=False,
        allow_blank=True,
        help_text="仅 CSV：只导出这一部分（单个 CSV）；省略则为每部分一个 CSV 的 zip · CSV only: one part",
    )
    plan = serializers.SlugRelatedField(
        slug_field="code", queryset=Plan.objects.all(), required=False, help_text="方案代码，默认第一个方案"
    )
    programmes = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=50)
    measures = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=200)
    cities = serializers.ListField(
        child=serializers.CharField(max_length=12), required=False, max_length=500, help_text="设区市行政区划代码"
    )
    bodies = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=200, help_text="责任单位代码"
    )
    snapshot = serializers.UUIDField(required=False, help_text="用已有快照重新生成（数字与原报告相同）")
    background = serializers.BooleanField(required=False, default=False, help_text="强制后台生成")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("period") and not attrs.get("snapshot"):
            raise serializers.ValidationError({"period": [_("请给出报告期（如 2025Q4 或 2025），或已有快照。")]})
        return attrs


# A plain string in the schema: "span" already names the figures' quarter/ytd enum elsewhere in the API.
SPAN_HELP = "quarter（季度报告）| year（年度报告）"


class ExportJobSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    span = serializers.CharField(read_only=True, help_text=SPAN_HELP)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    plan = serializers.CharField(source="plan.code", read_only=True)
    period = serializers.CharField(source="period.code", read_only=True, help_text="报告所截至的季度")
    snapshot = serializers.UUIDField(source="snapshot.public_id", read_only=True, allow_null=True)
    snapshot_cut_off = serializers.DateTimeField(source="snapshot.cut_off", read_only=True, allow_null=True)
    file_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "status",
            "format",
            "part",
            "mode",
            "plan",
            "period",
            "span",
            "scope",
            "snapshot",
            "snapshot_cut_off",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "attempts",
            "sha256",
            "size",
            "error",
            "file_url",
        ]
        read_only_fields = fields

    def get_file_url(self, job: ExportJob) -> str | None:
        if job.status != ExportJob.Status.DONE:
            return None
        return reverse("export-file", kwargs={"id": job.public_id})


class SnapshotSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    span = serializers.CharField(read_only=True, help_text=SPAN_HELP)
    plan = serializers.CharField(source="plan.code", read_only=True)
    period = serializers.CharField(source="period.code", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = ReportSnapshot
        fields = [
            "id",
            "plan",
            "period",
            "span",
            "scope",
            "audience",
            "cut_off",
            "rule_version",
            "content_sha256",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class SnapshotDetailSerializer(SnapshotSerializer):
    content = serializers.JSONField(read_only=True, help_text="报告所述的全部数字、表格与文字摘要")

    class Meta(SnapshotSerializer.Meta):
        fields = [*SnapshotSerializer.Meta.fields, "content"]
        read_only_fields = fields


class DiffQuerySerializer(serializers.Serializer):
    against = serializers.UUIDField(help_text="较早的快照 ID · The earlier snapshot")


class DiffSerializer(serializers.Serializer):
    earlier = serializers.UUIDField()
    later = serializers.UUIDField()
    earlier_cut_off = serializers.CharField()
    later_cut_off = serializers.CharField()
    revised = serializers.ListField(child=serializers.DictField(), help_text="数值修订：键、字段、原值、新值")
    added = serializers.ListField(child=serializers.DictField(), help_text="新出现的数据（如新增城市）")
    removed = serializers.ListField(child=serializers.DictField())
    cities_added = serializers.ListField(child=serializers.DictField(), help_text="全省数据新纳入的设区市")
    cities_removed = serializers.ListField(child=serializers.DictField())


def _user(request: Request) -> User:
    # Every view here requires authentication (the default permission), so the user is a real one.
    return cast(User, request.user)


def _public_id(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound from None


@extend_schema_view(
    list=extend_schema(
        tags=TAGS,
        summary="导出日志（系统管理员、督查人员看全部，其他人看自己的） · The export log",
        responses={200: ExportJobSerializer(many=True), **errors(401)},
    ),
    retrieve=extend_schema(
        tags=TAGS,
        summary="导出任务状态 · An export job and its status",
        parameters=[EXPORT_ID],
        responses={200: ExportJobSerializer, **errors(401, 404)},
    ),
)
class ExportJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Supervision report exports: each row is one export in the log."""

    serializer_class = ExportJobSerializer
    parser_classes = [StrictJSONParser]
    lookup_url_kwarg = "id"
    filterset_class = None

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return ExportJob.objects.none()
        return export_jobs_visible(user=self.request.user)

    def get_object(self) -> ExportJob:
        return get_object_or_404(self.get_queryset(), public_id=_public_id(self.kwargs["id"]))

    @extend_schema(
        tags=TAGS,
        summary="导出督查报告（XLSX、PDF、CSV） · Export a supervision report",
        description=(
            "范围：报告期（季度或年度），可按工程、举措、设区市或责任单位缩小。督查人员和协调小组办公室可导出全部；"
            "责任单位填报员只能导出本单位负责的举措；设区市填报员、审核员只能导出本市数据（全省正式数据除外）；"
            "系统管理员只能查看导出日志。小报告即时生成（201，status=done）；大报告和 PDF 在后台生成（202），"
            "请轮询任务状态。给出 snapshot 时按该快照重新生成，数字与原报告相同。\n\n"
            "Scope: a period (quarter or year), optionally narrowed to programmes, measures, cities or bodies. "
            "Auditors and coordinators export everything; body reporters their bodies' measures; city reporters "
            "and reviewers their own city (beside the province's official figures); administrators only read the "
            "log. Small reports are built at once (201, status done); large ones and PDFs in the background (202): "
            "poll the job. With `snapshot` the report is rendered again from it, with the same figures."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=ExportCreateSerializer,
        # 404: the `snapshot` named does not exist or is not the caller's to read.
        responses={201: ExportJobSerializer, 202: ExportJobSerializer, **errors(400, 401, 403, 404, 415, 422)},
    )
    @idempotent
    def create(self, request: Request) -> Response:
        data = parsed(ExportCreateSerializer, request)
        snapshot = None
        if data.get("snapshot"):
            export_audience(user=request.user)
            snapshot = snapshots_visible(user=request.user).filter(public_id=data["snapshot"]).first()
            if snapshot is None:
                raise NotFound(_("没有这个快照，或不在您的权限范围内。"))
        job = export_job_create(
            user=_user(request),
            format=data["format"],
            period=data.get("period"),
            plan=data.get("plan"),
            programmes=data.get("programmes"),
            measures=data.get("measures"),
            cities=data.get("cities"),
            bodies=data.get("bodies"),
            part=data.get("part") or "",
            snapshot=snapshot,
            background=data["background"],
        )
        code = status.HTTP_201_CREATED if job.status == ExportJob.Status.DONE else status.HTTP_202_ACCEPTED
        url = reverse("export-detail", kwargs={"id": job.public_id})
        return Response(ExportJobSerializer(job).data, status=code, headers={"Location": url})

    @extend_schema(
        tags=TAGS,
        summary="下载导出文件 · Download the exported file",
        parameters=[EXPORT_ID],
        responses={
            # The type of the format asked for: XLSX, PDF, one CSV part, or a ZIP of all the parts.
            **{(200, t.split(";")[0]): OpenApiTypes.BINARY for t in CONTENT_TYPES.values()},
            **errors(401, 403, 404, 409),
        },
    )
    @action(detail=True, methods=["get"], url_path="file", url_name="file")
    def file(self, request: Request, id: str | None = None) -> Any:
        job = self.get_object()
        if not export_file_readable(user=request.user, job=job):
            raise PermissionDenied(_("导出文件只能由导出人或督查人员下载；系统管理员只能查看导出日志。"))
        if job.status != ExportJob.Status.DONE:
            return Response(
                {"message": _("导出尚未完成（当前状态：%(s)s）。") % {"s": job.get_status_display()}, "errors": {}},
                status=status.HTTP_409_CONFLICT,
            )
        path = export_file_path(job)
        if not path.is_file():
            raise NotFound(_("文件不存在。"))
        export_download_log(job=job, user=_user(request))
        snapshot = job.snapshot
        name = (
            download_name(snapshot.content, job.format, job.part)
            if snapshot
            else f"export.{file_extension(job.format, job.part)}"
        )
        response = FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=name,
            content_type=CONTENT_TYPES[file_extension(job.format, job.part)],
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        response["Digest"] = f"sha-256={job.sha256}"
        return response


@extend_schema_view(
    list=extend_schema(
        tags=TAGS,
        summary="报告快照列表 · Report snapshots you may read",
        responses={200: SnapshotSerializer(many=True), **errors(401, 403)},
    ),
    retrieve=extend_schema(
        tags=TAGS,
        summary="报告快照：截至某一时刻的全部数字 · A snapshot with everything its report states",
        parameters=[SNAPSHOT_ID],
        responses={200: SnapshotDetailSerializer, **errors(401, 403, 404)},
    ),
)
class ReportSnapshotViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Immutable as-of snapshots behind the reports; never changed once taken."""

    serializer_class = SnapshotSerializer
    lookup_url_kwarg = "id"
    filterset_class = None

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return ReportSnapshot.objects.none()
        # Administrators read the log, not the data; refuse them (and outsiders) outright.
        export_audience(user=self.request.user)
        return snapshots_visible(user=self.request.user).defer("content")

    def get_object(self) -> ReportSnapshot:
        export_audience(user=self.request.user)
        return get_object_or_404(snapshots_visible(user=self.request.user), public_id=_public_id(self.kwargs["id"]))

    def retrieve(self, request: Request, id: str | None = None) -> Response:
        return Response(SnapshotDetailSerializer(self.get_object()).data)

    @extend_schema(
        tags=TAGS,
        summary="两个快照之间的变化（数值修订、新纳入的设区市） · What changed since an earlier snapshot",
        parameters=[SNAPSHOT_ID, DiffQuerySerializer],
        responses={200: DiffSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def diff(self, request: Request, id: str | None = None) -> Response:
        later = self.get_object()
        query = DiffQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        earlier = get_object_or_404(snapshots_visible(user=request.user), public_id=query.validated_data["against"])
        return Response(snapshot_diff(earlier=earlier, later=later))


routes = [
    ("exports", ExportJobViewSet, "export"),
    ("report-snapshots", ReportSnapshotViewSet, "report-snapshot"),
]
