"""Reads about progress: province and city figures, target status along the trajectory, roll-up of
status to tasks, measures and programmes, and completeness of reporting. Bounded queries: each
function issues a fixed number of queries whatever the number of values behind the figures."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db.models import Case, OuterRef, Q, QuerySet, Subquery, When

from indicators.models import Indicator, Target
from measures.models import Measure, Plan, Programme, Region, Task
from reporting.models import Figure, Period, SliceCheck, Submission
from reporting.services.rollups import plan_province
from reporting.status import Judgement, Status, judge, judge_milestone, worst


def figures_for(
    *, plan: Plan, period: Period, basis: str = Figure.Basis.OFFICIAL, span: str = Figure.Span.YTD
) -> QuerySet[Figure]:
    return Figure.objects.filter(plan=plan, period=period, basis=basis, span=span).select_related("indicator", "region")


@dataclass
class TargetProgress:
    target: Target
    judgement: Judgement
    figure: Figure | None


def _plan_end(plan: Plan) -> date:
    return date(plan.end_year, 12, 31)


# Passed as `province` when the caller has not looked the plan's home province up already.
LOOK_UP = "look up"


def target_progress(
    *, plan: Plan, period: Period, basis: str = Figure.Basis.OFFICIAL, province: Region | str | None = LOOK_UP
) -> list[TargetProgress]:
    """Every province-wide target judged at the end of `period` (three queries; two given the province)."""
    targets = list(
        Target.objects.filter(indicator__plan=plan, region__isnull=True)
        .select_related("indicator", "indicator__measure", "indicator__task")
        .order_by("indicator__measure__number", "indicator__sort_order", "code")
    )
    if isinstance(province, str):
        province = plan_province(plan)
    # The year-to-date series up to `period` as plain rows (a model instance per past quarter cost more than
    # judging every target); only the current quarter's figures become Figure instances, as before.
    series: dict[int, list[tuple[date, Decimal | None]]] = defaultdict(list)
    current_figures: dict[int, Figure] = {}
    if province is not None:
        fields = [f.attname for f in Figure._meta.concrete_fields]
        # Only the current quarter's rows become figures: the earlier quarters' coverage (JSON, parsed row by
        # row) is left unread.
        columns = ["current_coverage" if name == "coverage" else name for name in fields]
        rows = (
            Figure.objects.filter(
                plan=plan,
                region=province,
                basis=basis,
                span=Figure.Span.YTD,
                indicator_id__in={t.indicator_id for t in targets},
                period__end__lte=period.end,
            )
            .annotate(
                current_coverage=Case(
                    When(period=period, then="coverage"), output_field=Figure._meta.get_field("coverage")
                )
            )
            .order_by("period__year", "period__quarter")
            .values_list("period__end", *columns)
        )
        value_at = fields.index("value")
        indicator_at = fields.index("indicator_id")
        for end, *values in rows:
            series[values[indicator_at]].append((end, values[value_at]))
            if end == period.end:
                figure = Figure.from_db(rows.db, fields, values)
                if figure.period_id == period.pk:
                    figure.period = period  # as select_related("period") would have attached it
                current_figures[figure.indicator_id] = figure
    out = []
    for target in targets:
        points = series.get(target.indicator_id, [])
        current = current_figures.get(target.indicator_id) if points and points[-1][0] == period.end else None
        indicator = target.indicator
        if indicator.kind == Indicator.Kind.MILESTONE:
            done = None if current is None or current.value is None else current.done_count > 0
            judgement = judge_milestone(done=done, at=period.end, deadline=target.deadline, per_year=target.per_year)
        else:
            deadline, assumed = target.deadline, False
            if deadline is None and not target.per_year:
                deadline, assumed = _plan_end(plan), True
            start_date = date(target.baseline_year, 12, 31) if target.baseline_year else None
            recent = [(d, value) for d, value in points if value is not None]
            if target.per_year:
                recent = [(d, v) for d, v in recent if d.year == period.year]
            judgement = judge(
                target=target.value,
                comparator=target.comparator,
                tolerance_pct=target.tolerance,
                at=period.end,
                actual=current.value if current is not None else None,
                start_value=target.baseline_value,
                start_date=start_date,
                deadline=deadline,
                per_year=target.per_year,
                recent=recent,
                on_track_slack=settings.STATUS_ON_TRACK_SLACK,
                at_risk_slack=settings.STATUS_AT_RISK_SLACK,
                deadline_assumed=assumed,
            )
        out.append(TargetProgress(target=target, judgement=judgement, figure=current))
    return out


@dataclass
class TaskStatus:
    task: Task
    status: Status
    done: bool | None


@dataclass
class MeasureStatus:
    measure: Measure
    status: Status
    targets: list[TargetProgress] = field(default_factory=list)
    tasks: list[TaskStatus] = field(default_factory=list)


@dataclass
class ProgrammeStatus:
    programme: Programme
    status: Status
    measures: list[MeasureStatus] = field(default_factory=list)


def task_status(
    *, plan: Plan, period: Period, basis: str = Figure.Basis.OFFICIAL, province: Region | str | None = LOOK_UP
) -> dict[int, list[TaskStatus]]:
    """Tasks that have a milestone indicator, judged by it (done by the task's deadline; yearly tasks
    each year), grouped by measure id. Two queries (three without the province)."""
    milestones = list(
        Indicator.objects.filter(plan=plan, kind=Indicator.Kind.MILESTONE, task__isnull=False, is_active=True)
        .exclude(targets__isnull=False)
        .select_related("task")
    )
    if isinstance(province, str):
        province = plan_province(plan)
    done_by_indicator = dict(
        Figure.objects.filter(
            plan=plan,
            period=period,
            basis=basis,
            span=Figure.Span.YTD,
            region=province,
            indicator__in=milestones,
            value__isnull=False,
        ).values_list("indicator_id", "done_count")
    )
    out: dict[int, list[TaskStatus]] = defaultdict(list)
    for indicator in milestones:
        task = indicator.task
        if task is None:
            continue
        count = done_by_indicator.get(indicator.pk)
        done = None if count is None else count > 0
        judgement = judge_milestone(
            done=done, at=period.end, deadline=task.deadline, per_year=task.recurrence == "yearly"
        )
        out[task.measure_id].append(TaskStatus(task=task, status=judgement.status, done=done))
    return out


def plan_status(
    *, plan: Plan, period: Period, basis: str = Figure.Basis.OFFICIAL, province: Region | str | None = LOOK_UP
) -> list[ProgrammeStatus]:
    """The status grid: programmes → measures, each as far behind as its most lagging target or task
    milestone (worst-of, among those with data; no data when none has data). Seven queries; six given
    the plan's home province (`province`, None when the plan has none)."""
    if isinstance(province, str):
        province = plan_province(plan)
    progress = target_progress(plan=plan, period=period, basis=basis, province=province)
    tasks = task_status(plan=plan, period=period, basis=basis, province=province)
    by_measure: dict[int, list[TargetProgress]] = defaultdict(list)
    for item in progress:
        by_measure[item.target.indicator.measure_id].append(item)
    programmes = []
    measures_by_programme: dict[int, list[MeasureStatus]] = defaultdict(list)
    for measure in Measure.objects.filter(plan=plan).order_by("number"):
        items = by_measure.get(measure.pk, [])
        task_items = tasks.get(measure.pk, [])
        status = worst([i.judgement.status for i in items] + [t.status for t in task_items])
        measures_by_programme[measure.programme_id].append(
            MeasureStatus(measure=measure, status=status, targets=items, tasks=task_items)
        )
    for programme in Programme.objects.filter(plan=plan).order_by("number"):
        children = measures_by_programme.get(programme.pk, [])
        programmes.append(
            ProgrammeStatus(programme=programme, status=worst([m.status for m in children]), measures=children)
        )
    return programmes


@dataclass
class CompletenessCell:
    expected: bool = True
    status: str = "missing"  # missing | draft | returned | submitted | city_approved | confirmed
    is_late: bool = False
    submission_id: str | None = None


def completeness(*, plan: Plan, periods: list[Period]) -> dict:
    """Reporters × periods: what was expected, received, on time, late, missing (two queries)."""
    cities = list(Region.objects.filter(level=Region.Level.CITY).order_by("sort_order", "code"))
    cells: dict[tuple[int, int], CompletenessCell] = {}
    rows = Submission.objects.filter(plan=plan, period__in=periods, region__isnull=False).values_list(
        "region_id", "period_id", "status", "is_late", "public_id"
    )
    for region_id, period_id, status, is_late, public_id in rows:
        cells[(region_id, period_id)] = CompletenessCell(status=status, is_late=is_late, submission_id=str(public_id))
    summary = {}
    for period in periods:
        received = [cells.get((c.pk, period.pk)) for c in cities]
        done = [c for c in received if c is not None and c.status in ("submitted", "city_approved", "confirmed")]
        summary[period.pk] = {
            "expected": len(cities),
            "received": len(done),
            "on_time": sum(1 for c in done if not c.is_late),
            "late": sum(1 for c in done if c.is_late),
            "missing": len(cities) - len(done),
            "confirmed": sum(1 for c in done if c.status == "confirmed"),
        }
    return {"reporters": cities, "periods": periods, "cells": cells, "summary": summary}


# `figures_visibility` of a reader who sees every figure of the plan (coordinators, auditors).
FIGURES_VISIBLE_ALL = "all"


def figures_visible_to_all(*, plan: Plan) -> QuerySet[Figure]:
    """Every figure of the plan: what `figures_visible_to` gives a reader who sees everything."""
    return Figure.objects.filter(plan=plan).select_related("indicator", "region", "period")


def figures_visibility(*, user) -> str:
    """What `figures_visible_to` depends on, as text: part of the key of every cached answer built from it."""
    from portal.accounts.models import Role
    from portal.accounts.selectors import user_scope

    scope = user_scope(user=user)
    if scope.sees_everything:
        return FIGURES_VISIBLE_ALL
    own = sorted(scope.cities(Role.CITY_REPORTER, Role.CITY_REVIEWER))
    return f"body={scope.has(Role.BODY_REPORTER)};cities={','.join(map(str, own))}"


def slice_checked_at() -> Subquery:
    """For `Figure.objects.annotate(checked_at=...)`: when the figure's slice (its province, or its city's
    province, and its period) was last rolled up; None before the first rollup."""
    province = Q(province_id=OuterRef("region_id")) | Q(province_id=OuterRef("region__parent_id"))
    checks = SliceCheck.objects.filter(province, plan_id=OuterRef("plan_id"), period_id=OuterRef("period_id"))
    return Subquery(checks.values("checked_at")[:1])


def figures_visible_to(*, user, plan: Plan) -> QuerySet[Figure]:
    """Figures a user may read. Everyone signed in reads official province figures; city-level official
    figures go to the province's roles (coordinators, auditors, body reporters) and to a city's own people
    for their city; the preview basis (not yet confirmed by the province) only to coordinators and auditors."""
    from portal.accounts.models import Role
    from portal.accounts.selectors import user_scope

    scope = user_scope(user=user)
    base = figures_visible_to_all(plan=plan)
    if scope.sees_everything:
        return base
    visible = Q(basis=Figure.Basis.OFFICIAL, region__level=Region.Level.PROVINCE)
    if scope.has(Role.BODY_REPORTER):
        visible |= Q(basis=Figure.Basis.OFFICIAL)
    own = scope.cities(Role.CITY_REPORTER, Role.CITY_REVIEWER)
    if own:
        visible |= Q(basis=Figure.Basis.OFFICIAL, region_id__in=own)
    return base.filter(visible)
