"""Reads for supervision (督查) reports: who may export what, the scope of a report, the report's content
as of now, the export log, and what changed between two snapshots.

`report_content` is the one place that reads live data for a report. It returns plain JSON (numbers as
exact decimal strings, times as local ISO text) holding the figures themselves, so a snapshot of it can
be rendered again later with identical figures. It issues a fixed number of queries whatever the
number of cities, values or changes behind it.

Who sees what (the audience):
- coordinators and auditors: everything;
- a city's reporters and reviewers: their own city's data only, beside the province's official figures
  (official figures count only what the province confirmed, so no other city's unapproved data shows);
- body reporters: the measures their bodies answer for, their own submissions, the province's figures;
- administrators and anyone else: no report (administrators read the export log only).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from indicators.models import Indicator, Target
from measures.models import Measure, Plan, Region, Responsibility, ResponsibleBody
from portal.accounts.models import Role
from portal.accounts.selectors import user_scope
from reporting.exports.summary import summary_sentences
from reporting.models import DataValue, Evidence, ExportJob, Figure, Period, ReportSnapshot, Submission, Transition
from reporting.selectors import period_get_by_code
from reporting.selectors.progress import TargetProgress, plan_status
from reporting.services.rollups import RULE_VERSION, plan_province
from reporting.status import STATUS_LABELS, Status

SIX_PLACES = Decimal("0.000001")
QUARTER_NAMES = {1: "第一季度", 2: "第二季度", 3: "第三季度", 4: "第四季度"}
STATUS_ORDER = [Status.ACHIEVED, Status.ON_TRACK, Status.AT_RISK, Status.OFF_TRACK, Status.NO_DATA]
VALUE_FIELD_LABELS = {
    "value": "数值",
    "numerator": "分子",
    "denominator": "分母",
    "done": "是否完成",
    "done_on": "完成日期",
    "comment": "说明",
}
RECEIVED = {Submission.Status.SUBMITTED, Submission.Status.CITY_APPROVED, Submission.Status.CONFIRMED}


# --- Who may export what -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audience:
    """Whose view of the data a report gives: everything, some cities', or some bodies'."""

    kind: str  # all | cities | bodies
    city_ids: frozenset[int] = frozenset()
    body_ids: frozenset[int] = frozenset()


def export_audience(*, user: AbstractBaseUser | AnonymousUser) -> Audience:
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


def export_log_reader(*, user: AbstractBaseUser | AnonymousUser) -> bool:
    """Administrators and auditors read the whole export log; everyone else only their own exports."""
    return bool(user_scope(user=user).roles & {Role.ADMIN, Role.AUDITOR})


def export_jobs_visible(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[ExportJob]:
    jobs = ExportJob.objects.select_related("created_by", "plan", "period", "snapshot")
    if not user.is_authenticated:
        return jobs.none()
    if export_log_reader(user=user):
        return jobs.all()
    return jobs.filter(created_by=user)


def export_file_readable(*, user: AbstractBaseUser | AnonymousUser, job: ExportJob) -> bool:
    """The file holds report data: its author and those who see everything may read it; an
    administrator reads the log, never the data."""
    if not user.is_authenticated:
        return False
    return job.created_by_id == user.pk or user_scope(user=user).sees_everything


def snapshots_visible(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[ReportSnapshot]:
    snapshots = ReportSnapshot.objects.select_related("plan", "period", "created_by")
    if not user.is_authenticated:
        return snapshots.none()
    if user_scope(user=user).sees_everything:
        return snapshots.all()
    return snapshots.filter(created_by=user)


# --- The scope of a report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportScope:
    plan: Plan
    span: str  # ReportSnapshot.Span
    period: Period  # the quarter the report stands at
    periods: tuple[Period, ...]  # the quarters it covers (one, or the year's ended ones)
    programmes: tuple[int, ...] = ()
    measures: tuple[int, ...] = ()
    cities: tuple[Region, ...] = ()
    bodies: tuple[ResponsibleBody, ...] = ()

    @property
    def code(self) -> str:
        return str(self.period.year) if self.span == ReportSnapshot.Span.YEAR else self.period.code

    def as_json(self) -> dict[str, Any]:
        return {
            "period": self.code,
            "span": self.span,
            "programmes": list(self.programmes),
            "measures": list(self.measures),
            "cities": [c.code for c in self.cities],
            "bodies": [b.code for b in self.bodies],
        }


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
    user: AbstractBaseUser | AnonymousUser,
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


# --- Formatting helpers (exact, deterministic) ---------------------------------------------------------


def num(value: Decimal | int | None) -> str | None:
    """An exact decimal as plain text ("93000", "845.454545"), the way the content stores numbers."""
    if value is None:
        return None
    number = Decimal(value)
    if number == number.to_integral_value():
        return format(number.quantize(Decimal(1)), "f")
    return format(number.normalize(), "f")


def _six(value: Decimal | None) -> str | None:
    return num(value.quantize(SIX_PLACES, rounding=ROUND_HALF_UP)) if value is not None else None


def local_iso(moment: datetime | None) -> str | None:
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment is not None else None


def period_label(scope: ReportScope) -> str:
    if scope.span == ReportSnapshot.Span.YEAR:
        last = scope.period
        suffix = "" if last.quarter == 4 else f"（截至{QUARTER_NAMES[last.quarter]}）"
        return f"{last.year}年度{suffix}"
    return f"{scope.period.year}年{QUARTER_NAMES[scope.period.quarter]}"


def _deadline_text(target: Target, progress: TargetProgress, plan: Plan) -> str:
    if target.per_year:
        return "每年"
    deadline = progress.judgement.deadline
    if deadline is None:
        return "未规定时限"
    text = f"{deadline.year}年底前" if (deadline.month, deadline.day) == (12, 31) else f"{deadline:%Y-%m-%d}前"
    if progress.judgement.deadline_assumed:
        text = f"未规定时限（按方案期末{plan.end_year}年评价）"
    return text


# --- The content of a report ---------------------------------------------------------------------------


@dataclass
class _Reporters:
    cities: list[Region] = field(default_factory=list)
    bodies: list[ResponsibleBody] = field(default_factory=list)


def _scoped_measures(scope: ReportScope, audience: Audience) -> list[Measure]:
    measures = Measure.objects.filter(plan=scope.plan).select_related("programme").order_by("number")
    if scope.programmes:
        measures = measures.filter(programme__number__in=scope.programmes)
    if scope.measures:
        measures = measures.filter(number__in=scope.measures)
    body_ids = set(audience.body_ids) | {b.pk for b in scope.bodies}
    if body_ids:
        measures = measures.filter(pk__in=Responsibility.objects.filter(body_id__in=body_ids).values("measure_id"))
    return list(measures)


def _reporters(
    scope: ReportScope, audience: Audience, province: Region | None, expected_body_ids: set[int]
) -> _Reporters:
    all_cities = (
        list(Region.objects.filter(parent=province, level=Region.Level.CITY).order_by("sort_order", "code"))
        if province is not None
        else []
    )
    requested_cities = {c.pk for c in scope.cities}
    requested_bodies = {b.pk for b in scope.bodies}
    if audience.kind == "cities":
        cities = [
            c for c in all_cities if c.pk in audience.city_ids and (not requested_cities or c.pk in requested_cities)
        ]
        return _Reporters(cities=cities)
    if audience.kind == "bodies":
        wanted = requested_bodies or set(audience.body_ids)
        body_ids = wanted & set(audience.body_ids)
    elif requested_cities or requested_bodies:
        return _Reporters(
            cities=[c for c in all_cities if c.pk in requested_cities],
            bodies=sorted(scope.bodies, key=lambda b: b.code),
        )
    else:
        body_ids = expected_body_ids
        return _Reporters(
            cities=all_cities,
            bodies=list(ResponsibleBody.objects.filter(pk__in=body_ids).order_by("code")),
        )
    return _Reporters(bodies=list(ResponsibleBody.objects.filter(pk__in=body_ids).order_by("code")))


def _coverage_text(figure: Figure, names: dict[str, str], *, named: bool) -> str:
    """How complete a figure is. Only a reader who sees every city learns which others are pending or
    missing; a city's own report gives the counts."""
    coverage = figure.coverage or {}
    if coverage.get("kind") == "body":
        return f"责任单位已报 {figure.reported_count}/{figure.expected_count}"
    if not coverage.get("kind"):
        carried = coverage.get("carried_from")
        return f"沿用 {carried} 数据" if carried else ""
    parts = [f"基于 {figure.reported_count}/{figure.expected_count} 个设区市已确认数据"]
    if not named:
        if coverage.get("carried"):
            parts.append(f"{len(coverage['carried'])} 个设区市沿用上季度数据")
        return "；".join(parts)
    if coverage.get("carried"):
        carried = "、".join(f"{names.get(code, code)}（{p}）" for code, p in sorted(coverage["carried"].items()))
        parts.append(f"沿用上季度：{carried}")
    if coverage.get("pending"):
        parts.append("待审核：" + "、".join(names.get(c, c) for c in coverage["pending"]))
    if coverage.get("missing"):
        parts.append("未报：" + "、".join(names.get(c, c) for c in coverage["missing"]))
    return "；".join(parts)


def report_content(*, scope: ReportScope, audience: Audience, cut_off: datetime) -> dict[str, Any]:
    """Everything a report states, as of now, for this scope and audience (plain JSON)."""
    with translation.override("zh-hans"):
        return _content(scope=scope, audience=audience, cut_off=cut_off)


def _content(*, scope: ReportScope, audience: Audience, cut_off: datetime) -> dict[str, Any]:
    plan = scope.plan
    province = plan_province(plan)
    measures = _scoped_measures(scope, audience)
    measure_ids = {m.pk for m in measures}
    indicators = list(
        Indicator.objects.filter(plan=plan, is_active=True, measure_id__in=measure_ids)
        .select_related("measure", "task")
        .order_by("measure__number", "sort_order", "code")
    )
    indicator_by_id = {i.pk: i for i in indicators}

    leads_by_measure: dict[int, list[str]] = defaultdict(list)
    leads_by_task: dict[int, list[str]] = defaultdict(list)
    lead_body_ids: set[int] = set()
    for responsibility in (
        Responsibility.objects.filter(measure_id__in=measure_ids, role=Responsibility.Role.LEAD)
        .select_related("body")
        .order_by("measure_id", "task_id", "body__code")
    ):
        lead_body_ids.add(responsibility.body_id)
        if responsibility.task_id is None:
            leads_by_measure[responsibility.measure_id].append(responsibility.body.name)
        else:
            leads_by_task[responsibility.task_id].append(responsibility.body.name)
    lead_body_ids |= {
        i.lead_body_id
        for i in indicators
        if i.lead_body_id and i.reporter in (Indicator.Reporter.BODY, Indicator.Reporter.BOTH)
    }

    def responsible(indicator: Indicator) -> list[str]:
        if indicator.task_id and leads_by_task.get(indicator.task_id):
            return leads_by_task[indicator.task_id]
        return leads_by_measure.get(indicator.measure_id, [])

    reporters = _reporters(scope, audience, province, lead_body_ids)
    city_names = {c.code: c.name for c in Region.objects.filter(level=Region.Level.CITY)}
    figures_index: dict[str, dict[str, Any]] = {}

    # Status by programme and measure, and each target (the province's official year-to-date figures).
    programmes = plan_status(plan=plan, period=scope.period)
    plan_rows: list[dict[str, Any]] = []
    progress_items: list[TargetProgress] = []
    for programme in programmes:
        for measure_status in programme.measures:
            if measure_status.measure.pk not in measure_ids:
                continue
            counts = defaultdict(int)
            for item in measure_status.targets:
                counts[item.judgement.status] += 1
                progress_items.append(item)
            plan_rows.append(
                {
                    "programme_number": programme.programme.number,
                    "programme": programme.programme.title,
                    "programme_status": str(STATUS_LABELS[programme.status]),
                    "measure_number": measure_status.measure.number,
                    "measure": measure_status.measure.title,
                    "measure_status": str(STATUS_LABELS[measure_status.status]),
                    "targets": len(measure_status.targets),
                    "achieved": counts[Status.ACHIEVED],
                    "on_track": counts[Status.ON_TRACK],
                    "at_risk": counts[Status.AT_RISK],
                    "off_track": counts[Status.OFF_TRACK],
                    "no_data": counts[Status.NO_DATA],
                    "lead_bodies": "、".join(leads_by_measure.get(measure_status.measure.pk, [])),
                }
            )

    target_rows: list[dict[str, Any]] = []
    for item in progress_items:
        target, judgement, figure = item.target, item.judgement, item.figure
        indicator = target.indicator
        key = f"target:{target.code}"
        pct = None
        if (
            judgement.actual is not None
            and indicator.kind != Indicator.Kind.MILESTONE
            and target.comparator != Target.Comparator.LTE
            and target.value
        ):
            pct = judgement.actual / target.value * 100
        row = {
            "key": key,
            "measure_number": indicator.measure.number,
            "indicator_code": indicator.code,
            "indicator": indicator.name,
            "unit": indicator.unit,
            "comparator": target.get_comparator_display(),
            "target": num(target.value),
            "deadline": _deadline_text(target, item, plan),
            "actual": _six(judgement.actual),
            "expected": _six(judgement.expected),
            "gap": _six(judgement.gap),
            "needed_per_quarter": _six(judgement.needed_per_quarter),
            "projected": _six(judgement.projected),
            "completion_pct": _six(pct),
            "status": str(STATUS_LABELS[judgement.status]),
            "reported": figure.reported_count if figure is not None else None,
            "expected_count": figure.expected_count if figure is not None else None,
            "lead_bodies": "、".join(responsible(indicator)),
            "clause": target.clause,
        }
        target_rows.append(row)
        figures_index[key] = {
            "label": indicator.name,
            "kind": indicator.kind,
            "unit": indicator.unit,
            "decimals": indicator.decimals,
            "value": row["actual"],
            "target": row["target"],
            "comparator": row["comparator"],
            "deadline": row["deadline"],
            "per_year": target.per_year,
            "completion_pct": row["completion_pct"],
            "status": judgement.status.value,
            "status_label": row["status"],
            "indicator_code": indicator.code,
            "indicator_reporter": indicator.reporter,
            "reported": row["reported"],
            "expected_count": row["expected_count"],
        }

    # Each region's figures with numerators and denominators: the province, then the cities in scope.
    span = Figure.Span.YTD if scope.span == ReportSnapshot.Span.YEAR else Figure.Span.QUARTER
    region_ids = {c.pk for c in reporters.cities}
    if province is not None:
        region_ids.add(province.pk)
    figures = list(
        Figure.objects.filter(
            plan=plan,
            period=scope.period,
            basis=Figure.Basis.OFFICIAL,
            span=span,
            indicator_id__in=indicator_by_id,
            region_id__in=region_ids,
        ).select_related("region")
    )
    region_order = {c.pk: i for i, c in enumerate(reporters.cities, start=1)}
    figures.sort(
        key=lambda f: (
            indicator_by_id[f.indicator_id].measure.number,
            indicator_by_id[f.indicator_id].sort_order,
            indicator_by_id[f.indicator_id].code,
            region_order.get(f.region_id, 0),
        )
    )
    figure_rows: list[dict[str, Any]] = []
    by_slot: dict[tuple[int, int], Figure] = {}
    rule_versions = {RULE_VERSION} if not figures else set()
    computed = [f.computed_at for f in figures]
    for figure in figures:
        indicator = indicator_by_id[figure.indicator_id]
        by_slot[(figure.indicator_id, figure.region_id)] = figure
        rule_versions.add(figure.rule_version)
        key = f"figure:{indicator.code}:{figure.region.code}"
        is_province = province is not None and figure.region_id == province.pk
        coverage = figure.coverage or {}
        row = {
            "key": key,
            "measure_number": indicator.measure.number,
            "indicator_code": indicator.code,
            "indicator": indicator.name,
            "kind": indicator.get_kind_display(),
            "region_code": figure.region.code,
            "region": figure.region.name,
            "unit": indicator.unit,
            "value": num(figure.value),
            "numerator": num(figure.numerator),
            "denominator": num(figure.denominator),
            "numerator_label": indicator.numerator_label,
            "denominator_label": indicator.denominator_label,
            "done_count": figure.done_count if indicator.kind == Indicator.Kind.MILESTONE else None,
            "reported": figure.reported_count,
            "expected_count": figure.expected_count,
            "coverage": _coverage_text(figure, city_names, named=audience.kind == "all"),
        }
        figure_rows.append(row)
        entry = {
            "label": f"{figure.region.name}{indicator.name}",
            "kind": indicator.kind,
            "unit": indicator.unit,
            "decimals": indicator.decimals,
            "region": figure.region.name,
            "value": row["value"],
            "numerator": row["numerator"],
            "denominator": row["denominator"],
            "done_count": figure.done_count,
        }
        if is_province and coverage.get("kind") == "city" and audience.kind == "all":
            entry["reported_cities"] = sorted(city_names.get(c, c) for c in coverage.get("reported", []))
            entry["reported_count"] = figure.reported_count
            entry["expected_count"] = figure.expected_count
        elif coverage.get("carried_from"):
            entry["carried_from"] = coverage["carried_from"]
        figures_index[key] = entry

    # Completeness and timeliness, by reporter and quarter.
    submissions = list(
        Submission.objects.filter(plan=plan, period__in=scope.periods)
        .filter(Q(region__in=reporters.cities) | Q(body__in=reporters.bodies))
        .select_related("period", "region", "body")
    )
    by_reporter = {(s.period_id, s.region_id, s.body_id): s for s in submissions}
    cut_off_day = timezone.localdate(cut_off)
    completeness_rows: list[dict[str, Any]] = []
    supervision_rows: list[dict[str, Any]] = []
    for period in scope.periods:
        tally = {"expected": 0, "received": 0, "on_time": 0, "late": 0, "confirmed": 0, "missing": 0, "overdue": 0}
        reporter_list: list[tuple[str, Region | None, ResponsibleBody | None]] = [
            ("设区市", c, None) for c in reporters.cities
        ] + [("省级责任单位", None, b) for b in reporters.bodies]
        for kind_label, region, body in reporter_list:
            submission = by_reporter.get((period.pk, region.pk if region else None, body.pk if body else None))
            name = (region or body).name  # type: ignore[union-attr]
            status = submission.status if submission is not None else None
            received = status in RECEIVED
            overdue_days = (cut_off_day - period.deadline).days
            if received and submission is not None:
                timeliness = "逾期" if submission.is_late else "按时"
                days_late = (
                    max(0, (timezone.localdate(submission.submitted_at) - period.deadline).days)
                    if submission.is_late and submission.submitted_at
                    else 0
                )
            else:
                timeliness = "未报"
                days_late = max(0, overdue_days)
            tally["expected"] += 1
            tally["received"] += received
            tally["on_time"] += received and timeliness == "按时"
            tally["late"] += received and timeliness == "逾期"
            tally["confirmed"] += status == Submission.Status.CONFIRMED
            tally["missing"] += not received
            completeness_rows.append(
                {
                    "period": period.code,
                    "reporter_kind": kind_label,
                    "reporter": name,
                    "status": submission.get_status_display() if submission is not None else "未开始",
                    "timeliness": timeliness,
                    "deadline": period.deadline.isoformat(),
                    "submitted_at": local_iso(submission.submitted_at) if submission is not None else None,
                    "days_late": days_late,
                }
            )
            if status == Submission.Status.RETURNED and submission is not None:
                detail = f"退回原因：{submission.return_reason}"
                if overdue_days > 0:
                    detail += f"；已逾期 {overdue_days} 天"
                supervision_rows.append(
                    {
                        "category": "已退回",
                        "subject": f"{name} {period.code} 季度报表",
                        "period": period.code,
                        "responsible": name,
                        "detail": detail,
                        "days_late": max(0, overdue_days),
                        "key": f"completeness:{period.code}",
                    }
                )
            elif not received and overdue_days > 0:
                tally["overdue"] += 1
                state = "尚未开始填报" if submission is None else f"当前状态：{submission.get_status_display()}"
                supervision_rows.append(
                    {
                        "category": "逾期未报",
                        "subject": f"{name} {period.code} 季度报表",
                        "period": period.code,
                        "responsible": name,
                        "detail": f"截止日期 {period.deadline.isoformat()}，已逾期 {overdue_days} 天，{state}",
                        "days_late": overdue_days,
                        "key": f"completeness:{period.code}",
                    }
                )
        figures_index[f"completeness:{period.code}"] = {"label": f"{period.code} 报送情况", **tally}

    # The 督办清单: targets off track or at risk, and cities below the province on a rate target.
    for category, wanted in (("明显滞后", Status.OFF_TRACK), ("存在风险", Status.AT_RISK)):
        for item in progress_items:
            if item.judgement.status != wanted:
                continue
            target, judgement = item.target, item.judgement
            indicator = target.indicator
            if indicator.kind == Indicator.Kind.MILESTONE:
                detail = f"尚未完成，期限 {_deadline_text(target, item, plan)}"
            else:
                unit = indicator.unit
                detail = f"实际 {num(judgement.actual)}{unit}，目标 {target.get_comparator_display()}{num(target.value)}{unit}"
                if judgement.expected is not None:
                    detail += f"，序时应达 {_six(judgement.expected)}，差距 {_six(judgement.gap)}"
            supervision_rows.append(
                {
                    "category": category,
                    "subject": f"举措{indicator.measure.number}：{indicator.name}",
                    "period": scope.period.code,
                    "responsible": "、".join(responsible(indicator)),
                    "detail": detail,
                    "days_late": None,
                    "key": f"target:{target.code}",
                }
            )
    # Only rates compare across regions: a city's count is always below the province's sum.
    lagging: dict[str, dict[str, Any]] = {}
    if province is not None:
        for item in progress_items:
            indicator = item.target.indicator
            if indicator.kind not in (Indicator.Kind.RATIO, Indicator.Kind.SHARE):
                continue
            if indicator.reporter == Indicator.Reporter.BODY:
                continue
            whole = by_slot.get((indicator.pk, province.pk))
            if whole is None or whole.value is None:
                continue
            lower_is_better = item.target.comparator == Target.Comparator.LTE
            unit = indicator.unit
            behind, compared = [], []
            for city in reporters.cities:
                figure = by_slot.get((indicator.pk, city.pk))
                if figure is None or figure.value is None:
                    continue
                compared.append(f"figure:{indicator.code}:{city.code}")
                if (figure.value > whole.value) if lower_is_better else (figure.value < whole.value):
                    behind.append(f"figure:{indicator.code}:{city.code}")
                    supervision_rows.append(
                        {
                            "category": "低于全省水平",
                            "subject": f"举措{indicator.measure.number}：{indicator.name}",
                            "period": scope.period.code,
                            "responsible": city.name,
                            "detail": f"{city.name} {num(figure.value)}{unit}，全省 {num(whole.value)}{unit}",
                            "days_late": None,
                            "key": f"figure:{indicator.code}:{city.code}",
                        }
                    )
            lagging[f"target:{item.target.code}"] = {
                "province": f"figure:{indicator.code}:{province.code}",
                "compared": compared,
                "behind": behind,
                "lower_is_better": lower_is_better,
            }
    supervision_counts: dict[str, int] = defaultdict(int)
    for row in supervision_rows:
        supervision_counts[row["category"]] += 1
    figures_index["supervision"] = {"label": "督办清单", "total": len(supervision_rows), **supervision_counts}

    # The changes: every workflow step, and every value changed after the report was first submitted.
    change_rows: list[dict[str, Any]] = []
    submission_by_id = {s.pk: s for s in submissions}
    transitions = list(
        Transition.objects.filter(submission_id__in=submission_by_id)
        .exclude(action=Transition.Action.CREATE)
        .select_related("actor")
        .order_by("at", "id")
    )
    status_labels = dict(Submission.Status.choices)
    reasons_by_submission: dict[int, list[Transition]] = defaultdict(list)
    for transition in transitions:
        submission = submission_by_id[transition.submission_id]
        if transition.action in (Transition.Action.RETURN, Transition.Action.REOPEN):
            reasons_by_submission[transition.submission_id].append(transition)
        change_rows.append(
            {
                "at": local_iso(transition.at),
                "period": submission.period.code,
                "reporter": submission.reporter_name,
                "user": transition.actor.get_username(),
                "kind": "状态",
                "action": transition.get_action_display(),
                "subject": "",
                "field": "状态",
                "old": str(status_labels.get(transition.from_status, transition.from_status)),
                "new": str(status_labels.get(transition.to_status, transition.to_status)),
                "reason": transition.reason,
            }
        )
    first_submit = (
        Transition.objects.filter(submission_id=OuterRef("submission_id"), action=Transition.Action.SUBMIT)
        .order_by("at")
        .values("at")[:1]
    )
    changed_ids = set(
        DataValue.history.filter(submission_id__in=submission_by_id, indicator_id__in=indicator_by_id)
        .annotate(first_submit=Subquery(first_submit))
        .filter(history_date__gt=F("first_submit"))
        .values_list("id", flat=True)
    )
    value_rows = (
        DataValue.history.filter(id__in=changed_ids)
        .annotate(first_submit=Subquery(first_submit))
        .select_related("history_user", "updated_by")
        .order_by("id", "history_date", "history_id")
    )
    previous: dict[int, Any] = {}
    revisions = 0
    revised_submissions: set[int] = set()
    for row in value_rows:
        before = previous.get(row.id)
        previous[row.id] = row
        if row.first_submit is None or row.history_date <= row.first_submit:
            continue
        submission = submission_by_id[row.submission_id]
        indicator = indicator_by_id[row.indicator_id]
        reason = ""
        for transition in reasons_by_submission.get(row.submission_id, []):
            if transition.at <= row.history_date:
                reason = transition.reason
        who = row.history_user or row.updated_by
        action = {"+": "新增", "~": "修改", "-": "删除"}[row.history_type]
        for name, label in VALUE_FIELD_LABELS.items():
            new = getattr(row, name) if row.history_type != "-" else None
            old = getattr(before, name) if before is not None else None
            if row.history_type == "-":
                old = getattr(row, name)
            if old == new or {old, new} <= {None, ""}:
                continue
            revisions += 1
            revised_submissions.add(row.submission_id)
            change_rows.append(
                {
                    "at": local_iso(row.history_date),
                    "period": submission.period.code,
                    "reporter": submission.reporter_name,
                    "user": who.get_username() if who is not None else "",
                    "kind": "数值",
                    "action": action,
                    "subject": f"{indicator.code} {indicator.name}",
                    "field": label,
                    "old": _shown(old),
                    "new": _shown(new),
                    "reason": reason,
                }
            )
    change_rows.sort(key=lambda r: r["at"] or "")
    figures_index["changes"] = {
        "label": "提交后变更",
        "transitions": len(transitions),
        "reopened": sum(1 for t in transitions if t.action == Transition.Action.REOPEN),
        "returned": sum(1 for t in transitions if t.action == Transition.Action.RETURN),
        "value_changes": revisions,
        "revised_submissions": len(revised_submissions),
    }

    # The evidence behind confirmed values, with its SHA-256.
    confirmed_ids = [s.pk for s in submissions if s.status == Submission.Status.CONFIRMED]
    evidence = (
        Evidence.objects.filter(submission_id__in=confirmed_ids, removed_at__isnull=True)
        .filter(Q(measure__isnull=True) | Q(measure_id__in=measure_ids))
        .filter(Q(indicator__isnull=True) | Q(indicator_id__in=indicator_by_id))
        .select_related("measure", "indicator", "uploaded_by")
        .order_by("submission__period__year", "submission__period__quarter", "uploaded_at", "id")
    )
    evidence_rows = []
    for item in evidence:
        submission = submission_by_id[item.submission_id]
        evidence_rows.append(
            {
                "period": submission.period.code,
                "reporter": submission.reporter_name,
                "measure_number": item.measure.number if item.measure else None,
                "indicator_code": item.indicator.code if item.indicator else "",
                "file_name": item.original_name,
                "size": item.size,
                "sha256": item.sha256,
                "uploaded_by": item.uploaded_by.get_username(),
                "uploaded_at": local_iso(item.uploaded_at),
                "description": item.description,
            }
        )
    figures_index["evidence"] = {"label": "佐证材料", "count": len(evidence_rows)}

    status_counts = defaultdict(int)
    for item in progress_items:
        status_counts[item.judgement.status.value] += 1
    figures_index["status:targets"] = {
        "label": "目标状态",
        "total": len(progress_items),
        **{s.value: status_counts[s.value] for s in STATUS_ORDER},
    }

    label = period_label(scope)
    scope_text = _scope_text(scope, measures)
    audience_text = {
        "all": "全部数据",
        "cities": "仅本市：" + "、".join(c.name for c in reporters.cities),
        "bodies": "仅本单位负责的举措：" + "、".join(b.name for b in reporters.bodies),
    }[audience.kind]
    meta = {
        "title": f"《{plan.title}》推进情况督查报告（{label}）",
        "plan": f"{plan.document_number} {plan.title}",
        "plan_code": plan.code,
        "period": scope.code,
        "period_label": label,
        "as_of_period": scope.period.code,
        "span": scope.span,
        "figure_span": span,
        "scope": scope.as_json(),
        "scope_text": scope_text,
        "audience": audience.kind,
        "audience_text": audience_text,
        "cities": [c.name for c in reporters.cities],
        "basis": "正式（仅计省级已确认数据）",
        "cut_off": local_iso(cut_off),
        "rule_version": "、".join(sorted(rule_versions)),
        "figures_computed_at": local_iso(max(computed)) if computed else None,
    }
    figures_index["meta"] = {"label": "数据截止时间", "value": meta["cut_off"], "rule_version": meta["rule_version"]}
    content = {
        "meta": meta,
        "figures": figures_index,
        "lagging": lagging,
        "parts": {
            "plan_status": plan_rows,
            "targets": target_rows,
            "figures": figure_rows,
            "completeness": completeness_rows,
            "supervision": supervision_rows,
            "changes": change_rows,
            "evidence": evidence_rows,
        },
    }
    content["summary"] = summary_sentences(content)
    return content


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, Decimal):
        return num(value) or ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _scope_text(scope: ReportScope, measures: list[Measure]) -> str:
    parts = [period_label(scope)]
    if scope.programmes:
        parts.append("工程 " + "、".join(str(n) for n in scope.programmes))
    if scope.measures or scope.programmes or scope.bodies:
        parts.append("举措 " + "、".join(str(m.number) for m in measures) if measures else "无举措")
    else:
        parts.append("全部举措")
    if scope.cities:
        parts.append("设区市 " + "、".join(c.name for c in scope.cities))
    if scope.bodies:
        parts.append("责任单位 " + "、".join(b.name for b in scope.bodies))
    return "；".join(parts)


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
