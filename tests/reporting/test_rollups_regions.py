"""Rollups beyond one province of cities (rule r2): counties sum into their city, each province is rolled
up on its own, the work is partitioned by (province, quarter), and approvals enqueue coalesced tasks."""

import re
from decimal import Decimal

import pytest

from indicators.models import Indicator
from measures.models import Region
from reporting.models import DataValue, Figure, RollupRequest, Submission
from reporting.services import rollups
from reporting.services.periods import period_ensure
from reporting.services.rollups import rollup_period, rollup_slice, rollup_slices

FLOW = "apprentices-trained"
STOCK = "high-skill-workers"


def _confirmed(plan, period, region, values, user, status="confirmed"):
    submission = Submission.objects.create(plan=plan, period=period, region=region, status=status, created_by=user)
    indicators = {i.code: i for i in Indicator.objects.filter(plan=plan, code__in=values)}
    DataValue.objects.bulk_create(
        DataValue(submission=submission, indicator=indicators[code], value=value, updated_by=user)
        for code, value in values.items()
    )
    return submission


def _figure(plan, code, region, period, span="quarter", basis="official"):
    return Figure.objects.get(plan=plan, indicator__code=code, region=region, period=period, span=span, basis=basis)


@pytest.fixture
def other_province(plan):
    """A second province with one prefecture and one county (synthetic, as at national scale)."""
    province = Region.objects.create(
        code="990000", name="合成省", name_en="Synthetic", level="province", division_year=2021, sort_order=9000
    )
    city = Region.objects.create(
        code="990100",
        name="合成市",
        name_en="S city",
        level="city",
        parent=province,
        division_year=2021,
        sort_order=9001,
    )
    county = Region.objects.create(
        code="990101",
        name="合成县",
        name_en="S county",
        level="county",
        parent=city,
        division_year=2021,
        sort_order=9002,
    )
    return province, city, county


def test_a_city_figure_sums_its_own_report_and_its_counties(plan, user):
    q = period_ensure(year=2025, quarter=3)
    nanjing = Region.objects.get(code="320100")
    _confirmed(plan, q, nanjing, {FLOW: Decimal(100)}, user)
    _confirmed(plan, q, Region.objects.get(code="320102"), {FLOW: Decimal(20)}, user)
    _confirmed(plan, q, Region.objects.get(code="320104"), {FLOW: Decimal(5)}, user, status="submitted")
    rollup_period(plan_id=plan.pk, period_id=q.pk)
    city = _figure(plan, FLOW, nanjing, q)
    province = _figure(plan, FLOW, Region.objects.get(code="320000"), q)
    assert (city.value, city.coverage) == (Decimal(120), {"reporters": 2})
    assert (province.value, province.reported_count, province.coverage["reported"]) == (Decimal(120), 1, ["320100"])
    # Nanjing has data, so its county's report waiting for review does not make it pending.
    assert province.coverage["pending"] == []
    assert not Figure.objects.filter(region__code="320102").exists()


def test_a_county_stock_is_carried_one_quarter_like_a_city_s(plan, user):
    q2, q3 = period_ensure(year=2025, quarter=2), period_ensure(year=2025, quarter=3)
    wuxi, county = Region.objects.get(code="320200"), Region.objects.get(code="320205")
    _confirmed(plan, q2, county, {STOCK: Decimal(40)}, user)
    rollup_period(plan_id=plan.pk, period_id=q2.pk)
    city = _figure(plan, STOCK, wuxi, q3)
    province = _figure(plan, STOCK, Region.objects.get(code="320000"), q3)
    assert (city.value, city.carried_count, city.coverage) == (Decimal(40), 1, {"carried_from": "2025Q2"})
    assert (province.value, province.coverage["carried"], province.reported_count) == (
        Decimal(40),
        {"320200": "2025Q2"},
        0,
    )


def test_each_province_is_rolled_up_on_its_own(plan, user, other_province):
    province, city, county = other_province
    q = period_ensure(year=2025, quarter=3)
    _confirmed(plan, q, Region.objects.get(code="320100"), {FLOW: Decimal(10)}, user)
    _confirmed(plan, q, county, {FLOW: Decimal(7)}, user)
    summary = rollup_period(plan_id=plan.pk, period_id=q.pk)
    assert summary.slices == 2
    assert _figure(plan, FLOW, Region.objects.get(code="320000"), q).value == Decimal(10)
    other = _figure(plan, FLOW, province, q)
    assert (other.value, other.expected_count, other.coverage["reported"]) == (Decimal(7), 1, ["990100"])
    assert _figure(plan, FLOW, city, q).value == Decimal(7)
    # The plan's provincial bodies belong to its home province only.
    body_indicator = Indicator.objects.filter(plan=plan, reporter="body").first()
    assert _figure(plan, body_indicator.code, province, q).expected_count == 0


def test_the_rebuild_is_partitioned_by_province_and_quarter(plan, user, other_province):
    province, _city, county = other_province
    q1, q2 = period_ensure(year=2025, quarter=1), period_ensure(year=2025, quarter=2)
    _confirmed(plan, q1, county, {FLOW: Decimal(3)}, user)
    _confirmed(plan, q2, Region.objects.get(code="320100"), {FLOW: Decimal(4)}, user)
    home = Region.objects.get(code="320000")
    slices = rollup_slices(plan=plan)
    assert {(s[1], s[2]) for s in slices} >= {
        (q1.pk, home.pk),
        (q1.pk, province.pk),
        (q2.pk, home.pk),
        (q2.pk, province.pk),
    }
    for plan_id, period_id, province_id in slices:
        rollup_slice(plan_id=plan_id, period_id=period_id, province_id=province_id)
    by_slices = sorted(Figure.objects.values_list("indicator_id", "region_id", "period_id", "span", "basis", "value"))
    Figure.objects.all().delete()
    for period in (q1, q2):
        rollup_period(plan_id=plan.pk, period_id=period.pk)
    assert (
        sorted(Figure.objects.values_list("indicator_id", "region_id", "period_id", "span", "basis", "value"))
        == by_slices
    )
    assert _figure(plan, FLOW, province, q2, span="ytd").value == Decimal(3)


def test_approvals_enqueue_one_task_per_province_and_quarter_until_a_worker_takes_it(
    plan, monkeypatch, django_capture_on_commit_callbacks
):
    from reporting.tasks import rollup_period_task

    sent = []
    monkeypatch.setattr(rollup_period_task, "apply_async", lambda args, **options: sent.append(args))
    q = period_ensure(year=2025, quarter=3)
    nanjing, suzhou = Region.objects.get(code="320100"), Region.objects.get(code="320500")
    home = Region.objects.get(code="320000")
    with django_capture_on_commit_callbacks(execute=True):
        for region in (nanjing, suzhou, Region.objects.get(code="320102")):
            rollups.rollup_enqueue(plan_id=plan.pk, period_id=q.pk, region_id=region.pk)
    assert sent == [(plan.pk, q.pk, home.pk, True)]
    assert sorted(RollupRequest.objects.values_list("province_id", "region_id")) == sorted(
        [(home.pk, nanjing.pk), (home.pk, suzhou.pk), (home.pk, Region.objects.get(code="320102").pk)]
    )
    # A worker taking the requests (its run deletes them) lets the next approval queue a new task.
    summary = rollups.rollup_run(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, requested=True)
    assert (summary.requests, RollupRequest.objects.count()) == (3, 0)
    with django_capture_on_commit_callbacks(execute=True):
        rollups.rollup_enqueue(plan_id=plan.pk, period_id=q.pk, region_id=nanjing.pk)
    assert sent == [(plan.pk, q.pk, home.pk, True), (plan.pk, q.pk, home.pk, True)]


def test_the_consistency_check_covers_every_province(plan, user, other_province):
    from reporting.models import ConsistencyCheck

    _province, _city, county = other_province
    q = period_ensure(year=2025, quarter=3)
    _confirmed(plan, q, county, {FLOW: Decimal(7)}, user)
    rollup_period(plan_id=plan.pk, period_id=q.pk)
    Figure.objects.filter(region=county.parent, indicator__code=FLOW, basis="official", span="quarter").update(
        value=Decimal(8)
    )
    assert rollups.rollup_consistency_check() == {plan.code: 1}
    check = ConsistencyCheck.objects.get()
    assert (check.drift_count, check.repaired) == (1, True)
    assert _figure(plan, FLOW, county.parent, q).value == Decimal(7)


def test_an_approval_recomputes_only_the_cities_whose_reports_changed(plan, user, time_machine):
    """PostgreSQL's incremental run: the other cities' figures are read back, not recomputed, and the
    result equals a full recomputation."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the incremental path is PostgreSQL's; the plain path rebuilds the whole slice")
    start = datetime(2026, 1, 20, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
    time_machine.move_to(start, tick=False)
    q = period_ensure(year=2025, quarter=4)
    home = Region.objects.get(code="320000")
    nanjing, wuxi = Region.objects.get(code="320100"), Region.objects.get(code="320200")
    _confirmed(plan, q, nanjing, {FLOW: Decimal(10), STOCK: Decimal(100)}, user)
    _confirmed(plan, q, wuxi, {FLOW: Decimal(4), STOCK: Decimal(50)}, user)
    county = _confirmed(plan, q, Region.objects.get(code="320102"), {FLOW: Decimal(1)}, user)
    time_machine.move_to(start + timedelta(minutes=10), tick=False)
    rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk)
    wuxi_before = _figure(plan, FLOW, wuxi, q).computed_at
    time_machine.move_to(start + timedelta(minutes=20), tick=False)
    DataValue.objects.filter(submission=county, indicator__code=FLOW).update(value=Decimal(6))
    # What every change that moves a figure does: a rollup request naming the report's region.
    RollupRequest.objects.create(plan=plan, period=q, province=home, region=county.region)
    summary = rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, requested=True)
    assert (summary.cities, summary.requests, RollupRequest.objects.count()) == ([nanjing.pk], 1, 0)
    assert _figure(plan, FLOW, nanjing, q).value == Decimal(16)
    assert _figure(plan, FLOW, home, q).value == Decimal(20)
    assert _figure(plan, FLOW, wuxi, q).computed_at == wuxi_before
    # The county's report is returned: Nanjing keeps only its own figure, the province follows.
    time_machine.move_to(start + timedelta(minutes=30), tick=False)
    county.status = "returned"
    county.save()
    RollupRequest.objects.create(plan=plan, period=q, province=home, region=county.region)
    assert rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk).cities == [nanjing.pk]
    assert _figure(plan, FLOW, nanjing, q).value == Decimal(10)
    province = _figure(plan, FLOW, home, q)
    assert (province.value, province.coverage["reported"]) == (Decimal(14), ["320100", "320200"])
    assert rollups.rollup_consistency_check(repair=False) == {plan.code: 0}


def test_the_slice_statement_is_prepared_once_per_session(plan, user):
    """PostgreSQL plans the slice's statement once per connection (planning it costs about as much as the raw
    GROUP BY); a session that lost it (DISCARD ALL, a pooler) prepares it again instead of failing."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("the prepared statement is PostgreSQL's")
    q = period_ensure(year=2025, quarter=3)
    home = Region.objects.get(code="320000")
    _confirmed(plan, q, Region.objects.get(code="320100"), {FLOW: Decimal(10)}, user)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")

    def prepares() -> int:
        with CaptureQueriesContext(connection) as queries:
            # Forced: an unchanged slice is otherwise only checked against its fingerprint, without the statement.
            rollup_slice(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, force=True)
        return sum(query["sql"].startswith("PREPARE ") for query in queries.captured_queries)

    assert prepares() == 1
    assert prepares() == 0
    assert _figure(plan, FLOW, home, q).value == Decimal(10)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert prepares() == 1
    assert _figure(plan, FLOW, home, q).value == Decimal(10)


def test_a_queued_run_hands_the_year_s_later_quarters_on_to_their_own_coalesced_runs(
    plan, user, monkeypatch, django_capture_on_commit_callbacks
):
    """A queued one-province run computes its own quarter; the later quarters of the year (whose
    year-to-date and carry include it) get their own requests in its transaction and one prompt each, and
    once they have run every figure equals a full recomputation."""
    from reporting.tasks import rollup_period_task

    sent = []
    monkeypatch.setattr(rollup_period_task, "apply_async", lambda args, **options: sent.append(args))
    q1, q2, q3 = (period_ensure(year=2025, quarter=n) for n in (1, 2, 3))
    home, nanjing = Region.objects.get(code="320000"), Region.objects.get(code="320100")
    county = Region.objects.get(code="320102")
    _confirmed(plan, q1, nanjing, {FLOW: Decimal(1), STOCK: Decimal(10)}, user)
    _confirmed(plan, q2, nanjing, {FLOW: Decimal(2)}, user)
    _confirmed(plan, q3, nanjing, {FLOW: Decimal(3), STOCK: Decimal(30)}, user)
    for each in (q1, q2, q3):
        rollup_period(plan_id=plan.pk, period_id=each.pk, province_id=home.pk)
    assert _figure(plan, FLOW, home, q3, span="ytd").value == Decimal(6)
    # The county's Q1 report arrives and is confirmed: its request names the county.
    _confirmed(plan, q1, county, {FLOW: Decimal(5), STOCK: Decimal(4)}, user)
    RollupRequest.objects.create(plan=plan, period=q1, province=home, region=county)
    with django_capture_on_commit_callbacks(execute=True):
        summary = rollups.rollup_run(plan_id=plan.pk, period_id=q1.pk, province_id=home.pk, requested=True)
    assert (summary.periods, summary.handed_on) == ([q1.code], [q2.code, q3.code])
    assert _figure(plan, FLOW, home, q1).value == Decimal(6)
    # Q2 and Q3 are untouched until their own runs, which their requests (naming the county) ask for.
    assert _figure(plan, FLOW, home, q3, span="ytd").value == Decimal(6)
    assert sorted(RollupRequest.objects.values_list("period_id", "region_id")) == [
        (q2.pk, county.pk),
        (q3.pk, county.pk),
    ]
    assert sent == [(plan.pk, q2.pk, home.pk, True), (plan.pk, q3.pk, home.pk, True)]
    # Another approval in Q1 while those runs wait: its own run hands on again, and the waiting runs take it.
    RollupRequest.objects.create(plan=plan, period=q1, province=home, region=nanjing)
    with django_capture_on_commit_callbacks(execute=True):
        rollups.rollup_run(plan_id=plan.pk, period_id=q1.pk, province_id=home.pk, requested=True)
    assert len(sent) == 2
    later = rollups.rollup_run(plan_id=plan.pk, period_id=q2.pk, province_id=home.pk, requested=True)
    assert (later.requests, later.cities, later.handed_on) == (2, [nanjing.pk], [q3.code])
    # Q3's run takes its two requests and the two Q2's run handed on (Q3's year-to-date includes Q2).
    later = rollups.rollup_run(plan_id=plan.pk, period_id=q3.pk, province_id=home.pk, requested=True)
    assert (later.requests, later.cities, later.handed_on) == (4, [nanjing.pk], [])
    assert RollupRequest.objects.count() == 0
    assert _figure(plan, FLOW, home, q3, span="ytd").value == Decimal(11)
    assert _figure(plan, STOCK, home, q2).coverage["carried"] == {"320100": q1.code}
    assert rollups.rollup_consistency_check(repair=False) == {plan.code: 0}


def test_a_whole_slice_is_planned_for_its_parameters_and_an_incremental_run_keeps_the_generic_plan(plan, user):
    """PostgreSQL: a whole-slice run over a slice already built sets a custom plan for its statement (faster at
    national scale, planning included); a first build leaves PostgreSQL's choice; a run over some cities takes
    the generic plan."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("the prepared statement is PostgreSQL's")
    q = period_ensure(year=2025, quarter=3)
    home, nanjing = Region.objects.get(code="320000"), Region.objects.get(code="320100")
    _confirmed(plan, q, nanjing, {FLOW: Decimal(10)}, user)

    def modes(run) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            run()
        found = (re.search(r"plan_cache_mode = (\w+)", query["sql"]) for query in queries.captured_queries)
        return [match.group(1) for match in found if match]

    # A first build (the slice holds no figures) leaves PostgreSQL's choice: custom plans made from an empty
    # figure table's statistics cost more while a build from empty fills it.
    Figure.objects.filter(plan=plan, period=q).delete()
    assert modes(lambda: rollup_slice(plan_id=plan.pk, period_id=q.pk, province_id=home.pk)) == ["auto"]
    # Built now, and unchanged: only `force` recomputes it (an unchanged slice is only checked).
    assert modes(lambda: rollup_slice(plan_id=plan.pk, period_id=q.pk, province_id=home.pk)) == []
    assert modes(lambda: rollup_slice(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, force=True)) == [
        "force_custom_plan"
    ]
    # An incremental run executes its statement with the generic plan, whatever PostgreSQL's estimates would choose.
    RollupRequest.objects.create(plan=plan, period=q, province=home, region=nanjing)
    assert modes(lambda: rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, requested=True)) == [
        "force_generic_plan"
    ]
    # The session's count of the statement's executions by plan (other tests may have run it before).
    plans = "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name LIKE 'rollup_delta_%'"
    RollupRequest.objects.create(plan=plan, period=q, province=home, region=nanjing)
    with connection.cursor() as cursor:
        cursor.execute(plans)
        [(generic, custom)] = cursor.fetchall()
        rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, requested=True)
        cursor.execute(plans)
        assert cursor.fetchall() == [(generic + 1, custom)]
    assert _figure(plan, FLOW, home, q).value == Decimal(10)
