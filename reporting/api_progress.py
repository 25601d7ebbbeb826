"""Read-only REST endpoints for progress: rolled-up figures with their coverage, the status grid of
targets and measures, completeness of reporting, and the user's in-app notifications."""

from typing import Any, cast

from django.conf import settings
from django.core.validators import slug_re
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response

from common.parsers import body_refuse_unreadable
from measures.models import Plan
from reporting.api import errors
from reporting.models import Figure, Notification, Period
from reporting.read_cache import (
    read_cache_json_keep,
    read_cache_page_keep,
    read_cached_answer,
    read_cached_page,
    read_ids_and_version,
    read_key,
    read_version,
)
from reporting.selectors import periods_chosen, plans_chosen
from reporting.selectors.progress import (
    FIGURES_VISIBLE_ALL,
    completeness,
    figures_visibility,
    figures_visible_to,
    figures_visible_to_all,
    plan_status,
    slice_checked_at,
)
from reporting.services.notifications import notification_mark_read
from reporting.services.rollups import plan_province
from reporting.status import STATUS_LABELS

PLAN = OpenApiParameter(
    "plan", OpenApiTypes.STR, description="方案代码，默认第一个方案 · Plan code (default: the first)"
)
PERIOD = OpenApiParameter("period", OpenApiTypes.STR, description="如 2025Q4，默认最近结束的季度 · e.g. 2025Q4")


PLAN_CODE_MAX = Plan._meta.get_field("code").max_length or 64


def _plan_missing(code: str | None) -> Exception:
    return Http404() if code else ValidationError({"plan": ["尚未加载任何方案。"]})


def _plan_code(request: Request) -> str | None:
    """The plan code a request names, or None. A plan's code is a slug of at most 64 characters: anything
    else names no plan and is refused by name before it reaches the database (PostgreSQL refuses a NUL byte
    in text with an error, which was a 500)."""
    code = request.query_params.get("plan", "").strip()
    if not code:
        return None
    if len(code) > PLAN_CODE_MAX or not slug_re.match(code):
        message = _("方案代码应由字母、数字、连字符或下划线组成，不超过 %(n)s 个字符。") % {"n": PLAN_CODE_MAX}
        raise ValidationError({"plan": [message]})
    return code


def _plan(request: Request) -> Plan:
    code = _plan_code(request)
    plan = plans_chosen(code=code).first()
    if plan is None:
        raise _plan_missing(code)
    return plan


def _period_missing(code: str | None) -> ValidationError:
    return ValidationError(
        {"period": [f"未知的填报期“{(code or '')[:16]}”，格式如 2025Q4。" if code else "尚无已结束的季度。"]}
    )


def _period(request: Request) -> Period:
    code = request.query_params.get("period")
    periods = periods_chosen(code=code)
    period = periods.first() if periods is not None else None
    if period is None:
        raise _period_missing(code)
    return period


def _frame(request: Request, *, checks: bool = False) -> tuple[int, int, str]:
    """What `_plan` and `_period` choose (their ids, with the same errors in the same order) and the
    figures' version (with the slices' check times when `checks`), in one query: the key of a cached
    answer. The rows themselves are read on a miss."""
    plan_code = _plan_code(request)
    code = request.query_params.get("period")
    periods = periods_chosen(code=code)
    plan_id, period_id, version = read_ids_and_version(
        plan=plans_chosen(code=plan_code).values("pk")[:1],
        period=periods.values("pk")[:1] if periods is not None else None,
        checks=checks,
    )
    if plan_id is None:
        raise _plan_missing(plan_code)
    if period_id is None:
        raise _period_missing(code)
    return plan_id, period_id, version


class FigureSerializer(serializers.ModelSerializer):
    indicator = serializers.CharField(source="indicator.code")
    indicator_name = serializers.CharField(source="indicator.name")
    unit = serializers.CharField(source="indicator.unit")
    region = serializers.CharField(source="region.code")
    region_name = serializers.CharField(source="region.name")
    period = serializers.CharField(source="period.code")
    checked_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text=(
            "该数字所属的省份与季度最近一次汇总核对的时间（数据截至何时）；computed_at 是数字本身最近一次变化的时间"
            " · When the figure's province and quarter were last rolled up (the figures' 'as of');"
            " computed_at is when this figure itself last changed"
        ),
    )

    class Meta:
        model = Figure
        fields = [
            "indicator", "indicator_name", "unit", "region", "region_name", "period", "span", "basis",
            "value", "numerator", "denominator", "done_count", "expected_count", "reported_count",
            "carried_count", "coverage", "rule_version", "computed_at", "checked_at",
        ]  # fmt: skip


class FigureFilterSerializer(serializers.Serializer):
    indicator = serializers.CharField(required=False)
    region = serializers.CharField(required=False)
    span = serializers.ChoiceField(choices=Figure.Span.choices, required=False)
    basis = serializers.ChoiceField(choices=Figure.Basis.choices, required=False)


@extend_schema_view(
    list=extend_schema(
        summary="汇总数据及其覆盖情况 · Rolled-up figures with coverage",
        parameters=[
            PLAN,
            PERIOD,
            OpenApiParameter("indicator", OpenApiTypes.STR, description="指标代码 · Indicator code"),
            OpenApiParameter("region", OpenApiTypes.STR, description="行政区划代码 · Region code"),
            OpenApiParameter("span", OpenApiTypes.STR, enum=["quarter", "ytd"]),
            OpenApiParameter("basis", OpenApiTypes.STR, enum=["official", "preview"]),
        ],
        responses={200: FigureSerializer(many=True), **errors(400, 401, 404)},
    )
)
class FigureViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = FigureSerializer
    queryset = Figure.objects.none()

    # The stubs type ListModelMixin.list as returning a DRF Response, but DRF takes any HttpResponse from a
    # handler (finalize_response asks only for an HttpResponseBase): on a JSON cache hit read_cached_answer
    # answers with the kept body as a plain HttpResponse, so Response would be untrue here.
    def list(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:  # type: ignore[override]
        """One page from the read cache, keyed by the figures' version, who may see which figures, every
        filter and the page asked for. The page is cut in the database: a period holds every province's
        figures at national scale, and a miss must not serialise them all. Its links (next, previous) are
        built for each request (`read_cached_page`)."""
        # Each row shows its slice's check time (checked_at), which a rollup that changed no figure moves.
        plan_id, period_id, version = _frame(request, checks=True)
        data = self._filters()
        key = _figures_key(
            plan_id=plan_id,
            period_id=period_id,
            visibility=figures_visibility(user=request.user),
            filters=data,
            limit=request.query_params.get("limit"),
            offset=request.query_params.get("offset"),
            version=version,
        )
        # DEFAULT_PAGINATION_CLASS is the limit/offset pagination, so the paginator is one.
        paginator = cast(LimitOffsetPagination, self.paginator)

        def page() -> tuple[int, Any]:
            rows = self._rows(Plan.objects.get(pk=plan_id), Period.objects.get(pk=period_id), data)
            found: list[Figure] | None = paginator.paginate_queryset(rows, request, view=self)
            return cast(int, paginator.count), self.get_serializer(found, many=True).data

        return read_cached_page(request, key, page, paginator)

    def _filters(self) -> dict[str, Any]:
        filters = FigureFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return dict(filters.validated_data)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Figure.objects.none()
        return self._rows(_plan(self.request), _period(self.request), self._filters())

    def _rows(self, plan: Plan, period: Period, data: dict[str, Any]):
        return _figure_rows(figures_visible_to(user=self.request.user, plan=plan), period=period, data=data)


def _figures_key(
    *,
    plan_id: int,
    period_id: int,
    visibility: str,
    filters: dict[str, Any],
    limit: str | None,
    offset: str | None,
    version: str,
) -> str:
    return read_key("figures", plan_id, period_id, visibility, sorted(filters.items()), limit, offset, version)


def _figure_rows(visible: QuerySet[Figure], *, period: Period, data: dict[str, Any]) -> QuerySet[Figure]:
    """The figures API's rows of a period among the figures `visible` (`figures_visible_to`), filtered."""
    queryset = visible.filter(period=period)
    if "indicator" in data:
        queryset = queryset.filter(indicator__code=data["indicator"])
    if "region" in data:
        queryset = queryset.filter(region__code=data["region"])
    if "span" in data:
        queryset = queryset.filter(span=data["span"])
    queryset = queryset.filter(basis=data.get("basis", Figure.Basis.OFFICIAL)).annotate(checked_at=slice_checked_at())
    return queryset.order_by("indicator__measure__number", "indicator__sort_order", "region__sort_order", "span")


def figures_warm(*, plan_id: int) -> bool:
    """Keep the figures API's first page of the plan's province (its home region) for the plan's default
    period (the latest ended quarter), official basis, as readers who see every figure (coordinators,
    auditors) get it as JSON, for the current version and check times: what a province's own system reads
    after each rollup. False when the plan has no province or no quarter has ended."""
    plan = Plan.objects.filter(pk=plan_id).first()
    province = plan_province(plan) if plan is not None else None
    chosen = periods_chosen(code=None)
    period = chosen.first() if chosen is not None else None
    if plan is None or province is None or period is None:
        return False
    _plan_id, _period_id, version = read_ids_and_version(
        plan=Plan.objects.filter(pk=plan_id).values("pk")[:1],
        period=Period.objects.filter(pk=period.pk).values("pk")[:1],
        checks=True,
    )
    data = {"region": province.code}
    with translation.override(settings.LANGUAGE_CODE):
        key = _figures_key(
            plan_id=plan_id,
            period_id=period.pk,
            visibility=FIGURES_VISIBLE_ALL,
            filters=data,
            limit=None,
            offset=None,
            version=version,
        )

        def page() -> tuple[int, Any]:
            rows = _figure_rows(figures_visible_to_all(plan=plan), period=period, data=data)
            limit = cast(int, settings.REST_FRAMEWORK["PAGE_SIZE"])
            return rows.count(), FigureSerializer(list(rows[:limit]), many=True).data

        read_cache_page_keep(key, page)
    return True


class JudgementSerializer(serializers.Serializer):
    target = serializers.CharField()
    indicator = serializers.CharField()
    measure = serializers.IntegerField()
    clause = serializers.CharField()
    comparator = serializers.CharField()
    target_value = serializers.DecimalField(max_digits=24, decimal_places=4)
    per_year = serializers.BooleanField()
    deadline = serializers.DateField(allow_null=True)
    deadline_assumed = serializers.BooleanField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    actual = serializers.DecimalField(max_digits=24, decimal_places=6, allow_null=True)
    expected = serializers.DecimalField(max_digits=24, decimal_places=6, allow_null=True)
    gap = serializers.DecimalField(max_digits=24, decimal_places=6, allow_null=True)
    needed_per_quarter = serializers.DecimalField(max_digits=24, decimal_places=6, allow_null=True)
    projected = serializers.DecimalField(max_digits=24, decimal_places=6, allow_null=True)
    reported_count = serializers.IntegerField(allow_null=True)
    expected_count = serializers.IntegerField(allow_null=True)


class MeasureStatusSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    title = serializers.CharField()
    title_en = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField()


class ProgrammeStatusSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    title = serializers.CharField()
    title_en = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    measures = MeasureStatusSerializer(many=True)


# One object, though the ViewSet serves it on its `list` route, which drf-spectacular would document as an array.
@extend_schema_serializer(many=False)
class StatusSerializer(serializers.Serializer):
    period = serializers.CharField()
    programmes = ProgrammeStatusSerializer(many=True)
    targets = JudgementSerializer(many=True)


def _q(value: Any) -> Any:
    return None if value is None else round(value, 6)


class StatusViewSet(viewsets.ViewSet):
    @extend_schema(
        summary="目标进度与举措状态 · Target status and the measure grid",
        parameters=[PLAN, PERIOD],
        responses={200: StatusSerializer, **errors(400, 401, 404)},
    )
    def list(self, request: Request) -> HttpResponse:
        plan_id, period_id, version = _frame(request)
        # The same answer for every signed-in user (official province figures); the labels follow the language.
        key = _status_key(plan_id=plan_id, period_id=period_id, version=version)
        return read_cached_answer(
            request, key, lambda: _status_payload(Plan.objects.get(pk=plan_id), Period.objects.get(pk=period_id))
        )


def _status_key(*, plan_id: int, period_id: int, version: str) -> str:
    return read_key("status", plan_id, period_id, version)


def status_warm(*, plan_id: int) -> bool:
    """Keep the status answer of the plan's default period (the latest ended quarter, what
    `GET /api/v1/status/` answers without `?period=`) as JSON clients get it, in the default language, for
    the figures' current version; run after a rollup that changed figures. False when no quarter has ended."""
    chosen = periods_chosen(code=None)
    period = chosen.first() if chosen is not None else None
    if period is None:
        return False
    with translation.override(settings.LANGUAGE_CODE):
        key = _status_key(plan_id=plan_id, period_id=period.pk, version=read_version(plan_id=plan_id))
        read_cache_json_keep(key, lambda: _status_payload(Plan.objects.get(pk=plan_id), period))
    return True


def _status_payload(plan: Plan, period: Period) -> dict[str, Any]:
    grid = plan_status(plan=plan, period=period)
    targets = [item for p in grid for m in p.measures for item in m.targets]
    payload = {
        "period": period.code,
        "programmes": [
            {
                "number": p.programme.number,
                "title": p.programme.title,
                "title_en": p.programme.title_en,
                "status": p.status.value,
                "status_label": str(STATUS_LABELS[p.status]),
                "measures": [
                    {
                        "number": m.measure.number,
                        "title": m.measure.title,
                        "title_en": m.measure.title_en,
                        "status": m.status.value,
                        "status_label": str(STATUS_LABELS[m.status]),
                    }
                    for m in p.measures
                ],
            }
            for p in grid
        ],
        "targets": [
            {
                "target": t.target.code,
                "indicator": t.target.indicator.code,
                "measure": t.target.indicator.measure.number,
                "clause": t.target.clause,
                "comparator": t.target.comparator,
                "target_value": t.target.value,
                "per_year": t.target.per_year,
                "deadline": t.judgement.deadline,
                "deadline_assumed": t.judgement.deadline_assumed,
                "status": t.judgement.status.value,
                "status_label": str(STATUS_LABELS[t.judgement.status]),
                "actual": _q(t.judgement.actual),
                "expected": _q(t.judgement.expected),
                "gap": _q(t.judgement.gap),
                "needed_per_quarter": _q(t.judgement.needed_per_quarter),
                "projected": _q(t.judgement.projected),
                "reported_count": t.figure.reported_count if t.figure else None,
                "expected_count": t.figure.expected_count if t.figure else None,
            }
            for t in targets
        ],
    }
    return StatusSerializer(payload).data


class CompletenessRowSerializer(serializers.Serializer):
    period = serializers.CharField()
    expected = serializers.IntegerField()
    received = serializers.IntegerField()
    on_time = serializers.IntegerField()
    late = serializers.IntegerField()
    missing = serializers.IntegerField()
    confirmed = serializers.IntegerField()


class CompletenessViewSet(viewsets.ViewSet):
    @extend_schema(
        summary="填报完整性与及时性 · Completeness and timeliness by quarter",
        parameters=[PLAN, OpenApiParameter("year", OpenApiTypes.INT, description="年度 · Year")],
        responses={200: CompletenessRowSerializer(many=True), **errors(400, 401, 404)},
    )
    def list(self, request: Request) -> Response:
        plan = _plan(request)
        year_text = request.query_params.get("year")
        if year_text is not None and not year_text.isdigit():
            raise ValidationError({"year": ["年度应为整数。"]})
        year = int(year_text) if year_text else timezone.localdate().year
        periods = list(Period.objects.filter(year=year, end__lt=timezone.localdate()).order_by("quarter"))
        table = completeness(plan=plan, periods=periods)
        rows = [{"period": p.code, **table["summary"][p.pk]} for p in periods]
        return Response(CompletenessRowSerializer(rows, many=True).data)


class NotificationSerializer(serializers.ModelSerializer):
    period = serializers.CharField(source="period.code")

    class Meta:
        model = Notification
        fields = ["id", "kind", "period", "title", "message", "created_at", "read_at"]


@extend_schema_view(
    list=extend_schema(
        summary="我的通知 · My notifications", responses={200: NotificationSerializer(many=True), **errors(401)}
    ),
    read=extend_schema(
        summary="标记为已读 · Mark as read", request=None, responses={200: NotificationSerializer, **errors(401, 404)}
    ),
)
class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = NotificationSerializer
    queryset = Notification.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        return Notification.objects.filter(user_id=self.request.user.pk or 0).select_related("period")

    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str | None = None) -> Response:
        body_refuse_unreadable(request)
        # DRF's get_object_or_404: a malformed id (`abc`) is a 404, where Django's raises ValueError (a 500).
        notification = notification_mark_read(notification=get_object_or_404(self.get_queryset(), pk=pk))
        return Response(NotificationSerializer(notification).data)


routes = [
    ("figures", FigureViewSet, "figure"),
    ("status", StatusViewSet, "status"),
    ("completeness", CompletenessViewSet, "completeness"),
    ("notifications", NotificationViewSet, "notification"),
]
