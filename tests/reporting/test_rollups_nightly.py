"""The nightly rebuild, partitioned by province (PostgreSQL): one statement checks every quarter of a province
against the fingerprints its slices' last full recomputes stored (`rollup_province_check`), giving each slice
exactly the fingerprint its own statement gives it; only the slices that differ are recomputed, each its own
task. A change in any slice makes that slice, and only the slices that read it, recomputed; an unchanged slice
is only checked."""

import hashlib
import random
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from indicators.models import Indicator
from measures.models import Region, ResponsibleBody
from reporting.models import DataValue, Figure, Period, SliceCheck, Submission
from reporting.services import rollups
from reporting.services.periods import period_ensure
from tests.reporting.test_rollup_checks import slice_  # noqa: F401
from tests.reporting.test_rollup_fingerprint import CHANGES

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the fingerprint is PostgreSQL's")

NOW = datetime(2026, 2, 3, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
QUARTERS = [(2024, 3), (2024, 4), (2025, 1), (2025, 2), (2025, 3), (2025, 4)]
STATUSES = ["confirmed"] * 5 + ["city_approved", "city_approved", "submitted", "returned", "draft"]


def _executes(queries) -> int:
    return sum(query["sql"].startswith("EXECUTE rollup_slice_") for query in queries.captured_queries)


@pytest.fixture
def history(plan, user, time_machine):
    """Six quarters of generated reports for the home province (cities, counties, the provincial bodies) and
    a second province: every kind of indicator, every status, gaps that make stocks carry; every slice built."""
    time_machine.move_to(NOW, tick=False)
    other = Region.objects.create(
        code="990000", name="合成省", name_en="Synthetic", level="province", division_year=2021, sort_order=9000
    )
    other_city = Region.objects.create(
        code="990100", name="合成市", name_en="S", level="city", parent=other, division_year=2021, sort_order=9001
    )
    Region.objects.create(
        code="990101",
        name="合成县",
        name_en="S1",
        level="county",
        parent=other_city,
        division_year=2021,
        sort_order=9002,
    )
    reporters = [
        *Region.objects.filter(code__in=["320100", "320200", "320300", "320102", "320205", "990100", "990101"]),
    ]
    city_indicators = list(Indicator.objects.filter(plan=plan, is_active=True, reporter="city").order_by("code"))
    body_indicators = list(
        Indicator.objects.filter(plan=plan, is_active=True, reporter="body", lead_body__isnull=False).order_by("code")
    )
    rng = random.Random(2026)
    for year, quarter in QUARTERS:
        period = period_ensure(year=year, quarter=quarter)
        for region in reporters:
            if rng.random() < 0.15:
                continue  # a gap: stocks carry last quarter's value
            submission = Submission.objects.create(
                plan=plan, period=period, region=region, status=rng.choice(STATUSES), created_by=user
            )
            DataValue.objects.bulk_create(
                _value(submission, indicator, rng, user) for indicator in city_indicators if rng.random() < 0.8
            )
        for body in ResponsibleBody.objects.filter(pk__in={i.lead_body_id for i in body_indicators}):
            submission = Submission.objects.create(
                plan=plan, period=period, body=body, status=rng.choice(STATUSES), created_by=user
            )
            DataValue.objects.bulk_create(
                _value(submission, indicator, rng, user)
                for indicator in body_indicators
                if indicator.lead_body_id == body.pk
            )
    assert rollups.rollup_everything()["rebuilt"]
    return other


def _value(submission, indicator, rng, user) -> DataValue:
    if indicator.kind == Indicator.Kind.MILESTONE:
        return DataValue(submission=submission, indicator=indicator, done=rng.random() < 0.5, updated_by=user)
    if indicator.kind in (Indicator.Kind.RATIO, Indicator.Kind.SHARE):
        denominator = Decimal(rng.randint(50, 500))
        return DataValue(
            submission=submission,
            indicator=indicator,
            numerator=Decimal(rng.randint(0, 50)) + Decimal("0.25"),
            denominator=denominator,
            updated_by=user,
        )
    return DataValue(submission=submission, indicator=indicator, value=Decimal(rng.randint(0, 10_000)), updated_by=user)


def _period(code: str) -> Period:
    year, quarter = code.split("Q")
    return Period.objects.get(year=int(year), quarter=int(quarter))


def _one_at_a_time(ctx, province_id, period) -> str:
    """The slice's fingerprint as `_slice_verify_or_write` computes it, statement by statement (rolled back)."""
    _sql, params = rollups.slice_write_statement(ctx=ctx, period=period, province_id=province_id)
    params = {**params, "digest": rollups._slice_digest(params)}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(rollups.SLICE_FINGERPRINT_SQL.format(figures=rollups.SLICE_FIGURES_HASH_SQL.strip()), params)
        inputs, _figures, _verified = cursor.fetchone()
        cursor.execute(rollups.SLICE_FIGURES_HASH_SQL, params)
        _count, figures = cursor.fetchone()
        transaction.set_rollback(True)
    return hashlib.sha256(f"{inputs}|{figures}".encode()).hexdigest()


def _all_at_once(ctx, province_id, periods) -> dict[int, str]:
    params = rollups._slices_verify_params(ctx=ctx, province_id=province_id, periods=periods)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(rollups.SLICES_FINGERPRINT_SQL, params)
        rows = cursor.fetchall()
        transaction.set_rollback(True)
    return {period_id: fingerprint for period_id, _figures, fingerprint, _checked in rows}


def _partitions(plan):
    return [
        (province_id, list(Period.objects.filter(pk__in=period_ids).order_by("year", "quarter")))
        for _plan, province_id, period_ids in rollups.rollup_rebuild_partitions(plan=plan)
    ]


def test_every_slice_gets_the_fingerprint_its_own_statement_gives(plan, history):
    ctx = rollups._Plan(plan)
    partitions = _partitions(plan)
    assert {province_id for province_id, _periods in partitions} == {Region.objects.get(code="320000").pk, history.pk}
    for province_id, periods in partitions:
        assert len(periods) == len(QUARTERS)
        together = _all_at_once(ctx, province_id, periods)
        alone = {period.pk: _one_at_a_time(ctx, province_id, period) for period in periods}
        kept = dict(
            SliceCheck.objects.filter(plan=plan, province_id=province_id).values_list("period_id", "fingerprint")
        )
        assert together == alone == kept
    # The data has what the fingerprint must see: counties, bodies, carried stocks, reports in review.
    assert Figure.objects.filter(plan=plan, carried_count__gt=0).exists()
    assert Figure.objects.filter(plan=plan, region__level="province", coverage__kind="body").exists()
    assert Submission.objects.filter(plan=plan, status="submitted").exists()


def test_an_unchanged_history_is_only_checked(plan, history, time_machine):
    before = dict(Figure.objects.filter(plan=plan).values_list("pk", "computed_at"))
    later = NOW + timedelta(hours=5)
    time_machine.move_to(later, tick=False)
    with CaptureQueriesContext(connection) as queries:
        rollups.rollup_everything()
    assert _executes(queries) == 0
    # One fingerprint statement per province, not one per slice.
    assert sum("hash_record_extended" in q["sql"] for q in queries.captured_queries) == 2
    assert set(SliceCheck.objects.filter(plan=plan).values_list("checked_at", flat=True)) == {later}
    assert dict(Figure.objects.filter(plan=plan).values_list("pk", "computed_at")) == before


def test_a_change_in_any_slice_recomputes_the_slices_that_read_it_and_only_those(plan, user, history, time_machine):
    home = Region.objects.get(code="320000")
    flow = Indicator.objects.filter(plan=plan, is_active=True, reporter="city", kind="flow").order_by("code").first()
    # A counted value of a Nanjing report in 2025Q2 (its 2025Q2 slice; 2025Q3 reads it as last quarter and, for
    # the year so far, 2025Q4 too), a report submitted in the other province's 2024Q4 (2024Q4; 2025Q1 reads it as
    # last quarter), and a province figure of the home 2024Q3 edited by hand (only that slice).
    counted, _ = Submission.objects.get_or_create(
        plan=plan,
        period=_period("2025Q2"),
        region=Region.objects.get(code="320100"),
        defaults={"created_by": user},
    )
    Submission.objects.filter(pk=counted.pk).update(status="confirmed")
    DataValue.objects.update_or_create(
        submission=counted, indicator=flow, defaults={"value": Decimal(5), "updated_by": user}
    )
    rollups.rollup_everything()
    everything = [p.pk for p in Period.objects.all()]
    for _plan, province_id, _periods in rollups.rollup_rebuild_partitions(plan=plan):
        assert (
            rollups.rollup_province_check(plan_id=plan.pk, province_id=province_id, period_ids=everything).stale == []
        )
    DataValue.objects.filter(submission=counted, indicator=flow).update(value=Decimal(1234567))
    county, _ = Submission.objects.get_or_create(
        plan=plan,
        period=_period("2024Q4"),
        region=Region.objects.get(code="990101"),
        defaults={"created_by": user, "status": "draft"},
    )
    Submission.objects.filter(pk=county.pk).update(
        status="city_approved" if county.status == "submitted" else "submitted"
    )
    Figure.objects.filter(
        plan=plan, region=home, period=_period("2024Q3"), span="quarter", basis="preview", indicator__kind="flow"
    ).update(value=Decimal(-1))
    expected = {
        home.pk: ["2024Q3", "2025Q2", "2025Q3", "2025Q4"],
        history.pk: ["2024Q4", "2025Q1"],
    }
    ctx = rollups._Plan(plan)
    for province_id, periods in _partitions(plan):
        found = rollups.rollup_province_check(
            plan_id=plan.pk, province_id=province_id, period_ids=[p.pk for p in periods]
        )
        assert found.stale == [_period(code).pk for code in expected[province_id]]
        # The same decision as the slices' own statements would make, one at a time.
        kept = dict(
            SliceCheck.objects.filter(plan=plan, province_id=province_id).values_list("period_id", "fingerprint")
        )
        assert sorted(found.stale) == sorted(p.pk for p in periods if _one_at_a_time(ctx, province_id, p) != kept[p.pk])
        assert sorted(found.checked + found.stale) == sorted(p.pk for p in periods)
    # The nightly job recomputes those six slices, and then every figure is what a full recomputation gives.
    time_machine.move_to(NOW + timedelta(hours=6), tick=False)
    with CaptureQueriesContext(connection) as queries:
        rollups.rollup_everything()
    assert _executes(queries) == 6
    assert rollups.rollup_consistency_check(repair=False) == {plan.code: 0}
    with CaptureQueriesContext(connection) as queries:
        rollups.rollup_everything()
    assert _executes(queries) == 0


@pytest.mark.parametrize("change", [None, *CHANGES])
def test_the_province_check_sees_what_the_slice_check_sees(plan, user, slice_, change):  # noqa: F811
    q, home, nanjing, _wuxi, reports = slice_
    if change is not None:
        change(plan, q, home, nanjing, reports, user)
    found = rollups.rollup_province_check(plan_id=plan.pk, province_id=home.pk, period_ids=[q.pk])
    assert (found.checked, found.stale) == (([q.pk], []) if change is None else ([], [q.pk]))


def test_the_province_task_queues_a_task_only_for_each_changed_slice(plan, history, monkeypatch):
    from reporting import tasks

    sent = []
    monkeypatch.setattr(tasks.rollup_slice_task, "delay", lambda *args: sent.append(args) or _Sent(len(sent)))
    home = Region.objects.get(code="320000")
    q3 = _period("2025Q3")
    SliceCheck.objects.filter(plan=plan, province=home, period=q3).update(fingerprint="")
    quarters = [period_ensure(year=year, quarter=quarter).pk for year, quarter in QUARTERS]
    result = tasks.rollup_province_task(plan.pk, home.pk, quarters)
    assert sent == [(plan.pk, q3.pk, home.pk, False)]
    assert result == {"checked": len(QUARTERS) - 1, "figures": result["figures"], "queued": ["task-1"]}
    slices = Figure.objects.filter(plan=plan, region__in=[home, *Region.objects.filter(parent=home)])
    assert result["figures"] == slices.exclude(period=q3).count() > 0
    # Forced: every slice is queued, forced too, with no check.
    sent.clear()
    with CaptureQueriesContext(connection) as queries:
        tasks.rollup_province_task(plan.pk, home.pk, quarters, True)
    assert sorted(sent) == sorted((plan.pk, pk, home.pk, True) for pk in quarters)
    assert not any("hash_record_extended" in q["sql"] for q in queries.captured_queries)


class _Sent:
    def __init__(self, number: int) -> None:
        self.id = f"task-{number}"


def test_the_nightly_job_queues_one_task_per_province(plan, history, monkeypatch):
    from reporting import tasks

    sent = []
    monkeypatch.setattr(tasks.rollup_province_task, "delay", lambda *args: sent.append(args))
    assert tasks.rollup_all_task() == {"queued": 2}
    assert sorted(province for _plan, province, _quarters in sent) == sorted(
        [Region.objects.get(code="320000").pk, history.pk]
    )
    assert all(len(quarters) == len(QUARTERS) for _plan, _province, quarters in sent)


def test_the_nightly_tasks_split_a_province_into_whole_years(plan, user, history):
    home = Region.objects.get(code="320000").pk
    by_year = rollups.rollup_rebuild_partitions(plan=plan, years_per_task=1)
    assert sorted((province, sorted(_codes(quarters))) for _plan, province, quarters in by_year) == sorted(
        (province, codes)
        for province in (home, history.pk)
        for codes in (["2024Q3", "2024Q4"], ["2025Q1", "2025Q2", "2025Q3", "2025Q4"])
    )
    # A year's task sees a change in the quarter before it (2025Q1 reads 2024Q4), as the slice's own check does.
    report, _ = Submission.objects.get_or_create(
        plan=plan,
        period=_period("2024Q4"),
        region=Region.objects.get(code="990100"),
        defaults={"created_by": user, "status": "draft"},
    )
    Submission.objects.filter(pk=report.pk).update(
        status="city_approved" if report.status == "submitted" else "submitted"
    )
    stale = [
        code
        for _plan, province, quarters in by_year
        if province == history.pk
        for code in _codes(
            rollups.rollup_province_check(plan_id=plan.pk, province_id=province, period_ids=quarters).stale
        )
    ]
    assert stale == ["2024Q4", "2025Q1"]


def _codes(period_ids):
    return [p.code for p in Period.objects.filter(pk__in=period_ids).order_by("year", "quarter")]
