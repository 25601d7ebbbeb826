"""Rollups by indicator kind, checked against a straightforward Python computation."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indicators.models import Indicator
from measures.models import Region
from reporting.models import DataValue, Figure, Submission
from reporting.services.periods import period_ensure
from reporting.services.rollups import rollup_period


def _confirmed(plan, period, region, values, user):
    """A confirmed submission with the given values ({code: Decimal | (num, den) | bool})."""
    submission = Submission.objects.create(plan=plan, period=period, region=region, status="confirmed", created_by=user)
    indicators = {i.code: i for i in Indicator.objects.filter(plan=plan, code__in=values)}
    rows = []
    for code, raw in values.items():
        row = DataValue(submission=submission, indicator=indicators[code], updated_by=user)
        if isinstance(raw, tuple):
            row.numerator, row.denominator = raw
        elif isinstance(raw, bool):
            row.done = raw
        else:
            row.value = raw
        rows.append(row)
    DataValue.objects.bulk_create(rows)
    return submission


def _province(plan, indicator_code, period, span="quarter", basis="official"):
    return Figure.objects.get(
        plan=plan, indicator__code=indicator_code, region__level="province", period=period, span=span, basis=basis
    )


@pytest.fixture
def cities(plan):
    return list(Region.objects.filter(level="city").order_by("sort_order"))


def test_ratio_is_sum_of_numerators_over_sum_of_denominators_never_mean_of_ratios(plan, cities, user):
    q = period_ensure(year=2025, quarter=4)
    # Nanjing: 900 per 10k of 1,000,000 workers; Suqian: 300 per 10k of 100,000 workers.
    _confirmed(plan, q, cities[0], {"high-skill-workers-per-10000": (Decimal(90000), Decimal(1000000))}, user)
    _confirmed(plan, q, cities[-1], {"high-skill-workers-per-10000": (Decimal(3000), Decimal(100000))}, user)
    rollup_period(plan_id=plan.pk, period_id=q.pk)
    figure = _province(plan, "high-skill-workers-per-10000", q)
    expected = (Decimal(90000) + Decimal(3000)) / (Decimal(1000000) + Decimal(100000)) * 10000
    assert figure.value == expected.quantize(Decimal("0.000001"))
    assert figure.value != Decimal(600)  # the mean of the two cities' ratios
    assert (figure.numerator, figure.denominator) == (Decimal(93000), Decimal(1100000))
    assert (figure.expected_count, figure.reported_count) == (13, 2)
    assert len(figure.coverage["missing"]) == 11


def test_flow_sums_over_the_year_and_stock_takes_the_latest(plan, cities, user):
    q1, q2 = period_ensure(year=2025, quarter=1), period_ensure(year=2025, quarter=2)
    _confirmed(plan, q1, cities[0], {"apprentices-trained": Decimal(100), "high-skill-workers": Decimal(5000)}, user)
    _confirmed(plan, q2, cities[0], {"apprentices-trained": Decimal(40), "high-skill-workers": Decimal(5200)}, user)
    rollup_period(plan_id=plan.pk, period_id=q1.pk)
    assert _province(plan, "apprentices-trained", q2, span="quarter").value == Decimal(40)
    assert _province(plan, "apprentices-trained", q2, span="ytd").value == Decimal(140)
    assert _province(plan, "high-skill-workers", q2, span="ytd").value == Decimal(5200)


def test_stock_is_carried_one_quarter_and_the_coverage_says_so(plan, cities, user):
    q3, q4 = period_ensure(year=2025, quarter=3), period_ensure(year=2025, quarter=4)
    _confirmed(plan, q3, cities[0], {"high-skill-workers": Decimal(5000)}, user)
    _confirmed(plan, q3, cities[1], {"high-skill-workers": Decimal(3000)}, user)
    _confirmed(plan, q4, cities[0], {"high-skill-workers": Decimal(5100)}, user)
    rollup_period(plan_id=plan.pk, period_id=q3.pk)
    figure = _province(plan, "high-skill-workers", q4)
    assert figure.value == Decimal(8100)
    assert figure.coverage["carried"] == {cities[1].code: "2025Q3"}
    assert (figure.carried_count, figure.reported_count) == (1, 1)
    assert figure.coverage["reported"] == [cities[0].code]
    assert cities[1].code not in figure.coverage["missing"]
    # Never more than one quarter: Q1 of the next year does not carry Q3's value.
    q1 = period_ensure(year=2026, quarter=1)
    rollup_period(plan_id=plan.pk, period_id=q1.pk)
    assert _province(plan, "high-skill-workers", q1).value == Decimal(5100)


def test_only_confirmed_counts_officially_and_the_preview_is_marked(plan, cities, user, nanjing_reporter):
    q = period_ensure(year=2025, quarter=4)
    _confirmed(plan, q, cities[0], {"apprentices-trained": Decimal(10)}, user)
    approved = _confirmed(plan, q, cities[1], {"apprentices-trained": Decimal(5)}, user)
    Submission.objects.filter(pk=approved.pk).update(status="city_approved")
    submitted = _confirmed(plan, q, cities[2], {"apprentices-trained": Decimal(7)}, user)
    Submission.objects.filter(pk=submitted.pk).update(status="submitted")
    rollup_period(plan_id=plan.pk, period_id=q.pk)
    official = _province(plan, "apprentices-trained", q)
    preview = _province(plan, "apprentices-trained", q, basis="preview")
    assert official.value == Decimal(10)
    assert sorted(official.coverage["pending"]) == sorted([cities[1].code, cities[2].code])
    assert preview.value == Decimal(15)
    assert preview.coverage["pending"] == [cities[2].code]


def test_rollup_twice_gives_identical_figures(plan, cities, user):
    q = period_ensure(year=2025, quarter=4)
    for city in cities[:5]:
        _confirmed(
            plan,
            q,
            city,
            {"apprentices-trained": Decimal(3), "collective-contract-coverage": (Decimal(1), Decimal(2))},
            user,
        )
    rollup_period(plan_id=plan.pk, period_id=q.pk)
    first = sorted(
        Figure.objects.filter(plan=plan).values_list(
            "indicator_id", "region_id", "span", "basis", "value", "numerator", "denominator", "reported_count"
        )
    )
    rollup_period(plan_id=plan.pk, period_id=q.pk)
    second = sorted(
        Figure.objects.filter(plan=plan).values_list(
            "indicator_id", "region_id", "span", "basis", "value", "numerator", "denominator", "reported_count"
        )
    )
    assert first == second
    assert len(first) == Figure.objects.filter(plan=plan).count()


def test_reopened_submission_leaves_the_official_figure(plan, cities, user):
    q = period_ensure(year=2025, quarter=4)
    s = _confirmed(plan, q, cities[0], {"apprentices-trained": Decimal(10)}, user)
    rollup_period(plan_id=plan.pk, period_id=q.pk)
    assert _province(plan, "apprentices-trained", q).value == Decimal(10)
    Submission.objects.filter(pk=s.pk).update(status="returned")
    rollup_period(plan_id=plan.pk, period_id=q.pk)
    figure = _province(plan, "apprentices-trained", q)
    assert figure.value is None
    assert figure.reported_count == 0
    assert not Figure.objects.filter(plan=plan, region=cities[0], period=q, basis="official").exists()


city_values = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=12),  # city index
        st.integers(min_value=1, max_value=4),  # quarter
        st.integers(min_value=0, max_value=10**9),  # flow / stock value
        st.integers(min_value=0, max_value=10**6),  # numerator
        st.integers(min_value=1, max_value=10**6),  # denominator extra
    ),
    min_size=1,
    max_size=25,
    unique_by=lambda t: (t[0], t[1]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=city_values, reverse=st.booleans())
def test_rollup_equals_a_plain_python_computation_in_any_arrival_order(plan, cities, user, rows, reverse):
    from django.db import transaction

    periods = {q: period_ensure(year=2024, quarter=q) for q in (1, 2, 3, 4)}
    sid = transaction.savepoint()
    try:
        for city, quarter, amount, num, extra in sorted(rows, reverse=reverse):
            _confirmed(
                plan,
                periods[quarter],
                cities[city],
                {
                    "apprentices-trained": Decimal(amount),
                    "high-skill-workers": Decimal(amount),
                    "collective-contract-coverage": (Decimal(num), Decimal(num + extra)),
                },
                user,
            )
        rollup_period(plan_id=plan.pk, period_id=periods[1].pk)
        for q in (1, 2, 3, 4):
            here = [r for r in rows if r[1] == q]
            before = {r[0]: r for r in rows if r[1] == q - 1}
            present = {r[0] for r in here}
            carried = [r for c, r in before.items() if c not in present]
            flow_ytd = sum(r[2] for r in rows if r[1] <= q)
            stock = sum(r[2] for r in here) + sum(r[2] for r in carried)
            num = sum(r[3] for r in here) + sum(r[3] for r in carried)
            den = sum(r[3] + r[4] for r in here) + sum(r[3] + r[4] for r in carried)
            flow = _province(plan, "apprentices-trained", periods[q], span="ytd").value
            assert flow == (Decimal(flow_ytd) if any(r[1] <= q for r in rows) else None)
            got_stock = _province(plan, "high-skill-workers", periods[q]).value
            assert got_stock == (Decimal(stock) if here or carried else None)
            share = _province(plan, "collective-contract-coverage", periods[q])
            if here or carried:
                scale = Indicator.objects.get(plan=plan, code="collective-contract-coverage").scale
                assert share.value == (Decimal(num) / Decimal(den) * scale).quantize(Decimal("0.000001"))
            else:
                assert share.value is None
    finally:
        transaction.savepoint_rollback(sid)
