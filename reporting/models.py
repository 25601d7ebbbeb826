"""What happens each quarter: periods, submissions, their values, narratives and evidence, and the
trail of every state change. Province figures (issue 4) count only what the province confirmed."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from indicators.models import Indicator
from measures.models import Measure, Plan, Region, ResponsibleBody
from reporting.querysets import SubmissionQuerySet


class Period(models.Model):
    """A reporting quarter. Its deadline defaults to 10 days after quarter end (coordinators may move it)."""

    class Status(models.TextChoices):
        OPEN = "open", _("开放填报")
        CLOSED = "closed", _("已关闭")

    year = models.PositiveSmallIntegerField(_("年度"))
    quarter = models.PositiveSmallIntegerField(_("季度"))
    start = models.DateField(_("开始日期"))
    end = models.DateField(_("结束日期"))
    deadline = models.DateField(_("填报截止日期"))
    status = models.CharField(_("状态"), max_length=8, choices=Status.choices, default=Status.OPEN)
    version = models.PositiveIntegerField(_("版本"), default=1)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("填报期")
        verbose_name_plural = _("填报期")
        ordering = ["year", "quarter"]
        constraints = [
            models.UniqueConstraint(fields=["year", "quarter"], name="period_unique_quarter"),
            models.CheckConstraint(condition=Q(quarter__gte=1, quarter__lte=4), name="period_quarter_range"),
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="period_dates_ordered"),
            models.CheckConstraint(condition=Q(deadline__gte=models.F("end")), name="period_deadline_after_end"),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def code(self) -> str:
        return f"{self.year}Q{self.quarter}"


class Submission(models.Model):
    """One reporter's quarterly report: a city (region) or a provincial body, for one plan and period."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("草稿")
        SUBMITTED = "submitted", _("已提交")
        CITY_APPROVED = "city_approved", _("市级已审核")
        CONFIRMED = "confirmed", _("省级已确认")
        RETURNED = "returned", _("已退回")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="submissions", verbose_name=_("方案"))
    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="submissions", verbose_name=_("填报期"))
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, null=True, blank=True, related_name="submissions", verbose_name=_("地区")
    )
    body = models.ForeignKey(
        ResponsibleBody,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="submissions",
        verbose_name=_("责任单位"),
    )
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    # Optimistic lock: every write bumps it; a write that names an older version is refused (412/409).
    version = models.PositiveIntegerField(_("版本"), default=1)
    is_late = models.BooleanField(_("逾期提交"), default=False)
    return_reason = models.TextField(_("退回原因"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("创建人")
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)
    submitted_at = models.DateTimeField(_("提交时间"), null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("提交人"),
    )
    city_approved_at = models.DateTimeField(_("市级审核时间"), null=True, blank=True)
    city_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("市级审核人"),
    )
    confirmed_at = models.DateTimeField(_("省级确认时间"), null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("省级确认人"),
    )

    objects = SubmissionQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("季度报表")
        verbose_name_plural = _("季度报表")
        ordering = ["-period__year", "-period__quarter", "region__sort_order", "body__code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(region__isnull=False, body__isnull=True) | Q(region__isnull=True, body__isnull=False),
                name="submission_one_reporter",
            ),
            models.UniqueConstraint(
                fields=["plan", "period", "region"], condition=Q(region__isnull=False), name="submission_unique_region"
            ),
            models.UniqueConstraint(
                fields=["plan", "period", "body"], condition=Q(body__isnull=False), name="submission_unique_body"
            ),
        ]
        indexes = [models.Index(fields=["period", "status"], name="submission_period_status")]

    def __str__(self) -> str:
        return f"{self.period} {self.reporter_name} ({self.get_status_display()})"

    @property
    def reporter_name(self) -> str:
        return str(self.region or self.body)

    @property
    def is_locked(self) -> bool:
        return self.status in (self.Status.SUBMITTED, self.Status.CITY_APPROVED, self.Status.CONFIRMED)


class DataValue(models.Model):
    """One indicator's value in a submission. Ratios and shares keep numerator and denominator, never
    only the quotient, so the province figure can be Σ numerators / Σ denominators."""

    # No index of its own: datavalue_unique_indicator (submission, indicator) serves every read by submission,
    # and at national scale a second index over eleven million rows is 73 MB and a write per value.
    submission = models.ForeignKey(
        Submission, on_delete=models.CASCADE, related_name="values", verbose_name=_("报表"), db_index=False
    )
    indicator = models.ForeignKey(Indicator, on_delete=models.PROTECT, related_name="values", verbose_name=_("指标"))
    value = models.DecimalField(_("数值"), max_digits=20, decimal_places=4, null=True, blank=True)
    numerator = models.DecimalField(_("分子"), max_digits=20, decimal_places=4, null=True, blank=True)
    denominator = models.DecimalField(_("分母"), max_digits=20, decimal_places=4, null=True, blank=True)
    done = models.BooleanField(_("已完成"), null=True, blank=True)
    done_on = models.DateField(_("完成日期"), null=True, blank=True)
    comment = models.TextField(_("说明"), blank=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("填报人")
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("填报数值")
        verbose_name_plural = _("填报数值")
        ordering = ["submission", "indicator__sort_order", "indicator__code"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "indicator"], name="datavalue_unique_indicator"),
            models.CheckConstraint(
                condition=Q(denominator__isnull=True) | Q(denominator__gt=0), name="datavalue_denominator_positive"
            ),
            models.CheckConstraint(
                condition=Q(numerator__isnull=True) | Q(numerator__gte=0), name="datavalue_numerator_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.submission_id}:{self.indicator_id}"


class Narrative(models.Model):
    """Per measure: 进展情况, 存在问题, 下步计划."""

    submission = models.ForeignKey(
        Submission, on_delete=models.CASCADE, related_name="narratives", verbose_name=_("报表")
    )
    measure = models.ForeignKey(Measure, on_delete=models.PROTECT, related_name="narratives", verbose_name=_("举措"))
    progress = models.TextField(_("进展情况"), blank=True)
    problems = models.TextField(_("存在问题"), blank=True)
    next_steps = models.TextField(_("下步计划"), blank=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("填报人")
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("进展情况")
        verbose_name_plural = _("进展情况")
        ordering = ["submission", "measure__number"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "measure"], name="narrative_unique_measure"),
        ]

    def __str__(self) -> str:
        return f"{self.submission_id}:{self.measure_id}"


class Evidence(models.Model):
    """An evidence file. Stored outside the web root under a random name; served only through a view
    that checks the reader may see the submission. Removal is a soft delete so the trail stays whole."""

    submission = models.ForeignKey(
        Submission, on_delete=models.CASCADE, related_name="evidence", verbose_name=_("报表")
    )
    measure = models.ForeignKey(
        Measure, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("举措")
    )
    indicator = models.ForeignKey(
        Indicator, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("指标")
    )
    storage_name = models.CharField(_("存储名"), max_length=128, unique=True)
    original_name = models.CharField(_("文件名"), max_length=255)
    content_type = models.CharField(_("文件类型"), max_length=128)
    size = models.PositiveBigIntegerField(_("大小（字节）"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    description = models.CharField(_("说明"), max_length=255, blank=True)
    uploaded_at = models.DateTimeField(_("上传时间"), auto_now_add=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("上传人")
    )
    removed_at = models.DateTimeField(_("删除时间"), null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("删除人"),
    )
    removal_reason = models.CharField(_("删除原因"), max_length=255, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("佐证材料")
        verbose_name_plural = _("佐证材料")
        ordering = ["submission", "uploaded_at"]

    def __str__(self) -> str:
        return self.original_name


class Transition(models.Model):
    """Every workflow state change: who, when, from what to what, and why."""

    class Action(models.TextChoices):
        CREATE = "create", _("创建")
        SUBMIT = "submit", _("提交")
        CITY_APPROVE = "city_approve", _("市级审核通过")
        CONFIRM = "confirm", _("省级确认")
        RETURN = "return", _("退回")
        REOPEN = "reopen", _("重新打开")

    submission = models.ForeignKey(
        Submission, on_delete=models.CASCADE, related_name="transitions", verbose_name=_("报表")
    )
    action = models.CharField(_("操作"), max_length=16, choices=Action.choices)
    from_status = models.CharField(_("原状态"), max_length=16, blank=True)
    to_status = models.CharField(_("新状态"), max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("操作人")
    )
    at = models.DateTimeField(_("时间"), auto_now_add=True)
    reason = models.TextField(_("原因"), blank=True)

    class Meta:
        verbose_name = _("流转记录")
        verbose_name_plural = _("流转记录")
        ordering = ["submission", "at", "id"]

    def __str__(self) -> str:
        return f"{self.submission_id} {self.action} {self.at:%Y-%m-%d %H:%M}"


class IdempotencyRecord(models.Model):
    """A replayable answer to a request sent with an Idempotency-Key, so a client's retry creates nothing twice."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=128)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_key")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class Figure(models.Model):
    """A rolled-up figure: one indicator, region and period, over a time span, on a basis.

    Written only by the rollup service (set-based, upserted on the natural key); read by dashboards,
    the API and reports. Province rows carry their coverage: who is in the figure, who was carried
    forward, who is pending review, who is missing — so "11 of 13 cities" shows wherever the figure does."""

    class Span(models.TextChoices):
        QUARTER = "quarter", _("当季")
        YTD = "ytd", _("年初至今")

    class Basis(models.TextChoices):
        # Only what the province confirmed: the official figure.
        OFFICIAL = "official", _("正式（省级已确认）")
        # Also counts what a city has approved but the province not yet confirmed; never official.
        PREVIEW = "preview", _("预览（含市级已审核）")

    # Every index is paid on every figure a rollup inserts, so the foreign keys get no index of their own: the
    # plan, the indicator and the region each lead a composite one below (figure_plan_period, the unique key,
    # figure_region_period), which serves the same lookups and cascades. Every reader asks for a period with its
    # plan (figure_plan_period) or its region (figure_region_period); only deleting a period, which nothing in
    # the portal does, would scan for its figures.
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="+", db_index=False)
    indicator = models.ForeignKey(Indicator, on_delete=models.CASCADE, related_name="figures", db_index=False)
    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="figures", db_index=False)
    period = models.ForeignKey(Period, on_delete=models.CASCADE, related_name="figures", db_index=False)
    span = models.CharField(max_length=8, choices=Span.choices)
    basis = models.CharField(max_length=8, choices=Basis.choices)
    value = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)
    numerator = models.DecimalField(max_digits=24, decimal_places=4, null=True, blank=True)
    denominator = models.DecimalField(max_digits=24, decimal_places=4, null=True, blank=True)
    done_count = models.PositiveIntegerField(default=0)
    expected_count = models.PositiveIntegerField(default=0)
    reported_count = models.PositiveIntegerField(default=0)
    carried_count = models.PositiveIntegerField(default=0)
    coverage = models.JSONField(default=dict, blank=True)
    rule_version = models.CharField(max_length=16)
    # When the figure's value (or coverage) last changed; when its slice was last checked is `SliceCheck`.
    computed_at = models.DateTimeField(help_text=_("该数字（或其覆盖情况）最近一次变化的时间"))

    class Meta:
        verbose_name = _("汇总数据")
        verbose_name_plural = _("汇总数据")
        constraints = [
            models.UniqueConstraint(
                fields=["indicator", "region", "period", "span", "basis"], name="figure_unique_slice"
            ),
        ]
        indexes = [
            models.Index(fields=["plan", "period", "basis", "span"], name="figure_plan_period"),
            # A rollup slice (one province's cities and the province, one quarter) and a city's own pages
            # read by region and period; at national scale a period alone is ~130,000 figures.
            models.Index(fields=["region", "period"], name="figure_region_period"),
        ]

    def __str__(self) -> str:
        return f"{self.indicator_id}@{self.region_id} {self.period_id} {self.span}/{self.basis}"


class SliceCheck(models.Model):
    """When a rollup last checked one (province, period) slice: every run writes it, in the transaction that
    writes the slice's figures, whether or not any figure changed. It is the "as of" users see; a figure's own
    `computed_at` says when its value last changed, so an unchanged figure is never rewritten (each rewrite
    would add entries to every index of the figure table)."""

    # The unique constraint leads with the plan: a separate index on it would have no reader.
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="+", db_index=False)
    period = models.ForeignKey(Period, on_delete=models.CASCADE, related_name="+")
    province = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="+")
    checked_at = models.DateTimeField(_("最近汇总时间"))
    # What the slice's last full recompute stood on and wrote (`rollups.SLICE_FINGERPRINT_SQL`): a digest of its
    # parameters, of every submission and value its statement reads and of the figures it left. Blank when the
    # last run was not a full recompute (an incremental run clears it): the nightly rebuild then recomputes.
    fingerprint = models.CharField(_("输入指纹"), max_length=64, blank=True, default="", db_default="")

    class Meta:
        verbose_name = _("汇总检查时间")
        verbose_name_plural = _("汇总检查时间")
        constraints = [
            models.UniqueConstraint(fields=["plan", "period", "province"], name="slice_check_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id}:{self.period_id}:{self.province_id} {self.checked_at:%Y-%m-%d %H:%M}"


class ConsistencyCheck(models.Model):
    """A nightly recompute-and-compare of the stored figures: drift means a figure no longer matches the
    data it was built from (a missed recompute, a hand edit); the dashboard lists it until fixed."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="+")
    checked_at = models.DateTimeField(auto_now_add=True)
    figures_checked = models.PositiveIntegerField(default=0)
    drift_count = models.PositiveIntegerField(default=0)
    differences = models.JSONField(default=list, blank=True)
    repaired = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("一致性检查")
        verbose_name_plural = _("一致性检查")
        ordering = ["-checked_at"]

    def __str__(self) -> str:
        return f"{self.checked_at:%Y-%m-%d %H:%M} drift={self.drift_count}"


class RollupRequest(models.Model):
    """The rollup outbox: a change that moves a figure (an approval, a confirmation, a reopening, an import)
    writes one row in its own transaction, so the request is exactly as durable as the change. The queued task
    is only a prompt; the rows are the work. The rollup that computes the slice deletes them in the
    transaction that writes its figures, so a crash or a lost task leaves them for the next run, and the
    beat dispatcher sends a task for rows nobody has taken. The rows also say which cities changed: an
    incremental run recomputes those, whatever any machine's clock says."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="+")
    period = models.ForeignKey(Period, on_delete=models.CASCADE, related_name="+")
    # The slice: one province, or every province of the plan (a provincial body's report, blank).
    province = models.ForeignKey(Region, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    # Whose report changed (a city or county); blank or the province itself: the whole slice.
    region = models.ForeignKey(Region, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    # The database's clock, not the web machine's: only the dispatcher's delay reads these times.
    created_at = models.DateTimeField(db_default=Now())
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("待汇总请求")
        verbose_name_plural = _("待汇总请求")
        indexes = [models.Index(fields=["plan", "period", "province"], name="rollup_request_slice")]

    def __str__(self) -> str:
        return f"{self.plan_id}:{self.period_id}:{self.province_id or 'all'} <- {self.region_id}"


class FiguresVersion(models.Model):
    """A plan's figures as they were last committed: every rollup writes a fresh token in the transaction that
    writes its figures, so a reader that sees the token sees those figures. Cached pages and API answers are
    keyed by it (`reporting.read_cache`); a random token, not a counter, so that a restored backup or a
    rolled-back test never meets an answer cached for other figures under the same key."""

    plan = models.OneToOneField(Plan, on_delete=models.CASCADE, primary_key=True, related_name="+")
    token = models.CharField(max_length=32)
    changed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("汇总数据版本")
        verbose_name_plural = _("汇总数据版本")

    def __str__(self) -> str:
        return f"{self.plan_id}: {self.token}"


class Notification(models.Model):
    """An in-app notice (and its e-mail). `dedupe_key` makes each notice exist once per reporter,
    period and kind, however often the beat job that creates it runs."""

    class Kind(models.TextChoices):
        REMINDER = "reminder", _("截止前提醒")
        OVERDUE = "overdue", _("逾期通知")
        ESCALATION = "escalation", _("逾期督办")
        RETURNED = "returned", _("报表被退回")
        CONFIRMED = "confirmed", _("报表已确认")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(_("类别"), max_length=16, choices=Kind.choices)
    period = models.ForeignKey(Period, on_delete=models.CASCADE, related_name="+", verbose_name=_("填报期"))
    region = models.ForeignKey(Region, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    body = models.ForeignKey(ResponsibleBody, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    dedupe_key = models.CharField(max_length=160, unique=True)
    title = models.CharField(_("标题"), max_length=255)
    message = models.TextField(_("内容"))
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)
    emailed_at = models.DateTimeField(_("邮件发送时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("通知")
        verbose_name_plural = _("通知")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "read_at"], name="notification_user_unread"),
            models.Index(fields=["emailed_at"], name="notification_unsent"),
        ]

    def __str__(self) -> str:
        return self.title


# --- Supervision reports (督查): immutable as-of snapshots and the export log ---


class JSONTextField(models.JSONField):
    """JSON kept as PostgreSQL `json` (the text as sent, checked to be JSON) rather than `jsonb`. Parsing a
    year's snapshot (~0.7 MB) into jsonb took ~10 ms of its INSERT's ~17 ms, for a column nothing queries
    inside: it is only ever read whole. Other databases store JSONField as text already.

    Unlike jsonb, `json` keeps the text, so the stored content is the canonical text its SHA-256 is of.
    psycopg2 parses `json` values itself (Django turns that off for jsonb only): a value that arrives
    parsed, so it is returned as it is."""

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def from_db_value(self, value, expression, connection):
        if connection.vendor == "postgresql":
            return value
        return super().from_db_value(value, expression, connection)


class ReportSnapshot(models.Model):
    """The figures a supervision report states, frozen at a cut-off time.

    `content` holds the figures themselves (not references to live rows): confirmed values, the rollups
    and the judgements as they stood at `cut_off` under `rule_version`. A report regenerated from the same
    snapshot states the same figures even after a value is reopened and revised; comparing two snapshots
    shows what changed. Written once by the export service and never updated."""

    class Span(models.TextChoices):
        QUARTER = "quarter", _("季度")
        YEAR = "year", _("年度")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+", verbose_name=_("方案"))
    # The quarter the report stands at: the quarter itself, or the latest ended quarter of the year.
    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="+", verbose_name=_("填报期"))
    span = models.CharField(_("报告期类型"), max_length=8, choices=Span.choices)
    scope = models.JSONField(_("范围"), default=dict, blank=True)
    # Whose view of the data it is: everything (auditors, coordinators), one city's, or some bodies'.
    audience = models.JSONField(_("数据可见范围"), default=dict, blank=True)
    cut_off = models.DateTimeField(_("数据截止时间"))
    rule_version = models.CharField(_("汇总规则版本"), max_length=16)
    content = JSONTextField(_("报告内容"))
    content_sha256 = models.CharField(_("内容 SHA-256"), max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("创建人")
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("报告快照")
        verbose_name_plural = _("报告快照")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["plan", "period", "span"], name="snapshot_plan_period")]

    def __str__(self) -> str:
        return f"{self.period} {self.get_span_display()} @ {self.cut_off:%Y-%m-%d %H:%M}"


class ExportJob(models.Model):
    """One export of a supervision report, and its entry in the export log (who, what scope, which
    snapshot, when, the file's SHA-256). Large exports are built by a Celery task that moves the row
    from queued to running to done or failed; small ones are built while the request waits."""

    class Format(models.TextChoices):
        XLSX = "xlsx", "XLSX"
        PDF = "pdf", "PDF"
        CSV = "csv", "CSV"

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("生成中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")

    class Mode(models.TextChoices):
        QUEUED = "queued", _("后台任务")
        INLINE = "inline", _("即时生成")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("导出人")
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+", verbose_name=_("方案"))
    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="+", verbose_name=_("填报期"))
    span = models.CharField(_("报告期类型"), max_length=8, choices=ReportSnapshot.Span.choices)
    scope = models.JSONField(_("范围"), default=dict, blank=True)
    format = models.CharField(_("格式"), max_length=8, choices=Format.choices)
    # CSV only: one part as a single file; empty means a zip with every part.
    part = models.CharField(_("部分"), max_length=32, blank=True)
    mode = models.CharField(_("生成方式"), max_length=8, choices=Mode.choices, default=Mode.QUEUED)
    status = models.CharField(_("状态"), max_length=8, choices=Status.choices, default=Status.QUEUED)
    snapshot = models.ForeignKey(
        ReportSnapshot,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exports",
        verbose_name=_("报告快照"),
    )
    # Relative to settings.PRIVATE_FILES_ROOT (under exports/), never inside the web root.
    file_path = models.CharField(_("文件路径"), max_length=255, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    size = models.PositiveBigIntegerField(_("大小（字节）"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    error = models.TextField(_("错误信息"), blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    # When a worker was last asked to build it; empty while the broker could not take the task.
    sent_at = models.DateTimeField(_("派发时间"), null=True, blank=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("导出记录")
        verbose_name_plural = _("导出记录")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_by", "created_at"], name="exportjob_user_created")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.format} {self.status}"
