"""What a supervision (督查) report states, read from the live data as of now: `report_content`.

It returns plain JSON — numbers as exact decimal strings, times as local ISO text — holding the figures
themselves, so a snapshot of it renders again later with identical figures. Besides the tables
(`parts`) it keeps an index of the figures the text states (`figures`, keyed like "target:<code>" or
"figure:<indicator>:<region code>"), which the written summary refers to and snapshots are compared by.

A fixed number of queries (seventeen at most) whatever the number of cities, values or changes behind it.
"""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any, NamedTuple

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone, translation

from indicators.models import Indicator, Target
from measures.models import Measure, Plan, Region, Responsibility, ResponsibleBody
from reporting.exports.summary import summary_sentences
from reporting.models import (
    DataValue,
    Evidence,
    Figure,
    Period,
    ReportSnapshot,
    SliceCheck,
    Submission,
    Transition,
)
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
HISTORY_ACTIONS = {"+": "新增", "~": "修改", "-": "删除"}


@dataclass(frozen=True)
class Audience:
    """Whose view of the data a report gives: everything, some cities', or some bodies'."""

    kind: str  # all | cities | bodies
    city_ids: frozenset[int] = frozenset()
    body_ids: frozenset[int] = frozenset()


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


# --- Formatting (exact, deterministic) -------------------------------------------------------------------


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
    if progress.judgement.deadline_assumed:
        return f"未规定时限（按方案期末{plan.end_year}年评价）"
    return f"{deadline.year}年底前" if (deadline.month, deadline.day) == (12, 31) else f"{deadline:%Y-%m-%d}前"


def _labels(choices: list[tuple[Any, Any]]) -> dict[Any, str]:
    """Choice labels translated once per report: get_FOO_display() rebuilds and re-hashes the lazy labels on
    every call, which cost a third of a year's snapshot."""
    return {value: str(label) for value, label in choices}


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


# --- What the report covers ------------------------------------------------------------------------------


@dataclass
class _Context:
    """What every part of a report is read against: the scope, the audience, and the lookups they share."""

    scope: ReportScope
    audience: Audience
    cut_off: datetime
    province: Region | None
    measures: list[Measure]
    indicators: dict[int, Indicator]
    leads_by_measure: dict[int, list[str]]
    leads_by_task: dict[int, list[str]]
    cities: list[Region]
    bodies: list[ResponsibleBody]
    city_names: dict[str, str]
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def measure_ids(self) -> set[int]:
        return {m.pk for m in self.measures}

    def responsible(self, indicator: Indicator) -> str:
        """The lead body of the indicator's task, else of its measure (Responsibility role=lead)."""
        if indicator.task_id and self.leads_by_task.get(indicator.task_id):
            return "、".join(self.leads_by_task[indicator.task_id])
        return "、".join(self.leads_by_measure.get(indicator.measure_id, []))


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
    scope: ReportScope, audience: Audience, all_cities: list[Region], expected_body_ids: set[int]
) -> tuple[list[Region], list[ResponsibleBody]]:
    """The cities and bodies whose reports the report covers: the audience's own, narrowed by the scope;
    with no narrowing, every city (of the plan's province) and every body expected to report."""
    wanted_cities = {c.pk for c in scope.cities}
    wanted_bodies = {b.pk for b in scope.bodies}
    if audience.kind == "cities":
        own = [c for c in all_cities if c.pk in audience.city_ids and (not wanted_cities or c.pk in wanted_cities)]
        return own, []
    if audience.kind == "bodies":
        body_ids = (wanted_bodies or set(audience.body_ids)) & set(audience.body_ids)
        return [], list(ResponsibleBody.objects.filter(pk__in=body_ids).order_by("code"))
    if wanted_cities or wanted_bodies:
        return [c for c in all_cities if c.pk in wanted_cities], sorted(scope.bodies, key=lambda b: b.code)
    return all_cities, list(ResponsibleBody.objects.filter(pk__in=expected_body_ids).order_by("code"))


def _context(scope: ReportScope, audience: Audience, cut_off: datetime) -> _Context:
    province = plan_province(scope.plan)
    measures = _scoped_measures(scope, audience)
    by_measure = {m.pk: m for m in measures}
    indicators = {}
    for indicator in Indicator.objects.filter(plan=scope.plan, is_active=True, measure_id__in=by_measure).order_by(
        "measure__number", "sort_order", "code"
    ):
        indicator.measure = by_measure[indicator.measure_id]  # the measure read above, not a second copy
        indicators[indicator.pk] = indicator
    leads_by_measure: dict[int, list[str]] = defaultdict(list)
    leads_by_task: dict[int, list[str]] = defaultdict(list)
    expected_bodies: set[int] = set()
    for measure_id, task_id, body_id, body_name in (
        Responsibility.objects.filter(measure_id__in=by_measure, role=Responsibility.Role.LEAD)
        .order_by("measure_id", "task_id", "body__code")
        .values_list("measure_id", "task_id", "body_id", "body__name")
    ):
        expected_bodies.add(body_id)
        if task_id is None:
            leads_by_measure[measure_id].append(body_name)
        else:
            leads_by_task[task_id].append(body_name)
    # A body reports when it leads a measure or task (narratives) or an indicator reported by bodies.
    expected_bodies |= {
        i.lead_body_id
        for i in indicators.values()
        if i.lead_body_id and i.reporter in (Indicator.Reporter.BODY, Indicator.Reporter.BOTH)
    }
    # Every city, for their names (coverage notes name cities by code); the province's own report.
    every_city = list(Region.objects.filter(level=Region.Level.CITY).order_by("sort_order", "code"))
    own = [c for c in every_city if c.parent_id == province.pk] if province is not None else []
    cities, bodies = _reporters(scope, audience, own, expected_bodies)
    return _Context(
        scope=scope,
        audience=audience,
        cut_off=cut_off,
        province=province,
        measures=measures,
        indicators=indicators,
        leads_by_measure=leads_by_measure,
        leads_by_task=leads_by_task,
        cities=cities,
        bodies=bodies,
        city_names={c.code: c.name for c in every_city},
    )


# --- The parts ---------------------------------------------------------------------------------------------


def _plan_status(ctx: _Context) -> tuple[list[dict[str, Any]], list[TargetProgress]]:
    """Status by programme and measure (the province's official year-to-date figures), and the targets."""
    rows: list[dict[str, Any]] = []
    progress: list[TargetProgress] = []
    measure_ids = ctx.measure_ids
    for programme in plan_status(plan=ctx.scope.plan, period=ctx.scope.period, province=ctx.province):
        for measure_status in programme.measures:
            if measure_status.measure.pk not in measure_ids:
                continue
            counts: dict[Status, int] = defaultdict(int)
            for item in measure_status.targets:
                counts[item.judgement.status] += 1
                progress.append(item)
            rows.append(
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
                    "lead_bodies": "、".join(ctx.leads_by_measure.get(measure_status.measure.pk, [])),
                }
            )
    statuses = [item.judgement.status.value for item in progress]
    ctx.figures["status:targets"] = {
        "label": "目标状态",
        "total": len(progress),
        **{s.value: statuses.count(s.value) for s in STATUS_ORDER},
    }
    return rows, progress


def _targets(ctx: _Context, progress: list[TargetProgress]) -> list[dict[str, Any]]:
    """Each target with actual, target, expected by now, gap, run rate needed, projection and status."""
    rows = []
    for item in progress:
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
            "deadline": _deadline_text(target, item, ctx.scope.plan),
            "actual": _six(judgement.actual),
            "expected": _six(judgement.expected),
            "gap": _six(judgement.gap),
            "needed_per_quarter": _six(judgement.needed_per_quarter),
            "projected": _six(judgement.projected),
            "completion_pct": _six(pct),
            "status": str(STATUS_LABELS[judgement.status]),
            "reported": figure.reported_count if figure is not None else None,
            "expected_count": figure.expected_count if figure is not None else None,
            "lead_bodies": ctx.responsible(indicator),
            "clause": target.clause,
        }
        rows.append(row)
        ctx.figures[key] = {
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
    return rows


class _FigureRow(NamedTuple):
    """The columns of an official figure that a report states, read as a plain row."""

    indicator_id: int
    region_id: int
    value: Decimal | None
    numerator: Decimal | None
    denominator: Decimal | None
    done_count: int
    reported_count: int
    expected_count: int
    coverage: dict[str, Any] | None
    rule_version: str
    computed_at: datetime


def _coverage_text(figure: _FigureRow, names: dict[str, str], *, named: bool) -> str:
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


class _Figures(NamedTuple):
    """The figures part's rows, each figure's value by (indicator, region), and what the meta states of them."""

    rows: list[dict[str, Any]]
    values: dict[tuple[int, int], Decimal | None]
    rule_versions: set[str]
    latest_computed: datetime | None  # None: no figure


def _figures(ctx: _Context) -> _Figures:
    """The province's and each city's official figures with numerators and denominators. On PostgreSQL the
    database returns them as ready rows, numbers and coverage texts already formatted (`_figures_sql`), the same
    content `_figures_python` builds (a test compares the two)."""
    if connection.vendor == "postgresql":
        return _figures_sql(ctx)
    return _figures_python(ctx)


def _figures_order(ctx: _Context) -> tuple[list[Indicator], dict[int, int]]:
    """The figures' order: by indicator (measure, sort order, code, compared as Python compares them), the
    province first, then the cities in the report's order."""
    indicators = sorted(ctx.indicators.values(), key=lambda i: (i.measure.number, i.sort_order, i.code))
    return indicators, {c.pk: i for i, c in enumerate(ctx.cities, start=1)}


def _figures_python(ctx: _Context) -> _Figures:
    span = Figure.Span.YTD if ctx.scope.span == ReportSnapshot.Span.YEAR else Figure.Span.QUARTER
    region_ids = {c.pk for c in ctx.cities} | ({ctx.province.pk} if ctx.province is not None else set())
    figures = [
        _FigureRow._make(row)
        for row in Figure.objects.filter(
            plan=ctx.scope.plan,
            period=ctx.scope.period,
            basis=Figure.Basis.OFFICIAL,
            span=span,
            indicator_id__in=ctx.indicators,
            region_id__in=region_ids,
        ).values_list(*_FigureRow._fields)
    ]
    regions = {c.pk: c for c in ctx.cities}  # the figures' regions, already read
    if ctx.province is not None:
        regions[ctx.province.pk] = ctx.province
    order = {c.pk: i for i, c in enumerate(ctx.cities, start=1)}

    def position(figure: _FigureRow) -> tuple:
        indicator = ctx.indicators[figure.indicator_id]
        return (indicator.measure.number, indicator.sort_order, indicator.code, order.get(figure.region_id, 0))

    figures.sort(key=position)
    named = ctx.audience.kind == "all"
    rows = []
    by_slot: dict[tuple[int, int], _FigureRow] = {}
    kinds = _labels(Indicator.Kind.choices)
    for figure in figures:
        indicator = ctx.indicators[figure.indicator_id]
        by_slot[(figure.indicator_id, figure.region_id)] = figure
        region = regions[figure.region_id]
        key = f"figure:{indicator.code}:{region.code}"
        coverage = figure.coverage or {}
        row = {
            "key": key,
            "measure_number": indicator.measure.number,
            "indicator_code": indicator.code,
            "indicator": indicator.name,
            "kind": kinds.get(indicator.kind, indicator.kind),
            "region_code": region.code,
            "region": region.name,
            "unit": indicator.unit,
            "value": num(figure.value),
            "numerator": num(figure.numerator),
            "denominator": num(figure.denominator),
            "numerator_label": indicator.numerator_label,
            "denominator_label": indicator.denominator_label,
            "done_count": figure.done_count if indicator.kind == Indicator.Kind.MILESTONE else None,
            "reported": figure.reported_count,
            "expected_count": figure.expected_count,
            "coverage": _coverage_text(figure, ctx.city_names, named=named),
        }
        rows.append(row)
        entry: dict[str, Any] = {
            "label": f"{region.name}{indicator.name}",
            "kind": indicator.kind,
            "unit": indicator.unit,
            "decimals": indicator.decimals,
            "region": region.name,
            "value": row["value"],
            "numerator": row["numerator"],
            "denominator": row["denominator"],
            "done_count": figure.done_count,
        }
        if coverage.get("kind") == "city" and named:
            entry["reported_cities"] = sorted(ctx.city_names.get(c, c) for c in coverage.get("reported", []))
        elif coverage.get("carried_from"):
            entry["carried_from"] = coverage["carried_from"]
        ctx.figures[key] = entry
    return _Figures(
        rows=rows,
        values={slot: figure.value for slot, figure in by_slot.items()},
        rule_versions={f.rule_version for f in figures},
        latest_computed=max((f.computed_at for f in figures), default=None),
    )


def _truthy(json_value: str) -> str:
    """SQL for Python's truth of a jsonb value as json.loads gives it (null, "", [], {}, 0 and false are false)."""
    return (
        f"(CASE jsonb_typeof({json_value}) WHEN 'object' THEN {json_value} <> '{{}}'::jsonb "
        f"WHEN 'array' THEN {json_value} <> '[]'::jsonb WHEN 'string' THEN {json_value} <> '\"\"'::jsonb "
        f"WHEN 'number' THEN {json_value} <> '0'::jsonb WHEN 'boolean' THEN {json_value} = 'true'::jsonb "
        "ELSE false END)"
    )


def _name_of(code: str) -> str:
    """SQL for `ctx.city_names.get(code, code)`."""
    return f"coalesce(%(names)s::jsonb ->> {code}, {code})"


_BASED_ON = "'基于 ' || f.reported_count || '/' || f.expected_count || ' 个设区市已确认数据'"

# The figures as `_figures_python` reads and formats them, in the report's order, as ready rows: each number as
# num() writes it (trim_scale drops the trailing zeros; PostgreSQL's numeric has no exponent and no negative
# zero), the coverage text as `_coverage_text` writes it, the reporting cities' names sorted as Python sorts str
# (COLLATE "C": UTF-8's byte order is the code points' order), and a carried-from value as its JSON text.
# Building the rows and the index entries as JSON in the database was tried: json_build_object costs
# PostgreSQL about as much per row (~5 µs for 17 keys) as the dicts cost Python, and the JSON is parsed again.
_FIGURES_SQL = f"""
SELECT f.indicator_id, f.region_id, f.value,
    trim_scale(f.value)::text, trim_scale(f.numerator)::text, trim_scale(f.denominator)::text,
    f.done_count, f.reported_count, f.expected_count,
    CASE
    WHEN jsonb_typeof(f.coverage -> 'kind') = 'string' AND f.coverage ->> 'kind' = 'body'
        THEN '责任单位已报 ' || f.reported_count || '/' || f.expected_count
    WHEN NOT {_truthy("f.coverage -> 'kind'")} THEN CASE WHEN {_truthy("f.coverage -> 'carried_from'")}
        THEN '沿用 ' || (f.coverage -> 'carried_from' #>> '{{}}') || ' 数据' ELSE '' END
    WHEN NOT %(named)s THEN concat_ws('；', {_BASED_ON},
        CASE WHEN {_truthy("f.coverage -> 'carried'")} THEN (CASE jsonb_typeof(f.coverage -> 'carried')
            WHEN 'object' THEN (SELECT count(*) FROM jsonb_object_keys(f.coverage -> 'carried'))
            ELSE jsonb_array_length(f.coverage -> 'carried') END) || ' 个设区市沿用上季度数据' END)
    ELSE concat_ws('；', {_BASED_ON},
        CASE WHEN {_truthy("f.coverage -> 'carried'")} THEN '沿用上季度：' || (
            SELECT string_agg({_name_of("e.key")} || '（' || (e.value #>> '{{}}') || '）', '、'
                ORDER BY e.key COLLATE "C")
            FROM jsonb_each(f.coverage -> 'carried') AS e) END,
        CASE WHEN {_truthy("f.coverage -> 'pending'")} THEN '待审核：' || (
            SELECT string_agg({_name_of("e.code")}, '、' ORDER BY e.o)
            FROM jsonb_array_elements_text(f.coverage -> 'pending') WITH ORDINALITY AS e(code, o)) END,
        CASE WHEN {_truthy("f.coverage -> 'missing'")} THEN '未报：' || (
            SELECT string_agg({_name_of("e.code")}, '、' ORDER BY e.o)
            FROM jsonb_array_elements_text(f.coverage -> 'missing') WITH ORDINALITY AS e(code, o)) END)
    END,
    CASE WHEN jsonb_typeof(f.coverage -> 'kind') = 'string' AND f.coverage ->> 'kind' = 'city' AND %(named)s
        THEN ARRAY(
            SELECT x.name FROM (SELECT {_name_of("e.code")} AS name FROM jsonb_array_elements_text(
                CASE jsonb_typeof(f.coverage -> 'reported') WHEN 'array' THEN f.coverage -> 'reported'
                ELSE '[]'::jsonb END) AS e(code)) AS x
            ORDER BY x.name COLLATE "C")
    END,
    CASE WHEN {_truthy("f.coverage -> 'carried_from'")} THEN (f.coverage -> 'carried_from')::text END,
    f.rule_version, f.computed_at
FROM reporting_figure f
JOIN unnest(%(indicators)s::bigint[]) WITH ORDINALITY AS i(id, position) ON i.id = f.indicator_id
JOIN unnest(%(regions)s::bigint[]) WITH ORDINALITY AS r(id, position) ON r.id = f.region_id
WHERE f.plan_id = %(plan)s AND f.period_id = %(period)s AND f.basis = %(basis)s AND f.span = %(span)s
ORDER BY i.position, r.position
"""  # noqa: S608 - the f-string only writes fixed SQL; every value is a parameter


def _figures_sql(ctx: _Context) -> _Figures:
    span = Figure.Span.YTD if ctx.scope.span == ReportSnapshot.Span.YEAR else Figure.Span.QUARTER
    indicators, _order = _figures_order(ctx)
    # The province first, then the cities in the report's order (as `position` orders them).
    regions = ([ctx.province] if ctx.province is not None else []) + ctx.cities
    named = ctx.audience.kind == "all"
    with connection.cursor() as cursor:
        cursor.execute(
            _FIGURES_SQL,
            {
                "indicators": [i.pk for i in indicators],
                "regions": [r.pk for r in regions],
                "names": json.dumps(ctx.city_names),
                "named": named,
                "plan": ctx.scope.plan.pk,
                "period": ctx.scope.period.pk,
                "basis": Figure.Basis.OFFICIAL,
                "span": span,
            },
        )
        found = cursor.fetchall()
    kinds = _labels(Indicator.Kind.choices)
    # What each row repeats of its indicator and region, looked up once rather than through the objects per row.
    about = {
        i.pk: (
            i.measure.number,
            i.code,
            i.name,
            i.kind,
            kinds.get(i.kind, i.kind),
            i.unit,
            i.decimals,
            i.numerator_label,
            i.denominator_label,
            i.kind == Indicator.Kind.MILESTONE,
        )
        for i in indicators
    }
    places = {r.pk: (r.code, r.name) for r in regions}
    rows = []
    values: dict[tuple[int, int], Decimal | None] = {}
    rule_versions: set[str] = set()
    latest: datetime | None = None
    for (
        indicator_id,
        region_id,
        value,
        value_text,
        numerator,
        denominator,
        done_count,
        reported,
        expected,
        coverage,
        reported_cities,
        carried_from,
        rule_version,
        computed_at,
    ) in found:
        measure_number, code, name, kind, kind_label, unit, decimals, numerator_label, denominator_label, milestone = (
            about[indicator_id]
        )
        region_code, region_name = places[region_id]
        values[(indicator_id, region_id)] = value
        rule_versions.add(rule_version)
        if latest is None or computed_at > latest:
            latest = computed_at
        key = f"figure:{code}:{region_code}"
        rows.append(
            {
                "key": key,
                "measure_number": measure_number,
                "indicator_code": code,
                "indicator": name,
                "kind": kind_label,
                "region_code": region_code,
                "region": region_name,
                "unit": unit,
                "value": value_text,
                "numerator": numerator,
                "denominator": denominator,
                "numerator_label": numerator_label,
                "denominator_label": denominator_label,
                "done_count": done_count if milestone else None,
                "reported": reported,
                "expected_count": expected,
                "coverage": coverage,
            }
        )
        entry: dict[str, Any] = {
            "label": f"{region_name}{name}",
            "kind": kind,
            "unit": unit,
            "decimals": decimals,
            "region": region_name,
            "value": value_text,
            "numerator": numerator,
            "denominator": denominator,
            "done_count": done_count,
        }
        if reported_cities is not None:
            entry["reported_cities"] = reported_cities
        elif carried_from is not None:
            entry["carried_from"] = json.loads(carried_from)
        ctx.figures[key] = entry
    return _Figures(rows=rows, values=values, rule_versions=rule_versions, latest_computed=latest)


def _completeness(ctx: _Context, submissions: list[Submission]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Completeness and timeliness by reporter and quarter; overdue and returned reports to supervise."""
    by_reporter = {(s.period_id, s.region_id, s.body_id): s for s in submissions}
    today = timezone.localdate(ctx.cut_off)
    reporters: list[tuple[str, Region | None, ResponsibleBody | None]] = [("设区市", c, None) for c in ctx.cities]
    reporters += [("省级责任单位", None, b) for b in ctx.bodies]
    rows: list[dict[str, Any]] = []
    supervision: list[dict[str, Any]] = []
    statuses = _labels(Submission.Status.choices)
    for period in ctx.scope.periods:
        tally = dict.fromkeys(("expected", "received", "on_time", "late", "confirmed", "missing", "overdue"), 0)
        overdue_days = (today - period.deadline).days
        for kind_label, region, body in reporters:
            name = region.name if region is not None else body.name if body is not None else ""
            submission = by_reporter.get((period.pk, region.pk if region else None, body.pk if body else None))
            status = submission.status if submission is not None else None
            received = submission is not None and status in RECEIVED
            days_late = max(0, overdue_days)
            timeliness = "未报"
            if received and submission is not None:
                timeliness = "逾期" if submission.is_late else "按时"
                submitted = timezone.localdate(submission.submitted_at) if submission.submitted_at else period.deadline
                days_late = max(0, (submitted - period.deadline).days) if submission.is_late else 0
            tally["expected"] += 1
            tally["received"] += received
            tally["on_time"] += timeliness == "按时"
            tally["late"] += timeliness == "逾期"
            tally["confirmed"] += status == Submission.Status.CONFIRMED
            tally["missing"] += not received
            rows.append(
                {
                    "period": period.code,
                    "reporter_kind": kind_label,
                    "reporter": name,
                    "status": statuses.get(submission.status, submission.status)
                    if submission is not None
                    else "未开始",
                    "timeliness": timeliness,
                    "deadline": period.deadline.isoformat(),
                    "submitted_at": local_iso(submission.submitted_at) if submission is not None else None,
                    "days_late": days_late,
                }
            )
            item = {
                "subject": f"{name} {period.code} 季度报表",
                "period": period.code,
                "responsible": name,
                "days_late": max(0, overdue_days),
                "key": f"completeness:{period.code}",
            }
            if status == Submission.Status.RETURNED and submission is not None:
                late = f"；已逾期 {overdue_days} 天" if overdue_days > 0 else ""
                supervision.append(
                    {**item, "category": "已退回", "detail": f"退回原因：{submission.return_reason}{late}"}
                )
            elif not received and overdue_days > 0:
                tally["overdue"] += 1
                state = (
                    "尚未开始填报"
                    if submission is None
                    else f"当前状态：{statuses.get(submission.status, submission.status)}"
                )
                detail = f"截止日期 {period.deadline.isoformat()}，已逾期 {overdue_days} 天，{state}"
                supervision.append({**item, "category": "逾期未报", "detail": detail})
        ctx.figures[f"completeness:{period.code}"] = {"label": f"{period.code} 报送情况", **tally}
    return rows, supervision


def _lagging_targets(ctx: _Context, progress: list[TargetProgress]) -> list[dict[str, Any]]:
    rows = []
    for category, wanted in (("明显滞后", Status.OFF_TRACK), ("存在风险", Status.AT_RISK)):
        for item in progress:
            if item.judgement.status != wanted:
                continue
            target, judgement = item.target, item.judgement
            indicator, unit = target.indicator, target.indicator.unit
            if indicator.kind == Indicator.Kind.MILESTONE:
                detail = f"尚未完成，期限 {_deadline_text(target, item, ctx.scope.plan)}"
            else:
                detail = (
                    f"实际 {num(judgement.actual)}{unit}，目标 {target.get_comparator_display()}{num(target.value)}"
                )
                detail += unit
                if judgement.expected is not None:
                    detail += f"，序时应达 {_six(judgement.expected)}，差距 {_six(judgement.gap)}"
            rows.append(
                {
                    "category": category,
                    "subject": f"举措{indicator.measure.number}：{indicator.name}",
                    "period": ctx.scope.period.code,
                    "responsible": ctx.responsible(indicator),
                    "detail": detail,
                    "days_late": None,
                    "key": f"target:{target.code}",
                }
            )
    return rows


def _cities_below(
    ctx: _Context, progress: list[TargetProgress], values: dict[tuple[int, int], Decimal | None]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Cities below the province on a rate target. Only rates compare across regions: a city's count
    is always below the province's sum."""
    rows: list[dict[str, Any]] = []
    lagging: dict[str, dict[str, Any]] = {}
    if ctx.province is None:
        return rows, lagging
    for item in progress:
        indicator = item.target.indicator
        if indicator.kind not in (Indicator.Kind.RATIO, Indicator.Kind.SHARE):
            continue
        if indicator.reporter == Indicator.Reporter.BODY:
            continue
        whole = values.get((indicator.pk, ctx.province.pk))
        if whole is None:
            continue
        lower_is_better = item.target.comparator == Target.Comparator.LTE
        behind, compared = [], []
        for city in ctx.cities:
            value = values.get((indicator.pk, city.pk))
            if value is None:
                continue
            key = f"figure:{indicator.code}:{city.code}"
            compared.append(key)
            if (value > whole) if lower_is_better else (value < whole):
                behind.append(key)
                rows.append(
                    {
                        "category": "低于全省水平",
                        "subject": f"举措{indicator.measure.number}：{indicator.name}",
                        "period": ctx.scope.period.code,
                        "responsible": city.name,
                        "detail": f"{city.name} {num(value)}{indicator.unit}，全省 {num(whole)}{indicator.unit}",
                        "days_late": None,
                        "key": key,
                    }
                )
        lagging[f"target:{item.target.code}"] = {
            "province": f"figure:{indicator.code}:{ctx.province.code}",
            "compared": compared,
            "behind": behind,
            "lower_is_better": lower_is_better,
        }
    return rows, lagging


@cache
def _value_history() -> Any:
    return DataValue.history.model._default_manager  # type: ignore[attr-defined]


def _changes(ctx: _Context, submissions: list[Submission]) -> list[dict[str, Any]]:
    """Every workflow step of the reports, and every value changed after the report was first submitted:
    who changed what, when, and why (the reason of the return or reopening that allowed the change).

    Two queries of plain rows. A report's first submission is the earliest of its submit steps, which the
    first query already holds; a value counts as changed when some submit step came before one of its
    versions (an EXISTS the database answers with one semi-join instead of a sub-select per version)."""
    by_id = {s.pk: s for s in submissions}
    # The actor's name by a lookup per step, not a join: the user table is small and seldom analysed, and
    # the planner, taking it for one row, scanned the steps' index once per user.
    actor = User.objects.filter(pk=OuterRef("actor_id")).values("username")
    transitions = list(
        Transition.objects.filter(submission_id__in=by_id)
        .exclude(action=Transition.Action.CREATE)
        .order_by("at", "id")
        .values_list("submission_id", "action", "from_status", "to_status", "at", "reason", Subquery(actor))
    )
    status_labels = _labels(Submission.Status.choices)
    reasons: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    first_submit: dict[int, datetime] = {}
    rows: list[dict[str, Any]] = []
    actions = _labels(Transition.Action.choices)
    for submission_id, action, from_status, to_status, at, reason, actor in transitions:
        submission = by_id[submission_id]
        if action in (Transition.Action.RETURN, Transition.Action.REOPEN):
            reasons[submission_id].append((at, reason))
        elif action == Transition.Action.SUBMIT:
            first_submit.setdefault(submission_id, at)  # in time order: the first is the earliest
        rows.append(
            {
                "at": local_iso(at),
                "period": submission.period.code,
                "reporter": submission.reporter_name,
                "user": actor,
                "kind": "状态",
                "action": actions.get(action, action),
                "subject": "",
                "field": "状态",
                "old": str(status_labels.get(from_status, from_status)),
                "new": str(status_labels.get(to_status, to_status)),
                "reason": reason,
            }
        )
    # Narrowed to the reports read (as the outer query is) so that their steps are found by index, not by
    # scanning every submit step there is.
    submitted_before = Transition.objects.filter(
        submission_id=OuterRef("submission_id"), action=Transition.Action.SUBMIT, at__lt=OuterRef("history_date")
    ).filter(submission_id__in=by_id)
    # The historical model's own manager: each DataValue.history builds a manager class anew.
    history = _value_history()
    changed = (
        history.filter(submission_id__in=by_id, indicator_id__in=ctx.indicators)
        .filter(Exists(submitted_before))
        .values("id")
    )
    # The changed values' whole trail, so each change can be shown against the version before it.
    trail = (
        history.filter(id__in=changed)
        .order_by("id", "history_date", "history_id")
        .values(
            "id",
            "submission_id",
            "indicator_id",
            "history_date",
            "history_type",
            "history_user_id",
            "history_user__username",
            "updated_by__username",
            *VALUE_FIELD_LABELS,
        )
    )
    previous: dict[int, dict[str, Any]] = {}
    value_changes = 0
    revised: set[int] = set()
    for row in trail:
        before = previous.get(row["id"])
        previous[row["id"]] = row
        submitted = first_submit.get(row["submission_id"])
        if submitted is None or row["history_date"] <= submitted:
            continue
        submission = by_id[row["submission_id"]]
        indicator = ctx.indicators[row["indicator_id"]]
        moment = row["history_date"]
        reason = next((text for at, text in reversed(reasons.get(row["submission_id"], [])) if at <= moment), "")
        # Who saved this version, else the value's last editor as the version records it.
        who = row["history_user__username"] if row["history_user_id"] is not None else row["updated_by__username"]
        for name, label in VALUE_FIELD_LABELS.items():
            if row["history_type"] == "-":
                old, new = row[name], None
            else:
                old, new = (before[name] if before is not None else None), row[name]
            if old == new or {old, new} <= {None, ""}:
                continue
            value_changes += 1
            revised.add(row["submission_id"])
            rows.append(
                {
                    "at": local_iso(row["history_date"]),
                    "period": submission.period.code,
                    "reporter": submission.reporter_name,
                    "user": who or "",
                    "kind": "数值",
                    "action": HISTORY_ACTIONS[row["history_type"]],
                    "subject": f"{indicator.code} {indicator.name}",
                    "field": label,
                    "old": _shown(old),
                    "new": _shown(new),
                    "reason": reason,
                }
            )
    rows.sort(key=lambda r: r["at"] or "")
    ctx.figures["changes"] = {
        "label": "提交后变更",
        "transitions": len(transitions),
        "reopened": sum(1 for t in transitions if t[1] == Transition.Action.REOPEN),
        "returned": sum(1 for t in transitions if t[1] == Transition.Action.RETURN),
        "value_changes": value_changes,
        "revised_submissions": len(revised),
    }
    return rows


def _evidence(ctx: _Context, submissions: list[Submission]) -> list[dict[str, Any]]:
    """The evidence files behind confirmed values, with their SHA-256."""
    by_id = {s.pk: s for s in submissions if s.status == Submission.Status.CONFIRMED}
    files = (
        Evidence.objects.filter(submission_id__in=by_id, removed_at__isnull=True)
        .filter(Q(measure__isnull=True) | Q(measure_id__in=ctx.measure_ids))
        .filter(Q(indicator__isnull=True) | Q(indicator_id__in=ctx.indicators))
        .select_related("measure", "indicator", "uploaded_by")
        .order_by("uploaded_at", "id")
    )
    rows = []
    for item in files:
        submission = by_id[item.submission_id]
        rows.append(
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
    rows.sort(key=lambda r: (r["period"], r["uploaded_at"] or ""))
    ctx.figures["evidence"] = {"label": "佐证材料", "count": len(rows)}
    return rows


def _scope_text(ctx: _Context) -> str:
    scope = ctx.scope
    parts = [period_label(scope)]
    if scope.programmes:
        parts.append("工程 " + "、".join(str(n) for n in scope.programmes))
    if scope.measures or scope.programmes or scope.bodies or ctx.audience.kind == "bodies":
        parts.append("举措 " + "、".join(str(m.number) for m in ctx.measures) if ctx.measures else "无举措")
    else:
        parts.append("全部举措")
    if scope.cities:
        parts.append("设区市 " + "、".join(c.name for c in scope.cities))
    if scope.bodies:
        parts.append("责任单位 " + "、".join(b.name for b in scope.bodies))
    return "；".join(parts)


def report_content(*, scope: ReportScope, audience: Audience, cut_off: datetime) -> dict[str, Any]:
    """Everything a report states, as of now, for this scope and audience (plain JSON, in Chinese)."""
    with translation.override("zh-hans"):
        return _content(scope, audience, cut_off)


def _content(scope: ReportScope, audience: Audience, cut_off: datetime) -> dict[str, Any]:
    ctx = _context(scope, audience, cut_off)
    plan_rows, progress = _plan_status(ctx)
    target_rows = _targets(ctx, progress)
    figures = _figures(ctx)
    submissions = list(
        Submission.objects.filter(plan=scope.plan, period__in=scope.periods).filter(
            Q(region__in=ctx.cities) | Q(body__in=ctx.bodies)
        )
    )
    # Their quarter and reporter are objects already read: attached, not read again with each report.
    periods = {p.pk: p for p in scope.periods}
    # Keyed so that a report's null region_id or body_id (it has one or the other) looks up None.
    cities: dict[int | None, Region] = {c.pk: c for c in ctx.cities}
    bodies: dict[int | None, ResponsibleBody] = {b.pk: b for b in ctx.bodies}
    for submission in submissions:
        submission.period = periods[submission.period_id]
        submission.region = cities.get(submission.region_id)
        submission.body = bodies.get(submission.body_id)
    completeness_rows, supervision_rows = _completeness(ctx, submissions)
    supervision_rows += _lagging_targets(ctx, progress)
    below_rows, lagging = _cities_below(ctx, progress, figures.values)
    supervision_rows += below_rows
    categories: dict[str, int] = defaultdict(int)
    for row in supervision_rows:
        categories[row["category"]] += 1
    ctx.figures["supervision"] = {"label": "督办清单", "total": len(supervision_rows), **categories}
    change_rows = _changes(ctx, submissions)
    evidence_rows = _evidence(ctx, submissions)

    rule_versions = figures.rule_versions or {RULE_VERSION}
    # When the report's slice was last rolled up (its "as of"); a figure's own computed_at is when it last
    # changed, so the latest of those only stands in before the slice has a check row.
    checked = (
        SliceCheck.objects.filter(plan=scope.plan, period=scope.period, province=ctx.province)
        .values_list("checked_at", flat=True)
        .first()
        if ctx.province is not None and figures.latest_computed is not None
        else None
    )
    computed = [checked] if checked is not None else [figures.latest_computed] if figures.latest_computed else []
    label = period_label(scope)
    audience_text = {
        "all": "全部数据",
        "cities": "仅本市：" + "、".join(c.name for c in ctx.cities),
        "bodies": "仅本单位负责的举措：" + "、".join(b.name for b in ctx.bodies),
    }[audience.kind]
    meta = {
        "title": f"《{scope.plan.title}》推进情况督查报告（{label}）",
        "plan": f"{scope.plan.document_number} {scope.plan.title}",
        "plan_code": scope.plan.code,
        "period": scope.code,
        "period_label": label,
        "as_of_period": scope.period.code,
        "span": scope.span,
        "figure_span": Figure.Span.YTD if scope.span == ReportSnapshot.Span.YEAR else Figure.Span.QUARTER,
        "scope": scope.as_json(),
        "scope_text": _scope_text(ctx),
        "audience": audience.kind,
        "audience_text": audience_text,
        "cities": [c.name for c in ctx.cities],
        "basis": "正式（仅计省级已确认数据）",
        "cut_off": local_iso(cut_off),
        "rule_version": "、".join(sorted(rule_versions)),
        "figures_computed_at": local_iso(max(computed)) if computed else None,
    }
    ctx.figures["meta"] = {"label": "数据截止时间", "value": meta["cut_off"], "rule_version": meta["rule_version"]}
    content: dict[str, Any] = {
        "meta": meta,
        "figures": ctx.figures,
        "lagging": lagging,
        "parts": {
            "plan_status": plan_rows,
            "targets": target_rows,
            "figures": figures.rows,
            "completeness": completeness_rows,
            "supervision": supervision_rows,
            "changes": change_rows,
            "evidence": evidence_rows,
        },
    }
    content["summary"] = summary_sentences(content)
    return content
