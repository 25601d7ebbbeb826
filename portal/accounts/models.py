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
    # 三员分立 (等保 2.0): the system, security and audit administrators are three different people.
    SECURITY_ADMIN = "security_admin", _("安全管理员")
    AUDIT_ADMIN = "audit_admin", _("审计管理员")


CITY_ROLES = (Role.CITY_REPORTER, Role.CITY_REVIEWER)
# No account holds two of these at once (a validator in the service and a constraint in the database).
SEPARATED_ROLES = (Role.ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN)
# 等保 2.0 level 3 asks two factors of whoever administers the system or sees every city's data.
SECOND_FACTOR_ROLES = (*SEPARATED_ROLES, Role.COORDINATOR, Role.AUDITOR)


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
                    | Q(
                        role__in=["coordinator", "auditor", "admin", "security_admin", "audit_admin"],
                        region__isnull=True,
                        body__isnull=True,
                    )
                ),
                name="membership_scope_matches_role",
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="membership_valid_range",
            ),
            # 三员分立: at most one open administrator membership (system, security or audit) per account.
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(role__in=["admin", "security_admin", "audit_admin"], valid_to__isnull=True),
                name="membership_one_administrator_role",
            ),
        ]

    def __str__(self) -> str:
        scope = self.region or self.body or ""
        return f"{self.user} · {self.get_role_display()} {scope}".strip()


class SecurityEvent(models.Model):
    """The append-only security log (等保 2.0 安全审计). Each row carries the hash of the one before it,
    so a changed or removed row breaks the chain; on PostgreSQL a trigger refuses UPDATE and DELETE
    outright. Rows are written in the same transaction as the action they record: if the log cannot be
    written, the action does not happen (fail closed)."""

    class Event(models.TextChoices):
        LOGIN = "login", _("登录")
        LOGOUT = "logout", _("退出")
        LOGIN_FAILED = "login_failed", _("登录失败")
        LOCKOUT = "lockout", _("账号锁定")
        UNLOCK = "unlock", _("解除锁定")
        ACCESS_DENIED = "access_denied", _("拒绝访问")
        ROLE_CHANGE = "role_change", _("角色变更")
        EXPORT = "export", _("导出")
        IMPORT = "import", _("导入")
        APPROVAL = "approval", _("审核通过")
        RETURN = "return", _("退回")
        REOPEN = "reopen", _("重新打开")
        SECOND_FACTOR = "second_factor", _("第二因素验证")
        ACCOUNT_ACTIVE = "account_active", _("账号启用或停用")

    at = models.DateTimeField(_("时间"), db_index=True)
    # PROTECT: a user with logged events is deactivated, never deleted (deleting would rewrite the log).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    username = models.CharField(_("用户名"), max_length=150, blank=True)
    roles = models.CharField(_("角色"), max_length=255, blank=True)
    region = models.CharField(_("地区"), max_length=255, blank=True)
    event = models.CharField(_("事件"), max_length=16, choices=Event.choices, db_index=True)
    success = models.BooleanField(_("成功"))
    object_type = models.CharField(_("对象类型"), max_length=64, blank=True)
    object_id = models.CharField(_("对象"), max_length=64, blank=True)
    ip = models.GenericIPAddressField(_("IP 地址"), null=True, blank=True)
    request_id = models.CharField(_("请求编号"), max_length=64, blank=True)
    detail = models.JSONField(_("详情"), default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("安全审计日志")
        verbose_name_plural = _("安全审计日志")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.event}"


class PasswordState(models.Model):
    """When a user last set their password, for the 90-day rotation 等保 2.0 asks for."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="password_state")
    changed_at = models.DateTimeField(_("密码修改时间"))

    class Meta:
        verbose_name = _("密码状态")
        verbose_name_plural = _("密码状态")

    def __str__(self) -> str:
        return f"{self.user_id} {self.changed_at:%Y-%m-%d}"
