"""Rolling confirmed values up into province figures, by the indicator's kind.

The rules (RULE_VERSION is stamped on every figure, so a report can say which rules built it):
- stock: the value at period end; over regions, the sum. A city that has no qualifying value this
  quarter but had one last quarter is carried forward ONE quarter, never more, and the coverage says
  which cities were carried and from when. Year-to-date = the value at the latest quarter.
- flow: summed over regions; year-to-date summed over the year's quarters up to this one.
- ratio and share: Σ numerators / Σ denominators × scale — never the mean of the cities' ratios. Their
  parts behave like stocks (carried, latest in the year) unless the indicator sums over time
  (`time_aggregation = "sum"`, e.g. money spent in the year), then like flows.
- milestone: the number of reporters that report it done.
Official figures count only submissions the province confirmed; the preview basis also counts
city-approved ones and is never shown as official.

All sums are GROUP BY queries in the database; Python only shapes the aggregated rows (one per
indicator and region) and upserts them, so the cost does not grow with the number of values per row.
A period's figures are rebuilt in one transaction, under a lock on the period row: two runs at once
serialise, readers see the old figures or the new ones, never a mixture.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils import timezone

from indicators.models import Indicator
from measures.models import Plan, Region
from reporting.models import DataValue, Figure, Period, Submission

RULE_VERSION = "r1"
OFFICIAL_STATUSES: dict[str, list[str]] = {
    Figure.Basis.OFFICIAL: ["confirmed"],
    Figure.Basis.PREVIEW: ["confirmed", "city_approved"],
}
PENDING_STATUSES: dict[str, list[str]] = {
    Figure.Basis.OFFICIAL: ["submitted", "city_approved"],
    Figure.Basis.PREVIEW: ["submitted"],
}
UPDATE_FIELDS = [
    "plan",
    "value",
    "numerator",
    "denominator",
    "done_count",
    "expected_count",
    "reported_count",
    "carried_count",
    "coverage",
    "rule_version",
    "computed_at",
]


def sums_over_time(indicator_kind: str, time_aggregation: str) -> bool:
    if indicator_kind == Indicator.Kind.FLOW:
        return True
    if indicator_kind in (Indicator.Kind.RATIO, Indicator.Kind.SHARE):
        return time_aggregation == "sum"
    return False


@dataclass
class Acc:
    value: Decimal | None = None
    numerator: Decimal | None = None
    denominator: Decimal | None = None
    done: int = 0
    reported: set[int] = field(default_factory=set)
    carried: dict[int, str] = field(default_factory=dict)

    def add(self, *, value, numerator, denominator, done) -> None:
        if value is not None:
            self.value = (self.value or Decimal(0)) + value
        if numerator is not None:
            self.numerator = (self.numerator or Decimal(0)) + numerator
        if denominator is not None:
            self.denominator = (self.denominator or Decimal(0)) + denominator
        self.done += done or 0


def _figure_value(indicator: Indicator, acc: Acc) -> Decimal | None:
    if indicator.kind in (Indicator.Kind.RATIO, Indicator.Kind.SHARE):
        if acc.numerator is None or not acc.denominator:
            return None
        return (acc.numerator / acc.denominator * indicator.scale).quantize(Decimal("0.000001"))
    if indicator.kind == Indicator.Kind.MILESTONE:
        return Decimal(acc.done) if acc.reported else None
    return acc.value


def plan_province(plan: Plan) -> Region | None:
    """The province a plan's cities belong to (the root of its region tree)."""
    return Region.objects.filter(level=Region.Level.PROVINCE, children__level=Region.Level.CITY).distinct().first()


def _period_before(period: Period) -> Period | None:
    year, quarter = (period.year, period.quarter - 1) if period.quarter > 1 else (period.year - 1, 4)
    return Period.objects.filter(year=year, quarter=quarter).first()


def _grouped(values, by_region: str):
    return values.values("indicator_id", by_region).annotate(
        v=Sum("value"),
        n=Sum("numerator"),
        d=Sum("denominator"),
        done=Count("id", filter=Q(done=True)),
    )


@dataclass
class RollupSummary:
    figures: int = 0
    periods: list[str] = field(default_factory=list)


def _slice(
    *,
    plan: Plan,
    period: Period,
    basis: str,
    indicators: dict[int, Indicator],
    province: Region,
    cities: dict[int, str],
) -> list[Figure]:
    statuses = OFFICIAL_STATUSES[basis]
    now = timezone.now()
    city_values = DataValue.objects.filter(
        submission__plan=plan, submission__status__in=statuses, submission__region__isnull=False
    )
    body_values = DataValue.objects.filter(
        submission__plan=plan, submission__status__in=statuses, submission__body__isnull=False
    )
    this_quarter = Q(submission__period=period)
    year_to_date = Q(submission__period__year=period.year, submission__period__quarter__lte=period.quarter)

    # (indicator, region, span) → Acc
    accs: dict[tuple[int, int, str], Acc] = defaultdict(Acc)

    def take(rows, span: str, region_key: str, *, carried_from: str | None = None, only_time_sum: bool | None = None):
        for row in rows:
            indicator = indicators.get(row["indicator_id"])
            if indicator is None:
                continue
            if (
                only_time_sum is not None
                and sums_over_time(indicator.kind, indicator.time_aggregation) != only_time_sum
            ):
                continue
            region_id = row[region_key]
            acc = accs[(indicator.pk, region_id, span)]
            acc.add(value=row["v"], numerator=row["n"], denominator=row["d"], done=row["done"])
            acc.reported.add(region_id)
            if carried_from:
                acc.carried[region_id] = carried_from

    # Cities, this quarter; then carried stocks from last quarter for cities without a value now.
    take(
        _grouped(city_values.filter(this_quarter), "submission__region_id"),
        Figure.Span.QUARTER,
        "submission__region_id",
    )
    before = _period_before(period)
    if before is not None:
        has_now = DataValue.objects.filter(
            submission__plan=plan,
            submission__status__in=statuses,
            submission__period=period,
            submission__region_id=OuterRef("submission__region_id"),
            indicator_id=OuterRef("indicator_id"),
        )
        stale = (
            city_values.filter(submission__period=before)
            .exclude(indicator__kind__in=[Indicator.Kind.FLOW, Indicator.Kind.MILESTONE])
            .exclude(indicator__time_aggregation="sum")
            .filter(~Exists(has_now))
        )
        take(
            _grouped(stale, "submission__region_id"),
            Figure.Span.QUARTER,
            "submission__region_id",
            carried_from=before.code,
        )
    # Cities, year to date, for indicators that sum over time; the others take the quarter's figure.
    take(
        _grouped(city_values.filter(year_to_date), "submission__region_id"),
        Figure.Span.YTD,
        "submission__region_id",
        only_time_sum=True,
    )
    for (indicator_id, region_id, span), acc in list(accs.items()):
        indicator = indicators[indicator_id]
        if span == Figure.Span.QUARTER and not sums_over_time(indicator.kind, indicator.time_aggregation):
            accs[(indicator_id, region_id, Figure.Span.YTD)] = acc

    # The province: the sum of its cities' figures (already carried), and body-reported indicators.
    province_accs: dict[tuple[int, str], Acc] = defaultdict(Acc)
    for (indicator_id, region_id, span), acc in accs.items():
        total = province_accs[(indicator_id, span)]
        total.add(value=acc.value, numerator=acc.numerator, denominator=acc.denominator, done=acc.done)
        total.reported.add(region_id)
        total.carried.update(acc.carried)
    body_rows = {
        Figure.Span.QUARTER: _grouped(body_values.filter(this_quarter), "submission__body_id"),
        Figure.Span.YTD: _grouped(body_values.filter(year_to_date), "submission__body_id"),
    }
    for span, rows in body_rows.items():
        for row in rows:
            found = indicators.get(row["indicator_id"])
            if found is None or found.reporter != Indicator.Reporter.BODY:
                continue
            indicator = found
            if span == Figure.Span.YTD and not sums_over_time(indicator.kind, indicator.time_aggregation):
                continue
            acc = province_accs[(indicator.pk, span)]
            acc.add(value=row["v"], numerator=row["n"], denominator=row["d"], done=row["done"])
            acc.reported.add(row["submission__body_id"])
            if span == Figure.Span.QUARTER and not sums_over_time(indicator.kind, indicator.time_aggregation):
                province_accs[(indicator.pk, Figure.Span.YTD)] = acc

    pending = set(
        Submission.objects.filter(
            plan=plan, period=period, region__isnull=False, status__in=PENDING_STATUSES[basis]
        ).values_list("region_id", flat=True)
    )
    figures: list[Figure] = []
    for (indicator_id, region_id, span), acc in accs.items():
        indicator = indicators[indicator_id]
        figures.append(
            Figure(
                plan=plan,
                indicator_id=indicator_id,
                region_id=region_id,
                period=period,
                span=span,
                basis=basis,
                value=_figure_value(indicator, acc),
                numerator=acc.numerator,
                denominator=acc.denominator,
                done_count=acc.done,
                expected_count=1,
                reported_count=1,
                carried_count=len(acc.carried),
                coverage={"carried_from": acc.carried.get(region_id)} if acc.carried else {},
                rule_version=RULE_VERSION,
                computed_at=now,
            )
        )
    for indicator in indicators.values():
        for span in (Figure.Span.QUARTER, Figure.Span.YTD):
            acc = province_accs.get((indicator.pk, span), Acc())
            if indicator.reporter == Indicator.Reporter.BODY:
                expected = [indicator.lead_body_id] if indicator.lead_body_id else []
                coverage = {
                    "expected": len(expected),
                    "reported": sorted(acc.reported),
                    "kind": "body",
                }
                expected_count = len(expected)
            else:
                # Reported means data for this period; a carried city is listed as carried, and as
                # pending too when its new submission is waiting for review.
                fresh = {r for r in acc.reported if r not in acc.carried}
                reported = sorted(cities[r] for r in fresh if r in cities)
                carried = {cities[r]: p for r, p in acc.carried.items() if r in cities}
                waiting = sorted(cities[r] for r in pending if r in cities and r not in fresh)
                missing = sorted(code for r, code in cities.items() if r not in acc.reported and r not in pending)
                coverage = {
                    "expected": len(cities),
                    "reported": reported,
                    "carried": carried,
                    "pending": waiting,
                    "missing": missing,
                    "kind": "city",
                }
                expected_count = len(cities)
            figures.append(
                Figure(
                    plan=plan,
                    indicator=indicator,
                    region=province,
                    period=period,
                    span=span,
                    basis=basis,
                    value=_figure_value(indicator, acc),
                    numerator=acc.numerator,
                    denominator=acc.denominator,
                    done_count=acc.done,
                    expected_count=expected_count,
                    reported_count=len(acc.reported) - len(acc.carried),
                    carried_count=len(acc.carried),
                    coverage=coverage,
                    rule_version=RULE_VERSION,
                    computed_at=now,
                )
            )
    return figures


def rollup_period(*, plan_id: int, period_id: int) -> RollupSummary:
    """Rebuild the figures of a period and of the year's later quarters (their year-to-date includes it)."""
    summary = RollupSummary()
    with transaction.atomic():
        period = Period.objects.select_for_update().get(pk=period_id)
        plan = Plan.objects.get(pk=plan_id)
        province = plan_province(plan)
        if province is None:
            return summary
        indicators = {i.pk: i for i in Indicator.objects.filter(plan=plan, is_active=True)}
        cities = dict(Region.objects.filter(parent=province, level=Region.Level.CITY).values_list("id", "code"))
        # Later quarters of the year include this one in their year-to-date; quarters that have not
        # ended yet get no figures (carrying a stock into an unfinished quarter would invent data).
        later = Period.objects.filter(year=period.year, quarter__gt=period.quarter, end__lt=timezone.localdate())
        for each in [period, *later.order_by("quarter")]:
            figures: list[Figure] = []
            for basis in (Figure.Basis.OFFICIAL, Figure.Basis.PREVIEW):
                figures += _slice(
                    plan=plan, period=each, basis=basis, indicators=indicators, province=province, cities=cities
                )
            # Figures that no longer have data (a reopened submission) must go, not linger.
            keep = {(f.indicator_id, f.region_id, f.span, f.basis) for f in figures}
            stale = [
                pk
                for pk, *key in Figure.objects.filter(plan=plan, period=each).values_list(
                    "pk", "indicator_id", "region_id", "span", "basis"
                )
                if tuple(key) not in keep
            ]
            if stale:
                Figure.objects.filter(pk__in=stale).delete()
            Figure.objects.bulk_create(
                figures,
                update_conflicts=True,
                unique_fields=["indicator", "region", "period", "span", "basis"],
                update_fields=UPDATE_FIELDS,
                batch_size=1000,
            )
            summary.figures += len(figures)
            summary.periods.append(each.code)
    return summary


def rollup_everything() -> dict:
    """The nightly full rebuild: every plan, every year that has submissions (one transaction per year)."""
    done = []
    pairs = Submission.objects.values_list("plan_id", "period__year").distinct().order_by("plan_id", "period__year")
    for plan_id, year in pairs:
        first = Period.objects.filter(year=year).order_by("quarter").first()
        if first is not None:
            rollup_period(plan_id=plan_id, period_id=first.pk)
            done.append(f"{plan_id}:{year}")
    return {"rebuilt": done}


def rollup_enqueue(*, plan_id: int, period_id: int) -> None:
    """Ask for a recompute once the current transaction commits: a worker must never see the approval
    before it is safe, and a rolled-back approval must enqueue nothing."""
    from reporting.tasks import rollup_period_task

    transaction.on_commit(lambda: rollup_period_task.delay(plan_id, period_id))


def _figure_key(f: Figure) -> tuple:
    return (f.indicator_id, f.region_id, f.period_id, f.span, f.basis)


def _figure_facts(f: Figure) -> tuple:
    return (f.value, f.numerator, f.denominator, f.done_count, f.reported_count, f.carried_count)


def rollup_consistency_check(*, repair: bool = True) -> dict:
    """Recompute every period's figures in memory and compare with what is stored; record the drift and,
    by default, repair it by rebuilding the drifting periods."""
    from reporting.models import ConsistencyCheck

    results = {}
    for plan in Plan.objects.all():
        province = plan_province(plan)
        if province is None:
            continue
        indicators = {i.pk: i for i in Indicator.objects.filter(plan=plan, is_active=True)}
        cities = dict(Region.objects.filter(parent=province, level=Region.Level.CITY).values_list("id", "code"))
        period_ids = set(Submission.objects.filter(plan=plan).values_list("period_id", flat=True))
        period_ids |= set(Figure.objects.filter(plan=plan).values_list("period_id", flat=True))
        differences = []
        checked = 0
        drifting: set[int] = set()
        for period in Period.objects.filter(pk__in=period_ids):
            fresh = []
            for basis in (Figure.Basis.OFFICIAL, Figure.Basis.PREVIEW):
                fresh += _slice(
                    plan=plan, period=period, basis=basis, indicators=indicators, province=province, cities=cities
                )
            want = {_figure_key(f): _figure_facts(f) for f in fresh}
            have = {_figure_key(f): _figure_facts(f) for f in Figure.objects.filter(plan=plan, period=period)}
            checked += len(have)
            for key in want.keys() | have.keys():
                if want.get(key) != have.get(key):
                    drifting.add(period.pk)
                    differences.append(
                        {
                            "indicator": key[0],
                            "region": key[1],
                            "period": period.code,
                            "span": key[3],
                            "basis": key[4],
                            "stored": [str(x) for x in have[key]] if key in have else None,
                            "recomputed": [str(x) for x in want[key]] if key in want else None,
                        }
                    )
        if repair:
            for period_id in drifting:
                rollup_period(plan_id=plan.pk, period_id=period_id)
        ConsistencyCheck.objects.create(
            plan=plan,
            figures_checked=checked,
            drift_count=len(differences),
            differences=differences[:500],
            repaired=repair and bool(drifting),
        )
        results[plan.code] = len(differences)
    return results
