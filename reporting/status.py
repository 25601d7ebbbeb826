"""Judging a figure against its target: the trajectory from baseline to target, the expected value now
(序时进度), the gap, the run rate still needed, the projection at the deadline, and a status.

Pure functions of plain values — no database — so the rules can be tested exhaustively and shown in
docs/rollup-rules.md exactly as they run.

Rules:
- A dated target runs in a straight line from its baseline (value at the end of the baseline year; with
  no baseline, the first actual figure) to the target value at the deadline. A target with neither
  deadline nor per-year flag is judged against the plan's end year, and says so (`deadline_assumed`).
- A per-year target is judged year to date: by the end of quarter q, q/4 of the target is expected.
- progress = (actual − start) / (target − start); expected = share of the time elapsed. Lower-is-better
  targets work the same way because (target − start) is then negative.
- achieved: the comparator holds (≥, ≤, or ≈: at least the target less its tolerance); on track: progress ≥ expected − 5
  points; at risk: ≥ expected − 20 points; off track: further behind, or the deadline passed unmet;
  no data: no actual figure. Thresholds are settings.
- Milestones: done → achieved; not done → on track until the last quarter before the deadline (or the
  year's Q3 for a yearly one), at risk in it, off track after.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from django.utils.translation import gettext_lazy as _


class Status(StrEnum):
    ACHIEVED = "achieved"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"
    NO_DATA = "no_data"


STATUS_LABELS = {
    Status.ACHIEVED: _("已完成"),
    Status.ON_TRACK: _("进度正常"),
    Status.AT_RISK: _("存在风险"),
    Status.OFF_TRACK: _("明显滞后"),
    Status.NO_DATA: _("暂无数据"),
}
# Worst first: a measure is as far behind as its most lagging target.
SEVERITY = [Status.OFF_TRACK, Status.AT_RISK, Status.ON_TRACK, Status.ACHIEVED]


@dataclass(frozen=True)
class Judgement:
    status: Status
    actual: Decimal | None
    expected: Decimal | None
    gap: Decimal | None
    needed_per_quarter: Decimal | None
    projected: Decimal | None
    deadline: date | None
    deadline_assumed: bool = False


def _quarters_between(start: date, end: date) -> Decimal:
    return Decimal((end.year - start.year) * 12 + (end.month - start.month)) / Decimal(3)


def comparator_holds(*, actual: Decimal, target: Decimal, comparator: str, tolerance_pct: Decimal) -> bool:
    if comparator == "gte":
        return actual >= target
    if comparator == "lte":
        return actual <= target
    # "About 50 schools" (左右) is met from 50 less the tolerance upwards: building more is not a miss.
    return actual >= target - abs(target) * tolerance_pct / Decimal(100)


def judge(
    *,
    target: Decimal,
    comparator: str,
    tolerance_pct: Decimal,
    at: date,
    actual: Decimal | None,
    start_value: Decimal | None,
    start_date: date | None,
    deadline: date | None,
    per_year: bool,
    recent: list[tuple[date, Decimal]],
    on_track_slack: float,
    at_risk_slack: float,
    deadline_assumed: bool = False,
) -> Judgement:
    """Judge one numeric target at date `at` (the end of the period being looked at).

    `recent` is the actual series (date, value) up to `at`, oldest first, used for the run rate."""
    if per_year:
        start_value, start_date = Decimal(0), date(at.year - 1, 12, 31)
        deadline = date(at.year, 12, 31)
    if actual is None:
        return Judgement(Status.NO_DATA, None, None, None, None, None, deadline, deadline_assumed)
    if start_value is None or start_date is None:
        first_date, first_value = recent[0] if recent else (at, actual)
        start_value, start_date = first_value, first_date

    expected = None
    needed = None
    projected = None
    if deadline is not None and deadline > start_date:
        elapsed = min(
            Decimal(1), max(Decimal(0), _quarters_between(start_date, at) / _quarters_between(start_date, deadline))
        )
        expected = start_value + (target - start_value) * elapsed
        remaining = _quarters_between(at, deadline)
        if remaining > 0:
            needed = (target - actual) / remaining
            window = [v for d, v in recent if _quarters_between(d, at) <= 4]
            if per_year:
                rate = actual / max(Decimal(1), _quarters_between(start_date, at))
            elif len(window) >= 2:
                rate = (window[-1] - window[0]) / max(Decimal(1), Decimal(len(window) - 1))
            else:
                rate = None
            projected = actual + rate * remaining if rate is not None else None
        else:
            projected = actual
    gap = actual - expected if expected is not None else None

    if comparator_holds(actual=actual, target=target, comparator=comparator, tolerance_pct=tolerance_pct):
        status = Status.ACHIEVED
    elif deadline is not None and at >= deadline:
        status = Status.OFF_TRACK
    elif expected is None or target == start_value:
        status = Status.ON_TRACK
    else:
        progress = (actual - start_value) / (target - start_value)
        share_expected = (expected - start_value) / (target - start_value)
        if progress >= share_expected - Decimal(str(on_track_slack)):
            status = Status.ON_TRACK
        elif progress >= share_expected - Decimal(str(at_risk_slack)):
            status = Status.AT_RISK
        else:
            status = Status.OFF_TRACK
    return Judgement(status, actual, expected, gap, needed, projected, deadline, deadline_assumed)


def judge_milestone(*, done: bool | None, at: date, deadline: date | None, per_year: bool) -> Judgement:
    if per_year:
        deadline = date(at.year, 12, 31)
    if done is None:
        return Judgement(Status.NO_DATA, None, None, None, None, None, deadline)
    if done:
        return Judgement(Status.ACHIEVED, Decimal(1), Decimal(1), Decimal(0), None, Decimal(1), deadline)
    if deadline is None:
        status = Status.ON_TRACK
    elif at >= deadline:
        status = Status.OFF_TRACK
    elif _quarters_between(at, deadline) <= 1:
        status = Status.AT_RISK
    else:
        status = Status.ON_TRACK
    return Judgement(status, Decimal(0), None, None, None, None, deadline)


def worst(statuses: list[Status]) -> Status:
    """The roll-up rule from targets to tasks, measures and programmes: the worst status among those
    with data; no data only when nothing has data."""
    for candidate in SEVERITY:
        if candidate in statuses:
            return candidate
    return Status.NO_DATA
