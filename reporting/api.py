"""The REST API of quarterly reporting under `/api/v1/`: periods, what is due, submissions with their
values, narratives, evidence, workflow steps and history.

Views parse HTTP and call one service or selector each; every rule lives in `reporting.services`. Reads go
through `Submission.objects.visible_to(user)`, so another city's submission answers 404 everywhere;
a role that may see a submission but not act on it gets 403 from the services' rules.

Optimistic locking: a submission's `version` is its ETag. Writes of content (values, narratives) need
`If-Match: "<version>"` or a `version` field: a stale one answers 412 and writes nothing; neither answers
428, so a client cannot overwrite someone else's work without saying which version it read. `If-Match: *`
says so explicitly ("whatever the current version"). Workflow steps and evidence may carry one too.

Retries: every POST and PUT honours an `Idempotency-Key` header (`reporting.idempotency`); creating
a submission is also a natural-key upsert (201 when created, 200 when it already existed).
"""

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotAuthenticated, NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from common.errors import ApplicationError
from common.parsers import StrictFormParser, StrictJSONParser, StrictMultiPartParser, body_refuse_unreadable
from measures.serializers import ErrorSerializer
from portal.accounts.selectors import user_scope
from reporting.filters import SubmissionFilter
from reporting.idempotency import idempotent, whole_transaction
from reporting.models import Evidence, Period, Submission
from reporting.selectors import period_get_by_code, submission_list
from reporting.selectors.definitions import report_definitions_read
from reporting.selectors.history import submission_history
from reporting.selectors.submissions import due_list, submission_detail_list
from reporting.serializers import (
    DueItemSerializer,
    EvidenceUploadSerializer,
    EvidenceWriteResultSerializer,
    HistoryEntrySerializer,
    NarrativesPutSerializer,
    PeriodDeadlineSerializer,
    PeriodSerializer,
    ReasonedActionSerializer,
    ReasonSerializer,
    ReportUploadResultSerializer,
    ReportUploadSerializer,
    SubmissionCreateSerializer,
    SubmissionDetailSerializer,
    SubmissionSerializer,
    ValuesPutSerializer,
    WorkflowActionSerializer,
    WriteResultSerializer,
)
from reporting.services import evidence as evidence_services
from reporting.services import periods as period_services
from reporting.services import workflow
from reporting.services.reports import report_upload
from reporting.services.submissions import submission_create, submission_narratives_put, submission_values_put

EVIDENCE_CONTENT_TYPES = sorted({content_type for content_type, _magic in evidence_services.ALLOWED_TYPES.values()})

ERROR_DESCRIPTIONS = {
    400: "输入有误，errors 按字段列出原因。 Bad input; `errors` names each field and says what is wrong.",
    401: "未登录或令牌无效、已过期。 Not authenticated, or the token is invalid or expired.",
    403: "角色无权进行此操作（能看不能改）。 Your role may not do this (read-only for you).",
    404: "不存在，或不在您的权限范围内（其他城市的报表）。 Not found, or outside your scope (another city's).",
    409: "当前状态不允许（已锁定、已提交、填报期已关闭等），message 说明原因。 "
    "Not allowed in the current state (locked, already submitted, period closed); `message` says why.",
    412: "版本已过期：他人已修改，您的修改未保存，请重新读取。 "
    "Stale version: someone changed it since you read it; nothing was written.",
    413: "文件过大。 The file is larger than allowed.",
    415: "请求的 Content-Type 不受支持。 Unsupported content type.",
    422: "Idempotency-Key 已用于内容不同的请求。 The Idempotency-Key was used for a different request.",
    428: "缺少 If-Match 请求头或 version 字段（不允许静默覆盖）。 "
    "Missing If-Match header or `version` field (no silent last-writer-wins).",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]) for code in codes}


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="重试安全：同一键的重复请求返回第一次的结果，不会重复写入（最长 128 字符）。 "
    "Retry-safe: a repeat with the same key replays the first answer and writes nothing.",
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description='读取时的 ETag，如 "3"；与 version 字段二选一。 The ETag you read, e.g. "3"; or send `version`.',
)
SUBMISSION_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="报表 ID · Submission id")
EVIDENCE_ID = OpenApiParameter(
    "evidence_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="佐证材料 ID · Evidence id"
)
PERIOD_CODE = OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH, description="如 2025Q4 · e.g. 2025Q4")


def actor(request: Request) -> User:
    """The signed-in user: every write endpoint requires authentication, so this is never anonymous."""
    user = request.user
    if not isinstance(user, User):
        raise NotAuthenticated()
    return user


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


def expected_version(request: Request, body_version: int | None, *, required: bool) -> int | None:
    """The version the client read, from If-Match or the body. `If-Match: *` means "any version"."""
    header = request.headers.get("If-Match", "").strip()
    from_header: int | None = None
    if header and header != "*":
        text = header.removeprefix("W/").strip('"').strip()
        if not text.isdigit():
            raise ApplicationError(
                _('If-Match 应为读取时的 ETag，如 "3"。'),
                errors={"If-Match": [_("格式有误。")]},
                status_code=status.HTTP_400_BAD_REQUEST,
            )
        from_header = int(text)
    if from_header is not None and body_version is not None and from_header != body_version:
        raise ApplicationError(
            _("If-Match 与 version 不一致，请只提供一个。"),
            errors={"version": [_("与 If-Match 不一致。")]},
            status_code=status.HTTP_400_BAD_REQUEST,
        )
    if required and not header and body_version is None:
        raise ApplicationError(
            _("请在 If-Match 请求头或 version 字段中提供读取时的版本号，以免覆盖他人的修改。"),
            errors={"version": [_("缺少版本号（If-Match 或 version）。")]},
            status_code=status.HTTP_428_PRECONDITION_REQUIRED,
        )
    return from_header if from_header is not None else body_version


def parsed(serializer_class: type[serializers.Serializer], request: Request, **context: Any) -> dict[str, Any]:
    serializer = serializer_class(data=request.data, context={"request": request, **context})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ManagesPeriods(permissions.BasePermission):
    message = gettext_lazy("只有协调小组办公室可以管理填报期。")

    def has_permission(self, request: Request, view: Any) -> bool:
        if view.action in ("list", "retrieve"):
            return True
        return request.user.has_perm("reporting.manage_periods")


@extend_schema_view(
    list=extend_schema(
        tags=["reporting 季度填报"],
        summary="填报期列表 · List reporting periods",
        responses={200: PeriodSerializer(many=True), **errors(401)},
    ),
    retrieve=extend_schema(
        tags=["reporting 季度填报"],
        summary="填报期详情 · Reporting period",
        parameters=[PERIOD_CODE],
        responses={200: PeriodSerializer, **errors(401, 404)},
    ),
)
class PeriodViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Quarters and their deadlines; coordinators move deadlines and close or reopen a period."""

    serializer_class = PeriodSerializer
    permission_classes = [permissions.IsAuthenticated, ManagesPeriods]
    lookup_field = "code"
    queryset = Period.objects.order_by("year", "quarter")

    def get_object(self) -> Period:
        period = period_get_by_code(code=str(self.kwargs["code"]))
        if period is None:
            raise NotFound(_("没有这个填报期。"))
        return period

    @extend_schema(
        tags=["reporting 季度填报"],
        summary="修改填报截止日期（协调小组办公室） · Move a period's deadline (coordinators)",
        parameters=[PERIOD_CODE, IDEMPOTENCY_KEY],
        request=PeriodDeadlineSerializer,
        responses={200: PeriodSerializer, **errors(400, 401, 403, 404, 415, 422)},
    )
    @idempotent
    def partial_update(self, request: Request, code: str | None = None) -> Response:
        period = self.get_object()
        data = parsed(PeriodDeadlineSerializer, request)
        period = period_services.period_set_deadline(period=period, user=actor(request), deadline=data["deadline"])
        return Response(PeriodSerializer(period).data)

    @extend_schema(
        tags=["reporting 季度填报"],
        summary="关闭填报期（协调小组办公室） · Close a period (coordinators)",
        parameters=[PERIOD_CODE, IDEMPOTENCY_KEY],
        request=None,
        responses={200: PeriodSerializer, **errors(401, 403, 404, 409, 422)},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def close(self, request: Request, code: str | None = None) -> Response:
        body_refuse_unreadable(request)
        period = period_services.period_close(period=self.get_object(), user=actor(request))
        return Response(PeriodSerializer(period).data)

    @extend_schema(
        tags=["reporting 季度填报"],
        summary="重新开放填报期，须说明原因（协调小组办公室） · Reopen a closed period with a reason (coordinators)",
        parameters=[PERIOD_CODE, IDEMPOTENCY_KEY],
        request=ReasonSerializer,
        responses={200: PeriodSerializer, **errors(400, 401, 403, 404, 409, 415, 422)},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def reopen(self, request: Request, code: str | None = None) -> Response:
        period = self.get_object()
        data = parsed(ReasonSerializer, request)
        period = period_services.period_reopen(period=period, user=actor(request), reason=data["reason"])
        return Response(PeriodSerializer(period).data)


class DueQuerySerializer(serializers.Serializer):
    all = serializers.BooleanField(required=False, default=False)


class DueViewSet(viewsets.ViewSet):
    """What the current user must report: (reporter, period) pairs with deadline and days left."""

    @extend_schema(
        tags=["reporting 季度填报"],
        summary="我的待填报事项 · What is due for me",
        description=(
            "每个（填报主体，已结束且开放的季度）一行：截止日期、剩余天数（负数为逾期）、报表状态（未创建为 null）。"
            "默认只列未提交的（未创建、草稿、已退回）；all=true 时也列已提交和已确认的。"
            "只有填报员有待填报事项：协调小组办公室、审核员和督查人员得到空列表，请用 submissions/ 查询。\n\n"
            "One row per (reporter, ended open quarter) with deadline, days left (negative when overdue) and the "
            "submission's status (null when not yet created). By default only what is outstanding (none, draft, "
            "returned); `all=true` adds the submitted and confirmed ones. Only reporters have anything due: "
            "coordinators, reviewers and auditors get an empty list and use `submissions/` instead."
        ),
        parameters=[DueQuerySerializer],
        responses={200: DueItemSerializer(many=True), **errors(400, 401)},
    )
    def list(self, request: Request) -> Response:
        query = DueQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        items = due_list(user=actor(request), include_done=query.validated_data["all"])
        return Response(DueItemSerializer(items, many=True).data)


def _submission_schema(summary: str, **kwargs: Any) -> Any:
    return extend_schema(tags=["reporting 季度填报"], summary=summary, **kwargs)


@extend_schema_view(
    list=_submission_schema(
        "报表列表（按权限范围） · List the submissions you may read",
        responses={200: SubmissionSerializer(many=True), **errors(400, 401)},
    ),
    retrieve=_submission_schema(
        "报表详情：数值、进展情况、佐证材料、可进行的操作；ETag 为版本号 · "
        "Submission with values, narratives, evidence and allowed actions; ETag is its version",
        parameters=[SUBMISSION_ID],
        responses={200: SubmissionDetailSerializer, **errors(401, 404)},
    ),
)
class SubmissionViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Quarterly reports of cities and provincial bodies, scoped to what the user may read."""

    serializer_class = SubmissionSerializer
    filterset_class = SubmissionFilter
    parser_classes = [StrictJSONParser]
    lookup_url_kwarg = "id"

    def get_queryset(self) -> QuerySet[Submission]:
        if getattr(self, "swagger_fake_view", False):
            return Submission.objects.none()
        if self.action == "retrieve":
            return submission_detail_list(user=self.request.user)
        return submission_list(user=self.request.user)

    def get_object(self) -> Submission:
        try:
            public_id = uuid.UUID(str(self.kwargs["id"]))
        except ValueError:
            raise NotFound(_("没有这份报表。")) from None
        return get_object_or_404(self.get_queryset(), public_id=public_id)

    def _require(self, perm: str, submission: Submission) -> None:
        # The service checks again; checking first makes "may read, may not change" a 403 before any
        # precondition or input error could answer instead.
        if not self.request.user.has_perm(perm, submission):
            raise PermissionDenied(_("您无权修改该报表。"))

    def _state(self, submission: Submission, code: int = status.HTTP_200_OK) -> Response:
        data = SubmissionSerializer(submission, context=self.get_serializer_context()).data
        return Response(data, status=code, headers=etag(submission.version))

    @_submission_schema(
        "创建本期报表（草稿），已存在时返回原报表 · Create the draft for a reporter and period, or get it",
        description=(
            "按（填报主体，填报期）取得或创建：新建返回 201，已存在返回 200，重试不会重复创建。"
            "region 与 body 二选一。\n\nGet-or-create on (reporter, period): 201 when created, 200 when it "
            "existed, so a retry creates nothing twice. Give `region` or `body`, not both."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=SubmissionCreateSerializer,
        responses={201: SubmissionSerializer, 200: SubmissionSerializer, **errors(400, 401, 403, 409, 415, 422)},
    )
    @idempotent
    def create(self, request: Request) -> Response:
        data = parsed(SubmissionCreateSerializer, request)
        submission, created = submission_create(
            user=actor(request),
            plan=data["plan"],
            period=data["period"],
            region=data.get("region"),
            body=data.get("body"),
        )
        return self._state(submission, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @_submission_schema(
        "整份报表一次上传：创建（或取得）、写入数值、可选提交 · A whole report in one call: create, values, submit",
        description=(
            "供各市系统对接使用：一个请求完成创建、写入数值和（submit=true 时）提交，全部成功或全部不写。"
            "本次新建的报表无需版本号；已存在的报表须提供 If-Match 或 version（缺少则 428，已过期则 412）。"
            "数值规则、错误格式与 PUT values/ 相同；提交规则与 submit/ 相同。新建返回 201，已存在返回 200。\n\n"
            "For a city's system uploading its quarter: one request creates (or gets) the draft, writes the values "
            "and, with `submit: true`, submits it; all or nothing. A report created by this call needs no version; "
            "an existing one needs If-Match or `version` (428 without, 412 when stale). Values follow the rules and "
            "error keys of PUT values/, submitting those of submit/. 201 when created, 200 when it existed."
        ),
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        request=ReportUploadSerializer,
        responses={
            201: ReportUploadResultSerializer,
            200: ReportUploadResultSerializer,
            **errors(400, 401, 403, 404, 409, 412, 415, 422, 428),
        },
    )
    @action(detail=False, methods=["post"])
    @idempotent
    def report(self, request: Request) -> Response:
        user = actor(request)
        # The memberships, period, reporter, plan and the reporter's indicators in one statement (PostgreSQL).
        known = report_definitions_read(user=user, data=request.data)
        data = parsed(ReportUploadSerializer, request, definitions=known)
        # Addressed by its natural key, the report answers as its detail URL would: 404 outside the
        # user's scope, 403 where the user may read it but not write it.
        probe = Submission(plan=data["plan"], period=data["period"], region=data.get("region"), body=data.get("body"))
        if (probe.region_id is None) != (probe.body_id is None) and not user.has_perm(
            "reporting.view_submission", probe
        ):
            raise NotFound(_("没有这份报表。"))
        stated = bool(request.headers.get("If-Match", "").strip()) or data.get("version") is not None
        version = expected_version(request, data.get("version"), required=False)
        submission, created, summary = report_upload(
            user=user,
            plan=data["plan"],
            period=data["period"],
            region=data.get("region"),
            body=data.get("body"),
            values=data["values"],
            submit=data["submit"],
            expected_version=version,
            version_stated=stated,
            indicators=known.indicators_of(plan=data["plan"], region=data.get("region"), body=data.get("body"))
            if known is not None
            else None,
            # Under an Idempotency-Key any error rolls back the whole request: no savepoint of its own.
            savepoint=not whole_transaction(request),
        )
        context = {**self.get_serializer_context(), "summary": summary.__dict__}
        return Response(
            ReportUploadResultSerializer(submission, context=context).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            headers=etag(submission.version),
        )

    def retrieve(self, request: Request, id: str | None = None) -> Response:
        submission = self.get_object()
        data = SubmissionDetailSerializer(submission, context=self.get_serializer_context()).data
        return Response(data, headers=etag(submission.version))

    @_submission_schema(
        "批量写入数值（须 If-Match 或 version） · Put values in bulk (If-Match or version required)",
        description=(
            "全部成功或全部不写。每项为一个指标的完整取值；未列出的指标不变。错误按 values.<指标代码>.<字段> 列出。"
            "数字可为字符串：全角数字按半角处理，-0 存为 0；NaN、无穷大、超过 15 位整数的数被拒绝。\n\n"
            "All or nothing. Each item is the whole value of one indicator; indicators not named stay as they are. "
            "Errors are keyed `values.<indicator code>.<field>`. Numbers may be strings: full-width digits read as "
            "ASCII, -0 is stored as 0; NaN, infinity and numbers of more than 15 integer digits are refused."
        ),
        parameters=[SUBMISSION_ID, IF_MATCH, IDEMPOTENCY_KEY],
        request=ValuesPutSerializer,
        responses={200: WriteResultSerializer, **errors(400, 401, 403, 404, 409, 412, 415, 422, 428)},
    )
    @action(detail=True, methods=["put"])
    @idempotent
    def values(self, request: Request, id: str | None = None) -> Response:
        submission = self.get_object()
        self._require("reporting.edit_submission", submission)
        data = parsed(ValuesPutSerializer, request)
        version = expected_version(request, data.get("version"), required=True)
        submission, summary = submission_values_put(
            submission=submission, user=actor(request), values=data["values"], expected_version=version
        )
        result = WriteResultSerializer({"submission": submission, "summary": summary.__dict__}).data
        return Response(result, headers=etag(submission.version))

    @_submission_schema(
        "写入各举措的进展情况（须 If-Match 或 version） · Put narratives per measure (If-Match or version required)",
        parameters=[SUBMISSION_ID, IF_MATCH, IDEMPOTENCY_KEY],
        request=NarrativesPutSerializer,
        responses={200: WriteResultSerializer, **errors(400, 401, 403, 404, 409, 412, 415, 422, 428)},
    )
    @action(detail=True, methods=["put"])
    @idempotent
    def narratives(self, request: Request, id: str | None = None) -> Response:
        submission = self.get_object()
        self._require("reporting.edit_submission", submission)
        data = parsed(NarrativesPutSerializer, request)
        version = expected_version(request, data.get("version"), required=True)
        submission, summary = submission_narratives_put(
            submission=submission, user=actor(request), narratives=data["narratives"], expected_version=version
        )
        result = WriteResultSerializer({"submission": submission, "summary": summary.__dict__}).data
        return Response(result, headers=etag(submission.version))

    @_submission_schema(
        "上传佐证材料（multipart） · Attach an evidence file (multipart)",
        description=(
            f"允许 PDF、PNG、JPEG、DOCX、XLSX，按文件内容检查；超过 {settings.EVIDENCE_MAX_BYTES // (1024 * 1024)} MB "
            "返回 413。\n\nPDF, PNG, JPEG, DOCX or XLSX, checked by content, not by name; larger than "
            f"{settings.EVIDENCE_MAX_BYTES // (1024 * 1024)} MB answers 413."
        ),
        parameters=[SUBMISSION_ID, IF_MATCH, IDEMPOTENCY_KEY],
        request={"multipart/form-data": EvidenceUploadSerializer},
        responses={201: EvidenceWriteResultSerializer, **errors(400, 401, 403, 404, 409, 412, 413, 415, 422)},
    )
    @action(detail=True, methods=["post"], parser_classes=[StrictMultiPartParser, StrictFormParser])
    @idempotent
    def evidence(self, request: Request, id: str | None = None) -> Response:
        submission = self.get_object()
        self._require("reporting.edit_submission", submission)
        data = parsed(EvidenceUploadSerializer, request, submission=submission)
        upload = data["file"]
        if upload.size > settings.EVIDENCE_MAX_BYTES:
            raise ApplicationError(
                _("文件超过大小上限 %(mb)s MB。") % {"mb": settings.EVIDENCE_MAX_BYTES // (1024 * 1024)},
                errors={"file": [_("文件过大。")]},
                status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        version = expected_version(request, data.get("version"), required=False)
        evidence = evidence_services.evidence_attach(
            submission=submission,
            user=actor(request),
            upload=upload,
            filename=upload.name,
            description=data["description"],
            measure=data.get("measure"),
            indicator=data.get("indicator"),
            expected_version=version,
        )
        return Response(
            EvidenceWriteResultSerializer(evidence).data,
            status=status.HTTP_201_CREATED,
            headers=etag(evidence.submission.version),
        )

    @extend_schema(
        methods=["GET"],
        tags=["reporting 季度填报"],
        summary="下载佐证材料 · Download an evidence file",
        description=(
            "只向能阅读该报表的用户提供；已删除的文件只向协调小组办公室和督查人员提供。\n\n"
            "Served only to those who may read the submission; removed files only to coordinators and auditors."
        ),
        parameters=[SUBMISSION_ID, EVIDENCE_ID],
        # Served with the type checked at upload (its magic bytes), so each allowed type is documented.
        responses={**{(200, t): OpenApiTypes.BINARY for t in EVIDENCE_CONTENT_TYPES}, **errors(401, 404)},
    )
    @extend_schema(
        methods=["DELETE"],
        tags=["reporting 季度填报"],
        summary="删除佐证材料，须说明原因（保留痕迹） · Remove an evidence file with a reason (kept in the trail)",
        parameters=[
            SUBMISSION_ID,
            EVIDENCE_ID,
            OpenApiParameter(
                "reason", OpenApiTypes.STR, description="原因（也可放在请求体中） · Reason, or in the body"
            ),
        ],
        request=ReasonSerializer,
        responses={200: EvidenceWriteResultSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    @action(
        detail=True, methods=["get", "delete"], url_path=r"evidence/(?P<evidence_id>[0-9]+)", url_name="evidence-item"
    )
    def evidence_item(self, request: Request, id: str | None = None, evidence_id: str | None = None) -> Any:
        submission = self.get_object()
        evidence = get_object_or_404(
            Evidence.objects.select_related("measure", "indicator"), submission=submission, pk=evidence_id
        )
        if request.method == "DELETE":
            self._require("reporting.edit_submission", submission)
            reason = parsed(ReasonSerializer, request)["reason"] or request.query_params.get("reason", "")
            evidence = evidence_services.evidence_remove(evidence=evidence, user=actor(request), reason=reason)
            return Response(EvidenceWriteResultSerializer(evidence).data, headers=etag(evidence.submission.version))
        if evidence.removed_at is not None and not user_scope(user=actor(request)).sees_everything:
            raise NotFound(_("该佐证材料已删除。"))
        path = evidence_services.evidence_path(evidence)
        if not path.is_file():
            raise NotFound(_("文件不存在。"))
        response = FileResponse(
            path.open("rb"), as_attachment=True, filename=evidence.original_name, content_type=evidence.content_type
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response

    def _transition(
        self, request: Request, service: Any, serializer_class: type[serializers.Serializer], **kwargs: Any
    ) -> Response:
        submission = self.get_object()
        data = parsed(serializer_class, request)
        version = expected_version(request, data.pop("version", None), required=False)
        submission = service(submission=submission, user=actor(request), expected_version=version, **data, **kwargs)
        return self._state(submission)

    @_submission_schema(
        "提交报表（先校验完整性） · Submit (checked for completeness first)",
        description=(
            "校验必填数值、里程碑日期、与上季度相比的大幅变化须有说明；截止后提交标记为逾期；季度未结束不能提交。\n\n"
            "Checks required values, milestone dates and that large moves from last quarter carry a comment; "
            "after the deadline it is marked late; a quarter that has not ended cannot be submitted."
        ),
        parameters=[SUBMISSION_ID, IF_MATCH, IDEMPOTENCY_KEY],
        request=WorkflowActionSerializer,
        responses={200: SubmissionSerializer, **errors(400, 401, 403, 404, 409, 412, 415, 422)},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def submit(self, request: Request, id: str | None = None) -> Response:
        return self._transition(request, workflow.submission_submit, WorkflowActionSerializer)

    @_submission_schema(
        "市级审核通过（本市审核员） · City review: approve (the city's reviewer)",
        parameters=[SUBMISSION_ID, IF_MATCH, IDEMPOTENCY_KEY],
        request=WorkflowActionSerializer,
        responses={200: SubmissionSerializer, **errors(400, 401, 403, 404, 409, 412, 415, 422)},
    )
    @action(detail=True, methods=["post"], url_path="city-approve", url_name="city-approve")
    @idempotent
    def city_approve(self, request: Request, id: str | None = None) -> Response:
        return self._transition(request, workflow.submission_city_approve, WorkflowActionSerializer)

    @_submission_schema(
        "省级确认并锁定（协调小组办公室） · Confirm and lock (coordinators)",
        parameters=[SUBMISSION_ID, IF_MATCH, IDEMPOTENCY_KEY],
        request=WorkflowActionSerializer,
        responses={200: SubmissionSerializer, **errors(400, 401, 403, 404, 409, 412, 415, 422)},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def confirm(self, request: Request, id: str | None = None) -> Response:
        return self._transition(request, workflow.submission_confirm, WorkflowActionSerializer)

    @_submission_schema(
        "退回报表，须说明原因 · Return with a reason",
        parameters=[SUBMISSION_ID, IF_MATCH, IDEMPOTENCY_KEY],
        request=ReasonedActionSerializer,
        responses={200: SubmissionSerializer, **errors(400, 401, 403, 404, 409, 412, 415, 422)},
    )
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    @idempotent
    def return_(self, request: Request, id: str | None = None) -> Response:
        return self._transition(request, workflow.submission_return, ReasonedActionSerializer)

    @_submission_schema(
        "重新打开已确认的报表，须说明原因（协调小组办公室） · Reopen a confirmed submission, with a reason",
        parameters=[SUBMISSION_ID, IF_MATCH, IDEMPOTENCY_KEY],
        request=ReasonedActionSerializer,
        responses={200: SubmissionSerializer, **errors(400, 401, 403, 404, 409, 412, 415, 422)},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def reopen(self, request: Request, id: str | None = None) -> Response:
        return self._transition(request, workflow.submission_reopen, ReasonedActionSerializer)

    @_submission_schema(
        "修改记录：数值、进展情况、佐证材料和流转的每一次变化 · History of every change, with who, when and why",
        parameters=[SUBMISSION_ID],
        responses={200: HistoryEntrySerializer(many=True), **errors(401, 403, 404)},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def history(self, request: Request, id: str | None = None) -> Response:
        submission = self.get_object()
        if not request.user.has_perm("reporting.view_history", submission):
            raise PermissionDenied
        return Response(HistoryEntrySerializer(submission_history(submission=submission), many=True).data)


routes = [
    ("periods", PeriodViewSet, "period"),
    ("due", DueViewSet, "due"),
    ("submissions", SubmissionViewSet, "submission"),
]
