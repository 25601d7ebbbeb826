"""The nightly rebuild of a slice nothing changed in (PostgreSQL): its fingerprint covers every submission and
value the slice statement reads, the statement's parameters and the slice's stored figures; when it matches
the one stored by the slice's last full recompute, the slice is checked as it stands (its check time written,
no figure touched). Any change to what the figures stand on or to the figures themselves, and any run that was
not a full recompute, makes the next rebuild recompute the slice, with the figures of a full recomputation."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from indicators.models import Indicator
from measures.models import Region
from reporting.models import DataValue, Figure, RollupRequest, SliceCheck, Submission
from reporting.services import rollups
from reporting.services.rollups import rollup_period, rollup_slice
from tests.reporting.test_rollup_checks import START, _checked, _versions, slice_  # noqa: F401
from tests.reporting.test_rollups_regions import FLOW, STOCK, _confirmed

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the fingerprint is PostgreSQL's")


def _rebuild(plan, q, province) -> tuple[rollups.RollupSummary, bool]:
    """The nightly task's work for one slice; whether the slice statement ran (a full recompute)."""
    with CaptureQueriesContext(connection) as queries:
        summary = rollup_slice(plan_id=plan.pk, period_id=q.pk, province_id=province.pk)
    return summary, any(query["sql"].startswith("EXECUTE rollup_slice_") for query in queries.captured_queries)


def test_an_unchanged_slice_is_checked_without_recomputing_it(plan, slice_, time_machine):  # noqa: F811
    q, home, _nanjing, _wuxi, _reports = slice_
    assert SliceCheck.objects.get(plan=plan, period=q, province=home).fingerprint != ""
    before = _versions(plan)
    later = START + timedelta(hours=4)
    time_machine.move_to(later, tick=False)
    summary, recomputed = _rebuild(plan, q, home)
    assert not recomputed
    assert (summary.figures, summary.written) == (Figure.objects.filter(plan=plan).count(), 0)
    assert _checked(plan, q, home) == later
    assert _versions(plan) == before
    assert rollups.rollup_consistency_check(repair=False) == {plan.code: 0}
    # Forced, the slice is recomputed all the same, and nothing differs.
    with CaptureQueriesContext(connection) as queries:
        assert rollup_slice(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, force=True).written == 0
    assert any(query["sql"].startswith("EXECUTE rollup_slice_") for query in queries.captured_queries)
    # The operator's rebuild in one process: only checks, unless forced.
    for force, executes in ((False, 0), (True, 1)):
        with CaptureQueriesContext(connection) as queries:
            rollups.rollup_everything(force=force)
        assert sum(query["sql"].startswith("EXECUTE rollup_slice_") for query in queries.captured_queries) == executes


def _value_edited(plan, q, home, nanjing, reports, user):
    DataValue.objects.filter(submission=reports[nanjing], indicator__code=FLOW).update(value=Decimal(11))


def _value_added(plan, q, home, nanjing, reports, user):
    other = Indicator.objects.filter(plan=plan, kind="flow", reporter="city").exclude(code=FLOW).first()
    DataValue.objects.create(submission=reports[nanjing], indicator=other, value=3, updated_by=user)


def _value_removed(plan, q, home, nanjing, reports, user):
    DataValue.objects.filter(submission=reports[nanjing], indicator__code=STOCK).delete()


def _county_reports(plan, q, home, nanjing, reports, user):
    _confirmed(plan, q, Region.objects.get(code="320102"), {FLOW: Decimal(1)}, user)


def _submitted_elsewhere(plan, q, home, nanjing, reports, user):
    # Only the province's coverage moves (Suzhou becomes pending, no longer missing).
    _confirmed(plan, q, Region.objects.get(code="320500"), {FLOW: Decimal(2)}, user, status="submitted")


def _returned(plan, q, home, nanjing, reports, user):
    Submission.objects.filter(pk=reports[nanjing].pk).update(status="returned")


def _last_quarter_carried(plan, q, home, nanjing, reports, user):
    # Last quarter's stock of a city with none this quarter is carried into this one.
    from reporting.services.periods import period_ensure

    q3 = period_ensure(year=2025, quarter=3)
    _confirmed(plan, q3, Region.objects.get(code="320300"), {STOCK: 7}, user)
    rollup_slice(plan_id=plan.pk, period_id=q3.pk, province_id=home.pk)  # Q3's own slice, not this one


def _figure_edited_by_hand(plan, q, home, nanjing, reports, user):
    Figure.objects.filter(region=home, indicator__code=FLOW, span="quarter", basis="official").update(value=99)


def _figure_deleted_by_hand(plan, q, home, nanjing, reports, user):
    Figure.objects.filter(region=nanjing, indicator__code=FLOW, span="ytd", basis="preview").delete()


def _indicator_changed(plan, q, home, nanjing, reports, user):
    # What the slice statement is told about an indicator is part of the fingerprint.
    Indicator.objects.filter(plan=plan, code=FLOW).update(kind="stock")


def _incremental_run(plan, q, home, nanjing, reports, user):
    # A run that recomputed only some cities clears the fingerprint, whatever it wrote.
    RollupRequest.objects.create(plan=plan, period=q, province=home, region=nanjing)
    rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, requested=True)


# Every kind of change a slice's fingerprint must see (the nightly province check is held to the same list).
CHANGES = [
    _value_edited,
    _value_added,
    _value_removed,
    _county_reports,
    _submitted_elsewhere,
    _returned,
    _last_quarter_carried,
    _figure_edited_by_hand,
    _figure_deleted_by_hand,
    _indicator_changed,
    _incremental_run,
]


@pytest.mark.parametrize("change", CHANGES)
def test_any_change_makes_the_next_rebuild_recompute_the_slice(plan, user, slice_, change):  # noqa: F811
    q, home, nanjing, _wuxi, reports = slice_
    change(plan, q, home, nanjing, reports, user)
    _summary, recomputed = _rebuild(plan, q, home)
    assert recomputed
    # The recompute's figures are those of an independent full recomputation, and it stores a new fingerprint:
    # the next rebuild only checks.
    assert rollups.rollup_consistency_check(repair=False) == {plan.code: 0}
    assert SliceCheck.objects.get(plan=plan, period=q, province=home).fingerprint != ""
    assert _rebuild(plan, q, home)[1] is False


def test_an_incremental_run_clears_the_fingerprint(plan, slice_):  # noqa: F811
    q, home, nanjing, _wuxi, _reports = slice_
    RollupRequest.objects.create(plan=plan, period=q, province=home, region=nanjing)
    rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, requested=True)
    assert SliceCheck.objects.get(plan=plan, period=q, province=home).fingerprint == ""
