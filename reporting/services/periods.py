from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from common.errors import ApplicationError
from reporting.models import Period

QUARTER_STARTS = {1: (1, 1), 2: (4, 1), 3: (7, 1), 4: (10, 1)}


def quarter_bounds(*, year: int, quarter: int) -> tuple[date, date]:
    month, day = QUARTER_STARTS[quarter]
    start = date(year, month, day)
    end = date(year + 1, 1, 1) - timedelta(days=1) if quarter == 4 else date(year, month + 3, 1) - timedelta(days=1)
    return start, end


def period_default_deadline(*, end: date) -> date:
    """Default deadline: REPORTING_DEADLINE_DAYS (10) days after the quarter ends."""
    return end + timedelta(days=settings.REPORTING_DEADLINE_DAYS)


def period_ensure(*, year: int, quarter: int) -> Period:
    """Create the period with its default deadline if missing; leave an existing one untouched."""
    if quarter not in QUARTER_STARTS:
        raise ValidationError({"quarter": _("季度须为 1 至 4。")})
    if not 2000 <= year <= 2100:
        raise ValidationError({"year": _("年度须在 2000 至 2100 之间。")})
    start, end = quarter_bounds(year=year, quarter=quarter)
    period, _created = Period.objects.get_or_create(
        year=year,
        quarter=quarter,
        defaults={"start": start, "end": end, "deadline": period_default_deadline(end=end)},
    )
    return period


def periods_ensure_range(*, first_year: int, last_year: int) -> list[Period]:
    return [period_ensure(year=y, quarter=q) for y in range(first_year, last_year + 1) for q in (1, 2, 3, 4)]


def _require_coordinator(user: User) -> None:
    if not user.has_perm("reporting.manage_periods"):
        raise PermissionDenied(_("只有协调小组办公室可以管理填报期。"))


@transaction.atomic
def period_set_deadline(*, period: Period, user: User, deadline: date) -> Period:
    _require_coordinator(user)
    period = Period.objects.select_for_update().get(pk=period.pk)
    if deadline < period.end:
        raise ValidationError({"deadline": _("截止日期不能早于季度结束日期 %(end)s。") % {"end": period.end}})
    period.deadline = deadline
    period.version += 1
    period.full_clean()
    period.save()
    return period


@transaction.atomic
def period_close(*, period: Period, user: User) -> Period:
    _require_coordinator(user)
    period = Period.objects.select_for_update().get(pk=period.pk)
    if period.status == Period.Status.CLOSED:
        raise ApplicationError(_("填报期 %(period)s 已经关闭。") % {"period": period.code})
    period.status = Period.Status.CLOSED
    period.version += 1
    period.save()
    return period


@transaction.atomic
def period_reopen(*, period: Period, user: User, reason: str) -> Period:
    _require_coordinator(user)
    if not reason.strip():
        raise ValidationError({"reason": _("重新开放填报期须填写原因。")})
    period = Period.objects.select_for_update().get(pk=period.pk)
    if period.status == Period.Status.OPEN:
        raise ApplicationError(_("填报期 %(period)s 未关闭。") % {"period": period.code})
    period.status = Period.Status.OPEN
    period.version += 1
    period._change_reason = reason.strip()  # type: ignore[attr-defined]
    period.save()
    return period
