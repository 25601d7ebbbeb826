"""The forced rebuild of a province's quarters in one set-based pass (`rollups_bulk`, PostgreSQL) gives every
figure, every column and coverage included, every slice's check time and every fingerprint exactly as
recomputing each slice with its own statement (`rollup_slice(force=True)`) gives them, on generated data with
counties, provincial bodies, carried stocks, ratios, blank values and reports in every status; and the forced
nightly job runs it, one task per province and years, instead of one task per slice."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from measures.models import Region
from reporting.models import DataValue, Figure, Period, SliceCheck, Submission
from reporting.services import rollups, rollups_bulk
from tests.reporting.test_rollups_nightly import NOW, QUARTERS, _period, history  # noqa: F401

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the set-based path is PostgreSQL's")

COLUMNS = [f.attname for f in Figure._meta.concrete_fields if f.attname != "id"]


def _state(plan) -> tuple[dict, dict]:
    figures = {
        (f["indicator_id"], f["region_id"], f["period_id"], f["span"], f["basis"]): f
        for f in Figure.objects.filter(plan=plan).values(*COLUMNS)
    }
    checks = {
        (c["period_id"], c["province_id"]): (c["checked_at"], c["fingerprint"])
        for c in SliceCheck.objects.filter(plan=plan).values("period_id", "province_id", "checked_at", "fingerprint")
    }
    return figures, checks


def _per_slice(plan) -> tuple[dict, dict]:
    """Every slice recomputed by its own statement, forced; the state it leaves (rolled back)."""
    with transaction.atomic():
        for plan_id, province_id, period_ids in rollups.rollup_rebuild_partitions(plan=plan):
            for period_id in period_ids:
                rollups.rollup_slice(plan_id=plan_id, period_id=period_id, province_id=province_id, force=True)
        state = _state(plan)
        transaction.set_rollback(True)
    return state


def _bulk(plan) -> tuple[dict, dict, int]:
    written = 0
    for plan_id, province_id, period_ids in rollups.rollup_rebuild_partitions(plan=plan):
        done = rollups_bulk.rollup_province_recompute(plan_id=plan_id, province_id=province_id, period_ids=period_ids)
        assert sorted(done.periods) == sorted(period_ids)
        written += done.written
    return (*_state(plan), written)


def _awkward(plan, user, other) -> None:
    """What a forced rebuild must get right besides the generated history: blank values, a return and a
    reopening both ways, a report that went from review to confirmed and back, hand-edited, deleted and stray
    figures (updated, inserted, deleted by the recompute)."""
    home = Region.objects.get(code="320000")
    values = DataValue.objects.filter(submission__plan=plan, submission__region__isnull=False).order_by("pk")
    # Blank values (a stock, a ratio's numerator, a ratio's denominator) in counted reports.
    counted = values.filter(submission__status__in=["confirmed", "city_approved"])
    for kind, blank in (("stock", {"value": None}), ("ratio", {"numerator": None}), ("ratio", {"denominator": None})):
        for value in counted.filter(indicator__kind=kind)[:3]:
            DataValue.objects.filter(pk=value.pk).update(**blank)
    # Statuses moved both ways: confirmed ones returned or back in review, others confirmed.
    flips = {"confirmed": "returned", "returned": "confirmed", "submitted": "confirmed", "city_approved": "submitted"}
    for submission in Submission.objects.filter(plan=plan, region__isnull=False).order_by("pk")[::5]:
        Submission.objects.filter(pk=submission.pk).update(status=flips.get(submission.status, "confirmed"))
    # Figures edited, deleted and a stray one left where no data is.
    stored = Figure.objects.filter(plan=plan).order_by("pk")
    for figure in stored[::17]:
        Figure.objects.filter(pk=figure.pk).update(value=Decimal(-1))
    for figure in stored.filter(region=home)[::23]:
        Figure.objects.filter(pk=figure.pk).update(coverage={"expected": 0})
    Figure.objects.filter(pk__in=list(stored.values_list("pk", flat=True)[5::29])).delete()
    stray = Figure.objects.filter(plan=plan, region__parent=other).first()
    Figure.objects.filter(pk=stray.pk).update(region=Region.objects.get(code="990101"))


def test_the_bulk_recompute_gives_every_figure_check_and_fingerprint_the_per_slice_path_gives(
    plan,
    user,
    history,  # noqa: F811
    time_machine,
):
    _awkward(plan, user, history)
    time_machine.move_to(NOW + timedelta(hours=4), tick=False)
    expected_figures, expected_checks = _per_slice(plan)
    figures, checks, written = _bulk(plan)
    assert written > 0
    assert figures.keys() == expected_figures.keys()
    assert [k for k in figures if figures[k] != expected_figures[k]] == []
    assert checks == expected_checks
    assert all(fingerprint for _checked, fingerprint in checks.values())
    # The generated data has what the comparison must cover.
    official = Figure.objects.filter(plan=plan, basis="official")
    assert official.filter(carried_count__gt=0, region__level="city").exists()
    assert official.filter(carried_count__gt=0, region__level="province").exists()
    assert official.filter(region__level="province", coverage__kind="body").exists()
    assert official.filter(indicator__kind="ratio", value__isnull=False).exists()
    assert Figure.objects.filter(coverage__has_key="reporters").exists()
    assert official.filter(region__level="province").exclude(coverage__pending=[]).exists()
    assert Submission.objects.filter(plan=plan, status="returned").exists()
    # A second run finds nothing to write, and the nightly check then finds every slice unchanged.
    time_machine.move_to(NOW + timedelta(hours=5), tick=False)
    assert _bulk(plan)[2] == 0
    for plan_id, province_id, period_ids in rollups.rollup_rebuild_partitions(plan=plan):
        found = rollups.rollup_province_check(plan_id=plan_id, province_id=province_id, period_ids=period_ids)
        assert found.stale == []
    assert rollups.rollup_consistency_check(repair=False) == {plan.code: 0}


def test_a_year_range_recomputes_only_its_slices_and_reads_the_quarter_before(plan, user, history, time_machine):  # noqa: F811
    home = Region.objects.get(code="320000")
    _awkward(plan, user, history)
    time_machine.move_to(NOW + timedelta(hours=4), tick=False)
    expected_figures, expected_checks = _per_slice(plan)
    before = _state(plan)
    year = [p.pk for p in Period.objects.filter(year=2025)]
    rollups_bulk.rollup_province_recompute(plan_id=plan.pk, province_id=home.pk, period_ids=year)
    figures, checks = _state(plan)
    regions = {home.pk, *Region.objects.filter(parent=home).values_list("pk", flat=True)}
    for key, row in figures.items():
        ours = key[1] in regions and key[2] in year
        assert row == (expected_figures if ours else before[0])[key]
    for key, check in checks.items():
        assert check == (expected_checks if key == (key[0], home.pk) and key[0] in year else before[1])[key]


def test_the_forced_nightly_task_recomputes_its_province_in_one_pass(plan, history, monkeypatch, time_machine):  # noqa: F811
    from reporting import tasks

    time_machine.move_to(NOW + timedelta(hours=4), tick=False)
    Figure.objects.filter(plan=plan, indicator__kind="flow").update(value=Decimal(-1))
    expected_figures, expected_checks = _per_slice(plan)
    sent = []
    monkeypatch.setattr(tasks.rollup_slice_task, "delay", lambda *args: sent.append(args))
    home = Region.objects.get(code="320000")
    quarters = [_period(f"{year}Q{quarter}").pk for year, quarter in QUARTERS]
    with CaptureQueriesContext(connection) as queries:
        result = tasks.rollup_province_task(plan.pk, home.pk, quarters, True)
    assert sent == []
    assert not any(q["sql"].startswith("EXECUTE rollup_slice_") for q in queries.captured_queries)
    assert result["queued"] == []
    assert result["checked"] == len(QUARTERS)
    assert result["figures"] > 0
    rollups.rollup_everything(force=True)
    assert _state(plan) == (expected_figures, expected_checks)
    assert not Figure.objects.filter(plan=plan, value=Decimal(-1), indicator__kind="flow").exists()
