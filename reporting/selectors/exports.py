"""Reads for supervision (督查) reports: who may export what, the scope a report is asked for, the export
log, and what changed between two snapshots. What a report states is read by
`reporting.selectors.exports_content.report_content`.

Who sees what (the audience):
- coordinators and auditors: everything;
- a city's reporters and reviewers: their own city's data only, beside the province's official figures
  (official figures count only what the province confirmed, so no other city's unapproved data shows);
- body reporters: the measures their bodies answer for, their own submissions, the province's figures;
- administrators and anyone else: no report (administrators read the export log only).
"""

from datetime import date
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from measures.models import Plan, Region, ResponsibleBody
from portal.accounts.models import Role
from portal.accounts.selectors import user_scope
from reporting.models import ExportJob, Period, ReportSnapshot
from reporting.selectors import period_get_by_code
from reporting.selectors.exports_content import Audience, ReportScope, report_content

__all__ = [
    "Audience",
    "ReportScope",
    "export_audience",
    "export_file_readable",
    "export_jobs_visible",
    "export_log_reader",
    "report_content",
    "report_period_resolve",
    "report_scope_resolve",
    "snapshot_diff",
    "snapshots_visible",
]


# --- Who may export what -------------------------------------------------------------------------------


def export_audience(*, user: User | AnonymousUser) -> Audience:
    """The audience a user's report is built for; PermissionDenied for roles that export nothing."""
    scope = user_scope(user=user)
    if scope.sees_everything:
        return Audience("all")
    cities = scope.cities(Role.CITY_REPORTER, Role.CITY_REVIEWER)
    if cities:
        return Audience("cities", city_ids=cities)
    if scope.has(Role.BODY_REPORTER) and scope.body_ids:
        return Audience("bodies", body_ids=scope.body_ids)
    raise PermissionDenied(_("您的角色不能导出督查报告（系统管理员只能查看导出日志）。"))


def export_log_reader(*, user: User | AnonymousUser) -> bool:
    """Administrators and auditors read the whole export log; everyone else only their own exports."""
    return bool(user_scope(user=user).roles & {Role.ADMIN, Role.AUDITOR})


def export_jobs_visible(*, user: User | AnonymousUser) -> QuerySet[ExportJob]:
    jobs = ExportJob.objects.select_related("created_by", "plan", "period", "snapshot")
    if not user.is_authenticated:
        return jobs.none()
    if export_log_reader(user=user):
        return jobs.all()
    return jobs.filter(created_by=user)


def export_file_readable(*, user: User | AnonymousUser, job: ExportJob) -> bool:
    """The file holds report data: those who see everything may read it, and its author while they may still
    export (a role that has ended, or an administrator's, reads the log entry, never the data)."""
    if not user.is_authenticated:
        return False
    if user_scope(user=user).sees_everything:
        return True
    if job.created_by_id != user.pk:
        return False
    try:
        export_audience(user=user)
    except PermissionDenied:
        return False
    return True


def snapshots_visible(*, user: User | AnonymousUser) -> QuerySet[ReportSnapshot]:
    snapshots = ReportSnapshot.objects.select_related("plan", "period", "created_by")
    if not user.is_authenticated:
        return snapshots.none()
    if user_scope(user=user).sees_everything:
        return snapshots.all()
    return snapshots.filter(created_by=user)


# --- The scope of a report -----------------------------------------------------------------------------


def report_period_resolve(*, text: Any, today: date | None = None) -> tuple[str, Period, list[Period]]:
    """ "2025Q4" → that quarter; "2025" → the year, standing at its latest ended quarter."""
    day = today or timezone.localdate()
    raw = str(text or "").strip().upper()
    if len(raw) == 4 and raw.isdigit():
        periods = list(Period.objects.filter(year=int(raw), end__lt=day).order_by("quarter"))
        if not periods:
            raise ValidationError({"period": [_("%(year)s 年还没有已结束的季度。") % {"year": raw}]})
        return ReportSnapshot.Span.YEAR, periods[-1], periods
    period = period_get_by_code(code=raw) if raw else None
    if period is None:
        raise ValidationError({"period": [_("报告期应为已有的季度（如 2025Q4）或年度（如 2025）。")]})
    if period.end >= day:
        raise ValidationError({"period": [_("%(period)s 尚未结束，不能出具报告。") % {"period": period.code}]})
    return ReportSnapshot.Span.QUARTER, period, [period]


def _int_list(raw: Any, field_name: str) -> tuple[int, ...]:
    if raw in (None, "", []):
        return ()
    items = raw if isinstance(raw, list | tuple) else [raw]
    out = []
    for item in items:
        text = str(item).strip()
        if isinstance(item, bool) or not text.isdigit():
            raise ValidationError({field_name: [_("应为编号列表（整数）。")]})
        out.append(int(text))
    return tuple(sorted(set(out)))


def _code_list(raw: Any) -> list[str]:
    if raw in (None, "", []):
        return []
    items = raw if isinstance(raw, list | tuple) else [raw]
    return sorted({str(item).strip() for item in items if str(item).strip()})


def report_scope_resolve(
    *,
    user: User | AnonymousUser,
    period: Any,
    plan: Plan | None = None,
    programmes: Any = None,
    measures: Any = None,
    cities: Any = None,
    bodies: Any = None,
) -> tuple[ReportScope, Audience]:
    """Check a requested scope against the plan and the user's audience. Unknown items are bad input
    (400, keyed by field); asking for data outside one's audience is refused (403)."""
    audience = export_audience(user=user)
    plan = plan or Plan.objects.order_by("issued_on", "code").first()
    if plan is None:
        raise ValidationError({"plan": [_("尚未加载任何方案。")]})
    span, as_of, periods = report_period_resolve(text=period)
    programme_numbers = _int_list(programmes, "programmes")
    measure_numbers = _int_list(measures, "measures")
    errors: dict[str, list[str]] = {}
    if programme_numbers:
        known = set(plan.programmes.filter(number__in=programme_numbers).values_list("number", flat=True))
        if missing := [n for n in programme_numbers if n not in known]:
            errors["programmes"] = [_("没有这些工程：%(items)s。") % {"items": ", ".join(map(str, missing))}]
    if measure_numbers:
        known = set(plan.measures.filter(number__in=measure_numbers).values_list("number", flat=True))
        if missing := [n for n in measure_numbers if n not in known]:
            errors["measures"] = [_("没有这些举措：%(items)s。") % {"items": ", ".join(map(str, missing))}]
    city_codes = _code_list(cities)
    city_rows = list(Region.objects.filter(level=Region.Level.CITY, code__in=city_codes).order_by("sort_order", "code"))
    if missing_cities := sorted(set(city_codes) - {c.code for c in city_rows}):
        errors["cities"] = [_("没有这些设区市代码：%(items)s。") % {"items": ", ".join(missing_cities[:20])}]
    body_codes = _code_list(bodies)
    body_rows = list(ResponsibleBody.objects.filter(code__in=body_codes).order_by("code"))
    if missing_bodies := sorted(set(body_codes) - {b.code for b in body_rows}):
        errors["bodies"] = [_("没有这些责任单位代码：%(items)s。") % {"items": ", ".join(missing_bodies[:20])}]
    if errors:
        raise ValidationError(errors)
    if audience.kind == "cities":
        if body_rows or any(c.pk not in audience.city_ids for c in city_rows):
            raise PermissionDenied(_("您只能导出本市的数据。"))
    elif audience.kind == "bodies" and (city_rows or any(b.pk not in audience.body_ids for b in body_rows)):
        raise PermissionDenied(_("您只能导出本单位负责举措的数据。"))
    scope = ReportScope(
        plan=plan,
        span=span,
        period=as_of,
        periods=tuple(periods),
        programmes=programme_numbers,
        measures=measure_numbers,
        cities=tuple(city_rows),
        bodies=tuple(body_rows),
    )
    return scope, audience


# --- What changed between two snapshots ----------------------------------------------------------------

COMPARED = ("value", "numerator", "denominator", "done_count", "target", "status")


def snapshot_diff(*, earlier: ReportSnapshot, later: ReportSnapshot) -> dict[str, Any]:
    """The figures that changed from one snapshot to the other: values revised, figures added or gone,
    cities that joined or left a province figure."""
    before = earlier.content.get("figures", {})
    after = later.content.get("figures", {})
    revised, added, removed, cities_added, cities_removed = [], [], [], [], []
    for key in sorted(before.keys() | after.keys()):
        if not key.startswith(("figure:", "target:")):
            continue
        old, new = before.get(key), after.get(key)
        if old is None and new is not None:
            added.append({"key": key, "label": new["label"], "value": new.get("value"), "unit": new.get("unit")})
            continue
        if new is None and old is not None:
            removed.append({"key": key, "label": old["label"], "value": old.get("value"), "unit": old.get("unit")})
            continue
        if old is None or new is None:
            continue
        for name in COMPARED:
            if old.get(name) != new.get(name):
                revised.append(
                    {
                        "key": key,
                        "label": new["label"],
                        "field": name,
                        "old": old.get(name),
                        "new": new.get(name),
                        "unit": new.get("unit"),
                    }
                )
        joined = sorted(set(new.get("reported_cities") or []) - set(old.get("reported_cities") or []))
        left = sorted(set(old.get("reported_cities") or []) - set(new.get("reported_cities") or []))
        if joined:
            cities_added.append({"key": key, "label": new["label"], "cities": joined})
        if left:
            cities_removed.append({"key": key, "label": new["label"], "cities": left})
    return {
        "earlier": str(earlier.public_id),
        "later": str(later.public_id),
        "earlier_cut_off": earlier.content.get("meta", {}).get("cut_off"),
        "later_cut_off": later.content.get("meta", {}).get("cut_off"),
        "revised": revised,
        "added": added,
        "removed": removed,
        "cities_added": cities_added,
        "cities_removed": cities_removed,
    }
