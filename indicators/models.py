"""What is measured: indicators with their aggregation kind, and the targets the plan sets for them."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from measures.models import Measure, Plan, Region, ResponsibleBody, Task


class Indicator(models.Model):
    class Kind(models.TextChoices):
        # A count at period end: latest value over time, summed over regions.
        STOCK = "stock", _("存量")
        # A count during the period: summed over time and regions.
        FLOW = "flow", _("流量")
        # numerator / denominator × scale, aggregated as Σ numerators / Σ denominators × scale.
        RATIO = "ratio", _("比率")
        # A ratio whose numerator is part of its denominator (0–100 %).
        SHARE = "share", _("占比")
        # Done / not done, with a date and evidence.
        MILESTONE = "milestone", _("里程碑")

    class TimeAggregation(models.TextChoices):
        # The figure at period end (a count of people, a share of courses): later quarters replace earlier.
        LATEST = "latest", _("取期末值")
        # Amounts over the period (people trained, money spent): the year's quarters add up.
        SUM = "sum", _("按期累计")

    class Reporter(models.TextChoices):
        CITY = "city", _("设区市填报")
        BODY = "body", _("省级责任单位填报")
        BOTH = "both", _("设区市与责任单位均填报")

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="indicators", verbose_name=_("方案"))
    code = models.SlugField(_("代码"), max_length=64)
    name = models.CharField(_("名称"), max_length=255)
    name_en = models.CharField(_("英文名称"), max_length=255)
    definition = models.TextField(_("定义与口径"), blank=True)
    kind = models.CharField(_("汇总方式"), max_length=16, choices=Kind.choices)
    unit = models.CharField(_("计量单位"), max_length=32, blank=True)
    unit_en = models.CharField(_("英文单位"), max_length=32, blank=True)
    scale = models.DecimalField(
        _("倍数"), max_digits=12, decimal_places=0, default=1, help_text=_("比率的倍数：百分比为 100，每万人为 10000")
    )
    decimals = models.PositiveSmallIntegerField(_("小数位数"), default=0)
    time_aggregation = models.CharField(
        _("时间汇总方式"),
        max_length=8,
        choices=TimeAggregation.choices,
        default=TimeAggregation.LATEST,
        help_text=_("比率与占比指标的分子分母：取期末值，或按年累计（如经费）。流量指标总是累计。"),
    )
    numerator_label = models.CharField(_("分子"), max_length=255, blank=True)
    denominator_label = models.CharField(_("分母"), max_length=255, blank=True)
    measure = models.ForeignKey(
        Measure, on_delete=models.PROTECT, related_name="indicators", verbose_name=_("所属举措")
    )
    task = models.ForeignKey(
        Task, on_delete=models.SET_NULL, null=True, blank=True, related_name="indicators", verbose_name=_("对应任务")
    )
    is_supporting = models.BooleanField(
        _("辅助指标"), default=False, help_text=_("方案未引用、供地方填报的辅助指标，不是方案目标")
    )
    reporter = models.CharField(_("填报主体"), max_length=8, choices=Reporter.choices, default=Reporter.CITY)
    lead_body = models.ForeignKey(
        ResponsibleBody,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="indicators",
        verbose_name=_("填报/牵头单位"),
    )
    sort_order = models.PositiveIntegerField(_("排序"), default=0)
    is_active = models.BooleanField(_("启用"), default=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("指标")
        verbose_name_plural = _("指标")
        ordering = ["plan", "measure__number", "sort_order", "code"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "code"], name="indicator_unique_code"),
            models.CheckConstraint(condition=Q(scale__gt=0), name="indicator_scale_positive"),
            models.CheckConstraint(
                condition=~Q(kind__in=["ratio", "share"]) | (~Q(numerator_label="") & ~Q(denominator_label="")),
                name="indicator_ratio_has_parts",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_parts(self) -> bool:
        return self.kind in (self.Kind.RATIO, self.Kind.SHARE)


class Target(models.Model):
    class Comparator(models.TextChoices):
        GTE = "gte", "≥"
        LTE = "lte", "≤"
        APPROX = "approx", "≈"

    class Source(models.TextChoices):
        QUOTED = "quoted", _("方案量化目标")
        COMMITMENT = "commitment", _("方案定性承诺")
        APPORTIONED = "apportioned", _("分解到市的目标")
        SET = "set", _("协调小组设定")

    indicator = models.ForeignKey(Indicator, on_delete=models.CASCADE, related_name="targets", verbose_name=_("指标"))
    code = models.SlugField(_("代码"), max_length=64)
    region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="targets",
        verbose_name=_("适用地区"),
        help_text=_("空表示全省目标"),
    )
    value = models.DecimalField(_("目标值"), max_digits=20, decimal_places=4)
    comparator = models.CharField(_("比较方式"), max_length=8, choices=Comparator.choices)
    tolerance = models.DecimalField(
        _("容差（%）"), max_digits=6, decimal_places=2, default=10, help_text=_("“左右”目标允许的偏差百分比")
    )
    deadline = models.DateField(_("期限"), null=True, blank=True, help_text=_("空且非每年目标：原文未规定时限"))
    per_year = models.BooleanField(_("每年目标"), default=False, help_text=_("按年度累计（年初至今）评价"))
    baseline_value = models.DecimalField(_("基线值"), max_digits=20, decimal_places=4, null=True, blank=True)
    baseline_year = models.PositiveSmallIntegerField(_("基线年度"), null=True, blank=True)
    clause = models.TextField(_("原文条款"), help_text=_("目标所出自的原文语句"))
    source = models.CharField(_("来源"), max_length=16, choices=Source.choices, default=Source.QUOTED)
    note = models.TextField(_("说明"), blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("目标")
        verbose_name_plural = _("目标")
        ordering = ["indicator", "code"]
        constraints = [
            models.UniqueConstraint(fields=["indicator", "code"], name="target_unique_code"),
            models.CheckConstraint(condition=Q(tolerance__gte=0), name="target_tolerance_non_negative"),
            models.CheckConstraint(
                condition=Q(baseline_value__isnull=True, baseline_year__isnull=True)
                | Q(baseline_value__isnull=False, baseline_year__isnull=False),
                name="target_baseline_complete",
            ),
            models.CheckConstraint(
                condition=~Q(per_year=True, deadline__isnull=False), name="target_per_year_has_no_deadline"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.indicator} {self.get_comparator_display()} {self.value.normalize()}"
