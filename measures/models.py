"""The plan as data: plan → programmes (工程) → measures (举措) → tasks (任务), plus the bodies that
answer for them and the regions that report.

Every model carries the plan's own Chinese text unchanged, with an English title beside it.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class Plan(models.Model):
    code = models.SlugField(_("代码"), max_length=64, unique=True, help_text=_("稳定的机器代码，如 js-2018-28"))
    document_number = models.CharField(_("文件号"), max_length=64, unique=True)
    title = models.CharField(_("标题"), max_length=255)
    title_en = models.CharField(_("英文标题"), max_length=255)
    issuing_bodies = models.CharField(_("发文机关"), max_length=255)
    issued_on = models.DateField(_("印发日期"))
    preamble = models.TextField(_("前言"), blank=True)
    start_year = models.PositiveSmallIntegerField(_("起始年度"))
    end_year = models.PositiveSmallIntegerField(_("截止年度"))
    source_sha256 = models.CharField(_("原文 SHA-256"), max_length=64, blank=True)
    # The province whose plan this is (plan.yaml's regions_root): its figures are the plan's figures, its
    # cities the plan's reporters, and the provincial bodies' values belong to it. Stated, never inferred,
    # so that loading other provinces' regions (the national scale) cannot move it.
    home_region = models.ForeignKey(
        "measures.Region",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("方案所属省份"),
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("改革方案")
        verbose_name_plural = _("改革方案")
        ordering = ["issued_on", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(end_year__gte=models.F("start_year")), name="plan_years_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.document_number} {self.title}"


class PlanSection(models.Model):
    """The parts of the plan that are not measures: 总体要求 (指导思想, 基本原则, 目标任务) and 组织实施."""

    class Kind(models.TextChoices):
        GUIDING_IDEA = "guiding_idea", _("指导思想")
        PRINCIPLE = "principle", _("基本原则")
        GOAL = "goal", _("目标任务")
        IMPLEMENTATION = "implementation", _("组织实施")

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="sections", verbose_name=_("方案"))
    kind = models.CharField(_("类别"), max_length=32, choices=Kind.choices)
    number = models.PositiveSmallIntegerField(_("序号"))
    title = models.CharField(_("标题"), max_length=255)
    title_en = models.CharField(_("英文标题"), max_length=255)
    text = models.TextField(_("正文"))

    class Meta:
        verbose_name = _("方案章节")
        verbose_name_plural = _("方案章节")
        ordering = ["plan", "kind", "number"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "kind", "number"], name="plansection_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.number} {self.title}"


class Programme(models.Model):
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="programmes", verbose_name=_("方案"))
    number = models.PositiveSmallIntegerField(_("序号"))
    title = models.CharField(_("工程名称"), max_length=255)
    title_en = models.CharField(_("英文名称"), max_length=255)
    heading = models.CharField(_("原文标题"), max_length=255, help_text=_("原文中的完整标题"))

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("工程")
        verbose_name_plural = _("工程")
        ordering = ["plan", "number"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="programme_unique_number"),
        ]

    def __str__(self) -> str:
        return f"({self.number}) {self.title}"


class Measure(models.Model):
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="measures", verbose_name=_("方案"))
    programme = models.ForeignKey(Programme, on_delete=models.PROTECT, related_name="measures", verbose_name=_("工程"))
    number = models.PositiveSmallIntegerField(_("序号"), help_text=_("全方案统一编号，1–23"))
    title = models.CharField(_("举措名称"), max_length=255)
    title_en = models.CharField(_("英文名称"), max_length=255)
    text = models.TextField(_("正文"))

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("举措")
        verbose_name_plural = _("举措")
        ordering = ["plan", "number"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="measure_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.number}. {self.title}"


class Task(models.Model):
    """One concrete commitment inside a measure, with the sentence of the text it comes from."""

    measure = models.ForeignKey(Measure, on_delete=models.CASCADE, related_name="tasks", verbose_name=_("举措"))
    number = models.PositiveSmallIntegerField(_("序号"))
    title = models.CharField(_("任务"), max_length=255)
    title_en = models.CharField(_("英文名称"), max_length=255)
    sentence = models.TextField(_("原文语句"))
    deadline = models.DateField(_("完成时限"), null=True, blank=True)
    recurrence = models.CharField(
        _("周期"),
        max_length=16,
        blank=True,
        choices=[("", _("一次性")), ("yearly", _("每年")), ("ongoing", _("长期"))],
        default="",
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("任务")
        verbose_name_plural = _("任务")
        ordering = ["measure", "number"]
        constraints = [
            models.UniqueConstraint(fields=["measure", "number"], name="task_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"

    @property
    def code(self) -> str:
        return f"{self.measure.number}.{self.number}"


class ResponsibleBody(models.Model):
    class Kind(models.TextChoices):
        PARTY = "party", _("党委部门")
        GOVERNMENT = "government", _("政府部门")
        MASS_ORGANISATION = "mass_org", _("群团组织")
        COORDINATION = "coordination", _("协调机构")
        OTHER = "other", _("其他")

    code = models.SlugField(_("代码"), max_length=64, unique=True)
    name = models.CharField(_("名称"), max_length=128, unique=True)
    name_en = models.CharField(_("英文名称"), max_length=255)
    short_name = models.CharField(_("简称"), max_length=64, blank=True)
    kind = models.CharField(_("类别"), max_length=16, choices=Kind.choices)
    is_active = models.BooleanField(_("启用"), default=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("责任单位")
        verbose_name_plural = _("责任单位")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Responsibility(models.Model):
    """Who answers for a measure or for one of its tasks (task empty: the measure as a whole).

    The plan names no lead body; the loader ships a proposed assignment (is_proposed=True) that
    coordinators confirm or change.
    """

    class Role(models.TextChoices):
        LEAD = "lead", _("牵头单位")
        COOPERATING = "cooperating", _("配合单位")

    measure = models.ForeignKey(
        Measure, on_delete=models.CASCADE, related_name="responsibilities", verbose_name=_("举措")
    )
    task = models.ForeignKey(
        Task,
        on_delete=models.CASCADE,
        related_name="responsibilities",
        null=True,
        blank=True,
        verbose_name=_("任务"),
    )
    body = models.ForeignKey(
        ResponsibleBody, on_delete=models.PROTECT, related_name="responsibilities", verbose_name=_("责任单位")
    )
    role = models.CharField(_("角色"), max_length=16, choices=Role.choices)
    is_proposed = models.BooleanField(
        _("建议分工"), default=True, help_text=_("原文未明确牵头单位，系根据举措内容提出的建议分工，待协调小组确认")
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("责任分工")
        verbose_name_plural = _("责任分工")
        ordering = ["measure", "task", "role", "body"]
        constraints = [
            models.UniqueConstraint(fields=["measure", "task", "body"], name="responsibility_unique_task_body"),
            models.UniqueConstraint(
                fields=["measure", "body"],
                condition=Q(task__isnull=True),
                name="responsibility_unique_measure_body",
            ),
        ]

    def __str__(self) -> str:
        target = self.task or self.measure
        return f"{target} · {self.body} ({self.get_role_display()})"


class Region(models.Model):
    class Level(models.TextChoices):
        PROVINCE = "province", _("省")
        CITY = "city", _("设区市")
        COUNTY = "county", _("县（市、区）")

    code = models.CharField(_("行政区划代码"), max_length=12, unique=True)
    name = models.CharField(_("名称"), max_length=64)
    name_en = models.CharField(_("英文名称"), max_length=128)
    level = models.CharField(_("层级"), max_length=16, choices=Level.choices)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children", verbose_name=_("上级")
    )
    division_year = models.PositiveSmallIntegerField(_("区划年度"), help_text=_("所依据的行政区划年度"))
    sort_order = models.PositiveIntegerField(_("排序"), default=0)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("行政区划")
        verbose_name_plural = _("行政区划")
        ordering = ["sort_order", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(level="province", parent__isnull=True) | Q(~Q(level="province"), parent__isnull=False),
                name="region_parent_matches_level",
            ),
        ]

    def __str__(self) -> str:
        return self.name
