"""Who may do what: one membership table (user ↔ city or body, role, valid from/to).

It is the single source for both queryset scoping (`visible_to`) and action rules, so that a list and
the action buttons beside it can never disagree.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from measures.models import Region, ResponsibleBody


class Role(models.TextChoices):
    COORDINATOR = "coordinator", _("协调小组办公室")
    BODY_REPORTER = "body_reporter", _("省级责任单位填报员")
    CITY_REPORTER = "city_reporter", _("设区市填报员")
    CITY_REVIEWER = "city_reviewer", _("设区市审核员")
    AUDITOR = "auditor", _("督查审计")
    ADMIN = "admin", _("系统管理员")


CITY_ROLES = (Role.CITY_REPORTER, Role.CITY_REVIEWER)


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("用户")
    )
    role = models.CharField(_("角色"), max_length=16, choices=Role.choices)
    region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="memberships",
        verbose_name=_("所属地区"),
    )
    body = models.ForeignKey(
        ResponsibleBody,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="memberships",
        verbose_name=_("所属单位"),
    )
    valid_from = models.DateField(_("生效日期"))
    valid_to = models.DateField(_("失效日期"), null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("角色授权")
        verbose_name_plural = _("角色授权")
        ordering = ["user", "role"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(role__in=["city_reporter", "city_reviewer"], region__isnull=False, body__isnull=True)
                    | Q(role="body_reporter", region__isnull=True, body__isnull=False)
                    | Q(role__in=["coordinator", "auditor", "admin"], region__isnull=True, body__isnull=True)
                ),
                name="membership_scope_matches_role",
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="membership_valid_range",
            ),
        ]

    def __str__(self) -> str:
        scope = self.region or self.body or ""
        return f"{self.user} · {self.get_role_display()} {scope}".strip()
