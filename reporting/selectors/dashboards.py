"""Reads for the dashboards (portal/dashboards): the overview, a measure, an indicator, completeness of
reporting and a city's home page. Each function returns plain dataclasses and issues a fixed number of
queries whatever the number of submissions, values or figures behind it (pinned by query-count tests).

Who may see what is decided here too, with the same rules as the progress API (`figures_visible_to`):
official province figures for every role; city-level figures for the province's roles and for a city's
own people (their city only); the preview basis and other cities' submissions only for coordinators
and auditors."""

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import F, Q, QuerySet, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from indicators.models import Indicator, Target
from measures.models import Measure, Plan, Region, Responsibility, ResponsibleBody, Task
from portal.accounts.models import Role
from portal.accounts.selectors import Scope, user_scope
from reporting.models import ConsistencyCheck, Figure, Narrative, Period, Submission, Transition
from reporting.selectors.progress import (
    MeasureStatus,
    ProgrammeStatus,
    TargetProgress,
    figures_visible_to,
    plan_status,
    target_progress,
)
from reporting.services.rollups import plan_province, plan_province_candidates
from reporting.status import Judgement, Status, judge, judge_milestone, worst

DONE_STATUSES = ("submitted", "city_approved", "confirmed")
RETURNED_LIMIT = 50
CITY_HOME_PERIODS = 4
# The trend shows the last three years: enough to see the direction, few enough to read as a table.
TREND_QUARTERS = 12


# ---------------------------------------------------------------------------------------------------
# Who sees what


@dataclass(frozen=True)
class Audience:
    """A user's dashboard rights, derived once from their memberships."""

    scope: Scope

    @property
    def province(self) -> bool:
        """Coordinators, auditors and body reporters: the province-wide pages."""
        return self.scope.sees_everything or self.scope.has(Role.BODY_REPORTER)

    @property
    def city_ids(self) -> frozenset[int]:
        return self.scope.cities(Role.CITY_REPORTER, Role.CITY_REVIEWER)

    @property
    def any_role(self) -> bool:
        return bool(self.scope.roles)

    @property
    def may_preview(self) -> bool:
        return self.scope.sees_everything

    def opens(self, submission: Submission) -> bool:
        """Whether /report/<id>/ would open for this user (the same rule as `visible_to`)."""
        if self.scope.sees_everything:
            return True
        if submission.region_id is not None:
            return submission.region_id in self.city_ids
        return self.scope.has(Role.BODY_REPORTER) and submission.body_id in self.scope.body_ids


def audience_for(*, user: User | AnonymousUser) -> Audience:
    return Audience(scope=user_scope(user=user))


def basis_for(*, audience: Audience, requested: str | None) -> str:
    """The preview basis only for those who may see it; everyone else always gets official figures."""
    if requested == Figure.Basis.PREVIEW and audience.may_preview:
        return Figure.Basis.PREVIEW
    return Figure.Basis.OFFICIAL


# ---------------------------------------------------------------------------------------------------
# Plan, periods, names


def plan_default() -> Plan | None:
    return Plan.objects.order_by("issued_on", "code").first()


def periods_ended(*, today: date | None = None) -> list[Period]:
    """Quarters that have ended, newest first: the choices of the period selector."""
    day = today or timezone.localdate()
    return list(Period.objects.filter(end__lt=day).order_by("-year", "-quarter"))


@dataclass
class Names:
    """City names by code, body names by id: what a figure's coverage refers to."""

    cities: dict[str, str]
    bodies: dict[int, str]


def names_load() -> Names:
    cities = dict(Region.objects.filter(level=Region.Level.CITY).order_by("sort_order").values_list("code", "name"))
    bodies = dict(ResponsibleBody.objects.values_list("id", "name"))
    return Names(cities=cities, bodies=bodies)


# ---------------------------------------------------------------------------------------------------
# Coverage


@dataclass(frozen=True)
class Coverage:
    """Who is in a province figure: reporting, carried from last quarter, pending review, missing."""

    kind: str
    expected: int
    reported: list[str]
    carried: list[tuple[str, str]]
    pending: list[str]
    missing: list[str]

    @property
    def included(self) -> int:
        return len(self.reported) + len(self.carried)

    @property
    def is_complete(self) -> bool:
        return self.included >= self.expected and not self.carried


def coverage_of(*, figure: Figure | None, indicator: Indicator, names: Names) -> Coverage | None:
    if figure is None:
        return None
    data = figure.coverage or {}
    if data.get("kind") == "body":
        reported_ids = [int(b) for b in data.get("reported", [])]
        expected_ids = [indicator.lead_body_id] if indicator.lead_body_id else []
        return Coverage(
            kind="body",
            expected=int(data.get("expected", len(expected_ids))),
            reported=[names.bodies.get(b, str(b)) for b in reported_ids],
            carried=[],
            pending=[],
            missing=[names.bodies.get(b, str(b)) for b in expected_ids if b not in reported_ids],
        )
    if data.get("kind") != "city":
        return None
    # Cities in the province's own order (南京, 无锡, 徐州, …), not by code.
    order = {code: n for n, code in enumerate(names.cities)}

    def ordered(codes) -> list[str]:
        return sorted(codes, key=lambda c: order.get(c, len(order)))

    carried = data.get("carried", {})
    return Coverage(
        kind="city",
        expected=int(data.get("expected", 0)),
        reported=[names.cities.get(c, c) for c in ordered(data.get("reported", []))],
        carried=[(names.cities.get(c, c), carried[c]) for c in ordered(carried)],
        pending=[names.cities.get(c, c) for c in ordered(data.get("pending", []))],
        missing=[names.cities.get(c, c) for c in ordered(data.get("missing", []))],
    )


# ---------------------------------------------------------------------------------------------------
# Targets


@dataclass
class TargetRow:
    """One target judged at a period, with the province figure behind it and that figure's coverage."""

    target: Target
    judgement: Judgement
    figure: Figure | None
    coverage: Coverage | None

    @property
    def indicator(self) -> Indicator:
        return self.target.indicator

    @property
    def status(self) -> Status:
        return self.judgement.status

    @property
    def share_of_target(self) -> Decimal | None:
        """Actual as a percentage of the target (for "at least" and "about" targets)."""
        return _percent(self.judgement.actual, self.target)

    @property
    def share_expected(self) -> Decimal | None:
        """序时进度: what should have been reached by now, as a percentage of the target."""
        return _percent(self.judgement.expected, self.target)

    @property
    def bar_width(self) -> int:
        share = self.share_of_target
        return 0 if share is None else int(max(Decimal(0), min(Decimal(100), share)))

    @property
    def bar_expected(self) -> int | None:
        share = self.share_expected
        return None if share is None else int(max(Decimal(0), min(Decimal(100), share)))


def _percent(value: Decimal | None, target: Target) -> Decimal | None:
    if value is None or target.comparator == Target.Comparator.LTE or target.value <= 0:
        return None
    return (value / target.value * 100).quantize(Decimal("0.1"))


def _rows(progress: list[TargetProgress], names: Names) -> list[TargetRow]:
    return [
        TargetRow(
            target=item.target,
            judgement=item.judgement,
            figure=item.figure,
            coverage=coverage_of(figure=item.figure, indicator=item.target.indicator, names=names),
        )
        for item in progress
    ]


# ---------------------------------------------------------------------------------------------------
# Completeness


class Category:
    ON_TIME = "on_time"
    LATE = "late"
    RETURNED = "returned"
    DRAFT = "draft"
    MISSING = "missing"
    NOT_DUE = "not_due"


@dataclass
class Cell:
    period: Period
    submission: Submission | None
    category: str
    overdue: bool
    can_open: bool


@dataclass
class ReporterRow:
    reporter: Region | ResponsibleBody
    cells: list[Cell]

    @property
    def is_city(self) -> bool:
        return isinstance(self.reporter, Region)


@dataclass
class PeriodSummary:
    period: Period
    expected: int = 0
    on_time: int = 0
    late: int = 0
    returned: int = 0
    draft: int = 0
    missing: int = 0
    not_due: int = 0
    confirmed: int = 0

    @property
    def received(self) -> int:
        return self.on_time + self.late

    @property
    def received_pct(self) -> int:
        return round(self.received * 100 / self.expected) if self.expected else 0


@dataclass
class CompletenessGrid:
    periods: list[Period]
    rows: list[ReporterRow]
    summaries: list[PeriodSummary]


def _category(submission: Submission | None, period: Period, today: date) -> tuple[str, bool]:
    past = today > period.deadline
    if submission is None:
        return (Category.MISSING if past else Category.NOT_DUE), past
    if submission.status == Submission.Status.DRAFT:
        return Category.DRAFT, past
    if submission.status == Submission.Status.RETURNED:
        return Category.RETURNED, past
    return (Category.LATE if submission.is_late else Category.ON_TIME), False


def reporting_bodies(*, plan: Plan) -> list[ResponsibleBody]:
    """Provincial bodies that owe a quarterly report: those leading a body-reported indicator."""
    return list(
        ResponsibleBody.objects.filter(
            indicators__plan=plan, indicators__reporter=Indicator.Reporter.BODY, indicators__is_active=True
        )
        .distinct()
        .order_by("code")
    )


def completeness_grid(
    *, plan: Plan, periods: list[Period], audience: Audience, today: date | None = None
) -> CompletenessGrid:
    """Reporters (13 cities, then the reporting bodies) × periods: on time, late, returned, draft,
    missing, or not yet due. Four queries."""
    day = today or timezone.localdate()
    # The home province's cities only: with other provinces' data in the database (national scale), their
    # cities are not this plan's reporters, and their reports would cost the page for nothing.
    home = Subquery(plan_province_candidates(plan).values("pk")[:1])
    cities = list(Region.objects.filter(level=Region.Level.CITY, parent=home).order_by("sort_order", "code"))
    bodies = reporting_bodies(plan=plan)
    found: dict[tuple[str, int | None, int], Submission] = {}
    reports = Submission.objects.filter(plan=plan, period__in=periods)
    reports = reports.filter(Q(region__in=[c.pk for c in cities]) | Q(region__isnull=True))
    for each in reports.only(
        "public_id", "plan_id", "period_id", "region_id", "body_id", "status", "is_late", "submitted_at"
    ):
        kind, key = ("r", each.region_id) if each.region_id else ("b", each.body_id)
        found[(kind, key, each.period_id)] = each
    summaries = {p.pk: PeriodSummary(period=p) for p in periods}
    rows = []
    reporters: list[tuple[str, Region | ResponsibleBody]] = [("r", c) for c in cities] + [("b", b) for b in bodies]
    for kind, reporter in reporters:
        cells = []
        for period in periods:
            submission = found.get((kind, reporter.pk, period.pk))
            category, overdue = _category(submission, period, day)
            cells.append(
                Cell(
                    period=period,
                    submission=submission,
                    category=category,
                    overdue=overdue,
                    can_open=submission is not None and audience.opens(submission),
                )
            )
            summary = summaries[period.pk]
            summary.expected += 1
            setattr(summary, category, getattr(summary, category) + 1)
            if submission is not None and submission.status == Submission.Status.CONFIRMED:
                summary.confirmed += 1
        rows.append(ReporterRow(reporter=reporter, cells=cells))
    return CompletenessGrid(periods=periods, rows=rows, summaries=[summaries[p.pk] for p in periods])


# ---------------------------------------------------------------------------------------------------
# Overview


@dataclass
class Overdue:
    reporter: Region | ResponsibleBody
    submission: Submission | None
    days: int
    can_open: bool


@dataclass
class Returned:
    submission: Submission
    can_open: bool


@dataclass
class Attention:
    off_track: list[TargetRow]
    overdue: list[Overdue]
    returned: list[Returned]
    drift: ConsistencyCheck | None

    @property
    def count(self) -> int:
        return len(self.off_track) + len(self.overdue) + len(self.returned) + (1 if self.drift else 0)


@dataclass
class Overview:
    period: Period
    basis: str
    programmes: list[ProgrammeStatus]
    targets: list[TargetRow]
    completeness: PeriodSummary
    attention: Attention
    measure_counts: dict[str, int]


@dataclass
class Judged:
    """What the overview computes from the figures alone, the same for every province reader: the status
    grid, the targets judged along their trajectories, the count of measures by status, the lagging targets.
    The dashboards keep it in the read cache, keyed by the figures' version."""

    programmes: list[ProgrammeStatus]
    targets: list[TargetRow]
    measure_counts: dict[str, int]

    @property
    def off_track(self) -> list[TargetRow]:
        return [t for t in self.targets if t.status == Status.OFF_TRACK]


def overview_judged(*, plan: Plan, period: Period, basis: str = Figure.Basis.OFFICIAL) -> Judged:
    """Nine queries."""
    names = names_load()
    programmes = plan_status(plan=plan, period=period, basis=basis)
    measures: list[MeasureStatus] = [m for p in programmes for m in p.measures]
    counts = {s.value: 0 for s in Status}
    for m in measures:
        counts[m.status.value] += 1
    return Judged(
        programmes=programmes, targets=_rows([t for m in measures for t in m.targets], names), measure_counts=counts
    )


@functools.lru_cache(maxsize=256)
def overview_submissions_sql(*, plan_id: int, period_id: int) -> tuple[tuple[str, tuple], ...]:
    """What the overview reads besides the figures, as SQL of plain rows (built and compiled once per plan
    and period in a process: the text depends on nothing else): every field of the period's reports that
    completeness and overdue show (the home province's cities and the bodies, as `completeness_grid` reads
    them), of the returned reports listed, and of the latest consistency check. The rendered overview is kept
    under a digest of these rows (read on every request, with the figures' version, the plan tables'
    history, the day and the reader's scope), so any change to what those parts show is shown at the next
    request."""
    home = Subquery(plan_province_candidates(Plan(pk=plan_id)).values("pk")[:1])
    cities = Region.objects.filter(level=Region.Level.CITY, parent=home).values("pk")
    fields = (
        "pk", "public_id", "period_id", "region_id", "body_id", "status", "is_late", "submitted_at", "return_reason"
    )  # fmt: skip
    # Three selections rather than one with OR: each is read through its own index (the cities' reports by
    # submission_unique_region, the bodies' by submission_unique_body, the returned by submission_period_status),
    # where the OR of them scanned every report of every quarter (112 thousand at national scale) per request.
    # A report in two of them is digested twice, which changes nothing: the digest only has to change when a row
    # does.
    city_reports = Submission.objects.filter(plan_id=plan_id, period_id=period_id, region__in=cities)
    body_reports = Submission.objects.filter(plan_id=plan_id, period_id=period_id, body__isnull=False)
    returned = (
        Submission.objects.filter(plan_id=plan_id, status=Submission.Status.RETURNED)
        .order_by("-period__year", "-period__quarter", "region__sort_order", "body__code")
        .values_list(*fields)[:RETURNED_LIMIT]
    )
    check = (
        ConsistencyCheck.objects.filter(plan_id=plan_id)
        .order_by("-checked_at", "-id")
        .values_list("pk", "checked_at", "figures_checked", "drift_count", "repaired")[:1]
    )
    queries = (
        city_reports.order_by().values_list(*fields),
        body_reports.order_by().values_list(*fields),
        returned,
        check,
    )
    return tuple((sql, tuple(params)) for sql, params in (q.query.sql_with_params() for q in queries))


def dashboard_overview(
    *,
    plan: Plan,
    period: Period,
    audience: Audience,
    basis: str = Figure.Basis.OFFICIAL,
    today: date | None = None,
    judged: Judged | None = None,
) -> Overview:
    """The status grid, every province target against target and 序时进度, completeness of the period
    and what needs attention. Fourteen queries; five when `judged` (what the figures say) is given."""
    day = today or timezone.localdate()
    if judged is None:
        judged = overview_judged(plan=plan, period=period, basis=basis)
    grid = completeness_grid(plan=plan, periods=[period], audience=audience, today=day)
    overdue = [
        Overdue(
            reporter=row.reporter,
            submission=row.cells[0].submission,
            days=(day - period.deadline).days,
            can_open=row.cells[0].can_open,
        )
        for row in grid.rows
        if row.cells[0].overdue
    ]
    returned = [
        Returned(submission=s, can_open=audience.opens(s))
        for s in Submission.objects.filter(plan=plan, status=Submission.Status.RETURNED)
        .select_related("period", "region", "body")
        .order_by("-period__year", "-period__quarter", "region__sort_order", "body__code")[:RETURNED_LIMIT]
    ]
    latest_check = ConsistencyCheck.objects.filter(plan=plan).order_by("-checked_at", "-id").first()
    return Overview(
        period=period,
        basis=basis,
        programmes=judged.programmes,
        targets=judged.targets,
        completeness=grid.summaries[0],
        attention=Attention(
            off_track=judged.off_track,
            overdue=overdue,
            returned=returned,
            drift=latest_check if latest_check is not None and latest_check.drift_count > 0 else None,
        ),
        measure_counts=judged.measure_counts,
    )


# ---------------------------------------------------------------------------------------------------
# Figures of one period


def _province_figures(
    *, plan: Plan, period: Period, basis: str, indicator_ids: list[int] | None = None
) -> dict[int, Figure]:
    province = plan_province(plan)
    if province is None:
        return {}
    rows = Figure.objects.filter(plan=plan, region=province, period=period, basis=basis, span=Figure.Span.YTD)
    if indicator_ids is not None:
        rows = rows.filter(indicator_id__in=indicator_ids)
    return {f.indicator_id: f for f in rows}


@dataclass
class IndicatorRow:
    indicator: Indicator
    figure: Figure | None
    coverage: Coverage | None
    targets: list[TargetRow]

    @property
    def status(self) -> Status:
        return worst([t.status for t in self.targets]) if self.targets else Status.NO_DATA


# ---------------------------------------------------------------------------------------------------
# Measure


@dataclass
class TaskRow:
    task: Task
    leads: list[Responsibility]
    cooperating: list[Responsibility]
    status: Status
    indicators: list[Indicator]


@dataclass
class NarrativeRow:
    narrative: Narrative
    reporter: str
    status: str
    status_label: str


@dataclass
class MeasureDetail:
    measure: Measure
    status: Status
    leads: list[Responsibility]
    cooperating: list[Responsibility]
    tasks: list[TaskRow]
    indicators: list[IndicatorRow]
    narratives: list[NarrativeRow]
    period: Period
    basis: str


def _split(responsibilities: list[Responsibility]) -> tuple[list[Responsibility], list[Responsibility]]:
    leads = [r for r in responsibilities if r.role == Responsibility.Role.LEAD]
    return leads, [r for r in responsibilities if r.role != Responsibility.Role.LEAD]


def measure_detail(
    *,
    plan: Plan,
    number: int,
    period: Period,
    audience: Audience,
    user: User | AnonymousUser,
    basis: str = Figure.Basis.OFFICIAL,
) -> MeasureDetail | None:
    """A measure: its text, tasks with their bodies and status, indicators with the period's province
    figures, and the narratives reported for the period. Twelve queries."""
    measure = Measure.objects.filter(plan=plan, number=number).select_related("programme").first()
    if measure is None:
        return None
    names = names_load()
    responsibilities = list(
        Responsibility.objects.filter(measure=measure).select_related("body").order_by("role", "body__code")
    )
    tasks = list(Task.objects.filter(measure=measure).order_by("number"))
    indicators = list(
        Indicator.objects.filter(plan=plan, measure=measure, is_active=True)
        .select_related("lead_body", "task")
        .order_by("sort_order", "code")
    )
    progress = target_progress(plan=plan, period=period, basis=basis)
    by_indicator: dict[int, list[TargetRow]] = defaultdict(list)
    for row in _rows([p for p in progress if p.target.indicator.measure_id == measure.pk], names):
        by_indicator[row.target.indicator_id].append(row)
    figures = _province_figures(plan=plan, period=period, basis=basis, indicator_ids=[i.pk for i in indicators])
    indicator_rows = [
        IndicatorRow(
            indicator=i,
            figure=figures.get(i.pk),
            coverage=coverage_of(figure=figures.get(i.pk), indicator=i, names=names),
            targets=by_indicator.get(i.pk, []),
        )
        for i in indicators
    ]

    task_rows = []
    for task in tasks:
        own = [i for i in indicator_rows if i.indicator.task_id == task.pk]
        statuses = [t.status for i in own for t in i.targets]
        for item in own:
            if item.indicator.kind == Indicator.Kind.MILESTONE and not item.targets:
                done = None if item.figure is None or item.figure.value is None else item.figure.done_count > 0
                statuses.append(
                    judge_milestone(
                        done=done, at=period.end, deadline=task.deadline, per_year=task.recurrence == "yearly"
                    ).status
                )
        leads, cooperating = _split([r for r in responsibilities if r.task_id == task.pk])
        task_rows.append(
            TaskRow(
                task=task,
                leads=leads,
                cooperating=cooperating,
                status=worst(statuses),
                indicators=[i.indicator for i in own],
            )
        )
    leads, cooperating = _split([r for r in responsibilities if r.task_id is None])

    # A narrative is shown to whoever may open its submission, and to everyone once the province confirmed it.
    narratives = Narrative.objects.filter(
        measure=measure, submission__plan=plan, submission__period=period, submission__status__in=DONE_STATUSES
    ).select_related("submission", "submission__region", "submission__body")
    if not audience.scope.sees_everything:
        visible = Submission.objects.visible_to(user).values("pk")
        narratives = narratives.filter(Q(submission__status="confirmed") | Q(submission__in=visible))
    narrative_rows = [
        NarrativeRow(
            narrative=n,
            reporter=n.submission.reporter_name,
            status=n.submission.status,
            status_label=str(n.submission.get_status_display()),
        )
        for n in narratives.order_by("submission__region__sort_order", "submission__body__code")
    ]
    all_statuses = [t.status for row in indicator_rows for t in row.targets]
    return MeasureDetail(
        measure=measure,
        status=worst(all_statuses),
        leads=leads,
        cooperating=cooperating,
        tasks=task_rows,
        indicators=indicator_rows,
        narratives=narrative_rows,
        period=period,
        basis=basis,
    )


# ---------------------------------------------------------------------------------------------------
# Indicator


@dataclass
class TrendPoint:
    code: str
    end: date
    figure: Figure | None
    expected: Decimal | None
    coverage: Coverage | None
    status: Status | None
    is_future: bool = False

    @property
    def value(self) -> Decimal | None:
        return self.figure.value if self.figure is not None else None


class CityName(NamedTuple):
    """The region of a city row: its name, all the ranking shows of it."""

    name: str


class CityFigure(NamedTuple):
    """What the ranking shows of a city's figure, read as plain values (not a model instance)."""

    value: Decimal | None
    numerator: Decimal | None
    denominator: Decimal | None
    done_count: int


class CityRow(NamedTuple):
    """One city in an indicator's ranking. Plain tuples: at national scale the ranking has 333 rows, each
    kept in the read cache with the page's parts."""

    rank: int
    region: CityName
    figure: CityFigure
    # The quarter whose figure the city's was carried from (its coverage's `carried_from`), or None.
    carried_from: str | None


@dataclass
class IndicatorDetail:
    indicator: Indicator
    period: Period
    basis: str
    targets: list[TargetRow]
    primary: TargetRow | None
    trend: list[TrendPoint]
    projection: tuple[str, Decimal] | None
    current: TrendPoint | None
    cities: list[CityRow]
    cities_scope: str  # "all" | "own" | "none"
    deadline_code: str | None = None
    target_value: Decimal | None = None
    notes: list[str] = field(default_factory=list)


def _quarter_code(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def _quarter_end(year: int, quarter: int) -> date:
    return date(year, 12, 31) if quarter == 4 else date(year, quarter * 3 + 1, 1) - timedelta(days=1)


def _quarter_ends(after: date, until: date) -> list[date]:
    """Quarter ends after the quarter of `after`, up to and including the quarter of `until`."""
    year, quarter = after.year, (after.month - 1) // 3 + 1
    last = (until.year, (until.month - 1) // 3 + 1)
    out = []
    while (year, quarter) < last:
        year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)
        out.append(_quarter_end(year, quarter))
    return out


def _judge(
    *, plan: Plan, target: Target, at: date, current: Figure | None, points: list[tuple[date, Figure]]
) -> Judgement:
    """The same judgement as progress.target_progress, for any quarter end (past or future)."""
    indicator = target.indicator
    if indicator.kind == Indicator.Kind.MILESTONE:
        done = None if current is None or current.value is None else current.done_count > 0
        return judge_milestone(done=done, at=at, deadline=target.deadline, per_year=target.per_year)
    deadline, assumed = target.deadline, False
    if deadline is None and not target.per_year:
        deadline, assumed = date(plan.end_year, 12, 31), True
    start_date = date(target.baseline_year, 12, 31) if target.baseline_year else None
    recent = [(d, f.value) for d, f in points if f.value is not None and d <= at]
    if target.per_year:
        recent = [(d, v) for d, v in recent if d.year == at.year]
    return judge(
        target=target.value,
        comparator=target.comparator,
        tolerance_pct=target.tolerance,
        at=at,
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


def _expected_at(*, plan: Plan, target: Target, at: date, points: list[tuple[date, Figure]]) -> Decimal | None:
    """序时进度 at a quarter end, whether or not there is a figure there: judged as if the last known
    figure stood, since the expected value depends only on the trajectory, not on the actual."""
    known = [f for d, f in points if d <= at and f.value is not None]
    if not known or target.indicator.kind == Indicator.Kind.MILESTONE:
        return None
    return _judge(plan=plan, target=target, at=at, current=known[-1], points=points).expected


def city_ranking(figures: QuerySet[Figure]) -> list[CityRow]:
    """The city-level figures among `figures`, ranked: highest value first, figures without a value last,
    ties in the province's order of cities (then by code). Ordered in the database and read as plain rows
    (no model instances): at national scale an indicator has 333 prefectures' figures."""
    rows = (
        figures.filter(region__level=Region.Level.CITY)
        .order_by(F("value").desc(nulls_last=True), "region__sort_order", "region__code")
        .values_list(
            "region__name",
            "value",
            "numerator",
            "denominator",
            "done_count",
            KeyTextTransform("carried_from", "coverage"),
        )
    )
    return [
        CityRow(rank, CityName(name), CityFigure(value, numerator, denominator, done), carried or None)
        for rank, (name, value, numerator, denominator, done, carried) in enumerate(rows, start=1)
    ]


def indicator_detail(
    *,
    plan: Plan,
    code: str,
    period: Period,
    audience: Audience,
    user: User | AnonymousUser,
    basis: str = Figure.Basis.OFFICIAL,
) -> IndicatorDetail | None:
    """An indicator's province trend against its target trajectory and projection, the city breakdown
    of the period (ranked), and the coverage of every figure. Nine queries."""
    indicator = (
        Indicator.objects.filter(plan=plan, code=code, is_active=True)
        .select_related("measure", "measure__programme", "task", "lead_body")
        .first()
    )
    if indicator is None:
        return None
    names = names_load()
    targets = list(indicator.targets.filter(region__isnull=True).order_by("code"))
    for target in targets:
        target.indicator = indicator
    province = plan_province(plan)
    points: list[tuple[date, Figure]] = []
    if province is not None:
        rows = (
            Figure.objects.filter(
                plan=plan,
                indicator=indicator,
                region=province,
                basis=basis,
                span=Figure.Span.YTD,
                period__end__lte=period.end,
            )
            .select_related("period")
            .order_by("period__year", "period__quarter")
        )
        points = [(f.period.end, f) for f in rows]
    by_end = dict(points)
    primary = targets[0] if targets else None

    trend = []
    for day, figure in points[-TREND_QUARTERS:]:
        judgement = _judge(plan=plan, target=primary, at=day, current=figure, points=points) if primary else None
        trend.append(
            TrendPoint(
                code=figure.period.code,
                end=day,
                figure=figure,
                expected=judgement.expected if judgement else None,
                coverage=coverage_of(figure=figure, indicator=indicator, names=names),
                status=judgement.status if judgement else None,
            )
        )
    current_figure = by_end.get(period.end)
    target_rows = [
        TargetRow(
            target=t,
            judgement=_judge(plan=plan, target=t, at=period.end, current=current_figure, points=points),
            figure=current_figure,
            coverage=coverage_of(figure=current_figure, indicator=indicator, names=names),
        )
        for t in targets
    ]
    primary_row = target_rows[0] if target_rows else None
    projection = None
    deadline_code = None
    if primary_row is not None and primary is not None and primary_row.judgement.deadline is not None:
        deadline = primary_row.judgement.deadline
        deadline_code = _quarter_code(deadline)
        if deadline > period.end and indicator.kind != Indicator.Kind.MILESTONE:
            # The quarters still to come, up to the deadline: the trajectory goes on, and the projection ends there.
            for day in _quarter_ends(period.end, deadline):
                trend.append(
                    TrendPoint(
                        code=_quarter_code(day),
                        end=day,
                        figure=None,
                        expected=_expected_at(plan=plan, target=primary, at=day, points=points),
                        coverage=None,
                        status=None,
                        is_future=True,
                    )
                )
            if primary_row.judgement.projected is not None:
                projection = (deadline_code, primary_row.judgement.projected)

    cities: list[CityRow] = []
    if audience.province:
        cities_scope = "all"
    elif audience.city_ids:
        cities_scope = "own"
    else:
        cities_scope = "none"
    if cities_scope != "none" and indicator.reporter != Indicator.Reporter.BODY:
        cities = city_ranking(
            figures_visible_to(user=user, plan=plan).filter(
                indicator=indicator, period=period, basis=basis, span=Figure.Span.YTD
            )
        )
    current = next((p for p in trend if p.end == period.end and not p.is_future), None)
    return IndicatorDetail(
        indicator=indicator,
        period=period,
        basis=basis,
        targets=target_rows,
        primary=primary_row,
        trend=trend,
        projection=projection,
        current=current,
        cities=cities,
        cities_scope=cities_scope,
        deadline_code=deadline_code,
        target_value=primary.value if primary else None,
    )


# ---------------------------------------------------------------------------------------------------
# City home


@dataclass
class DueRow:
    period: Period
    submission: Submission | None
    category: str
    days_left: int
    is_open: bool

    @property
    def is_pending(self) -> bool:
        return self.category in (Category.MISSING, Category.NOT_DUE, Category.DRAFT, Category.RETURNED)


@dataclass
class ReturnedRow:
    submission: Submission
    transition: Transition | None


@dataclass
class CityFigureRow:
    indicator: Indicator
    city: Figure | None
    province: Figure | None
    coverage: Coverage | None
    targets: list[TargetRow]

    @property
    def city_share(self) -> Decimal | None:
        """The city's part of the province total, for summed kinds (stock, flow)."""
        if (
            self.indicator.kind not in (Indicator.Kind.STOCK, Indicator.Kind.FLOW)
            or self.city is None
            or self.province is None
            or not self.city.value
            or not self.province.value
        ):
            return None
        return (self.city.value / self.province.value * 100).quantize(Decimal("0.1"))


@dataclass
class CityHome:
    city: Region
    cities: list[Region]
    period: Period
    due: list[DueRow]
    next_period: Period | None
    returned: list[ReturnedRow]
    figures: list[CityFigureRow]
    waiting_review: int
    is_reviewer: bool


def city_home(
    *, plan: Plan, city: Region, cities: list[Region], period: Period, audience: Audience, today: date | None = None
) -> CityHome:
    """A city's page: what is due and by when, what came back and why, and its figures beside the
    province's for the period. Eleven queries."""
    day = today or timezone.localdate()
    recent = list(Period.objects.filter(end__lt=day).order_by("-year", "-quarter")[:CITY_HOME_PERIODS])
    next_period = Period.objects.filter(end__gte=day).order_by("year", "quarter").first()
    submissions = {
        s.period_id: s
        for s in Submission.objects.filter(plan=plan, region=city, period__in=recent).select_related("period")
    }
    due = []
    for each in recent:
        submission = submissions.get(each.pk)
        category, _overdue = _category(submission, each, day)
        due.append(
            DueRow(
                period=each,
                submission=submission,
                category=category,
                days_left=(each.deadline - day).days,
                is_open=each.status == Period.Status.OPEN,
            )
        )
    returned_submissions = list(
        Submission.objects.filter(plan=plan, region=city, status=Submission.Status.RETURNED)
        .select_related("period")
        .order_by("-period__year", "-period__quarter")[:RETURNED_LIMIT]
    )
    last_return: dict[int, Transition] = {}
    for transition in (
        Transition.objects.filter(
            submission__in=returned_submissions, action__in=[Transition.Action.RETURN, Transition.Action.REOPEN]
        )
        .select_related("actor")
        .order_by("at", "id")
    ):
        last_return[transition.submission_id] = transition
    returned = [ReturnedRow(submission=s, transition=last_return.get(s.pk)) for s in returned_submissions]

    names = names_load()
    indicators = list(
        Indicator.objects.filter(
            plan=plan, is_active=True, reporter__in=[Indicator.Reporter.CITY, Indicator.Reporter.BOTH]
        )
        .select_related("measure")
        .order_by("measure__number", "sort_order", "code")
    )
    province = plan_province(plan)
    regions = [city.pk] + ([province.pk] if province is not None else [])
    found: dict[tuple[int, int], Figure] = {
        (f.indicator_id, f.region_id): f
        for f in Figure.objects.filter(
            plan=plan, period=period, basis=Figure.Basis.OFFICIAL, span=Figure.Span.YTD, region_id__in=regions
        )
    }
    progress = defaultdict(list)
    for row in _rows(target_progress(plan=plan, period=period), names):
        progress[row.target.indicator_id].append(row)
    figures = []
    for indicator in indicators:
        province_figure = found.get((indicator.pk, province.pk)) if province is not None else None
        figures.append(
            CityFigureRow(
                indicator=indicator,
                city=found.get((indicator.pk, city.pk)),
                province=province_figure,
                coverage=coverage_of(figure=province_figure, indicator=indicator, names=names),
                targets=progress.get(indicator.pk, []),
            )
        )
    is_reviewer = city.pk in audience.scope.cities(Role.CITY_REVIEWER)
    waiting = (
        Submission.objects.filter(plan=plan, region=city, status=Submission.Status.SUBMITTED).count()
        if is_reviewer
        else 0
    )
    return CityHome(
        city=city,
        cities=cities,
        period=period,
        due=due,
        next_period=next_period,
        returned=returned,
        figures=figures,
        waiting_review=waiting,
        is_reviewer=is_reviewer,
    )


def cities_of(*, audience: Audience) -> list[Region]:
    return list(Region.objects.filter(pk__in=audience.city_ids).order_by("sort_order", "code"))
