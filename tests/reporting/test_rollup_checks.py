"""A figure's computed_at is when it last changed; when its slice was last checked is the slice's one
SliceCheck row (the "as of" the API and the reports show). Unchanged figures, city or province, are never
rewritten: each rewrite would add entries to every index of the figure table."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import Value
from django.db.models.expressions import RawSQL
from django.utils import timezone

from measures.models import Region
from reporting.models import DataValue, Figure, RollupRequest, SliceCheck
from reporting.selectors.exports import report_content, report_scope_resolve
from reporting.services import rollups
from reporting.services.periods import period_ensure
from reporting.services.rollups import rollup_period, rollup_slice
from tests.reporting.test_rollups_regions import FLOW, STOCK, _confirmed

START = datetime(2026, 1, 20, 9, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def slice_(plan, user, time_machine):
    """2025Q4 of the home province: Nanjing and Wuxi confirmed, rolled up at START."""
    time_machine.move_to(START, tick=False)
    q = period_ensure(year=2025, quarter=4)
    home = Region.objects.get(code="320000")
    nanjing, wuxi = Region.objects.get(code="320100"), Region.objects.get(code="320200")
    reports = {
        nanjing: _confirmed(plan, q, nanjing, {FLOW: Decimal(10), STOCK: Decimal(100)}, user),
        wuxi: _confirmed(plan, q, wuxi, {FLOW: Decimal(4), STOCK: Decimal(50)}, user),
    }
    rollup_slice(plan_id=plan.pk, period_id=q.pk, province_id=home.pk)
    return q, home, nanjing, wuxi, reports


def _versions(plan):
    """Each figure's computed_at and, on PostgreSQL, its row version (xmin): a rewritten row gets a new one
    even when every value stays the same."""
    version = RawSQL("xmin::text", []) if connection.vendor == "postgresql" else Value(None)
    figures = Figure.objects.filter(plan=plan).annotate(version=version)
    return {pk: (at, row) for pk, at, row in figures.values_list("pk", "computed_at", "version")}


def _checked(plan, q, province):
    return SliceCheck.objects.get(plan=plan, period=q, province=province).checked_at


def test_the_first_rollup_records_the_slice_check(plan, slice_):
    q, home, _nanjing, _wuxi, _reports = slice_
    assert _checked(plan, q, home) == START
    assert set(Figure.objects.filter(plan=plan).values_list("computed_at", flat=True)) == {START}
    assert SliceCheck.objects.count() == 1


@pytest.mark.parametrize("how", ["rebuild", "requested", "period"])
def test_an_unchanged_rerun_writes_no_figure_row_but_records_the_check(plan, slice_, time_machine, how):
    q, home, nanjing, _wuxi, _reports = slice_
    before = _versions(plan)
    later = START + timedelta(hours=3)
    time_machine.move_to(later, tick=False)
    if how == "rebuild":  # the nightly job's task
        summary = rollup_slice(plan_id=plan.pk, period_id=q.pk, province_id=home.pk)
    elif how == "requested":  # an approval's task that found nothing changed (incremental on PostgreSQL)
        RollupRequest.objects.create(plan=plan, period=q, province=home, region=nanjing)
        summary = rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, requested=True)
    else:  # every province of the period
        summary = rollup_period(plan_id=plan.pk, period_id=q.pk)
    assert summary.figures > 0
    assert summary.written == 0
    assert _versions(plan) == before
    assert _checked(plan, q, home) == later
    assert SliceCheck.objects.count() == 1


def test_the_plain_path_writes_no_unchanged_row_either(plan, slice_, time_machine):
    """The portable path (SQLite) skips unchanged province rows like PostgreSQL's statement does."""
    q, home, _nanjing, _wuxi, _reports = slice_
    before = _versions(plan)
    later = START + timedelta(hours=1)
    time_machine.move_to(later, tick=False)
    ctx = rollups._Plan(plan)
    figures, written = rollups._slice_write_plain(ctx=ctx, period=q, province_id=home.pk)
    assert (figures > 0, written) == (True, 0)
    assert _versions(plan) == before
    assert _checked(plan, q, home) == later


@pytest.mark.parametrize("path", ["statement", "plain"])
def test_a_changed_city_rewrites_exactly_its_rows_and_the_province_rows_that_moved(plan, slice_, time_machine, path):
    q, home, nanjing, wuxi, reports = slice_
    before = _versions(plan)
    later = START + timedelta(hours=2)
    time_machine.move_to(later, tick=False)
    DataValue.objects.filter(submission=reports[nanjing], indicator__code=FLOW).update(value=Decimal(15))
    if path == "statement":
        RollupRequest.objects.create(plan=plan, period=q, province=home, region=nanjing)
        summary = rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, requested=True)
    else:
        summary = rollups.RollupSummary()
        _figures, summary.written = rollups._slice_write_plain(ctx=rollups._Plan(plan), period=q, province_id=home.pk)
    moved = set(
        Figure.objects.filter(plan=plan, indicator__code=FLOW, region__in=[nanjing, home]).values_list("pk", flat=True)
    )
    # A flow in Q4: quarter and year to date, official and preview, for Nanjing and for the province.
    assert len(moved) == 8
    after = _versions(plan)
    assert {pk for pk in after if after[pk] != before[pk]} == moved
    assert {after[pk][0] for pk in moved} == {later}
    assert summary.written == 8
    assert (
        Figure.objects.get(
            plan=plan, indicator__code=FLOW, region=home, period=q, span="quarter", basis="official"
        ).value
        == 19
    )
    # Wuxi and the stock did not move: their computed_at still says when they last changed.
    assert set(Figure.objects.filter(plan=plan, region=wuxi).values_list("computed_at", flat=True)) == {START}
    assert _checked(plan, q, home) == later


def test_the_figures_api_shows_when_the_slice_was_checked(plan, slice_, time_machine, client_for, coordinator):
    q, home, _nanjing, _wuxi, _reports = slice_
    later = START + timedelta(hours=5)
    time_machine.move_to(later, tick=False)
    rollup_slice(plan_id=plan.pk, period_id=q.pk, province_id=home.pk)
    response = client_for(coordinator).get("/api/v1/figures/", {"period": "2025Q4", "indicator": FLOW, "limit": 50})
    assert response.status_code == 200, response.json()
    rows = {(r["region"], r["span"], r["basis"]): r for r in response.json()["results"]}
    for region in ("320000", "320100"):
        row = rows[(region, "quarter", "official")]
        assert datetime.fromisoformat(row["checked_at"]) == later
        assert datetime.fromisoformat(row["computed_at"]) == START


def test_a_report_states_when_its_figures_were_last_checked(plan, slice_, time_machine, auditor):
    q, home, _nanjing, _wuxi, _reports = slice_
    later = START + timedelta(hours=6)
    time_machine.move_to(later, tick=False)
    rollup_slice(plan_id=plan.pk, period_id=q.pk, province_id=home.pk)
    scope, audience = report_scope_resolve(user=auditor, period="2025Q4")
    content = report_content(scope=scope, audience=audience, cut_off=timezone.now())
    assert datetime.fromisoformat(content["meta"]["figures_computed_at"]) == later
