"""An approval's run (incremental on PostgreSQL: only the cities its requests name are recomputed, the province
summed from the stored city figures) leaves exactly the figures a full recompute of every slice leaves, after
any sequence of approvals, returns and reopenings across cities and quarters; and it costs few statements."""

import random
from decimal import Decimal

import pytest
from django.db import connection, transaction
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
    """PostgreSQL: the lock and the claim travel together; the plan, the quarters, the indicators' digest, the
    cities and counties and whether the session has the delta prepared are one query; the plan mode travels with
    the slice statement; the requests' delete and the follow-up are one (eighteen statements before, the
    transaction's own included)."""
    if connection.vendor != "postgresql":
        pytest.skip("the incremental path is PostgreSQL's")
    q = period_ensure(year=2025, quarter=3)
    home, nanjing = Region.objects.get(code="320000"), Region.objects.get(code="320100")
    _report(plan, q, "320100", "confirmed", {FLOW: Decimal(10)}, user)
    rollups.rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk)
    # A first approval's run prepares the delta statement in this session (once per connection).
    RollupRequest.objects.create(plan=plan, period=q, province=home, region=nanjing)
    rollups.rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, requested=True)
    RollupRequest.objects.create(plan=plan, period=q, province=home, region=nanjing)
    with CaptureQueriesContext(connection) as queries:
        summary = rollups.rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, requested=True)
    assert (summary.cities, summary.requests, RollupRequest.objects.count()) == ([nanjing.pk], 1, 0)
    statements = [query["sql"] for query in queries.captured_queries]
    # SAVEPOINT (the test's transaction), lock and claim, the plan with the quarters, the indicators' digest (the
    # indicators themselves are kept by the process under it), the regions and the prepared check, the plan mode
    # with the slice statement, the requests' end, RELEASE (eight before: the regions and the plan mode with the
    # prepared check were two more).
    assert len(statements) == 6, [sql[:70] for sql in statements]


def test_an_approval_s_run_sees_changed_indicators_and_cities_at_once(plan, user):
    """The indicators a run uses are kept by the process under their digest, which each run's first statement
    recomputes: a renamed, rescaled, deactivated or new indicator, and a new city, are seen by the very next run."""
    if connection.vendor != "postgresql":
        pytest.skip("the kept indicators are PostgreSQL's path")
    q = period_ensure(year=2025, quarter=3)
    home, nanjing = Region.objects.get(code="320000"), Region.objects.get(code="320100")
    _report(plan, q, "320100", "confirmed", {FLOW: Decimal(10), SHARE: (Decimal(3), Decimal(4))}, user)
    rollups.rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk)
    flow, share = (Indicator.objects.get(plan=plan, code=code) for code in (FLOW, SHARE))

    def run():
        RollupRequest.objects.create(plan=plan, period=q, province=home, region=nanjing)
        summary = rollups.rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, requested=True)
        assert summary.cities == [nanjing.pk]
        found = rollups._plan_around(plan_id=plan.pk, period_id=q.pk)
        assert found is not None
        fields = [f.attname for f in Indicator._meta.concrete_fields]
        assert [[getattr(i, f) for f in fields] for i in found[0].indicators.values()] == [
            [getattr(i, f) for f in fields] for i in Indicator.objects.filter(plan=plan, is_active=True)
        ]

    def province(indicator):
        return Figure.objects.filter(
            plan=plan, period=q, region=home, indicator=indicator, span="quarter", basis="official"
        ).first()

    run()
    assert province(share).value == Decimal(3) * share.scale / Decimal(4)
    Indicator.objects.filter(pk=share.pk).update(scale=share.scale * 10, name="renamed")
    run()
    assert province(share).value == Decimal(3) * share.scale * 10 / Decimal(4)
    Indicator.objects.filter(pk=flow.pk).update(is_active=False)
    run()
    assert province(flow) is None
    added = Indicator.objects.get(pk=flow.pk)
    added.pk, added.code, added.is_active = None, "added-flow", True
    added.save()
    run()
    assert province(added) is not None
    Region.objects.create(
        code="329900", name="合成市", name_en="S", level="city", parent=home, division_year=2021, sort_order=9001
    )
    run()
    coverage = province(share).coverage
    assert "329900" in coverage["missing"]
    assert coverage["expected"] == Region.objects.filter(parent=home, level="city").count()


# The delta (PostgreSQL): an approval's run moves each stored province figure by the recomputed cities' old and
# new figures, and sums from every city's stored figures only the figures the difference cannot give exactly.
RATIO = "high-skill-workers-per-10000"
SUMMED_SHARE = "collective-contract-coverage"  # made to add up over the year below (time_aggregation "sum")
CITY_MILESTONE = "skill-grade-evaluation-system"  # a bodies' milestone, made a cities' one below
BODY_STOCK = "applied-undergraduate-universities"
BODY_FLOW = "worker-invention-patents"
BODY_SHARE = "conversion-reward-inventor-share"
CITIES = ("320100", "320200", "320300", "320400")
REPORTERS = (*CITIES, "320102", "320205")


def _full(plan, periods, home) -> dict:
    """What a forced full recompute of every slice stores, computed in a savepoint that is rolled back."""
    with transaction.atomic():
        for each in periods:
            rollups.rollup_slice(plan_id=plan.pk, period_id=each.pk, province_id=home.pk, force=True)
        full = _figures(plan)
        transaction.set_rollback(True)
    return full


def _value(rng, kind):
    """A generated value: blanks, zeros and parts that cancel out often, as the awkward cases need."""
    plain = [
        None,
        Decimal(0),
        Decimal(rng.randint(1, 3)),
        -Decimal(rng.randint(1, 3)),
        Decimal(rng.randint(10, 99)) / 4,
    ]
    if kind in ("ratio", "share"):
        return {
            "numerator": rng.choice([None, Decimal(0), Decimal(rng.randint(1, 9))]),
            "denominator": rng.choice([None, Decimal(rng.randint(1, 40))]),
        }
    if kind == "milestone":
        return {"done": rng.choice([None, False, True])}
    return {"value": rng.choice(plain)}


def _values_put(submission, indicators, rng, user, count):
    DataValue.objects.filter(submission=submission).delete()
    DataValue.objects.bulk_create(
        DataValue(submission=submission, indicator=each, updated_by=user, **_value(rng, each.kind))
        for each in rng.sample(indicators, count)
    )


def _province_figure(plan, code, home, period, span="quarter", basis="official"):
    return Figure.objects.get(plan=plan, indicator__code=code, region=home, period=period, span=span, basis=basis)


def test_the_delta_leaves_what_summing_every_city_leaves(plan, user, monkeypatch):
    """PostgreSQL: after every round of approvals, returns, reopenings, edits and unrequested submits (generated,
    seeded), every stored figure, coverage included, equals a forced full recompute. The rounds cover a city that
    was a sum's only non-blank part going blank (the delta cannot tell zero from blank: summed from every city),
    one whose other parts are zero, ratios and shares (one adding up over the year), a cities' milestone, carried
    stocks, year-to-date flows, counties, the provincial bodies' values (and a city's value of a bodies' indicator)
    and returned reports leaving the coverage; and most province figures were moved by the difference."""
    if connection.vendor != "postgresql":
        pytest.skip("the delta is PostgreSQL's incremental path")
    monkeypatch.setattr(rollup_period_task, "apply_async", lambda args, **options: None)
    runs: list[tuple[int, int]] = []
    delta = rollups._slice_delta_pg

    def spied(**kwargs):
        figures, written, resummed = delta(**kwargs)
        runs.append((figures, resummed))
        return figures, written, resummed

    monkeypatch.setattr(rollups, "_slice_delta_pg", spied)
    Indicator.objects.filter(plan=plan, code=SUMMED_SHARE).update(time_aggregation="sum")
    Indicator.objects.filter(plan=plan, code=CITY_MILESTONE).update(reporter="city")
    periods = [period_ensure(year=2025, quarter=n) for n in (1, 2, 3)]
    q1, q2, q3 = periods
    home = Region.objects.get(code="320000")
    region = {code: Region.objects.get(code=code) for code in REPORTERS}
    codes = [FLOW, STOCK, SHARE, RATIO, SUMMED_SHARE, CITY_MILESTONE]
    indicators = {
        i.code: i for i in Indicator.objects.filter(plan=plan, code__in=[*codes, BODY_STOCK, BODY_FLOW, BODY_SHARE])
    }

    def report(period, code, status, values):
        submission = Submission.objects.create(
            plan=plan, period=period, region=region[code], status=status, created_by=user
        )
        DataValue.objects.bulk_create(
            DataValue(submission=submission, indicator=indicators[each], updated_by=user, **parts)
            for each, parts in values.items()
        )
        return submission

    def body_report(period, code, status, parts):
        body = indicators[code].lead_body
        submission = Submission.objects.create(plan=plan, period=period, body=body, status=status, created_by=user)
        DataValue.objects.create(submission=submission, indicator=indicators[code], updated_by=user, **parts)
        return submission

    def edit(submission, code, **parts):
        DataValue.objects.filter(submission=submission, indicator__code=code).update(**parts)
        RollupRequest.objects.create(plan=plan, period=submission.period, province=home, region=submission.region)

    def check() -> None:
        _drain(plan, home)
        assert _figures(plan) == _full(plan, periods, home)

    # Q1: Nanjing is the stock's only non-blank part (Wuxi's is blank); the flow is Nanjing's 5 and Wuxi's 0.
    nanjing_q1 = report(
        q1,
        "320100",
        "confirmed",
        {
            STOCK: {"value": Decimal(10)},
            FLOW: {"value": Decimal(5)},
            SHARE: {"numerator": Decimal(3), "denominator": Decimal(4)},
            CITY_MILESTONE: {"done": True},
        },
    )
    wuxi_q1 = report(
        q1,
        "320200",
        "confirmed",
        {
            STOCK: {"value": None},
            FLOW: {"value": Decimal(0)},
            SHARE: {"numerator": Decimal(1), "denominator": Decimal(4)},
        },
    )
    report(q1, "320102", "confirmed", {FLOW: {"value": Decimal(2)}, RATIO: {"numerator": 7, "denominator": 100}})
    body_report(q1, BODY_STOCK, "confirmed", {"value": Decimal(4)})
    body_report(q1, BODY_FLOW, "confirmed", {"value": Decimal(1)})
    body_report(q1, BODY_SHARE, "city_approved", {"numerator": Decimal(1), "denominator": Decimal(2)})
    # Q2: Nanjing reports nothing yet (its Q1 stock is carried); Wuxi and a county of Wuxi do.
    report(q2, "320200", "confirmed", {STOCK: {"value": Decimal(20)}, FLOW: {"value": Decimal(1)}})
    wuxi_county_q2 = report(q2, "320205", "city_approved", {FLOW: {"value": Decimal(3)}, STOCK: {"value": Decimal(1)}})
    # Q3: year to date of flows and of the summed share.
    nanjing_q3 = report(
        q3,
        "320100",
        "confirmed",
        {FLOW: {"value": Decimal(4)}, SUMMED_SHARE: {"numerator": Decimal(2), "denominator": Decimal(5)}},
    )
    report(q3, "320300", "submitted", {FLOW: {"value": Decimal(6)}})
    for each in periods:
        rollups.rollup_period(plan_id=plan.pk, period_id=each.pk, province_id=home.pk)
    assert _province_figure(plan, STOCK, home, q1).value == Decimal(10)

    # The stock's only non-blank part goes blank: the province's stock is blank, not zero.
    edit(nanjing_q1, STOCK, value=None)
    runs.clear()
    check()
    assert _province_figure(plan, STOCK, home, q1).value is None
    # Q1's run (the later quarters' runs it handed on sum no such figure).
    assert runs[0][1] > 0
    # The flow's non-zero part goes blank while Wuxi's zero stays: the province's flow is zero, not blank.
    edit(nanjing_q1, FLOW, value=None)
    check()
    assert _province_figure(plan, FLOW, home, q1).value == Decimal(2)  # the county's 2 and Wuxi's 0
    # A city's value of a bodies' indicator: that figure is summed from every city from now on.
    report(q1, "320400", "confirmed", {BODY_STOCK: {"value": Decimal(3)}})
    RollupRequest.objects.create(plan=plan, period=q1, province=home, region=region["320400"])
    check()
    assert _province_figure(plan, BODY_STOCK, home, q1).value == Decimal(7)
    # Nanjing's Q2 report comes in and is confirmed (carried → fresh), then reopened (fresh → carried again).
    nanjing_q2 = report(q2, "320100", "city_approved", {STOCK: {"value": Decimal(12)}, FLOW: {"value": Decimal(2)}})
    RollupRequest.objects.create(plan=plan, period=q2, province=home, region=region["320100"])
    check()
    _move(plan, nanjing_q2, "confirmed")
    check()
    assert _province_figure(plan, STOCK, home, q2).coverage["carried"] == {}
    _move(plan, nanjing_q2, "submitted")
    check()
    assert _province_figure(plan, STOCK, home, q2).coverage["carried"] == {"320100": q1.code}
    # A returned report leaves the coverage; a county's approval moves its city; a returned Q1 report moves Q3's
    # year to date through the runs handed on.
    _move(plan, wuxi_q1, "returned")
    _move(plan, wuxi_county_q2, "confirmed")
    check()
    assert "320200" in _province_figure(plan, SHARE, home, q1).coverage["missing"]
    edit(nanjing_q3, SUMMED_SHARE, numerator=Decimal(0))
    check()
    assert any(resummed == 0 for _figures, resummed in runs)

    # Generated rounds over every reporter, indicator and quarter.
    rng = random.Random(2026)
    pool = [indicators[code] for code in codes]
    submissions = list(Submission.objects.filter(plan=plan, region__isnull=False))
    statuses = ["confirmed", "confirmed", "city_approved", "submitted", "returned"]
    for _round in range(12):
        for _move_number in range(rng.randint(1, 3)):
            roll = rng.random()
            if roll < 0.25 or not submissions:
                period, code = rng.choice(periods), rng.choice(REPORTERS)
                if Submission.objects.filter(plan=plan, period=period, region=region[code]).exists():
                    continue
                status = rng.choice(statuses[:4])
                submission = report(period, code, status, {})
                _values_put(submission, pool, rng, user, rng.randint(1, len(pool)))
                submissions.append(submission)
                # A report only submitted names no request (it moves only the pending lists).
                if status != "submitted":
                    RollupRequest.objects.create(plan=plan, period=period, province=home, region=submission.region)
            elif roll < 0.6:
                submission = rng.choice(submissions)
                _move(plan, submission, rng.choice(statuses))
            else:
                submission = rng.choice(submissions)
                _values_put(submission, pool, rng, user, rng.randint(0, len(pool)))
                RollupRequest.objects.create(
                    plan=plan, period=submission.period, province=home, region=submission.region
                )
        check()
    # The difference moved most province figures; some were summed from every city.
    figures = sum(count for count, _resummed in runs)
    assert 0 < sum(resummed for _count, resummed in runs) < figures / 10
    assert rollups.rollup_consistency_check(repair=False) == {plan.code: 0}


def test_a_province_figure_its_cities_do_not_stand_behind_is_summed_from_every_city(plan, user, monkeypatch):
    """PostgreSQL: the delta moves a stored province figure only when its lists agree with the recomputed cities'
    stored figures and name only the province's cities; one edited by hand, or one that names a city since renamed,
    is summed from every city's stored figures, as before the delta (and the result is a full recompute's)."""
    if connection.vendor != "postgresql":
        pytest.skip("the delta is PostgreSQL's incremental path")
    resummed: list[int] = []
    delta = rollups._slice_delta_pg

    def spied(**kwargs):
        figures, written, count = delta(**kwargs)
        resummed.append(count)
        return figures, written, count

    monkeypatch.setattr(rollups, "_slice_delta_pg", spied)
    q = period_ensure(year=2025, quarter=3)
    home, nanjing = Region.objects.get(code="320000"), Region.objects.get(code="320100")
    _report(plan, q, "320100", "confirmed", {FLOW: Decimal(1), STOCK: Decimal(10)}, user)
    _report(plan, q, "320200", "confirmed", {FLOW: Decimal(2), STOCK: Decimal(20)}, user)
    rollups.rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk)
    flow = Figure.objects.get(plan=plan, indicator__code=FLOW, region=home, period=q, span="quarter", basis="official")
    # By hand: Nanjing, whose stored figure is in the sum, is no longer listed.
    Figure.objects.filter(pk=flow.pk).update(coverage={**flow.coverage, "reported": ["320200"]}, reported_count=1)
    RollupRequest.objects.create(plan=plan, period=q, province=home, region=nanjing)
    rollups.rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, requested=True)
    assert resummed == [1]
    assert _figures(plan) == _full(plan, [q], home)
    # Wuxi is renamed: every stored province figure that lists it names a code that is none of the province's cities.
    Region.objects.filter(code="320200").update(code="320299")
    RollupRequest.objects.create(plan=plan, period=q, province=home, region=nanjing)
    rollups.rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, requested=True)
    assert resummed[-1] > 0
    assert _figures(plan) == _full(plan, [q], home)
    assert Figure.objects.get(pk=flow.pk).coverage["reported"] == ["320100", "320299"]


def test_a_bodies_indicator_no_city_holds_outside_the_home_province_is_the_figure_of_no_figures(plan, user):
    """PostgreSQL: outside the home province no body's values count, so a bodies' indicator that no city holds a
    figure of, the recomputed ones before and after included, is the figure `prov` makes of nothing, written
    without summing; once a recomputed city holds one, or in the home province (where a body's report may have
    come in since), it is computed as before. Each run leaves what a full recompute leaves."""
    if connection.vendor != "postgresql":
        pytest.skip("the delta is PostgreSQL's incremental path")
    q = period_ensure(year=2025, quarter=3)
    other = Region.objects.create(
        code="990000", name="合成省", name_en="Synthetic", level="province", division_year=2021, sort_order=9000
    )
    cities = [
        Region.objects.create(
            code=f"99{n:02d}00",
            name=f"合成市{n}",
            name_en=f"S{n}",
            level="city",
            parent=other,
            division_year=2021,
            sort_order=9000 + n,
        )
        for n in (1, 2)
    ]
    home, nanjing = Region.objects.get(code="320000"), Region.objects.get(code="320100")
    first = _report(plan, q, "990100", "confirmed", {FLOW: Decimal(1)}, user)
    _report(plan, q, "990200", "confirmed", {FLOW: Decimal(2)}, user)
    _report(plan, q, "320100", "confirmed", {FLOW: Decimal(3)}, user)
    for province in (other, home):
        rollups.rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=province.pk)

    def approval_run(province, city):
        RollupRequest.objects.create(plan=plan, period=q, province=province, region=city)
        summary = rollups.rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=province.pk, requested=True)
        assert summary.cities == [city.pk]
        with transaction.atomic():
            for each in (other, home):
                rollups.rollup_slice(plan_id=plan.pk, period_id=q.pk, province_id=each.pk, force=True)
            full = _figures(plan)
            transaction.set_rollback(True)
        assert _figures(plan) == full

    # Nothing of the bodies' indicator anywhere: the figure of no figures.
    DataValue.objects.filter(submission=first).update(value=Decimal(5))
    approval_run(other, cities[0])
    stock = _province_figure(plan, BODY_STOCK, other, q)
    assert (stock.value, stock.coverage) == (None, {"expected": 0, "kind": "body", "reported": []})
    # The recomputed city now holds a figure of it: from its figure.
    DataValue.objects.create(
        submission=first, indicator=Indicator.objects.get(plan=plan, code=BODY_STOCK), value=Decimal(7), updated_by=user
    )
    approval_run(other, cities[0])
    stock = _province_figure(plan, BODY_STOCK, other, q)
    assert (stock.value, stock.reported_count, stock.coverage["reported"]) == (Decimal(7), 1, [cities[0].pk])
    # The home province: a body's report confirmed since its last run counts at the next city's run.
    indicator = Indicator.objects.get(plan=plan, code=BODY_FLOW)
    body = Submission.objects.create(plan=plan, period=q, body=indicator.lead_body, status="confirmed", created_by=user)
    DataValue.objects.create(submission=body, indicator=indicator, value=Decimal(4), updated_by=user)
    approval_run(home, nanjing)
    assert _province_figure(plan, BODY_FLOW, home, q).value == Decimal(4)


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def test_a_queued_run_of_its_own_commits_without_waiting_for_the_disk_and_a_caller_s_commit_stays_durable(
    plan, transactional_db, user
):
    """A queued run in a transaction of its own sets synchronous_commit off for that transaction only (its
    figures and the requests it took go together, so a lost commit is queued again by the dispatcher); a run
    inside a caller's transaction (an import) never changes how the caller's commit is made."""
    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    q = period_ensure(year=2025, quarter=3)
    home, nanjing = Region.objects.get(code="320000"), Region.objects.get(code="320100")
    _report(plan, q, "320100", "confirmed", {FLOW: Decimal(10)}, user)
    rollups.rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk)
    assert _synchronous_commit() == "on"

    RollupRequest.objects.create(plan=plan, period=q, province=home, region=nanjing)
    with CaptureQueriesContext(connection) as queries:
        rollups.rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, requested=True)
    assert any("synchronous_commit = off" in query["sql"] for query in queries.captured_queries)
    assert RollupRequest.objects.count() == 0
    # SET LOCAL ended with the run's transaction: the connection's next transaction commits durably.
    assert _synchronous_commit() == "on"

    # Inside a caller's transaction the run leaves the caller's commit as it was.
    RollupRequest.objects.create(plan=plan, period=q, province=home, region=nanjing)
    with transaction.atomic():
        DataValue.objects.filter(submission__region=nanjing, indicator__code=FLOW).update(value=Decimal(12))
        with CaptureQueriesContext(connection) as queries:
            rollups.rollup_period(plan_id=plan.pk, period_id=q.pk, province_id=home.pk, requested=True)
        assert _synchronous_commit() == "on"
    assert not any("synchronous_commit" in query["sql"] for query in queries.captured_queries)
    assert Figure.objects.get(
        plan=plan, period=q, region=home, indicator__code=FLOW, span="quarter", basis="official"
    ).value == Decimal(12)
