"""Target status along the trajectory (pure rules) and the status grid over the real plan."""

from datetime import date
from decimal import Decimal

import pytest

from reporting.status import Status, judge, judge_milestone, worst

D = Decimal
SLACK = {"on_track_slack": 0.05, "at_risk_slack": 0.20}


TARGET, START, AT = D(800), D(600), date(2019, 12, 31)


def _judge(actual, *, target=TARGET, start=START, at=AT, comparator="gte", per_year=False, recent=()):
    return judge(
        target=target,
        comparator=comparator,
        tolerance_pct=D(10),
        at=at,
        actual=actual,
        start_value=None if per_year else start,
        start_date=None if per_year else date(2018, 12, 31),
        deadline=None if per_year else date(2020, 12, 31),
        per_year=per_year,
        recent=list(recent),
        **SLACK,
    )


@pytest.mark.parametrize(
    ("actual", "status"),
    [
        (D(810), Status.ACHIEVED),
        (D(700), Status.ON_TRACK),  # exactly on the trajectory halfway: 600 → 800
        (D(695), Status.ON_TRACK),  # 47.5 % of the way, within 5 points
        (D(670), Status.AT_RISK),  # 35 %
        (D(620), Status.OFF_TRACK),  # 10 %
        (None, Status.NO_DATA),
    ],
)
def test_dated_target_is_judged_against_the_straight_line_from_baseline(actual, status):
    judgement = _judge(actual)
    assert judgement.status == status
    if actual is not None:
        assert judgement.expected == D(700)
        assert judgement.gap == actual - D(700)


def test_needed_run_rate_and_projection():
    judgement = _judge(D(680), recent=[(date(2019, 3, 31), D(620)), (date(2019, 12, 31), D(680))])
    assert judgement.needed_per_quarter == D(120) / D(4)
    assert judgement.projected == D(680) + (D(680) - D(620)) / D(1) * D(4)


def test_lower_is_better_target_works_the_same_way():
    # Reduce something from 100 to 60 by 2020: halfway through, 80 is on track, 95 off track.
    kwargs = {"target": D(60), "start": D(100), "comparator": "lte"}
    assert _judge(D(80), **kwargs).status == Status.ON_TRACK
    assert _judge(D(95), **kwargs).status == Status.OFF_TRACK
    assert _judge(D(59), **kwargs).status == Status.ACHIEVED


def test_approximate_target_is_achieved_from_the_tolerance_up():
    assert _judge(D(57), target=D(50), start=D(30), comparator="approx").status == Status.ACHIEVED
    assert _judge(D(46), target=D(50), start=D(30), comparator="approx").status == Status.ACHIEVED
    assert _judge(D(44), target=D(50), start=D(30), comparator="approx").status != Status.ACHIEVED


def test_per_year_target_is_judged_year_to_date():
    # 150,000 new high-skill workers a year: by the end of Q2, 75,000 is on track.
    assert _judge(D(76000), target=D(150000), at=date(2025, 6, 30), per_year=True).status == Status.ON_TRACK
    assert _judge(D(50000), target=D(150000), at=date(2025, 6, 30), per_year=True).status == Status.AT_RISK
    assert _judge(D(20000), target=D(150000), at=date(2025, 6, 30), per_year=True).status == Status.OFF_TRACK
    assert _judge(D(140000), target=D(150000), at=date(2025, 12, 31), per_year=True).status == Status.OFF_TRACK
    assert _judge(D(151000), target=D(150000), at=date(2025, 12, 31), per_year=True).status == Status.ACHIEVED


def test_missed_deadline_is_off_track():
    assert _judge(D(790), at=date(2020, 12, 31)).status == Status.OFF_TRACK


def test_milestones():
    assert judge_milestone(done=True, at=date(2025, 3, 31), deadline=None, per_year=False).status == Status.ACHIEVED
    assert judge_milestone(done=False, at=date(2025, 3, 31), deadline=None, per_year=True).status == Status.ON_TRACK
    assert judge_milestone(done=False, at=date(2025, 9, 30), deadline=None, per_year=True).status == Status.AT_RISK
    assert judge_milestone(done=False, at=date(2025, 12, 31), deadline=None, per_year=True).status == Status.OFF_TRACK
    assert judge_milestone(done=None, at=date(2025, 12, 31), deadline=None, per_year=True).status == Status.NO_DATA


def test_worst_of_rule():
    assert worst([Status.ACHIEVED, Status.AT_RISK, Status.NO_DATA]) == Status.AT_RISK
    assert worst([Status.NO_DATA, Status.NO_DATA]) == Status.NO_DATA
    assert worst([]) == Status.NO_DATA


def test_status_grid_over_the_real_plan(plan, user, django_assert_max_num_queries):
    from reporting.models import DataValue, Submission
    from reporting.selectors.progress import plan_status
    from reporting.services.periods import period_ensure
    from reporting.services.rollups import rollup_period

    period = period_ensure(year=2020, quarter=4)
    from measures.models import Region

    for city in Region.objects.filter(level="city"):
        s = Submission.objects.create(plan=plan, period=period, region=city, status="confirmed", created_by=user)
        indicator = plan.indicators.get(code="high-skill-workers-per-10000")
        DataValue.objects.create(
            submission=s, indicator=indicator, numerator=D(81000), denominator=D(1000000), updated_by=user
        )
    rollup_period(plan_id=plan.pk, period_id=period.pk)
    with django_assert_max_num_queries(8):
        grid = plan_status(plan=plan, period=period)
    assert [p.programme.number for p in grid] == [1, 2, 3, 4, 5]
    assert sum(len(p.measures) for p in grid) == 23
    measure6 = next(m for p in grid for m in p.measures if m.measure.number == 6)
    ratio = next(t for t in measure6.targets if t.target.indicator.code == "high-skill-workers-per-10000")
    assert ratio.judgement.actual == D("810.000000")
    assert ratio.judgement.status == Status.ACHIEVED
    # Task milestones take part too: 成立省产业工人发展战略研究院 has no data yet, so it is "no data", and
    # measure 19's status comes from its tasks only.
    measure19 = next(m for p in grid for m in p.measures if m.measure.number == 19)
    assert measure19.tasks
    assert {t.status for t in measure19.tasks} == {Status.NO_DATA}


def test_a_done_milestone_makes_its_task_achieved(plan, user):
    from measures.models import ResponsibleBody
    from reporting.models import DataValue, Submission
    from reporting.selectors.progress import plan_status
    from reporting.services.periods import period_ensure
    from reporting.services.rollups import rollup_period

    period = period_ensure(year=2019, quarter=2)
    union = ResponsibleBody.objects.get(code="js-trade-unions")
    s = Submission.objects.create(plan=plan, period=period, body=union, status="confirmed", created_by=user)
    DataValue.objects.create(
        submission=s,
        indicator=plan.indicators.get(code="strategy-research-institute"),
        done=True,
        done_on=date(2019, 5, 1),
        updated_by=user,
    )
    rollup_period(plan_id=plan.pk, period_id=period.pk)
    grid = plan_status(plan=plan, period=period)
    measure19 = next(m for p in grid for m in p.measures if m.measure.number == 19)
    institute = next(t for t in measure19.tasks if t.task.title.startswith("成立省产业工人发展战略研究院"))
    assert (institute.done, institute.status) == (True, Status.ACHIEVED)
