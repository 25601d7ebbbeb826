"""An approval's run (incremental on PostgreSQL: only the cities its requests name are recomputed, the province
summed from the stored city figures) leaves exactly the figures a full recompute of every slice leaves, after
any sequence of approvals, returns and reopenings across cities and quarters; and it costs few statements."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from indicators.models import Indicator
from measures.models import Region
from reporting.models import DataValue, Figure, RollupRequest, Submission
from reporting.services import rollups
from reporting.services.periods import period_ensure
from reporting.tasks import rollup_period_task
from tests.reporting.test_rollups_regions import FLOW, STOCK

SHARE = "party-organisation-coverage"


def _report(plan, period, code, status, values, user):
    """A report of `code` in `status`: plain values, and a share as (numerator, denominator)."""
    submission = Submission.objects.create(
        plan=plan, period=period, region=Region.objects.get(code=code), status=status, created_by=user
    )
    indicators = {i.code: i for i in Indicator.objects.filter(plan=plan, code__in=values)}
    rows = []
    for each, value in values.items():
        parts = {"numerator": value[0], "denominator": value[1]} if isinstance(value, tuple) else {"value": value}
        rows.append(DataValue(submission=submission, indicator=indicators[each], updated_by=user, **parts))
    DataValue.objects.bulk_create(rows)
    return submission


def _figures(plan) -> dict:
    """Every stored figure with everything it states (coverage included), by its natural key."""
    return {
        (f.indicator_id, f.region_id, f.period_id, f.span, f.basis): (
            f.value,
            f.numerator,
            f.denominator,
            f.done_count,
            f.expected_count,
            f.reported_count,
            f.carried_count,
            f.coverage,
            f.rule_version,
        )
        for f in Figure.objects.filter(plan=plan)
    }


def _drain(plan, home) -> list:
    """Run the queued slices the way the workers would, earliest quarter first, until no request is left;
    returns each run's recomputed cities (None: the whole slice)."""
    cities = []
    while (pending := RollupRequest.objects.order_by("period__year", "period__quarter", "pk").first()) is not None:
        summary = rollups.rollup_run(plan_id=plan.pk, period_id=pending.period_id, province_id=home.pk, requested=True)
        cities.append(summary.cities)
    return cities


def _move(plan, submission, status):
    """What a workflow step that moves a counted state does: the new status and a request naming the region."""
    submission.status = status
    submission.save(update_fields=["status"])
    RollupRequest.objects.create(
        plan=plan, period=submission.period, province=Region.objects.get(code="320000"), region=submission.region
    )


def test_approval_runs_leave_what_a_full_recompute_leaves(plan, user, monkeypatch):
    monkeypatch.setattr(rollup_period_task, "apply_async", lambda args, **options: None)
    q1, q2, q3 = (period_ensure(year=2025, quarter=n) for n in (1, 2, 3))
    home = Region.objects.get(code="320000")
    nanjing_q1 = _report(plan, q1, "320100", "confirmed", {FLOW: Decimal(1), STOCK: Decimal(10), SHARE: (3, 4)}, user)
    wuxi_q1 = _report(plan, q1, "320200", "confirmed", {FLOW: Decimal(2), STOCK: Decimal(20), SHARE: (1, 4)}, user)
    _report(plan, q2, "320100", "confirmed", {FLOW: Decimal(3)}, user)
    wuxi_q2 = _report(plan, q2, "320200", "submitted", {FLOW: Decimal(4), STOCK: Decimal(22)}, user)
    _report(plan, q3, "320100", "confirmed", {FLOW: Decimal(5), STOCK: Decimal("15.5"), SHARE: (5, 8)}, user)
    county_q3 = _report(plan, q3, "320102", "city_approved", {FLOW: Decimal(1), STOCK: Decimal(2)}, user)
    for each in (q1, q2, q3):
        rollups.rollup_period(plan_id=plan.pk, period_id=each.pk, province_id=home.pk)

    _move(plan, wuxi_q2, "city_approved")  # into the preview; still pending officially
    _move(plan, wuxi_q2, "confirmed")
    _move(plan, nanjing_q1, "submitted")  # reopened: Q2 carries Nanjing's stock from Q1 no more
    _move(plan, county_q3, "confirmed")
    runs = _drain(plan, home)
    # A report submitted in Q3 (it names no request: it moves only the pending lists) ...
    _report(plan, q3, "320500", "submitted", {FLOW: Decimal(9)}, user)
    _move(plan, wuxi_q1, "returned")
    DataValue.objects.filter(submission=nanjing_q1, indicator__code=STOCK).update(value=Decimal(12))
    _move(plan, nanjing_q1, "confirmed")
    # ... and a Q3 run that another city's approval queued (the Q1 runs hand Q3 on) lists it as pending.
    runs += _drain(plan, home)
    incremental = _figures(plan)

    if connection.vendor == "postgresql":
        # The runs above were incremental: each recomputed the cities its requests named.
        assert runs
        assert all(cities is not None for cities in runs)
    for each in (q1, q2, q3):
        rollups.rollup_slice(plan_id=plan.pk, period_id=each.pk, province_id=home.pk, force=True)
    full = _figures(plan)
    assert incremental == full
    province = full[(Indicator.objects.get(plan=plan, code=FLOW).pk, home.pk, q3.pk, "quarter", "official")]
    assert province[7]["pending"] == ["320500"]
    assert rollups.rollup_consistency_check(repair=False) == {plan.code: 0}


def test_an_approval_s_run_is_few_statements(plan, user):
    """PostgreSQL: the lock and the claim travel together, the cities and counties are one query, the quarters
    another, the plan mode and the prepared-statement check one, the requests' delete and the follow-up one
    (eighteen statements before, the transaction's own included)."""
    if connection.vendor != "postgresql":
        pytest.skip("the incremental path is PostgreSQL's")
    q = period_ensure(year=2025, quarter=3)
    home, nanjing = Region.objects.get(code="320000"), Region.objects.get(code="320100")
    _report(plan, q, "320100", "confirmed", {FLOW: Decimal(10)}, user)
    rollups.rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk)
    RollupRequest.objects.create(plan=plan, period=q, province=home, region=nanjing)
    with CaptureQueriesContext(connection) as queries:
        summary = rollups.rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, requested=True)
    assert (summary.cities, summary.requests, RollupRequest.objects.count()) == ([nanjing.pk], 1, 0)
    statements = [query["sql"] for query in queries.captured_queries]
    # SAVEPOINT (the test's transaction), lock and claim, plan, indicators, quarters, regions, plan mode and
    # prepared check, the slice statement, the requests' end, RELEASE.
    assert len(statements) == 10, [sql[:70] for sql in statements]
