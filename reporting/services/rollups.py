"""Rolling confirmed values up into city and province figures, by the indicator's kind.

The rules (RULE_VERSION is stamped on every figure, so a report can say which rules built it):
- stock: the value at period end; over regions, the sum. A reporter that has no qualifying value this
  quarter but had one last quarter is carried forward ONE quarter, never more, and the coverage says
  which cities were carried and from when. Year-to-date = the value at the latest quarter.
- flow: summed over regions; year-to-date summed over the year's quarters up to this one.
- ratio and share: Σ numerators / Σ denominators × scale — never the mean of the cities' ratios. Their
  parts behave like stocks (carried, latest in the year) unless the indicator sums over time
  (`time_aggregation = "sum"`, e.g. money spent in the year), then like flows.
- milestone: the number of reporters that report it done.
- regions: a city's figure sums what the city reports itself (市本级) and what its counties report; a
  province's figure sums its cities (and, for the plan's home province, the provincial bodies' values).
  With only cities reporting this is the city's own value, as before counties could report.
Official figures count only submissions the province confirmed; the preview basis also counts
city-approved ones and is never shown as official.

The work is partitioned by (province, period), a "slice". On PostgreSQL a slice is one statement
(`SLICE_WRITE_SQL`): it reads the slice's values (this quarter, last quarter for the carry, the year's
quarters for year-to-date) for both bases at once, builds the city figures, sums the province's from them
with its coverage, deletes stale figures and merges the rest, rewriting only the rows whose figures
changed, and records when the slice was checked (`SliceCheck`). The portable path (SQLite, and the
consistency check's independent recomputation) reads the same sums with one GROUP BY (`SLICE_SQL`), shapes
them into figures in Python and upserts them. Slices are
independent, so the nightly rebuild fans out to as many Celery workers as there are (`rollup_rebuild_enqueue`);
on PostgreSQL it recomputes only the slices whose fingerprint (what they stand on and what they hold) differs
from the one their last full recompute stored (`SLICE_FINGERPRINT_SQL`), checked for a province's quarters at
once (`SLICES_FINGERPRINT_SQL`, one task per province and a few years).

Each slice is written in one transaction: readers see a slice's old figures or its new ones, never a
mixture. Two runs of the same slice serialise (PostgreSQL: an advisory lock on the slice; a run over every
province of a period holds the period row FOR UPDATE, a one-province run holds it FOR SHARE, so the two
kinds exclude each other while provinces of the same period run side by side).

What needs a recompute is kept in an outbox, `RollupRequest`: a change that moves a figure writes a row in
its own transaction; after commit a task is prompted (at most one queued per slice; a broker that is down
is logged, never raised); the beat dispatcher sends what nobody took within ROLLUP_DISPATCH_AFTER_SECONDS;
the rollup deletes the rows it took in the transaction that writes the figures. The rows also name the
changed cities, so an incremental run does not compare change times across machines' clocks.
"""

import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import cache
from typing import Any, NamedTuple, cast

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import DateTimeField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from indicators.models import Indicator
from measures.models import Plan, Region
from reporting.models import Figure, Period, RollupRequest, SliceCheck, Submission
from reporting.read_cache import figures_version_bump
from reporting.services.broker import task_send
from reporting.services.read_warm import read_cache_warm_request

logger = logging.getLogger(__name__)

RULE_VERSION = "r2"
OFFICIAL_STATUSES: dict[str, list[str]] = {
    Figure.Basis.OFFICIAL: ["confirmed"],
    Figure.Basis.PREVIEW: ["confirmed", "city_approved"],
}
PENDING_STATUSES: dict[str, list[str]] = {
    Figure.Basis.OFFICIAL: ["submitted", "city_approved"],
    Figure.Basis.PREVIEW: ["submitted"],
}
BASES = (Figure.Basis.OFFICIAL, Figure.Basis.PREVIEW)
FIGURE_COLUMNS = (
    "plan_id",
    "indicator_id",
    "region_id",
    "period_id",
    "span",
    "basis",
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
)
FIGURE_KEY = ("indicator_id", "region_id", "period_id", "span", "basis")
# Kinds whose last-quarter value may stand in for a missing one (unless they sum over time).
CARRIED_KINDS = (Indicator.Kind.STOCK, Indicator.Kind.RATIO, Indicator.Kind.SHARE)
# SQLite hands sums back as floats; read them the way Django's DecimalField does, so both back ends agree.
_SQLITE_DECIMAL = Context(prec=15)
_FOUR_PLACES = Decimal("0.0001")


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
        # Half up, as PostgreSQL's round() does: the set-based path and this one must agree to the last digit.
        return (acc.numerator / acc.denominator * indicator.scale).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    if indicator.kind == Indicator.Kind.MILESTONE:
        return Decimal(acc.done) if acc.reported else None
    return acc.value


def plan_province_candidates(plan: Plan) -> QuerySet[Region]:
    """The plan's home province as a queryset, so that a selector can use it as a subquery instead of paying
    a query for it: the province the plan names (`Plan.home_region`, from plan.yaml's regions_root). A plan
    loaded without one falls back to the first province with cities, in region order."""
    if plan.home_region_id is not None:
        return Region.objects.filter(pk=plan.home_region_id)
    cities = Region.objects.filter(parent=OuterRef("pk"), level=Region.Level.CITY)
    return Region.objects.filter(level=Region.Level.PROVINCE).filter(Exists(cities))


def plan_province(plan: Plan) -> Region | None:
    """The plan's home province: the root of its region tree, whose figures the dashboards show and
    to which the provincial bodies' values belong."""
    return plan_province_candidates(plan).first()


def plan_provinces(*, plan: Plan, period: Period | None = None) -> list[Region]:
    """Every province a plan's figures are built for: the home province (figures exist even before any
    data, saying that every city is missing) and each province whose cities or counties report."""
    reports = Submission.objects.filter(plan=plan, region__isnull=False)
    if period is not None:
        reports = reports.filter(period=period)
    under = Exists(reports.filter(region__parent=OuterRef("pk")))
    under_county = Exists(reports.filter(region__parent__parent=OuterRef("pk")))
    reached = Region.objects.filter(level=Region.Level.PROVINCE).filter(under | under_county)
    home = plan_province(plan)
    found = {r.pk: r for r in reached}
    if home is not None:
        found.setdefault(home.pk, home)
    return sorted(found.values(), key=lambda r: (r.sort_order, r.code))


def province_of(*, region_id: int) -> int | None:
    """The province a city or county belongs to (one query)."""
    row = Region.objects.filter(pk=region_id).values_list("level", "parent_id", "parent__parent_id").first()
    if row is None:
        return None
    level, parent_id, grandparent_id = row
    by_level: dict[str, int | None] = {Region.Level.PROVINCE: region_id, Region.Level.CITY: parent_id}
    return by_level.get(level, grandparent_id)


@dataclass
class RollupSummary:
    figures: int = 0
    written: int = 0
    periods: list[str] = field(default_factory=list)
    slices: int = 0
    # An incremental run: the cities recomputed (None: every city of the slice).
    cities: list[int] | None = None
    # The pending rollup requests this run took (and deleted with its figures).
    requests: int = 0
    # A queued run: the year's later quarters it handed on to their own requests (codes), not computed here.
    handed_on: list[str] = field(default_factory=list)


class FigureRow(NamedTuple):
    """A figure as computed, before it is written: the FIGURE_COLUMNS minus plan, period and time."""

    indicator_id: int
    region_id: int
    span: str
    basis: str
    value: Decimal | None
    numerator: Decimal | None
    denominator: Decimal | None
    done_count: int
    expected_count: int
    reported_count: int
    carried_count: int
    coverage: dict

    @property
    def key(self) -> tuple[int, int, str, str]:
        return (self.indicator_id, self.region_id, self.span, self.basis)

    def facts(self) -> tuple:
        return (self.value, self.numerator, self.denominator, self.done_count, self.reported_count, self.carried_count)


# A province's cities in region order, then the counties under them; each part by the parent index.
REGIONS_ROWS_SQL = """
    SELECT c.id, c.parent_id, c.level, c.code, 0 AS part, c.sort_order, c.id AS sort_id
    FROM measures_region c WHERE c.parent_id = %(province)s AND c.level = %(city)s
    UNION ALL
    SELECT k.id, k.parent_id, k.level, k.code, 1, 0, k.id
    FROM measures_region c JOIN measures_region k ON k.parent_id = c.id AND k.level = %(county)s
    WHERE c.parent_id = %(province)s AND c.level = %(city)s
"""
REGIONS_SQL = f"""
SELECT id, parent_id, level, code FROM ({REGIONS_ROWS_SQL}) r
ORDER BY part, sort_order, code, sort_id
"""  # noqa: S608 - constants only
# The same rows as one JSON array, in the same order: a column of the run's first read (`_plan_around`).
REGIONS_JSON_SQL = f"""
SELECT json_agg(json_build_array(id, parent_id, level, code) ORDER BY part, sort_order, code, sort_id)
FROM ({REGIONS_ROWS_SQL}) r
"""  # noqa: S608 - constants only


class _Plan:
    """What every slice of one plan needs, read once per run: its indicators and its provinces' cities.
    `indicators`: the plan's active indicators by id, when the caller has them (`_plan_around`)."""

    def __init__(self, plan: Plan, *, indicators: dict[int, Indicator] | None = None) -> None:
        self.plan = plan
        if indicators is None:
            indicators = {i.pk: i for i in Indicator.objects.filter(plan=plan, is_active=True)}
        self.indicators = indicators
        # The home province's id is on the plan when it names one: no query for it.
        home_id = plan.home_region_id
        if home_id is None:
            home = plan_province(plan)
            home_id = home.pk if home is not None else None
        self.home_id = home_id
        self._cities: dict[int, dict[int, str]] = {}
        self._reporters: dict[int, list[tuple[int, int]]] = {}
        self._years: dict[int, list[Period]] = {}
        # Whether this run's session holds the prepared delta statement (None: not asked yet). Prepared statements
        # belong to the session and outlive its transactions, so once known it holds for the run.
        self.delta_prepared: bool | None = None

    @staticmethod
    def summed(indicator: Indicator) -> bool:
        return sums_over_time(indicator.kind, indicator.time_aggregation)

    def reporters(self, province_id: int) -> list[tuple[int, int]]:
        """(region, city) for everyone who reports for the province's cities: the cities and their counties."""
        if province_id not in self._reporters:
            self._regions_read(province_id)
        return self._reporters[province_id]

    def cities(self, province_id: int) -> dict[int, str]:
        if province_id not in self._cities:
            self._regions_read(province_id)
        return self._cities[province_id]

    def _regions_read(self, province_id: int) -> None:
        """The province's cities (in region order) and the counties under them, in one query (REGIONS_SQL)."""
        with connection.cursor() as cursor:
            cursor.execute(REGIONS_SQL, _regions_params(province_id))
            rows = cursor.fetchall()
        self.regions_seed(province_id, rows)

    def regions_seed(self, province_id: int, rows: Iterable[Sequence[Any]]) -> None:
        """The province's regions as REGIONS_SQL returns them (id, parent, level, code; in its order), already
        read by the caller (`_plan_around`)."""
        cities = {pk: code for pk, _parent, level, code in rows if level == Region.Level.CITY}
        self._cities[province_id] = cities
        counties = sorted((pk, parent) for pk, parent, level, _code in rows if level == Region.Level.COUNTY)
        self._reporters[province_id] = [(c, c) for c in cities] + counties

    def year_periods(self, period: Period) -> tuple[Period | None, list[Period]]:
        """`_year_periods` for this run: the quarters of the period's year and the year before, read once."""
        if period.year not in self._years:
            self._years[period.year] = list(Period.objects.filter(year__in={period.year, period.year - 1}))
        return _year_periods(period, rows=self._years[period.year])

    def periods_seed(self, *, year: int, rows: list[Period]) -> None:
        """The quarters of `year` and `year - 1`, already read by the caller, for `year_periods`."""
        self._years[year] = rows


# PostgreSQL: a run's plan, the quarters of its period's year and the year before, and a digest of the plan's
# active indicators (every column of each row, and its measure's number, which orders them), in one statement.
# The indicators are kept per process under that digest (`_kept_indicators`): the digest is recomputed by every
# run, so a renamed, deactivated, rescaled or new indicator gives another digest and is read again by the very
# next run; nothing is trusted that the run's own statement did not confirm. Each row as the composite's text
# (every column, quoted where it must be), not as JSON: half the cost a run (~0.45 against ~0.85 ms at national
# scale's 128 indicators).
INDICATORS_DIGEST_SQL = """
SELECT md5(COALESCE(string_agg((i, m.number)::text, '|' ORDER BY i.id), ''))
FROM indicators_indicator i LEFT JOIN measures_measure m ON m.id = i.measure_id
WHERE i.plan_id = %(plan)s AND i.is_active
"""
PLAN_AROUND_SQL = """
SELECT {plan_columns}, {period_columns}, ({digest}),
       -- Whether this session has prepared the delta statement already (`_slice_delta_pg`).
       (SELECT count(*) > 0 FROM pg_prepared_statements WHERE name = %(prepared)s),
       -- A one-province run: the province's regions (REGIONS_JSON_SQL), on the first row only.
       CASE WHEN row_number() OVER (ORDER BY q.year, q.quarter) = 1 AND %(province)s::bigint IS NOT NULL
            THEN ({regions}) END
FROM measures_plan pl
JOIN reporting_period q
  ON q.year IN (SELECT year FROM reporting_period WHERE id = %(period)s
                UNION ALL SELECT year - 1 FROM reporting_period WHERE id = %(period)s)
WHERE pl.id = %(plan)s
ORDER BY q.year, q.quarter
"""

# The plan's active indicators in the model's order (plan, measure number, sort order, code), each row with the
# digest of them all: the rows and their digest from one snapshot.
INDICATORS_READ_SQL = """
SELECT ({digest}), {columns}
FROM indicators_indicator i LEFT JOIN measures_measure m ON m.id = i.measure_id
WHERE i.plan_id = %(plan)s AND i.is_active
ORDER BY m.number, i.sort_order, i.code
"""

# The active indicators of a plan kept by this process, by plan: (digest, indicators by id, in the model's
# order). One entry per plan; a run that finds another digest replaces it. A plain dict: each get and set is
# atomic in threads too. The kept instances are only read (their ids, kinds, scales, aggregation, reporter and
# lead body), never changed, as the burst path's kept lists (reporting/selectors/definitions.py).
_kept_indicators: dict[int, tuple[str, dict[int, Indicator]]] = {}


@cache
def _plan_around_sql() -> tuple[str, list[str], list[str]]:
    """PLAN_AROUND_SQL with the plan's and the period's columns, and their attribute names in that order."""
    plan_fields = list(Plan._meta.concrete_fields)
    period_fields = list(Period._meta.concrete_fields)
    sql = PLAN_AROUND_SQL.format(
        plan_columns=", ".join(f"pl.{f.column}" for f in plan_fields),
        period_columns=", ".join(f"q.{f.column}" for f in period_fields),
        digest=INDICATORS_DIGEST_SQL.strip(),
        regions=REGIONS_JSON_SQL.strip(),
    )
    return sql, [f.attname for f in plan_fields], [f.attname for f in period_fields]


def _regions_params(province_id: int | None) -> dict[str, Any]:
    return {"province": province_id, "city": Region.Level.CITY, "county": Region.Level.COUNTY}


def _plan_around(*, plan_id: int, period_id: int, province_id: int | None = None) -> tuple[_Plan, list[Period]] | None:
    """PostgreSQL: the run's plan context and the quarters around its period in one round trip (`PLAN_AROUND_SQL`),
    the indicators read again only when their digest changed, and with `province_id` that province's cities and
    counties (as `_Plan.reporters` would read them). None when the plan or the period does not exist (the caller's
    ORM reads then raise as they always did)."""
    sql, plan_names, period_names = _plan_around_sql()
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "plan": plan_id,
                "period": period_id,
                "prepared": _slice_delta_prepare_sql()[0],
                **_regions_params(province_id),
            },
        )
        rows = cursor.fetchall()
    if not rows or not any(row[len(plan_names)] == period_id for row in rows):
        return None
    width = len(plan_names)
    plan = Plan.from_db(connection.alias, plan_names, rows[0][:width])
    around = [Period.from_db(connection.alias, period_names, row[width:-3]) for row in rows]
    digest = rows[0][-3]
    kept = _kept_indicators.get(plan_id)
    if kept is None or kept[0] != digest:
        kept = _indicators_read(plan_id=plan_id)
    ctx = _Plan(plan, indicators=kept[1])
    ctx.delta_prepared = rows[0][-2]
    if province_id is not None:
        # A province without cities has no rows (NULL): no regions, as REGIONS_SQL would say.
        ctx.regions_seed(province_id, rows[0][-1] or [])
    return ctx, around


@cache
def _indicators_read_sql() -> tuple[str, list[str]]:
    """The plan's active indicators, every column, in the model's order, each row with their digest (as
    PLAN_AROUND_SQL computes it); and the columns' attribute names."""
    fields = list(Indicator._meta.concrete_fields)
    # Built from the model's column names and the constant above only; the plan is a parameter.
    sql = INDICATORS_READ_SQL.format(
        digest=INDICATORS_DIGEST_SQL.strip(), columns=", ".join(f"i.{f.column}" for f in fields)
    )
    return sql, [f.attname for f in fields]


def _indicators_read(*, plan_id: int) -> tuple[str, dict[int, Indicator]]:
    """The plan's active indicators with the digest of these very rows (one statement, one snapshot), kept
    under it for the next runs of this process."""
    sql, names = _indicators_read_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, {"plan": plan_id})
        rows = cursor.fetchall()
    indicators = {}
    for row in rows:
        indicator = Indicator.from_db(connection.alias, names, row[1:])
        indicators[indicator.pk] = indicator
    if not rows:
        return "", indicators
    kept = (rows[0][0], indicators)
    _kept_indicators[plan_id] = kept
    return kept


def _ids(values: Iterable[int]) -> str:
    # Only ever ids read from the database, formatted as integers: nothing a user typed reaches the SQL text.
    return ", ".join(str(int(v)) for v in values) or "NULL"


def _year_periods(period: Period, *, rows: list[Period] | None = None) -> tuple[Period | None, list[Period]]:
    """Last quarter (for the carry) and the year's quarters up to this one (for year to date); `rows`: the
    quarters of the period's year and the year before, when the caller has them."""
    year, quarter = (period.year, period.quarter - 1) if period.quarter > 1 else (period.year - 1, 4)
    if rows is None:
        rows = list(Period.objects.filter(year__in={period.year, year}))
    rows = sorted(rows, key=lambda p: (p.year, p.quarter))
    before = next((p for p in rows if (p.year, p.quarter) == (year, quarter)), None)
    ytd = [p for p in rows if p.year == period.year and p.quarter <= period.quarter]
    return before, ytd


# The slice's values in one statement, in three parts: this quarter's sums per status, indicator and city;
# last quarter's values of stock-like indicators standing in (carried) for reporters with none this
# quarter, per basis; and the year-to-date sums of indicators that add up over time. Who reports for which
# city (`rep`) comes in as a VALUES list: small, exact, and the planner sizes its joins right. Runs
# unchanged on PostgreSQL and SQLite; the portable path and the consistency check use it.
SLICE_SQL = """
WITH rep (region_id, city_id) AS (VALUES {reporters}),
v AS (
    SELECT s.status, s.period_id, s.region_id, rep.city_id,
           d.indicator_id, d.value, d.numerator, d.denominator,
           CASE WHEN d.done THEN 1 ELSE 0 END AS done
    FROM reporting_submission s
    JOIN rep ON rep.region_id = s.region_id
    JOIN reporting_datavalue d ON d.submission_id = s.id
    WHERE s.plan_id = {plan} AND s.period_id IN ({periods}) AND s.status IN ('confirmed', 'city_approved')
)
SELECT 'q', status, indicator_id, city_id, SUM(value), SUM(numerator), SUM(denominator), SUM(done), COUNT(*),
       NULL, NULL, NULL, NULL, NULL
FROM v WHERE period_id = {now} AND indicator_id IN ({indicators})
GROUP BY status, indicator_id, city_id
UNION ALL
SELECT 'c', NULL, indicator_id, city_id,
       SUM(CASE WHEN now_c = 0 THEN v_c END), SUM(CASE WHEN now_c = 0 THEN n_c END),
       SUM(CASE WHEN now_c = 0 THEN d_c END), SUM(CASE WHEN now_c = 0 THEN k_c ELSE 0 END),
       SUM(CASE WHEN now_c = 0 THEN has_c ELSE 0 END),
       SUM(CASE WHEN now_a = 0 THEN v_a END), SUM(CASE WHEN now_a = 0 THEN n_a END),
       SUM(CASE WHEN now_a = 0 THEN d_a END), SUM(CASE WHEN now_a = 0 THEN k_a ELSE 0 END),
       SUM(CASE WHEN now_a = 0 THEN has_a ELSE 0 END)
FROM (
    SELECT region_id, city_id, indicator_id,
           MAX(CASE WHEN period_id = {now} AND status = 'confirmed' THEN 1 ELSE 0 END) AS now_c,
           MAX(CASE WHEN period_id = {now} THEN 1 ELSE 0 END) AS now_a,
           MAX(CASE WHEN period_id = {before} AND status = 'confirmed' THEN 1 ELSE 0 END) AS has_c,
           MAX(CASE WHEN period_id = {before} THEN 1 ELSE 0 END) AS has_a,
           SUM(CASE WHEN period_id = {before} AND status = 'confirmed' THEN value END) AS v_c,
           SUM(CASE WHEN period_id = {before} AND status = 'confirmed' THEN numerator END) AS n_c,
           SUM(CASE WHEN period_id = {before} AND status = 'confirmed' THEN denominator END) AS d_c,
           SUM(CASE WHEN period_id = {before} AND status = 'confirmed' THEN done ELSE 0 END) AS k_c,
           SUM(CASE WHEN period_id = {before} THEN value END) AS v_a,
           SUM(CASE WHEN period_id = {before} THEN numerator END) AS n_a,
           SUM(CASE WHEN period_id = {before} THEN denominator END) AS d_a,
           SUM(CASE WHEN period_id = {before} THEN done ELSE 0 END) AS k_a
    FROM v WHERE period_id IN ({now}, {before}) AND indicator_id IN ({carried})
    GROUP BY region_id, city_id, indicator_id
) c
WHERE (now_c = 0 AND has_c = 1) OR (now_a = 0 AND has_a = 1)
GROUP BY indicator_id, city_id
UNION ALL
SELECT 'y', status, indicator_id, city_id, SUM(value), SUM(numerator), SUM(denominator), SUM(done), COUNT(*),
       NULL, NULL, NULL, NULL, NULL
FROM v WHERE period_id IN ({ytd}) AND indicator_id IN ({summed})
GROUP BY status, indicator_id, city_id
"""

BODY_SQL = """
SELECT s.status, s.period_id, s.body_id, d.indicator_id, d.value, d.numerator, d.denominator,
       CASE WHEN d.done THEN 1 ELSE 0 END
FROM reporting_submission s JOIN reporting_datavalue d ON d.submission_id = s.id
WHERE s.plan_id = {plan} AND s.body_id IS NOT NULL AND s.period_id IN ({ytd})
  AND s.status IN ('confirmed', 'city_approved')
"""

PENDING_SQL = """
WITH rep (region_id, city_id) AS (VALUES {reporters})
SELECT DISTINCT s.status, rep.city_id
FROM reporting_submission s
JOIN rep ON rep.region_id = s.region_id
WHERE s.plan_id = {plan} AND s.period_id = {now} AND s.status IN ('submitted', 'city_approved')
"""


def _pairs(pairs: Iterable[tuple[int, int]]) -> str:
    # Only ids read from the database, formatted as integers: nothing a user typed reaches the SQL text.
    return ", ".join(f"({int(a)}, {int(b)})" for a, b in pairs)


def slice_sql(
    *,
    ctx: "_Plan",
    province_id: int,
    period: Period,
    before: Period | None,
    ytd: list[Period],
    cities: list[int] | None = None,
) -> str | None:
    """The slice's aggregation as one statement (only for `cities`, when given); None when nobody reports."""
    reporters = ctx.reporters(province_id)
    if cities is not None:
        wanted = set(cities)
        reporters = [(region, city) for region, city in reporters if city in wanted]
    if not reporters or not ctx.indicators:
        return None
    carried = [pk for pk, i in ctx.indicators.items() if i.kind in CARRIED_KINDS and not ctx.summed(i)]
    summed = [pk for pk, i in ctx.indicators.items() if ctx.summed(i)]
    # In the first quarter the year so far is the quarter itself.
    ytd_ids = [p.pk for p in ytd] if period.quarter > 1 else []
    periods = {period.pk, *ytd_ids} | ({before.pk} if before else set())
    return SLICE_SQL.format(
        reporters=_pairs(reporters),
        plan=int(ctx.plan.pk),
        periods=_ids(sorted(periods)),
        now=int(period.pk),
        before=int(before.pk) if before else "NULL",
        indicators=_ids(ctx.indicators),
        carried=_ids(carried),
        ytd=_ids(ytd_ids),
        summed=_ids(summed),
    )


def _city_rows(rows: list[tuple], *, quarter_is_ytd: bool) -> list[tuple]:
    """The statement's parts combined per basis, indicator and city, in the shape the shaping loop reads:
    (basis, indicator, city, fresh, carried, quarter sums ×4, year-to-date reporters, year-to-date sums ×4)."""
    # Slots: 0 fresh, 1 carried, 2-5 quarter value/numerator/denominator/done, 6 year-to-date reporters,
    # 7-10 year-to-date value/numerator/denominator/done.
    zero: list = [0, 0, None, None, None, 0, 0, None, None, None, 0]

    def add(into: list, sums: Sequence[Any], *, at: int, count_at: int) -> None:
        value, numerator, denominator, done, count = sums
        for offset, part in enumerate((value, numerator, denominator)):
            if part is not None:
                into[at + offset] = part if into[at + offset] is None else into[at + offset] + part
        into[at + 3] += done or 0
        into[count_at] += count or 0

    out: dict[tuple[str, int, int], list] = {}
    for part, status, indicator_id, city_id, *values in rows:
        if part == "c":
            for basis, sums in (("official", values[:5]), ("preview", values[5:])):
                if sums[4]:
                    add(out.setdefault((basis, indicator_id, city_id), list(zero)), sums, at=2, count_at=1)
            continue
        bases = ("preview", "official") if status == "confirmed" else ("preview",)
        for basis in bases:
            acc = out.setdefault((basis, indicator_id, city_id), list(zero))
            if part == "q":
                add(acc, values[:5], at=2, count_at=0)
                if quarter_is_ytd:
                    add(acc, values[:5], at=7, count_at=6)
            else:
                add(acc, values[:5], at=7, count_at=6)
    return [(basis, indicator_id, city_id, *acc) for (basis, indicator_id, city_id), acc in out.items()]


def _decimal(raw: Any) -> Decimal | None:
    if raw is None or isinstance(raw, Decimal):
        return raw
    return _SQLITE_DECIMAL.create_decimal_from_float(raw).quantize(_FOUR_PLACES)


def _slice_read(*, ctx: _Plan, period: Period, province_id: int, cursor: Any) -> tuple[list, list]:
    """Who is pending review in the slice, and (home province only) the provincial bodies' values."""
    pending_rows: list = []
    reporters = ctx.reporters(province_id)
    if reporters:
        cursor.execute(PENDING_SQL.format(reporters=_pairs(reporters), plan=int(ctx.plan.pk), now=int(period.pk)))
        pending_rows = cursor.fetchall()
    body_rows: list = []
    if province_id == ctx.home_id:
        _before, ytd = _year_periods(period)
        cursor.execute(BODY_SQL.format(plan=int(ctx.plan.pk), ytd=_ids(p.pk for p in ytd)))
        body_rows = cursor.fetchall()
    return pending_rows, body_rows


def _city_part(
    *, ctx: _Plan, city_rows: list[tuple], carried_from: str | None, want_rows: bool
) -> tuple[list[FigureRow], dict[tuple[str, int, str], Acc]]:
    """City figures from the per-(basis, indicator, city) sums (when `want_rows`), and always the province's
    accumulators, summed over its cities."""
    figures: list[FigureRow] = []
    province_accs: dict[tuple[str, int, str], Acc] = defaultdict(Acc)
    indicators = ctx.indicators
    for basis, indicator_id, city_id, fresh, carried, *sums in city_rows:
        indicator = indicators.get(indicator_id)
        if indicator is None:
            continue
        q_value, q_num, q_den, q_done, ytd_reporters, y_value, y_num, y_den, y_done = sums
        time_sum = sums_over_time(indicator.kind, indicator.time_aggregation)
        spans: list[tuple[str, Acc]] = []
        if fresh or carried:
            quarter = Acc(
                value=_decimal(q_value),
                numerator=_decimal(q_num),
                denominator=_decimal(q_den),
                done=int(q_done or 0),
                reported={city_id},
            )
            # A city counts as carried at the province only when nothing under it is fresh.
            if carried and not fresh and carried_from:
                quarter.carried[city_id] = carried_from
            spans.append((Figure.Span.QUARTER, quarter))
            if not time_sum:
                spans.append((Figure.Span.YTD, quarter))
        if time_sum and ytd_reporters:
            ytd = Acc(
                value=_decimal(y_value),
                numerator=_decimal(y_num),
                denominator=_decimal(y_den),
                done=int(y_done or 0),
                reported={city_id},
            )
            spans.append((Figure.Span.YTD, ytd))
        for span, acc in spans:
            total = province_accs[(basis, indicator_id, span)]
            total.add(value=acc.value, numerator=acc.numerator, denominator=acc.denominator, done=acc.done)
            total.reported.add(city_id)
            total.carried.update(acc.carried)
            if not want_rows:
                continue
            coverage: dict[str, Any] = {}
            is_quarter_like = span == Figure.Span.QUARTER or not time_sum
            if is_quarter_like and carried and carried_from:
                coverage["carried_from"] = carried_from
            if is_quarter_like and fresh + carried > 1:
                coverage["reporters"] = int(fresh)
            figures.append(
                FigureRow(
                    indicator_id=indicator_id,
                    region_id=city_id,
                    span=span,
                    basis=basis,
                    value=_figure_value(indicator, acc),
                    numerator=acc.numerator,
                    denominator=acc.denominator,
                    done_count=acc.done,
                    expected_count=1,
                    reported_count=1,
                    carried_count=int(carried) if is_quarter_like else 0,
                    coverage=coverage,
                )
            )
    return figures, province_accs


def _province_part(
    *,
    ctx: _Plan,
    period: Period,
    province_id: int,
    province_accs: dict[tuple[str, int, str], Acc],
    pending_rows: list,
    body_rows: list,
) -> list[FigureRow]:
    """The province's figures: its cities' sums, the bodies' values, and the coverage of each."""
    indicators = ctx.indicators
    cities = ctx.cities(province_id)
    for status, period_id, body_id, indicator_id, value, numerator, denominator, done in body_rows:
        found = indicators.get(indicator_id)
        if found is None or found.reporter != Indicator.Reporter.BODY:
            continue
        time_sum = sums_over_time(found.kind, found.time_aggregation)
        spans_for_row = []
        if period_id == period.pk:
            spans_for_row.append(Figure.Span.QUARTER)
            if not time_sum:
                spans_for_row.append(Figure.Span.YTD)
        if time_sum:
            spans_for_row.append(Figure.Span.YTD)
        for basis in BASES:
            if status not in OFFICIAL_STATUSES[basis]:
                continue
            for span in spans_for_row:
                acc = province_accs[(basis, indicator_id, span)]
                acc.add(
                    value=_decimal(value),
                    numerator=_decimal(numerator),
                    denominator=_decimal(denominator),
                    done=done,
                )
                acc.reported.add(body_id)

    pending: dict[str, set[int]] = {basis: set() for basis in BASES}
    for status, city_id in pending_rows:
        for basis in BASES:
            if status in PENDING_STATUSES[basis]:
                pending[basis].add(city_id)

    figures = []
    for basis in BASES:
        for indicator in indicators.values():
            for span in (Figure.Span.QUARTER, Figure.Span.YTD):
                acc = province_accs.get((basis, indicator.pk, span), Acc())
                if indicator.reporter == Indicator.Reporter.BODY:
                    expected = [indicator.lead_body_id] if indicator.lead_body_id and province_id == ctx.home_id else []
                    coverage: dict[str, Any] = {
                        "expected": len(expected),
                        "reported": sorted(acc.reported),
                        "kind": "body",
                    }
                    expected_count = len(expected)
                else:
                    # Reported means data for this period; a carried city is listed as carried, and as
                    # pending too when its new submission is waiting for review.
                    fresh = {r for r in acc.reported if r not in acc.carried}
                    coverage = {
                        "expected": len(cities),
                        "reported": sorted(cities[r] for r in fresh if r in cities),
                        "carried": {cities[r]: p for r, p in acc.carried.items() if r in cities},
                        "pending": sorted(cities[r] for r in pending[basis] if r in cities and r not in fresh),
                        "missing": sorted(
                            code for r, code in cities.items() if r not in acc.reported and r not in pending[basis]
                        ),
                        "kind": "city",
                    }
                    expected_count = len(cities)
                figures.append(
                    FigureRow(
                        indicator_id=indicator.pk,
                        region_id=province_id,
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
                    )
                )
    return figures


def _slice_compute(*, ctx: _Plan, period: Period, province_id: int) -> list[FigureRow]:
    """Every figure of one (province, period) slice, both bases, computed in this process (the plain path,
    and the consistency check's independent recomputation)."""
    before, ytd = _year_periods(period)
    sql = slice_sql(ctx=ctx, province_id=province_id, period=period, before=before, ytd=ytd)
    with connection.cursor() as cursor:
        city_rows: list = []
        if sql is not None:
            cursor.execute(sql)
            city_rows = _city_rows(cursor.fetchall(), quarter_is_ytd=period.quarter == 1)
        pending_rows, body_rows = _slice_read(ctx=ctx, period=period, province_id=province_id, cursor=cursor)
    figures, province_accs = _city_part(
        ctx=ctx, city_rows=city_rows, carried_from=before.code if before else None, want_rows=True
    )
    return figures + _province_part(
        ctx=ctx,
        period=period,
        province_id=province_id,
        province_accs=province_accs,
        pending_rows=pending_rows,
        body_rows=body_rows,
    )


def _upsert_sql(*, rows: int) -> str:
    pg = connection.vendor == "postgresql"
    one = "(" + ", ".join("%s::jsonb" if pg and c == "coverage" else "%s" for c in FIGURE_COLUMNS) + ")"
    updated = [c for c in FIGURE_COLUMNS if c not in FIGURE_KEY]
    # Built from the column constants above only; every value travels as a parameter.
    columns, values, key = ", ".join(FIGURE_COLUMNS), ", ".join([one] * rows), ", ".join(FIGURE_KEY)
    sql = f"INSERT INTO reporting_figure ({columns}) VALUES {values} ON CONFLICT ({key}) DO UPDATE SET "  # noqa: S608
    sql += ", ".join(f"{c} = EXCLUDED.{c}" for c in updated)
    # Rows whose figures did not change are left alone (computed_at says when a figure last changed): no new
    # row version, no index churn.
    distinct = "IS DISTINCT FROM" if pg else "IS NOT"
    compared = [c for c in updated if c not in ("computed_at", "plan_id")]
    sql += " WHERE " + " OR ".join(f"reporting_figure.{c} {distinct} EXCLUDED.{c}" for c in compared)
    return sql


def _db_row(row: FigureRow, *, plan_id: int, period_id: int, now: Any) -> tuple:
    ops = connection.ops
    return (
        plan_id,
        row.indicator_id,
        row.region_id,
        period_id,
        row.span,
        row.basis,
        ops.adapt_decimalfield_value(row.value, 24, 6),
        ops.adapt_decimalfield_value(row.numerator, 24, 4),
        ops.adapt_decimalfield_value(row.denominator, 24, 4),
        row.done_count,
        row.expected_count,
        row.reported_count,
        row.carried_count,
        json.dumps(row.coverage, ensure_ascii=False),
        RULE_VERSION,
        ops.adapt_datetimefield_value(now),
    )


def _figures_write(*, plan_id: int, period_id: int, rows: list[FigureRow], batch: int = 500) -> int:
    """Upsert the rows in batches of multi-row INSERTs; returns how many rows were written."""
    now = timezone.now()
    written = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            params = [v for r in chunk for v in _db_row(r, plan_id=plan_id, period_id=period_id, now=now)]
            cursor.execute(_upsert_sql(rows=len(chunk)), params)
            written += max(cursor.rowcount, 0)
    return written


# PostgreSQL: the settings and the locks travel in one round trip. The slice's aggregation hashes a few
# thousand groups of wide numeric sums: keep them in memory (work_mem). A slice's few thousand figures are
# found by (region, period) index; with the default cost of a random read the planner would rather scan the
# whole quarter (~130,000 at national scale).
LOCK_SETTINGS_SQL = "SET LOCAL work_mem = '64MB'; SET LOCAL random_page_cost = 1.1;"
# A queued run's commit does not wait for its WAL to reach the disk. Its figures are derived, and the requests it
# ran for are deleted in the same transaction: a crash that loses the commit loses both together (PostgreSQL keeps
# the database consistent; only the last fraction of a second of commits can go), the requests are pending again
# and the dispatcher (every minute) queues the run again; the nightly rebuild checks every slice besides. Only
# when the run's transaction is its own: inside a caller's (an import's, a test's) SET LOCAL would hold for the
# whole of it, and that commit must stay durable.
ASYNC_COMMIT_SQL = "SET LOCAL synchronous_commit = off;"
LOCK_SLICE_SQL = (
    "SELECT id FROM reporting_period WHERE id = %s FOR SHARE; SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
)
# A one-province run's requests (`_requests_claim`), taken in the lock's round trip, each row with whether the
# province holds figures for the period (`_changed_cities`).
LOCK_CLAIM_SQL = """
SELECT r.id, r.region_id, EXISTS (
    SELECT 1 FROM reporting_figure f WHERE f.plan_id = %s AND f.period_id = %s AND f.region_id = %s)
FROM reporting_rolluprequest r
WHERE r.plan_id = %s AND r.period_id = %s AND r.province_id = %s
ORDER BY r.id
FOR UPDATE OF r
"""


def _lock_slice(*, plan_id: int, period_id: int, province_id: int | None) -> None:
    if province_id is None:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(LOCK_SETTINGS_SQL)
        Period.objects.select_for_update().get(pk=period_id)
        return
    if connection.vendor != "postgresql":
        return  # SQLite serialises every writer anyway.
    with connection.cursor() as cursor:
        cursor.execute(
            f"{LOCK_SETTINGS_SQL} {LOCK_SLICE_SQL}",
            [period_id, f"rollup:{plan_id}:{period_id}:{province_id}"],
        )


def _lock_and_claim(
    *, plan_id: int, period_id: int, province_id: int | None, async_commit: bool = False
) -> tuple[list[tuple[int, int | None]], bool | None]:
    """`_lock_slice`, then `_requests_claim`: the slice's pending requests, (id, region) each. On PostgreSQL a
    one-province run sends both in one round trip and learns with them whether the province already holds
    figures for the period (None: not asked, or no request to ask it with). With `async_commit` (see
    ASYNC_COMMIT_SQL) such a run's commit does not wait for the disk; a run of every province, or on SQLite,
    commits as always."""
    if province_id is None or connection.vendor != "postgresql":
        _lock_slice(plan_id=plan_id, period_id=period_id, province_id=province_id)
        return _requests_claim(plan_id=plan_id, period_id=period_id, province_id=province_id), None
    with connection.cursor() as cursor:
        cursor.execute(
            f"{ASYNC_COMMIT_SQL if async_commit else ''}{LOCK_SETTINGS_SQL} {LOCK_SLICE_SQL}; {LOCK_CLAIM_SQL}",
            [
                period_id,
                f"rollup:{plan_id}:{period_id}:{province_id}",
                plan_id,
                period_id,
                province_id,
                plan_id,
                period_id,
                province_id,
            ],
        )
        rows = cursor.fetchall()
    return [(pk, region) for pk, region, _built in rows], (rows[0][2] if rows else None)


# PostgreSQL: the whole slice is one statement. The slice's sums (SLICE_SQL) are combined per basis, indicator
# and city; the city figures follow by the indicator's kind; the province's figures are summed from the city
# figures (those just computed and, in an incremental run, the stored ones of the other cities) and the
# provincial bodies' values, their coverage built by the same GROUP BY; stale figures are deleted and the rest
# merged by one INSERT … ON CONFLICT, only the rows that changed; the slice's check time is upserted. Only
# counts leave the database: no scratch tables, no rows shaped in Python. `_slice_compute` (the plain path,
# and the consistency check's independent recomputation) computes the same figures in Python, and the tests
# hold the two together.
SLICE_WRITE_SQL = """
WITH b (basis, status) AS (VALUES ('official', 'confirmed'), ('preview', 'confirmed'), ('preview', 'city_approved')),
ind (indicator_id, kind, scale, summed, carries, is_body, body_expected) AS (
    SELECT * FROM unnest(%(ind_ids)s::bigint[], %(ind_kinds)s::text[], %(ind_scales)s::numeric[],
                         %(ind_summed)s::int[], %(ind_carries)s::bool[], %(ind_body)s::bool[], %(ind_expected)s::int[])
),
city (city_id, code) AS (SELECT * FROM unnest(%(city_ids)s::bigint[], %(city_codes)s::text[])),
rep (region_id, city_id) AS (SELECT * FROM unnest(%(rep_regions)s::bigint[], %(rep_cities)s::bigint[])),
-- The values the recomputed cities' reporters stand on: this quarter's, last quarter's of indicators that
-- may be carried, the year's of indicators that add up over time. A reporter has one value per indicator and
-- quarter, so whether it has one this quarter (confirmed, or in review too) is a count over its partition.
v AS (
    SELECT r.city_id, d.indicator_id, s.status = 'confirmed' AS conf, s.period_id = %(period)s AS now,
           i.summed = 1 AND s.period_id = ANY(%(ytd)s::bigint[]) AS ytd,
           i.carries AND s.period_id = %(before)s AS before,
           count(*) FILTER (WHERE s.period_id = %(period)s AND s.status = 'confirmed') OVER w AS now_c,
           count(*) FILTER (WHERE s.period_id = %(period)s) OVER w AS now_a,
           d.value, d.numerator, d.denominator, CASE WHEN d.done THEN 1 ELSE 0 END AS done
    FROM reporting_submission s
    JOIN unnest(%(part_regions)s::bigint[], %(part_cities)s::bigint[]) r (region_id, city_id)
      ON r.region_id = s.region_id
    JOIN reporting_datavalue d ON d.submission_id = s.id
    -- `+ 0`: each submission's values read whole, one index descent per submission, then matched to the
    -- indicators by hash, not one index probe per submission and indicator (the generic plan's choice).
    JOIN ind i ON i.indicator_id = d.indicator_id + 0
    WHERE s.plan_id = %(plan)s AND s.period_id = ANY(%(periods)s::bigint[])
      AND s.status IN ('confirmed', 'city_approved')
      AND (s.period_id = %(period)s OR (i.carries AND s.period_id = %(before)s)
           OR (i.summed = 1 AND s.period_id = ANY(%(ytd)s::bigint[])))
    WINDOW w AS (PARTITION BY s.region_id, d.indicator_id)
),
-- Official counts confirmed values, preview those in city review too. A reporter with nothing this quarter
-- but a value last quarter stands on that value (stock-like indicators, one quarter only).
flags AS (
    SELECT v.*, now AND conf AS q_c, now AS q_a, before IS TRUE AND conf AND now_c = 0 AS carry_c,
           before IS TRUE AND now_a = 0 AS carry_a, ytd AND conf AS y_c, ytd AS y_a
    FROM v
),
sums AS (
    SELECT indicator_id, city_id,
           count(*) FILTER (WHERE q_c) AS fresh_c, count(*) FILTER (WHERE carry_c) AS carried_c,
           sum(value) FILTER (WHERE q_c OR carry_c) AS qv_c, sum(numerator) FILTER (WHERE q_c OR carry_c) AS qn_c,
           sum(denominator) FILTER (WHERE q_c OR carry_c) AS qd_c, sum(done) FILTER (WHERE q_c OR carry_c) AS qk_c,
           count(*) FILTER (WHERE y_c) AS yr_c, sum(value) FILTER (WHERE y_c) AS yv_c,
           sum(numerator) FILTER (WHERE y_c) AS yn_c, sum(denominator) FILTER (WHERE y_c) AS yd_c,
           sum(done) FILTER (WHERE y_c) AS yk_c,
           count(*) FILTER (WHERE q_a) AS fresh_a, count(*) FILTER (WHERE carry_a) AS carried_a,
           sum(value) FILTER (WHERE q_a OR carry_a) AS qv_a, sum(numerator) FILTER (WHERE q_a OR carry_a) AS qn_a,
           sum(denominator) FILTER (WHERE q_a OR carry_a) AS qd_a, sum(done) FILTER (WHERE q_a OR carry_a) AS qk_a,
           count(*) FILTER (WHERE y_a) AS yr_a, sum(value) FILTER (WHERE y_a) AS yv_a,
           sum(numerator) FILTER (WHERE y_a) AS yn_a, sum(denominator) FILTER (WHERE y_a) AS yd_a,
           sum(done) FILTER (WHERE y_a) AS yk_a
    FROM flags GROUP BY indicator_id, city_id
),
agg AS (
    SELECT x.*
    FROM sums s
    CROSS JOIN LATERAL (VALUES
        ('official', s.indicator_id, s.city_id, s.fresh_c, s.carried_c, s.qv_c, s.qn_c, s.qd_c, s.qk_c,
         s.yr_c, s.yv_c, s.yn_c, s.yd_c, s.yk_c),
        ('preview', s.indicator_id, s.city_id, s.fresh_a, s.carried_a, s.qv_a, s.qn_a, s.qd_a, s.qk_a,
         s.yr_a, s.yv_a, s.yn_a, s.yd_a, s.yk_a)
    ) x (basis, indicator_id, city_id, fresh, carried, qv, qn, qd, qk, yr, yv, yn, yd, yk)
),
-- The figures stored for the slice's regions now.
cur AS (
    SELECT f.id, f.indicator_id, f.region_id, f.span, f.basis, f.value, f.numerator, f.denominator, f.done_count,
           f.expected_count, f.reported_count, f.carried_count, f.coverage, f.rule_version
    FROM reporting_figure f
    WHERE f.plan_id + 0 = %(plan)s AND f.period_id = %(period)s AND f.region_id = ANY(%(regions)s::bigint[])
),
fresh AS (
    SELECT a.indicator_id, a.city_id AS region_id, x.span, a.basis,
           CASE WHEN i.kind IN ('ratio', 'share') THEN
                     CASE WHEN x.n IS NULL OR x.d IS NULL OR x.d = 0 THEN NULL
                          ELSE round((x.n::numeric(38, 18) * i.scale) / x.d, 6) END
                WHEN i.kind = 'milestone' THEN x.k
                ELSE x.v END AS value,
           x.n AS numerator, x.d AS denominator, x.k AS done_count, 1 AS expected_count, 1 AS reported_count,
           CASE WHEN x.quarter_like THEN a.carried ELSE 0 END AS carried_count,
           jsonb_strip_nulls(jsonb_build_object(
               'carried_from', CASE WHEN x.quarter_like AND a.carried > 0 THEN %(carried_from)s::text END,
               'reporters', CASE WHEN x.quarter_like AND a.fresh + a.carried > 1 THEN a.fresh END)) AS coverage,
           -- A city counts as carried at the province only when nothing under it is fresh.
           x.quarter_like AND a.carried > 0 AND a.fresh = 0 AND %(carried_from)s::text IS NOT NULL AS carried_here
    FROM agg a
    JOIN ind i ON i.indicator_id = a.indicator_id
    CROSS JOIN LATERAL (VALUES
        ('quarter', true, a.qv, a.qn, a.qd, a.qk, a.fresh + a.carried > 0),
        ('ytd', i.summed = 0,
         CASE WHEN i.summed = 1 THEN a.yv ELSE a.qv END, CASE WHEN i.summed = 1 THEN a.yn ELSE a.qn END,
         CASE WHEN i.summed = 1 THEN a.yd ELSE a.qd END, CASE WHEN i.summed = 1 THEN a.yk ELSE a.qk END,
         CASE WHEN i.summed = 1 THEN a.yr > 0 ELSE a.fresh + a.carried > 0 END)
    ) x (span, quarter_like, v, n, d, k, present)
    WHERE x.present
),
-- An incremental run: the cities not recomputed stand in with their stored figures.
kept AS (
    SELECT f.indicator_id, f.region_id, f.span, f.basis, f.value, f.numerator, f.denominator, f.done_count,
           f.carried_count > 0 AND COALESCE((f.coverage ->> 'reporters')::int, 0) = 0 AS carried_here
    FROM cur f JOIN ind i ON i.indicator_id = f.indicator_id
    WHERE f.region_id = ANY(%(kept)s::bigint[])
),
cityfig AS (
    SELECT indicator_id, region_id, span, basis, value, numerator, denominator, done_count, carried_here FROM fresh
    UNION ALL
    SELECT * FROM kept
),
pend AS (
    SELECT DISTINCT pb.basis, rep.city_id
    FROM reporting_submission s
    JOIN rep ON rep.region_id = s.region_id
    JOIN (VALUES ('official', 'submitted'), ('official', 'city_approved'), ('preview', 'submitted')) pb (basis, status)
      ON pb.status = s.status
    WHERE s.plan_id = %(plan)s AND s.period_id = %(period)s AND s.status IN ('submitted', 'city_approved')
),
keys AS (
    SELECT bs.basis, i.indicator_id, sp.span
    FROM ind i
    CROSS JOIN (VALUES ('official'), ('preview')) bs (basis)
    CROSS JOIN (VALUES ('quarter'), ('ytd')) sp (span)
),
grid AS (
    SELECT cf.basis, cf.indicator_id, cf.span, SUM(cf.value) AS v, SUM(cf.numerator) AS n,
           SUM(cf.denominator) AS d, SUM(cf.done_count) AS k, COUNT(*) AS reported,
           COUNT(*) FILTER (WHERE cf.carried_here) AS carried, array_agg(cf.region_id) AS ids,
           array_agg(c.code) AS codes, array_agg(c.code) FILTER (WHERE NOT cf.carried_here) AS fresh_codes,
           jsonb_object_agg(c.code, %(carried_from)s::text) FILTER (WHERE cf.carried_here) AS carried_codes
    FROM cityfig cf
    JOIN city c ON c.city_id = cf.region_id
    GROUP BY cf.basis, cf.indicator_id, cf.span
),
waiting AS (
    SELECT p.basis, array_agg(c.code) AS codes FROM pend p JOIN city c ON c.city_id = p.city_id GROUP BY p.basis
),
body AS (
    SELECT bb.basis, dv.indicator_id, sp.span, SUM(dv.value) AS v, SUM(dv.numerator) AS n,
           SUM(dv.denominator) AS d, SUM(CASE WHEN dv.done THEN 1 ELSE 0 END) AS k, array_agg(s.body_id) AS ids
    FROM reporting_submission s
    JOIN reporting_datavalue dv ON dv.submission_id = s.id
    JOIN ind i ON i.indicator_id = dv.indicator_id AND i.is_body
    JOIN b bb ON bb.status = s.status
    CROSS JOIN LATERAL (VALUES ('quarter', s.period_id = %(period)s),
                               ('ytd', i.summed = 1 OR s.period_id = %(period)s)) sp (span, counted)
    WHERE %(home)s AND s.plan_id = %(plan)s AND s.body_id IS NOT NULL AND s.period_id = ANY(%(ytd)s::bigint[])
      AND s.status IN ('confirmed', 'city_approved') AND sp.counted
    GROUP BY bb.basis, dv.indicator_id, sp.span
),
prov AS (
    SELECT k.indicator_id, %(province)s::bigint AS region_id, k.span, k.basis,
           CASE WHEN i.kind IN ('ratio', 'share') THEN
                     CASE WHEN t.n IS NULL OR t.d IS NULL OR t.d = 0 THEN NULL
                          ELSE round((t.n::numeric(38, 18) * i.scale) / t.d, 6) END
                WHEN i.kind = 'milestone' THEN CASE WHEN t.reported > 0 THEN t.k END
                ELSE t.v END AS value,
           t.n AS numerator, t.d AS denominator, t.k AS done_count,
           CASE WHEN i.is_body THEN i.body_expected ELSE %(city_count)s END AS expected_count,
           t.reported - COALESCE(g.carried, 0) AS reported_count, COALESCE(g.carried, 0) AS carried_count,
           CASE WHEN i.is_body THEN jsonb_build_object(
                    'expected', i.body_expected, 'kind', 'body',
                    'reported', (SELECT COALESCE(jsonb_agg(x ORDER BY x), '[]'::jsonb)
                                 FROM (SELECT DISTINCT unnest(t.ids) AS x) u))
                ELSE jsonb_build_object(
                    'expected', %(city_count)s, 'kind', 'city',
                    'reported', COALESCE(
                        (SELECT jsonb_agg(x ORDER BY x COLLATE "C") FROM unnest(g.fresh_codes) x), '[]'::jsonb),
                    'carried', COALESCE(g.carried_codes, '{{}}'::jsonb),
                    -- A carried city is listed as pending too when its new submission is waiting for review.
                    'pending', COALESCE(
                        (SELECT jsonb_agg(x ORDER BY x COLLATE "C") FROM unnest(w.codes) x
                         WHERE NOT x = ANY(COALESCE(g.fresh_codes, '{{}}'::text[]))), '[]'::jsonb),
                    'missing', COALESCE(
                        (SELECT jsonb_agg(x ORDER BY x COLLATE "C") FROM unnest(%(city_codes)s::text[]) x
                         WHERE NOT x = ANY(COALESCE(g.codes, '{{}}'::text[]))
                           AND NOT x = ANY(COALESCE(w.codes, '{{}}'::text[]))), '[]'::jsonb)) END AS coverage
    FROM keys k
    JOIN ind i ON i.indicator_id = k.indicator_id
    LEFT JOIN grid g ON g.basis = k.basis AND g.indicator_id = k.indicator_id AND g.span = k.span
    LEFT JOIN waiting w ON w.basis = k.basis
    LEFT JOIN body bo ON bo.basis = k.basis AND bo.indicator_id = k.indicator_id AND bo.span = k.span
    CROSS JOIN LATERAL (SELECT
        COALESCE(g.v + bo.v, g.v, bo.v) AS v, COALESCE(g.n + bo.n, g.n, bo.n) AS n,
        COALESCE(g.d + bo.d, g.d, bo.d) AS d, COALESCE(g.k, 0) + COALESCE(bo.k, 0) AS k,
        COALESCE(g.ids, '{{}}'::bigint[]) || COALESCE(bo.ids, '{{}}'::bigint[]) AS ids,
        -- Cities and bodies in one set of ids, as the plain path counts them.
        CASE WHEN bo.ids IS NULL THEN COALESCE(g.reported, 0)
             ELSE (SELECT count(DISTINCT x) FROM unnest(COALESCE(g.ids, '{{}}'::bigint[]) || bo.ids) x) END
            AS reported
    ) t
),
fig AS (
    SELECT indicator_id, region_id, span, basis, value, numerator, denominator, done_count, expected_count,
           reported_count, carried_count, coverage
    FROM fresh
    UNION ALL
    SELECT * FROM prov
),
-- Figures that no longer have data (a reopened submission) must go, not linger.
gone AS (
    DELETE FROM reporting_figure
    WHERE id IN (
        SELECT cur.id
        FROM cur
        LEFT JOIN fig
          ON fig.indicator_id = cur.indicator_id AND fig.region_id = cur.region_id AND fig.span = cur.span
         AND fig.basis = cur.basis
        WHERE fig.region_id IS NULL AND cur.region_id = ANY(%(written)s::bigint[])
    )
    RETURNING 1
),
-- Rows whose figures did not change, city or province, are left alone, not even handed to ON CONFLICT (which
-- would lock each one): no new row version, no index churn. A figure's computed_at says when it last changed;
-- when the slice was last checked is its one `checked` row below.
todo AS (
    SELECT fig.*, cur.id AS cur_id
    FROM fig
    LEFT JOIN cur
      ON cur.indicator_id = fig.indicator_id AND cur.region_id = fig.region_id AND cur.span = fig.span
     AND cur.basis = fig.basis
    WHERE cur.region_id IS NULL OR NOT ({same})
),
-- Stored rows are updated by id; new ones inserted (ON CONFLICT only as a guard: the slice lock serialises runs).
upd AS (
    UPDATE reporting_figure f
    SET value = t.value, numerator = t.numerator, denominator = t.denominator, done_count = t.done_count,
        expected_count = t.expected_count, reported_count = t.reported_count, carried_count = t.carried_count,
        coverage = t.coverage, rule_version = %(rule)s, computed_at = %(now)s
    FROM todo t
    WHERE f.id = t.cur_id
    RETURNING 1
),
put AS (
    INSERT INTO reporting_figure ({columns})
    SELECT %(plan)s, indicator_id, region_id, %(period)s, span, basis, value, numerator, denominator, done_count,
           expected_count, reported_count, carried_count, coverage, %(rule)s, %(now)s
    FROM todo
    WHERE cur_id IS NULL
    ON CONFLICT ({key}) DO UPDATE SET {updates}
    WHERE {changed}
    RETURNING 1
),
-- The slice was checked now, whatever changed: the "as of" the pages, the API and the reports show.
checked AS (
    INSERT INTO reporting_slicecheck (plan_id, period_id, province_id, checked_at)
    VALUES (%(plan)s, %(period)s, %(province)s, %(now)s)
    ON CONFLICT (plan_id, period_id, province_id) DO UPDATE SET checked_at = EXCLUDED.checked_at, fingerprint = ''
    RETURNING 1
)
SELECT (SELECT count(*) FROM fig), (SELECT count(*) FROM upd) + (SELECT count(*) FROM put), (SELECT count(*) FROM gone),
       (SELECT count(*) FROM checked)
"""


def _figure_columns_format(sql: str) -> str:
    """A figure-writing statement's column lists filled in: what it inserts, its conflict key, what it updates,
    and how it tells a changed figure (`changed`) from the one stored (`same`)."""
    updated = [c for c in FIGURE_COLUMNS if c not in FIGURE_KEY]
    compared = [c for c in updated if c not in ("computed_at", "plan_id")]
    # Built from the column constants above only; every value is a parameter.
    return sql.format(
        columns=", ".join(FIGURE_COLUMNS),
        key=", ".join(FIGURE_KEY),
        updates=", ".join(f"{c} = EXCLUDED.{c}" for c in updated),
        changed=" OR ".join(f"reporting_figure.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in compared),
        same=" AND ".join(
            f"cur.{c} IS NOT DISTINCT FROM {'%(rule)s' if c == 'rule_version' else 'fig.' + c}" for c in compared
        ),
    )


@cache
def _slice_write_sql() -> str:
    return _figure_columns_format(SLICE_WRITE_SQL)


def slice_write_statement(
    *, ctx: _Plan, period: Period, province_id: int, cities: list[int] | None = None
) -> tuple[str, dict[str, Any]]:
    """PostgreSQL's statement that computes and writes one slice, with its parameters (the benchmark
    explains it). With `cities` (an incremental run), only those cities' figures are recomputed from values,
    and the province's are summed from the stored figures of all its cities, the recomputed ones included."""
    before, ytd = ctx.year_periods(period)
    all_cities = ctx.cities(province_id)
    reporters = ctx.reporters(province_id)
    recomputed = reporters if cities is None else [(r, c) for r, c in reporters if c in set(cities)]
    indicators = list(ctx.indicators.values())
    home = province_id == ctx.home_id
    carried = CARRIED_KINDS
    params = {
        "plan": ctx.plan.pk,
        "period": period.pk,
        "province": province_id,
        "home": home,
        "before": before.pk if before else None,
        "ytd": [p.pk for p in ytd],
        "periods": sorted({period.pk, *(p.pk for p in ytd)} | ({before.pk} if before else set())),
        "carried_from": before.code if before else None,
        "rule": RULE_VERSION,
        "now": timezone.now(),
        "ind_ids": [i.pk for i in indicators],
        "ind_kinds": [i.kind for i in indicators],
        "ind_scales": [i.scale for i in indicators],
        "ind_summed": [int(ctx.summed(i)) for i in indicators],
        "ind_carries": [i.kind in carried and not ctx.summed(i) for i in indicators],
        "ind_body": [i.reporter == Indicator.Reporter.BODY for i in indicators],
        "ind_expected": [int(bool(i.lead_body_id) and home) for i in indicators],
        "city_ids": list(all_cities),
        "city_codes": list(all_cities.values()),
        "city_count": len(all_cities),
        "rep_regions": [region for region, _city in reporters],
        "rep_cities": [city for _region, city in reporters],
        "part_regions": [region for region, _city in recomputed],
        "part_cities": [city for _region, city in recomputed],
        "kept": [] if cities is None else sorted(set(all_cities) - set(cities)),
        "regions": [province_id, *all_cities],
        "written": [province_id, *(all_cities if cities is None else cities)],
    }
    return _slice_write_sql(), params


# The statement's parameters in the order of the prepared statement's $1, $2, …, with their types.
SLICE_WRITE_PARAMS = (
    ("plan", "bigint"),
    ("period", "bigint"),
    ("province", "bigint"),
    ("home", "boolean"),
    ("before", "bigint"),
    ("ytd", "bigint[]"),
    ("periods", "bigint[]"),
    ("carried_from", "text"),
    ("rule", "text"),
    ("now", "timestamptz"),
    ("ind_ids", "bigint[]"),
    ("ind_kinds", "text[]"),
    ("ind_scales", "numeric[]"),
    ("ind_summed", "int[]"),
    ("ind_carries", "boolean[]"),
    ("ind_body", "boolean[]"),
    ("ind_expected", "int[]"),
    ("city_ids", "bigint[]"),
    ("city_codes", "text[]"),
    ("city_count", "int"),
    ("rep_regions", "bigint[]"),
    ("rep_cities", "bigint[]"),
    ("part_regions", "bigint[]"),
    ("part_cities", "bigint[]"),
    ("kept", "bigint[]"),
    ("regions", "bigint[]"),
    ("written", "bigint[]"),
)


@cache
def _slice_write_prepare_sql() -> tuple[str, str]:
    """The statement's name (its text's hash, so a deploy with another text never meets an old one) and its
    PREPARE: planning the statement costs about as much as the raw GROUP BY of a slice, paid once per connection
    instead of once per run."""
    sql = _slice_write_sql()
    for number, (name, _type) in enumerate(SLICE_WRITE_PARAMS, start=1):
        sql = sql.replace(f"%({name})s", f"${number}")
    if "%(" in sql:
        raise RuntimeError("SLICE_WRITE_SQL has a parameter SLICE_WRITE_PARAMS does not name")
    name = "rollup_slice_" + hashlib.sha256(sql.encode()).hexdigest()[:12]
    types = ", ".join(t for _name, t in SLICE_WRITE_PARAMS)
    return name, f"PREPARE {name} ({types}) AS {sql}"


def _slice_write_pg(
    *,
    ctx: _Plan,
    period: Period,
    province_id: int,
    cities: list[int] | None = None,
    params: dict | None = None,
    built: bool = True,
) -> tuple[int, int]:
    """The set-based path: the whole slice, cities and province, computed and merged by one prepared statement.
    `built`: the slice already holds figures (False for a first build, see the plan choice below)."""
    if params is None:
        _sql, params = slice_write_statement(ctx=ctx, period=period, province_id=province_id, cities=cities)
    name, prepare = _slice_write_prepare_sql()
    with connection.cursor() as cursor:
        # A whole slice is planned for its own parameters (a custom plan): measured at national scale, its generic
        # plan ran 100 ms where a custom one, planning included, ran 81 ms (province scale: the same either way).
        # An incremental run's own statement takes the generic plan, which suits it (`_slice_delta_pg`).
        # A first build is not: while a build from empty fills the figure table, custom plans made from its
        # statistics of an empty table cost more than PostgreSQL's own choice (measured at province scale, one
        # process, every slice from empty: 8.3 s with custom plans, 5.7 s without).
        # For the rest of the transaction only (SET LOCAL), and set on every run: one transaction may hold both.
        custom = cities is None and built
        # Whether the statement is prepared is asked of the session itself (a fraction of a millisecond), in the
        # round trip that sets the plan mode: a reopened connection, a pooler's or a DISCARD ALL leave no stale
        # belief behind. PREPARE outlives the transaction it ran in, even a failed one.
        mode = "force_custom_plan" if custom else "auto"
        # One of two constants; the name travels as a parameter.
        sql = f"SET LOCAL plan_cache_mode = {mode}; SELECT count(*) FROM pg_prepared_statements WHERE name = %s"  # noqa: S608
        cursor.execute(sql, [name])
        if not cursor.fetchone()[0]:
            cursor.execute(prepare)
        placeholders = ", ".join(["%s"] * len(SLICE_WRITE_PARAMS))
        cursor.execute(f"EXECUTE {name} ({placeholders})", [params[n] for n, _type in SLICE_WRITE_PARAMS])
        figures, changed, gone, _checked = cursor.fetchone()
    return figures, changed + gone


# PostgreSQL: an incremental run (an approval's) as a DELTA. The province's figures are summed from its cities'
# figures, so the recomputed cities' old and new figures tell how each province figure moves: its sums by their
# difference, its coverage lists by where those cities now stand. This statement reads the province's stored
# figures and the recomputed cities' (a few hundred rows, by the region index), not every city's, and computes
# the recomputed cities' figures from their values exactly as SLICE_WRITE_SQL does: its CTEs up to `agg`, then
# `fresh`, `pend`, `grid`, `waiting`, `body`, `prov` and everything from the deletion of stale figures on are
# SLICE_WRITE_SQL's own text (`_slice_delta_sql`). A province figure is moved by the difference only where that
# gives exactly what summing every city gives (`cls` checks each one); the others are summed from every city's
# stored figures, as SLICE_WRITE_SQL sums them (`kept`, one index probe per figure), or, for an indicator the
# provincial bodies report, from the recomputed cities' figures and the bodies' values when one index probe
# (`shared`) shows that no other city holds a figure of it (their stored figures list city and body ids
# together, which collide, so they cannot tell). The pending lists are read again for every city (`pend`: they move
# with submissions no request names). What it stands on: the stored province figures are what the last run
# wrote from the stored city figures, which holds because every run writes a slice's cities and its province
# together, in one statement and one transaction; a figure edited or deleted by hand breaks it as it breaks the
# stored city figures an incremental run reads back anyway (the fingerprint makes the next nightly rebuild
# recompute the slice; the consistency check recomputes everything).
SLICE_DELTA_SQL = """
-- The stored figures of the province and of the recomputed cities: all of the stored figures this run reads
-- (but for the probes below), and all it may rewrite.
cur AS (
    SELECT f.id, f.indicator_id, f.region_id, f.span, f.basis, f.value, f.numerator, f.denominator, f.done_count,
           f.expected_count, f.reported_count, f.carried_count, f.coverage, f.rule_version
    FROM reporting_figure f
    WHERE f.plan_id + 0 = %(plan)s AND f.period_id = %(period)s AND f.region_id = ANY(%(written)s::bigint[])
),
@fresh@-- The recomputed cities' part of each province figure before this run (their stored figures, read as `kept`
-- reads a city's) and after it (`fresh`): the sums, and the cities' codes by where they stand (fresh, carried).
-- Each city stands once in each array, in no particular order (an ordered aggregate sorts every group apart): the
-- arrays are compared as sets (`@>` both ways) and sorted where they are listed.
moved AS (
    SELECT x.basis, x.indicator_id, x.span,
           sum(x.value) FILTER (WHERE NOT x.new) AS ov, sum(x.numerator) FILTER (WHERE NOT x.new) AS onum,
           sum(x.denominator) FILTER (WHERE NOT x.new) AS oden, sum(x.done_count) FILTER (WHERE NOT x.new) AS ok,
           sum(x.value) FILTER (WHERE x.new) AS nv, sum(x.numerator) FILTER (WHERE x.new) AS nnum,
           sum(x.denominator) FILTER (WHERE x.new) AS nden, sum(x.done_count) FILTER (WHERE x.new) AS nk,
           array_agg(c.code) FILTER (WHERE NOT x.new AND NOT x.carried_here) AS old_r,
           array_agg(c.code) FILTER (WHERE NOT x.new AND x.carried_here) AS old_c,
           array_agg(c.code) FILTER (WHERE x.new AND NOT x.carried_here) AS new_r,
           array_agg(c.code) FILTER (WHERE x.new AND x.carried_here) AS new_c
    FROM (
        SELECT false AS new, f.indicator_id, f.region_id, f.span, f.basis, f.value, f.numerator, f.denominator,
               f.done_count, f.carried_count > 0 AND COALESCE((f.coverage ->> 'reporters')::int, 0) = 0 AS carried_here
        FROM cur f WHERE f.region_id <> %(province)s
        UNION ALL
        SELECT true, indicator_id, region_id, span, basis, value, numerator, denominator, done_count, carried_here
        FROM fresh
    ) x
    JOIN city c ON c.city_id = x.region_id
    GROUP BY x.basis, x.indicator_id, x.span
),
changed AS (
    SELECT COALESCE(array_agg(c.code), '{{}}') AS codes FROM city c WHERE c.city_id = ANY(%(written)s::bigint[])
),
-- The provincial bodies' indicators that another city holds a figure of this quarter (one index probe each).
shared AS (
    SELECT i.indicator_id
    FROM ind i
    WHERE i.is_body AND EXISTS (
        SELECT 1 FROM reporting_figure f
        WHERE f.indicator_id = i.indicator_id AND f.region_id = ANY(%(kept)s::bigint[]) AND f.period_id = %(period)s
          AND f.plan_id + 0 = %(plan)s)
),
-- Every province figure with its stored row and the recomputed cities' move, and how it is computed: 'delta'
-- (the stored figure moved by the difference), 'alone' (a bodies' indicator no other city holds: from the
-- recomputed cities' figures and the bodies' values), 'none' (such an indicator outside the home province, where
-- no body's values count, that the recomputed cities hold no figure of either, before or after: the figure of no
-- figures, `provn`) or 'all' (summed from every city's stored figures).
cls AS (
    SELECT k.basis, k.indicator_id, k.span, k.kind, k.scale, k.body_expected, p.value AS pv, p.numerator AS pn,
           p.denominator AS pd, p.done_count AS pk, p.carried_count AS pc, p.coverage AS pcov,
           p.coverage -> 'reported' AS r, p.coverage -> 'carried' AS c, m.ov, m.onum, m.oden, m.ok, m.nv, m.nnum,
           m.nden, m.nk, o.*,
           CASE
               WHEN k.is_body THEN
                   CASE WHEN k.indicator_id IN (SELECT indicator_id FROM shared) THEN 'all'
                        WHEN NOT %(home)s AND m.basis IS NULL THEN 'none'
                        ELSE 'alone' END
               WHEN p.rule_version = %(rule)s AND p.coverage ->> 'kind' = 'city' AND p.expected_count = %(city_count)s
                   AND p.coverage -> 'expected' = to_jsonb(%(city_count)s::int)
                   AND jsonb_typeof(p.coverage -> 'reported') = 'array'
                   AND jsonb_typeof(p.coverage -> 'carried') = 'object'
                   AND jsonb_typeof(p.coverage -> 'pending') = 'array'
                   AND jsonb_typeof(p.coverage -> 'missing') = 'array'
                   AND jsonb_array_length(p.coverage -> 'reported') = p.reported_count
                   -- Every city listed is one of this province's cities (a city renamed since is not).
                   AND (p.coverage -> 'reported') - %(city_codes)s::text[] = '[]'::jsonb
                   AND (p.coverage -> 'carried') - %(city_codes)s::text[] = '{{}}'::jsonb
                   AND (p.coverage -> 'pending') - %(city_codes)s::text[] = '[]'::jsonb
                   AND (p.coverage -> 'missing') - %(city_codes)s::text[] = '[]'::jsonb
                   -- The recomputed cities stand in the stored lists where their stored figures put them.
                   AND (p.coverage -> 'reported') ?& o.old_r AND NOT (((p.coverage -> 'reported') - o.old_r) ?| x.codes)
                   AND (p.coverage -> 'carried') ?& o.old_c AND NOT (((p.coverage -> 'carried') - o.old_c) ?| x.codes)
                   -- A sum that the recomputed cities leave blank and whose stored total is all theirs: whether the
                   -- other cities' part is zero or blank only their figures say. Ratios and milestones sum no value.
                   AND NOT (m.ov IS NOT NULL AND k.kind NOT IN ('ratio', 'share', 'milestone')
                            AND (p.value IS NULL OR (p.value = m.ov AND m.nv IS NULL)))
                   AND NOT (m.onum IS NOT NULL
                            AND (p.numerator IS NULL OR (p.numerator = m.onum AND m.nnum IS NULL)))
                   AND NOT (m.oden IS NOT NULL
                            AND (p.denominator IS NULL OR (p.denominator = m.oden AND m.nden IS NULL)))
               THEN 'delta'
               ELSE 'all' END AS how
    FROM (
        SELECT bs.basis, i.indicator_id, sp.span, i.kind, i.scale, i.is_body, i.body_expected
        FROM ind i
        CROSS JOIN (VALUES ('official'), ('preview')) bs (basis)
        CROSS JOIN (VALUES ('quarter'), ('ytd')) sp (span)
    ) k
    LEFT JOIN cur p
      ON p.region_id = %(province)s AND p.indicator_id = k.indicator_id AND p.span = k.span AND p.basis = k.basis
    LEFT JOIN moved m ON m.basis = k.basis AND m.indicator_id = k.indicator_id AND m.span = k.span
    CROSS JOIN changed x
    CROSS JOIN LATERAL (SELECT COALESCE(m.old_r, '{{}}') AS old_r, COALESCE(m.old_c, '{{}}') AS old_c,
                               COALESCE(m.new_r, '{{}}') AS new_r, COALESCE(m.new_c, '{{}}') AS new_c) o
),
-- The figures computed as SLICE_WRITE_SQL computes them (its `grid` and `prov` below, over these keys).
keys AS (SELECT basis, indicator_id, span, how FROM cls WHERE how IN ('all', 'alone')),
-- The other cities' stored figures, for the figures summed from every city: one index probe per figure (OFFSET 0
-- keeps it a probe, not a read of every city's figures).
kept AS (
    SELECT f.indicator_id, f.region_id, f.span, f.basis, f.value, f.numerator, f.denominator, f.done_count,
           f.carried_count > 0 AND COALESCE((f.coverage ->> 'reporters')::int, 0) = 0 AS carried_here
    FROM (SELECT * FROM keys WHERE how = 'all') k
    CROSS JOIN LATERAL (
        SELECT f.* FROM reporting_figure f
        WHERE f.indicator_id = k.indicator_id AND f.region_id = ANY(%(kept)s::bigint[]) AND f.period_id = %(period)s
          AND f.span = k.span AND f.basis = k.basis AND f.plan_id + 0 = %(plan)s
        OFFSET 0
    ) f
),
cityfig AS (
    SELECT f.indicator_id, f.region_id, f.span, f.basis, f.value, f.numerator, f.denominator, f.done_count,
           f.carried_here
    FROM fresh f JOIN keys k ON k.basis = f.basis AND k.indicator_id = f.indicator_id AND k.span = f.span
    UNION ALL
    SELECT * FROM kept
),
@pend@@grid@@waiting@@prov@
-- The others: the stored figure moved by the recomputed cities' difference. A sum whose stored total has no part of
-- theirs is theirs added to it; one that has is the rest (the other cities' part: not blank, as `cls` made sure
-- where it matters) plus theirs. Each list keeps the other cities as stored and takes the recomputed ones where
-- they now stand; a figure whose lists all stay (pending included) keeps its stored coverage.
provd AS (
    SELECT c.indicator_id, %(province)s::bigint AS region_id, c.span, c.basis,
           CASE WHEN c.kind IN ('ratio', 'share') THEN
                     CASE WHEN t.n IS NULL OR t.d IS NULL OR t.d = 0 THEN NULL
                          ELSE round((t.n::numeric(38, 18) * c.scale) / t.d, 6) END
                WHEN c.kind = 'milestone' THEN CASE WHEN l.reported + l.carried > 0 THEN t.k END
                ELSE t.v END AS value,
           t.n AS numerator, t.d AS denominator, t.k AS done_count, %(city_count)s AS expected_count,
           l.reported AS reported_count, l.carried AS carried_count,
           -- The lists all stay when the recomputed cities stay where they stood and the pending list is what
           -- it was: every city waiting is listed as reported or pending, every city pending is waiting.
           CASE WHEN l.same AND CASE WHEN w.codes IS NULL THEN c.pcov -> 'pending' = '[]'::jsonb
                                     ELSE c.pcov -> 'pending' <@ to_jsonb(w.codes)
                                          AND c.r || (c.pcov -> 'pending') @> to_jsonb(w.codes) END
                THEN c.pcov
                ELSE jsonb_build_object(
                    'expected', %(city_count)s, 'kind', 'city', 'reported', l.r, 'carried', l.c,
                    -- A carried city is listed as pending too when its new submission is waiting for review.
                    'pending', COALESCE(
                        (SELECT jsonb_agg(y ORDER BY y COLLATE "C") FROM unnest(w.codes) y WHERE NOT l.r ? y),
                        '[]'::jsonb),
                    'missing', COALESCE(
                        (SELECT jsonb_agg(y ORDER BY y COLLATE "C") FROM unnest(%(city_codes)s::text[]) y
                         WHERE NOT l.r ? y AND NOT l.c ? y AND NOT y = ANY(COALESCE(w.codes, '{{}}'::text[]))),
                        '[]'::jsonb)) END AS coverage
    FROM cls c
    CROSS JOIN changed x
    LEFT JOIN waiting w ON w.basis = c.basis
    CROSS JOIN LATERAL (SELECT
        CASE WHEN c.ov IS NULL THEN COALESCE(c.pv + c.nv, c.pv, c.nv)
             WHEN c.pv = c.ov THEN c.nv ELSE c.pv - c.ov + COALESCE(c.nv, 0) END AS v,
        CASE WHEN c.onum IS NULL THEN COALESCE(c.pn + c.nnum, c.pn, c.nnum)
             WHEN c.pn = c.onum THEN c.nnum ELSE c.pn - c.onum + COALESCE(c.nnum, 0) END AS n,
        CASE WHEN c.oden IS NULL THEN COALESCE(c.pd + c.nden, c.pd, c.nden)
             WHEN c.pd = c.oden THEN c.nden ELSE c.pd - c.oden + COALESCE(c.nden, 0) END AS d,
        c.pk - COALESCE(c.ok, 0) + COALESCE(c.nk, 0) AS k
    ) t
    CROSS JOIN LATERAL (SELECT
        CASE WHEN c.old_r @> c.new_r AND c.old_r <@ c.new_r THEN c.r
             WHEN cardinality(c.new_r) = 0 THEN c.r - x.codes
             ELSE (SELECT jsonb_agg(y ORDER BY y COLLATE "C")
                   FROM (SELECT jsonb_array_elements_text(c.r - x.codes) UNION ALL SELECT unnest(c.new_r)) z (y))
             END AS r,
        CASE WHEN c.old_c @> c.new_c AND c.old_c <@ c.new_c THEN c.c
             ELSE (c.c - x.codes) || COALESCE(
                 (SELECT jsonb_object_agg(y, %(carried_from)s::text) FROM unnest(c.new_c) y), '{{}}'::jsonb) END AS c,
        c.pc - cardinality(c.old_c) + cardinality(c.new_c) AS carried,
        c.old_r @> c.new_r AND c.old_r <@ c.new_r AND c.old_c @> c.new_c AND c.old_c <@ c.new_c AS same
    ) l0
    CROSS JOIN LATERAL (SELECT l0.*, jsonb_array_length(l0.r) AS reported) l
    WHERE c.how = 'delta'
),
-- What `prov` computes from no city's figure and no body's values: no sums, no one reported.
provn AS (
    SELECT c.indicator_id, %(province)s::bigint AS region_id, c.span, c.basis, NULL::numeric AS value,
           NULL::numeric AS numerator, NULL::numeric AS denominator, 0 AS done_count, c.body_expected AS expected_count,
           0 AS reported_count, 0 AS carried_count,
           jsonb_build_object('expected', c.body_expected, 'kind', 'body', 'reported', '[]'::jsonb) AS coverage
    FROM cls c
    WHERE c.how = 'none'
),
fig AS (
    SELECT indicator_id, region_id, span, basis, value, numerator, denominator, done_count, expected_count,
           reported_count, carried_count, coverage
    FROM fresh
    UNION ALL
    SELECT * FROM prov
    UNION ALL
    SELECT * FROM provd
    UNION ALL
    SELECT * FROM provn
),
@tail@, (SELECT count(*) FROM keys WHERE how = 'all')
"""


def _slice_write_part(start: str, end: str | None = None) -> str:
    """SLICE_WRITE_SQL's text from `start` up to `end` (or its end): what the delta statement shares with it."""
    at = SLICE_WRITE_SQL.find(start)
    stop = len(SLICE_WRITE_SQL) if end is None else SLICE_WRITE_SQL.find(end, at)
    if at < 0 or stop < 0:
        raise RuntimeError(f"SLICE_WRITE_SQL has no {start!r} … {end!r}: SLICE_DELTA_SQL takes its text from there")
    return SLICE_WRITE_SQL[at:stop]


@cache
def _slice_delta_sql() -> str:
    """SLICE_DELTA_SQL with SLICE_WRITE_SQL's CTEs in their places, formatted as `_slice_write_sql` formats it."""
    sql = (
        _slice_write_part("WITH b (basis", "-- The figures stored for the slice's regions now.")
        + SLICE_DELTA_SQL.lstrip()
    )
    parts = {
        "fresh": _slice_write_part("fresh AS (", "-- An incremental run: the cities not recomputed"),
        "pend": _slice_write_part("pend AS (", "keys AS ("),
        "grid": _slice_write_part("grid AS (", "waiting AS ("),
        "waiting": _slice_write_part("waiting AS (", "prov AS ("),
        "prov": _slice_write_part("prov AS (", "fig AS ("),
        # Up to its last line, the counts, to which the delta adds one: the figures summed from every city.
        "tail": _slice_write_part("-- Figures that no longer have data").rstrip(),
    }
    for name, part in parts.items():
        sql = sql.replace(f"@{name}@", part)
    return _figure_columns_format(sql)


# An incremental run applies the delta (False: it re-sums the province from every city's stored figures with
# SLICE_WRITE_SQL, as before the delta; the tests and the benchmark compare the two).
INCREMENTAL_DELTA = True


def slice_delta_statement(*, ctx: _Plan, period: Period, province_id: int, cities: list[int]) -> dict[str, Any]:
    """SLICE_DELTA_SQL's parameters: those of the slice statement for the same run (`slice_write_statement`)."""
    _sql, params = slice_write_statement(ctx=ctx, period=period, province_id=province_id, cities=cities)
    return params


@cache
def _slice_delta_prepare_sql() -> tuple[str, str, tuple[str, ...]]:
    """The delta statement's name, its PREPARE and its parameters in order (as `_slice_write_prepare_sql`)."""
    sql = _slice_delta_sql()
    used = [(name, kind) for name, kind in SLICE_WRITE_PARAMS if f"%({name})s" in sql]
    for number, (name, _kind) in enumerate(used, start=1):
        sql = sql.replace(f"%({name})s", f"${number}")
    if "%(" in sql:
        raise RuntimeError("SLICE_DELTA_SQL has a parameter SLICE_WRITE_PARAMS does not name")
    name = "rollup_delta_" + hashlib.sha256(sql.encode()).hexdigest()[:12]
    types = ", ".join(kind for _name, kind in used)
    return name, f"PREPARE {name} ({types}) AS {sql}", tuple(name for name, _kind in used)


def _slice_delta_pg(*, ctx: _Plan, period: Period, province_id: int, cities: list[int]) -> tuple[int, int, int]:
    """An incremental run's statement (SLICE_DELTA_SQL): the cities recomputed, the province moved by their
    difference. Returns (figures, written, resummed): as `_slice_write_pg`, and how many province figures were
    summed from every city's stored figures instead (those the difference could not give exactly)."""
    params = slice_delta_statement(ctx=ctx, period=period, province_id=province_id, cities=cities)
    name, prepare, names = _slice_delta_prepare_sql()
    with connection.cursor() as cursor:
        # Whether the session has it prepared is asked of the session itself, by the run's first read
        # (`_plan_around`) or here, as `_slice_write_pg` asks.
        if ctx.delta_prepared is None:
            cursor.execute("SELECT count(*) > 0 FROM pg_prepared_statements WHERE name = %s", [name])
            ctx.delta_prepared = cursor.fetchone()[0]
        if not ctx.delta_prepared:
            cursor.execute(prepare)
            ctx.delta_prepared = True
        # The generic plan (measured at province scale: 13.8 ms of backend CPU a run against 17.7 ms with custom
        # plans, planning included; at national scale 22.9 ms a run against 29.2 ms). Forced: left to PostgreSQL
        # (`auto`), it kept custom plans at national scale, the generic plan's estimate being the higher, and ran
        # 30.8 ms. Set on every run, since a whole-slice run of the same transaction may have forced custom plans;
        # in the same round trip as the statement.
        placeholders = ", ".join(["%s"] * len(names))
        cursor.execute(
            f"SET LOCAL plan_cache_mode = force_generic_plan; EXECUTE {name} ({placeholders})",
            [params[n] for n in names],
        )
        figures, changed, gone, _checked, resummed = cursor.fetchone()
    return figures, changed + gone, resummed


def _slice_write(*, ctx: _Plan, period: Period, province_id: int, cities: list[int] | None = None) -> tuple[int, int]:
    """Rebuild one slice's stored figures (inside the caller's transaction). Returns (figures, written):
    the figures computed, and the figure rows inserted, updated or deleted (0 when nothing changed: then
    cached reads stay valid, see `figures_version_bump`). `cities` narrows an incremental run on PostgreSQL;
    the plain path always rebuilds the whole slice."""
    if connection.vendor == "postgresql":
        if cities is not None and INCREMENTAL_DELTA:
            figures, written, _resummed = _slice_delta_pg(
                ctx=ctx, period=period, province_id=province_id, cities=cities
            )
            return figures, written
        return _slice_write_pg(ctx=ctx, period=period, province_id=province_id, cities=cities)
    return _slice_write_plain(ctx=ctx, period=period, province_id=province_id)


def _slice_write_plain(*, ctx: _Plan, period: Period, province_id: int) -> tuple[int, int]:
    """The portable path: the slice computed in Python (`_slice_compute`) and upserted; the same rows as
    PostgreSQL's statement writes."""
    rows = _slice_compute(ctx=ctx, period=period, province_id=province_id)
    regions = [province_id, *ctx.cities(province_id)]
    keep = {r.key for r in rows}
    # Figures that no longer have data (a reopened submission) must go, not linger.
    stale = [
        pk
        for pk, *key in Figure.objects.filter(plan=ctx.plan, period=period, region_id__in=regions).values_list(
            "pk", "indicator_id", "region_id", "span", "basis"
        )
        if tuple(key) not in keep
    ]
    if stale:
        Figure.objects.filter(pk__in=stale).delete()
    written = _figures_write(plan_id=ctx.plan.pk, period_id=period.pk, rows=rows)
    _slice_checked(plan_id=ctx.plan.pk, period_id=period.pk, province_id=province_id)
    return len(rows), written + len(stale)


def _slice_checked(*, plan_id: int, period_id: int, province_id: int) -> None:
    """The slice was checked now (the plain path; PostgreSQL's statement writes the same row)."""
    SliceCheck.objects.bulk_create(
        [
            SliceCheck(
                plan_id=plan_id, period_id=period_id, province_id=province_id, checked_at=timezone.now(), fingerprint=""
            )
        ],
        update_conflicts=True,
        unique_fields=["plan", "period", "province"],
        update_fields=["checked_at", "fingerprint"],
    )


def _figures_checked(*, plan_id: int, changed: bool) -> None:
    """Slices of the plan were checked in this transaction, and their figures `changed` or not. Changed: a new
    version for cached reads. Either way, once it commits, a warming of the answers every reader shares
    (reporting/services/read_warm.py; coalesced): the figures API's answers also name the slices' check
    times, which every run moves, and the warming keeps the one a province's own system reads; what is kept
    already under the same version is not computed again."""
    if changed:
        figures_version_bump(plan_id=plan_id)
    transaction.on_commit(lambda: read_cache_warm_request(plan_id=plan_id))


# Bumped whenever what the fingerprint covers changes, so that no fingerprint stored before matches.
FINGERPRINT_VERSION = "f1"

# PostgreSQL: what a full recompute of the slice would stand on, and what the slice holds now, in one statement.
# It covers every row the slice statement reads: the submissions of the slice's reporters in its quarters with
# the statuses it reads (counted, in review for `pending`), the values of those it counts, the provincial
# bodies' submissions and values (home province), and the slice's stored figures (every column a figure's
# facts are compared on). Each part is a count and the exact sum of a 64-bit hash of every row: no ordering,
# no sort; a changed, added or removed row changes the sum except with a chance of about 2^-64. The
# statement's parameters (indicators and their kinds, cities and counties, quarters, rule version, the
# statement's own text) come in as one digest. When the slice's stored fingerprint (written only after a full
# recompute) matches, the slice is checked as it stands: only its check time is written, in this statement.
SLICE_FINGERPRINT_SQL = """
WITH sub AS (
    SELECT s.id, s.region_id, s.body_id, s.period_id, s.status
    FROM reporting_submission s
    WHERE s.plan_id = %(plan)s AND s.period_id = ANY(%(periods)s::bigint[])
      AND s.region_id = ANY(%(rep_regions)s::bigint[]) AND s.status IN ('confirmed', 'city_approved', 'submitted')
    UNION ALL
    SELECT s.id, s.region_id, s.body_id, s.period_id, s.status
    FROM reporting_submission s
    WHERE %(home)s AND s.plan_id = %(plan)s AND s.body_id IS NOT NULL AND s.period_id = ANY(%(ytd)s::bigint[])
      AND s.status IN ('confirmed', 'city_approved')
),
inputs AS (
    SELECT %(digest)s
           || '|' || (SELECT count(*) || ':' || COALESCE(sum(hash_record_extended(
                         (s.id, s.region_id, s.body_id, s.period_id, s.status), 0)::numeric), 0) FROM sub s)
           || '|' || (SELECT count(*) || ':' || COALESCE(sum(hash_record_extended(
                         (d.submission_id, d.indicator_id, d.value, d.numerator, d.denominator, d.done), 0
                      )::numeric), 0)
                      FROM sub s JOIN reporting_datavalue d ON d.submission_id = s.id
                      WHERE s.status IN ('confirmed', 'city_approved')) AS part
),
figs AS ({figures}),
hit AS (
    UPDATE reporting_slicecheck c SET checked_at = %(now)s
    FROM inputs, figs
    WHERE c.plan_id = %(plan)s AND c.period_id = %(period)s AND c.province_id = %(province)s AND c.fingerprint <> ''
      AND c.fingerprint = encode(sha256(convert_to(inputs.part || '|' || figs.part, 'UTF8')), 'hex')
    RETURNING 1
)
SELECT inputs.part, figs.n, (SELECT count(*) FROM hit) FROM inputs, figs
"""

# The slice's stored figures as one count and hash sum (see above).
SLICE_FIGURES_HASH_SQL = """
SELECT count(*) AS n, count(*) || ':' || COALESCE(sum(hash_record_extended(
           (f.indicator_id, f.region_id, f.span, f.basis, f.value, f.numerator, f.denominator, f.done_count,
            f.expected_count, f.reported_count, f.carried_count, f.coverage, f.rule_version), 0)::numeric), 0) AS part
FROM reporting_figure f
WHERE f.plan_id + 0 = %(plan)s AND f.period_id = %(period)s AND f.region_id = ANY(%(regions)s::bigint[])
"""

# After a full recompute, in its transaction: the inputs as read before it and the figures it left.
SLICE_FINGERPRINT_STORE_SQL = """
WITH figs AS ({figures})
UPDATE reporting_slicecheck c
SET fingerprint = encode(sha256(convert_to(%(inputs)s || '|' || figs.part, 'UTF8')), 'hex')
FROM figs
WHERE c.plan_id = %(plan)s AND c.period_id = %(period)s AND c.province_id = %(province)s
"""


def _slice_digest(params: dict[str, Any]) -> str:
    """The slice statement's parameters (all but the time) and its text, as one digest."""
    stable = {name: value for name, value in params.items() if name != "now"}
    name, _prepare = _slice_write_prepare_sql()
    text = json.dumps([FINGERPRINT_VERSION, name, stable], default=str, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _slice_verify_or_write(*, ctx: _Plan, period: Period, province_id: int, force: bool) -> tuple[int, int]:
    """PostgreSQL's rebuild of one slice: when nothing it stands on and nothing it holds changed since its last
    full recompute (the fingerprints match), the slice is checked as it stands (its check time written, no
    figure touched); otherwise it is recomputed whole and its new fingerprint stored. Returns (figures, written).

    The inputs are read before the recompute: a change committed in between makes the stored fingerprint
    older than the figures, so the next rebuild recomputes (never the reverse)."""
    _sql, params = slice_write_statement(ctx=ctx, period=period, province_id=province_id)
    params = {**params, "digest": _slice_digest(params)}
    figures_sql = SLICE_FIGURES_HASH_SQL.strip()
    with connection.cursor() as cursor:
        cursor.execute(SLICE_FINGERPRINT_SQL.format(figures=figures_sql), params)
        inputs, figure_count, verified = cursor.fetchone()
    if verified and not force:
        return figure_count, 0
    figures, written = _slice_write_pg(
        ctx=ctx, period=period, province_id=province_id, params=params, built=figure_count > 0
    )
    with connection.cursor() as cursor:
        cursor.execute(SLICE_FINGERPRINT_STORE_SQL.format(figures=figures_sql), {**params, "inputs": inputs})
    return figures, written


def rollup_slice(*, plan_id: int, period_id: int, province_id: int, force: bool = False) -> RollupSummary:
    """One (province, period) slice, in its own transaction: the unit of work of a rebuild task. On
    PostgreSQL a slice whose fingerprint shows nothing changed since its last full recompute is only checked
    (`_slice_verify_or_write`); `force` recomputes it all the same."""
    summary = RollupSummary()
    with transaction.atomic():
        _lock_slice(plan_id=plan_id, period_id=period_id, province_id=province_id)
        period = Period.objects.get(pk=period_id)
        ctx = _Plan(Plan.objects.get(pk=plan_id))
        if connection.vendor == "postgresql":
            figures, written = _slice_verify_or_write(ctx=ctx, period=period, province_id=province_id, force=force)
        else:
            figures, written = _slice_write(ctx=ctx, period=period, province_id=province_id)
        # A slice only checked (nothing changed) keeps the figures' version and every kept page; its new check
        # time is keyed apart where it is shown (the figures API).
        _figures_checked(plan_id=plan_id, changed=bool(written))
    summary.figures, summary.written, summary.slices = figures, written, 1
    summary.periods.append(period.code)
    return summary


# PostgreSQL: the nightly check of many slices of one province (its quarters) in one statement, with exactly the
# fingerprints SLICE_FINGERPRINT_SQL gives one slice at a time. A count and a sum of hashes add up, so each
# submission, value and figure is hashed once, per quarter, and each slice's parts are the sums of the quarters
# it reads (`reads`: its quarters for the cities' and counties' submissions, `body_reads`: the year so far for
# the provincial bodies', home province only), as SLICE_FINGERPRINT_SQL's `periods` and `ytd`. Every row hashed is
# the same record as there (a test compares the two statements on every slice of generated data); the hashes are
# summed as bigint, which PostgreSQL adds up exactly into a numeric, the same number as summing them as numeric
# (and cheaper). A slice whose stored fingerprint matches gets its check time, in this statement; the others are
# returned for a recompute.
SLICES_FINGERPRINT_SQL = """
WITH sl (period_id, digest) AS (SELECT * FROM unnest(%(slices)s::bigint[], %(digests)s::text[])),
rd (src, slice, period_id) AS (
    SELECT 'r', * FROM unnest(%(read_slices)s::bigint[], %(reads)s::bigint[])
    UNION ALL
    SELECT 'b', * FROM unnest(%(body_read_slices)s::bigint[], %(body_reads)s::bigint[])
),
sub AS (
    SELECT 'r' AS src, s.id, s.period_id, s.status,
           hash_record_extended((s.id, s.region_id, s.body_id, s.period_id, s.status), 0) AS h
    FROM reporting_submission s
    WHERE s.plan_id = %(plan)s AND s.period_id = ANY(%(reads)s::bigint[])
      AND s.region_id = ANY(%(rep_regions)s::bigint[]) AND s.status IN ('confirmed', 'city_approved', 'submitted')
    UNION ALL
    SELECT 'b', s.id, s.period_id, s.status,
           hash_record_extended((s.id, s.region_id, s.body_id, s.period_id, s.status), 0)
    FROM reporting_submission s
    WHERE s.plan_id = %(plan)s AND s.body_id IS NOT NULL AND s.period_id = ANY(%(body_reads)s::bigint[])
      AND s.status IN ('confirmed', 'city_approved')
),
subs AS (SELECT src, period_id, count(*) AS n, sum(h) AS h FROM sub GROUP BY src, period_id),
vals AS (
    SELECT s.src, s.period_id, count(*) AS n,
           sum(hash_record_extended(
               (d.submission_id, d.indicator_id, d.value, d.numerator, d.denominator, d.done), 0)) AS h
    FROM sub s JOIN reporting_datavalue d ON d.submission_id = s.id
    WHERE s.status IN ('confirmed', 'city_approved')
    GROUP BY s.src, s.period_id
),
inputs AS (
    SELECT sl.period_id,
           sl.digest || '|' || COALESCE(sum(subs.n), 0) || ':' || COALESCE(sum(subs.h), 0)
           || '|' || COALESCE(sum(vals.n), 0) || ':' || COALESCE(sum(vals.h), 0) AS part
    FROM sl
    LEFT JOIN rd ON rd.slice = sl.period_id
    LEFT JOIN subs ON subs.src = rd.src AND subs.period_id = rd.period_id
    LEFT JOIN vals ON vals.src = rd.src AND vals.period_id = rd.period_id
    GROUP BY sl.period_id, sl.digest
),
figs AS (
    SELECT f.period_id, count(*) AS n, count(*) || ':' || COALESCE(sum(hash_record_extended(
               (f.indicator_id, f.region_id, f.span, f.basis, f.value, f.numerator, f.denominator, f.done_count,
                f.expected_count, f.reported_count, f.carried_count, f.coverage, f.rule_version), 0)), 0)
               AS part
    FROM reporting_figure f
    WHERE f.plan_id + 0 = %(plan)s AND f.period_id = ANY(%(slices)s::bigint[])
      AND f.region_id = ANY(%(regions)s::bigint[])
    GROUP BY f.period_id
),
fp AS (
    SELECT i.period_id, COALESCE(f.n, 0) AS n,
           encode(sha256(convert_to(i.part || '|' || COALESCE(f.part, '0:0'), 'UTF8')), 'hex') AS fingerprint
    FROM inputs i LEFT JOIN figs f ON f.period_id = i.period_id
),
hit AS (
    UPDATE reporting_slicecheck c SET checked_at = %(now)s
    FROM fp
    WHERE c.plan_id = %(plan)s AND c.province_id = %(province)s AND c.period_id = fp.period_id
      AND c.fingerprint <> '' AND c.fingerprint = fp.fingerprint
    RETURNING c.period_id
)
SELECT fp.period_id, fp.n, fp.fingerprint, EXISTS (SELECT 1 FROM hit WHERE hit.period_id = fp.period_id) FROM fp
"""


def _slices_lock(*, plan_id: int, province_id: int, periods: list[Period]) -> None:
    """The locks `_lock_slice` takes for one slice, for every slice of the province at once, in quarter order
    (as a run that also rebuilds later quarters takes them), so no two runs wait on each other in a cycle."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SET LOCAL work_mem = '64MB'; SET LOCAL random_page_cost = 1.1;"
            "SELECT id FROM reporting_period WHERE id = ANY(%s) ORDER BY year, quarter FOR SHARE;"
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(%s::text[]) AS k",
            [
                [p.pk for p in periods],
                [f"rollup:{plan_id}:{p.pk}:{province_id}" for p in periods],
            ],
        )


def _slices_verify_params(*, ctx: _Plan, province_id: int, periods: list[Period]) -> dict[str, Any]:
    """SLICES_FINGERPRINT_SQL's parameters: each slice's digest and quarters read, from the very parameters its
    own statement would be given (`slice_write_statement`)."""
    out: dict[str, Any] = {
        "plan": ctx.plan.pk,
        "province": province_id,
        "now": timezone.now(),
        "slices": [],
        "digests": [],
        "read_slices": [],
        "reads": [],
        "body_read_slices": [],
        "body_reads": [],
    }
    for period in periods:
        _sql, params = slice_write_statement(ctx=ctx, period=period, province_id=province_id)
        out["slices"].append(period.pk)
        out["digests"].append(_slice_digest(params))
        out["read_slices"] += [period.pk] * len(params["periods"])
        out["reads"] += params["periods"]
        if params["home"]:
            out["body_read_slices"] += [period.pk] * len(params["ytd"])
            out["body_reads"] += params["ytd"]
        # The same for every slice of the province.
        out["rep_regions"], out["regions"] = params["rep_regions"], params["regions"]
    return out


def _slices_verify(*, ctx: _Plan, province_id: int, periods: list[Period]) -> dict[int, tuple[int, bool]]:
    """The nightly check of a province's slices (PostgreSQL, in the caller's transaction, under the slices'
    locks): each slice's fingerprint as `_slice_verify_or_write` computes it, all in one statement. Returns, per
    period id, (figures stored, checked): checked when the fingerprint matched, and then its check time is
    written; the others need a recompute."""
    if not periods:
        return {}
    params = _slices_verify_params(ctx=ctx, province_id=province_id, periods=periods)
    with connection.cursor() as cursor:
        cursor.execute(SLICES_FINGERPRINT_SQL, params)
        return {period_id: (figures, checked) for period_id, figures, _fingerprint, checked in cursor.fetchall()}


@dataclass
class ProvinceRebuild:
    """One province's part of the nightly rebuild: the slices found unchanged (only checked) and those that need
    a recompute (queued as their own tasks, or recomputed here in-process)."""

    checked: list[int] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)
    figures: int = 0
    # The ids of the tasks queued for the stale slices (a caller may wait for them).
    queued: list[str] = field(default_factory=list)


def rollup_province_check(
    *, plan_id: int, province_id: int, period_ids: list[int], force: bool = False
) -> ProvinceRebuild:
    """Check every given slice of one province against its fingerprint in one transaction and one statement
    (PostgreSQL): the unchanged ones get their check time, as `rollup_slice` would give each; the others (all
    of them with `force`, or off PostgreSQL, where there are no fingerprints) are returned as stale."""
    out = ProvinceRebuild()
    periods = list(Period.objects.filter(pk__in=period_ids).order_by("year", "quarter"))
    if force or connection.vendor != "postgresql":
        out.stale = [p.pk for p in periods]
        return out
    with transaction.atomic():
        _slices_lock(plan_id=plan_id, province_id=province_id, periods=periods)
        ctx = _Plan(Plan.objects.get(pk=plan_id))
        found = _slices_verify(ctx=ctx, province_id=province_id, periods=periods)
        if any(checked for _figures, checked in found.values()):
            # Their check times moved (the figures API's answers name them); no figure did.
            _figures_checked(plan_id=plan_id, changed=False)
    for period in periods:
        figures, checked = found.get(period.pk, (0, False))
        (out.checked if checked else out.stale).append(period.pk)
        if checked:
            out.figures += figures
    return out


def rollup_province_rebuild(
    *, plan_id: int, province_id: int, period_ids: list[int], force: bool = False
) -> ProvinceRebuild:
    """The nightly rebuild's task for one province: its unchanged slices checked in one statement
    (`rollup_province_check`), one `rollup_slice_task` queued per slice that needs a recompute, so that every
    worker takes a share of the recomputes. Each recompute checks its slice's fingerprint again, under its own
    lock: a slice that changed and changed back in between is only checked."""
    from reporting.tasks import rollup_slice_task

    out = rollup_province_check(plan_id=plan_id, province_id=province_id, period_ids=period_ids, force=force)
    for period_id in out.stale:
        out.queued.append(rollup_slice_task.delay(plan_id, period_id, province_id, force).id)
    return out


# How many years of one province a nightly task checks: whole years, so that a chunk reads only the quarter
# before its first year twice. Four keep the tasks few (national scale: 31 provinces, 93 tasks; measured fixed
# cost ~20 ms a task) while even one province (its eight years, two tasks) is shared by two workers.
NIGHTLY_YEARS_PER_TASK = 4


def rollup_rebuild_partitions(
    *, plan: Plan | None = None, years_per_task: int = NIGHTLY_YEARS_PER_TASK
) -> list[tuple[int, int, list[int]]]:
    """The full rebuild's slices (`rollup_slices`) by plan, province and a few whole years: (plan, province,
    quarters), the unit of the nightly job's tasks."""
    slices = rollup_slices(plan=plan)
    years = dict(Period.objects.filter(pk__in={s[1] for s in slices}).values_list("pk", "year"))
    first = min(years.values(), default=0)
    grouped: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for plan_id, period_id, province_id in slices:
        grouped[(plan_id, province_id, (years[period_id] - first) // years_per_task)].append(period_id)
    return [(plan_id, province_id, period_ids) for (plan_id, province_id, _chunk), period_ids in grouped.items()]


def _requests_claim(*, plan_id: int, period_id: int, province_id: int | None) -> list[tuple[int, int | None]]:
    """Lock the slice's pending requests, (id, region) each, until this run commits or rolls back.

    Not SKIP LOCKED here, though the prompts and the dispatcher use it: two runs of one slice never claim
    side by side (the slice lock serialises them first), so the only other holders are a prompt or the
    dispatcher marking rows for a few milliseconds. Skipping their rows would let a queued run find
    nothing while the prompt, seeing that run's row still queued, sends no other: the rows would wait
    for the dispatcher. Waiting those milliseconds costs nothing."""
    requests = RollupRequest.objects.filter(plan_id=plan_id, period_id=period_id)
    if province_id is not None:
        requests = requests.filter(province_id=province_id)
    return list(requests.select_for_update().order_by("pk").values_list("pk", "region_id"))


# A one-province run's end on PostgreSQL, in one round trip: its requests go, and the slice's requests left
# that no prompt has sent (`_requests_follow_up`) are counted.
REQUESTS_DONE_SQL = """
DELETE FROM reporting_rolluprequest WHERE id = ANY(%s::bigint[]);
SELECT count(*) FROM reporting_rolluprequest
WHERE plan_id = %s AND period_id = %s AND province_id = %s AND dispatched_at IS NULL
"""


def _requests_done(*, plan_id: int, period_id: int, province_id: int | None, claimed: list) -> None:
    """The claimed requests are deleted with the figures they asked for, in this transaction; then
    `_requests_follow_up` (on PostgreSQL, for one province, in the same round trip)."""
    ids = [pk for pk, _region in claimed]
    if province_id is None or connection.vendor != "postgresql":
        RollupRequest.objects.filter(pk__in=ids).delete()
        _requests_follow_up(plan_id=plan_id, period_id=period_id, province_id=province_id, claimed=claimed)
        return
    with connection.cursor() as cursor:
        cursor.execute(REQUESTS_DONE_SQL, [ids, plan_id, period_id, province_id])
        (left,) = cursor.fetchone()
    if left:
        _follow_up_prompts(plan_id=plan_id, period_id=period_id, slices={province_id})


def _requests_follow_up(*, plan_id: int, period_id: int, province_id: int | None, claimed: list) -> None:
    """Requests of the slice committed while this run worked, whose prompt saw this run's queued row and
    so sent nothing: prompt again once this run commits, now that its rows are gone."""
    left = RollupRequest.objects.filter(plan_id=plan_id, period_id=period_id, dispatched_at__isnull=True)
    if province_id is not None:
        left = left.filter(province_id=province_id)
    slices = set(left.exclude(pk__in=[pk for pk, _region in claimed]).values_list("province_id", flat=True))
    _follow_up_prompts(plan_id=plan_id, period_id=period_id, slices=slices)


def _follow_up_prompts(*, plan_id: int, period_id: int, slices: Iterable[int | None]) -> None:
    for each in slices:
        # mypy cannot type a lambda whose parameter has a default (the loop-variable binding idiom) against
        # Callable[[], object]: an open mypy bug (python/mypy#12557, #15459).
        transaction.on_commit(
            lambda each=each: rollup_prompt(plan_id=plan_id, period_id=period_id, province_id=each)  # type: ignore[misc]
        )


def _changed_cities(
    *,
    ctx: _Plan,
    period: Period,
    province_id: int,
    claimed: list[tuple[int, int | None]],
    built: bool | None = None,
) -> list[int] | None:
    """The cities whose reports changed, from the claimed requests; None (rebuild the whole slice) for an
    explicit run with no request, a request for the whole slice, a slice never computed, or off PostgreSQL.
    `built`: whether the province holds figures for the period, when the caller has asked already.

    The requests are rows, committed with the changes they name: a claimed request's change is visible to
    this run's reads, so which cities to recompute depends on no machine's clock."""
    if connection.vendor != "postgresql" or not claimed or not ctx.reporters(province_id):
        return None
    city_of = dict(ctx.reporters(province_id))
    if any(region is None or region not in city_of for _pk, region in claimed):
        return None
    if built is None:
        built = Figure.objects.filter(plan=ctx.plan, period=period, region_id=province_id).exists()
    if not built:
        return None
    dirty = sorted({city_of[region] for _pk, region in claimed if region is not None})
    # Every city changed (a quarter-end burst): the whole slice in one pass is cheaper.
    return None if set(dirty) >= set(ctx.cities(province_id)) else dirty


def _requests_hand_on(
    *, plan_id: int, province_id: int, later: list[Period], claimed: list[tuple[int, int | None]]
) -> None:
    """A queued one-province run's later quarters of the year (their year-to-date and carry-forward include
    this quarter): one request per later quarter and changed region, written in this run's transaction (so
    they exist exactly when this quarter's figures do), and a prompt for each after it commits. Each later
    quarter is then its own slice run, coalesced like an approval's: a burst of approvals in the year's early
    quarters queues the later quarter once, not once per approval."""
    regions = sorted({region for _pk, region in claimed}, key=lambda region: -1 if region is None else region)
    RollupRequest.objects.bulk_create(
        RollupRequest(plan_id=plan_id, period_id=each.pk, province_id=province_id, region_id=region)
        for each in later
        for region in regions
    )
    for each in later:
        transaction.on_commit(
            lambda each=each: rollup_prompt(plan_id=plan_id, period_id=each.pk, province_id=province_id)  # type: ignore[misc]
        )


def rollup_period(
    *, plan_id: int, period_id: int, province_id: int | None = None, requested: bool = False
) -> RollupSummary:
    """Rebuild the figures of a period and of the year's later quarters (their year-to-date includes it),
    for one province or, by default, every province of the plan; one transaction, which also deletes the
    slice's pending rollup requests: they go with the figures they asked for, or not at all.

    `requested` (a run the outbox queued): with no pending request left, an earlier run took them and
    there is nothing to do. A queued one-province run computes its own quarter only and hands the later
    quarters on to the outbox (`_requests_hand_on`), in its transaction: each is a slice of its own, rebuilt
    atomically by its own run, and each slice says when it was last checked. An explicit run (a command, an
    import) still computes them all in its one transaction."""
    summary = RollupSummary()
    # A queued run in a transaction of its own commits without waiting for the disk (ASYNC_COMMIT_SQL).
    async_commit = requested and not connection.in_atomic_block
    with transaction.atomic():
        claimed, built = _lock_and_claim(
            plan_id=plan_id, period_id=period_id, province_id=province_id, async_commit=async_commit
        )
        summary.requests = len(claimed)
        if requested and not claimed:
            _requests_follow_up(plan_id=plan_id, period_id=period_id, province_id=province_id, claimed=claimed)
            return summary
        # The period with the quarters of its year and the year before, in one query: the later quarters below,
        # and last quarter and the year so far for every slice statement of this run (`_Plan.year_periods`).
        # PostgreSQL: with the plan and its indicators' digest, in the same statement (`_plan_around`).
        found = (
            _plan_around(plan_id=plan_id, period_id=period_id, province_id=province_id)
            if connection.vendor == "postgresql"
            else None
        )
        if found is not None:
            ctx, around = found
        else:
            ctx = _Plan(Plan.objects.get(pk=plan_id))
            this_year = Period.objects.filter(pk=period_id).values("year")
            year_before = Period.objects.filter(pk=period_id).annotate(before=F("year") - 1).values("before")
            around = list(Period.objects.filter(Q(year__in=this_year) | Q(year__in=year_before)))
        period = next((p for p in around if p.pk == period_id), None)
        if period is None:
            raise Period.DoesNotExist(f"no period {period_id}")
        ctx.periods_seed(year=period.year, rows=around)
        provinces = [p.pk for p in plan_provinces(plan=ctx.plan)] if province_id is None else [province_id]
        # Later quarters of the year include this one in their year-to-date; quarters that have not
        # ended yet get no figures (carrying a stock into an unfinished quarter would invent data).
        today = timezone.localdate()
        later = sorted(
            (p for p in around if p.year == period.year and p.quarter > period.quarter and p.end < today),
            key=lambda p: p.quarter,
        )
        handed_on = requested and province_id is not None
        # A one-province run (what an approval queues) recomputes only the cities whose reports changed.
        dirty = (
            _changed_cities(ctx=ctx, period=period, province_id=province_id, claimed=claimed, built=built)
            if province_id is not None
            else None
        )
        summary.cities = dirty
        for each in [period, *([] if handed_on else later)]:
            if each.pk != period.pk:
                _lock_slice(plan_id=plan_id, period_id=each.pk, province_id=province_id)
            for province in provinces:
                cities = dirty
                # A later quarter never computed has no stored city figures to sum the province from.
                if (
                    cities is not None
                    and each.pk != period.pk
                    and not Figure.objects.filter(plan_id=plan_id, period=each, region_id=province).exists()
                ):
                    cities = None
                figures, written = _slice_write(ctx=ctx, period=each, province_id=province, cities=cities)
                summary.figures += figures
                summary.written += written
                summary.slices += 1
            summary.periods.append(each.code)
        if handed_on and later:
            # province_id is set whenever a run hands on (see `handed_on`).
            _requests_hand_on(plan_id=plan_id, province_id=cast(int, province_id), later=later, claimed=claimed)
            summary.handed_on = [each.code for each in later]
        _requests_done(plan_id=plan_id, period_id=period_id, province_id=province_id, claimed=claimed)
        # Last, so that the version row is locked only until the commit: cached reads follow the new figures.
        # A run that changed no figure (a nightly rebuild, an approval that moved nothing) keeps the version,
        # and with it every kept page; the check time it records is keyed apart where it is shown.
        _figures_checked(plan_id=plan_id, changed=bool(summary.written))
    return summary


def rollup_run(
    *, plan_id: int, period_id: int, province_id: int | None = None, requested: bool = False
) -> RollupSummary:
    """What the queued task does: roll the slice up, taking its pending requests with it."""
    return rollup_period(plan_id=plan_id, period_id=period_id, province_id=province_id, requested=requested)


def _slice_requests(*, plan_id: int, period_id: int, province_id: int | None):
    return RollupRequest.objects.filter(plan_id=plan_id, period_id=period_id, province_id=province_id)


def _send(*, plan_id: int, period_id: int, province_id: int | None) -> bool:
    """Queue the slice's rollup; False (logged, never raised) when the broker cannot take it. The request
    rows stay either way: the beat dispatcher sends what is not done in time."""
    from reporting.tasks import rollup_period_task

    return task_send(rollup_period_task, plan_id, period_id, province_id, True)


def _undispatch(ids: list[int]) -> None:
    # Best effort: the next approval in the slice (or the dispatcher) sends the task the broker refused.
    try:
        RollupRequest.objects.filter(pk__in=ids).update(dispatched_at=None)
    except DatabaseError:
        logger.warning("could not reset rollup requests %s after a failed send", ids, exc_info=True)


def rollup_prompt(*, plan_id: int, period_id: int, province_id: int | None) -> bool:
    """After the change commits: queue one task for the slice, unless one is already queued and not yet
    started (a dispatched request nobody holds), which will take this request too: a burst of approvals
    in one province and quarter costs one task, not one per approval. Never raises: the change is safe
    in the outbox whatever happens to the broker. True when a task was sent."""
    try:
        with transaction.atomic():
            rows = list(
                _slice_requests(plan_id=plan_id, period_id=period_id, province_id=province_id)
                .select_for_update(skip_locked=True)
                .values_list("pk", "dispatched_at")
            )
            if not rows or any(at is not None for _pk, at in rows):
                return False
            ids = [pk for pk, _at in rows]
            # Marked and committed before the send: the worker must find the rows unlocked.
            RollupRequest.objects.filter(pk__in=ids).update(dispatched_at=Now())
    except DatabaseError:
        logger.warning("rollup prompt failed; the dispatcher will send the request", exc_info=True)
        return False
    if _send(plan_id=plan_id, period_id=period_id, province_id=province_id):
        return True
    _undispatch(ids)
    return False


def rollup_enqueue(*, plan_id: int, period_id: int, region_id: int | None = None) -> None:
    """Ask for a recompute in the caller's transaction: the request row commits with the change or not at
    all, and a worker is prompted only once it has committed. Given the reporting region, only its
    province is recomputed (and, on PostgreSQL, only its city); the province itself means the whole slice."""
    province_id = province_of(region_id=region_id) if region_id is not None else None
    RollupRequest.objects.create(plan_id=plan_id, period_id=period_id, province_id=province_id, region_id=region_id)
    transaction.on_commit(lambda: rollup_prompt(plan_id=plan_id, period_id=period_id, province_id=province_id))


def rollup_requests_dispatch(*, after_seconds: int | None = None) -> int:
    """The beat's sweep: one task per slice that has requests not taken `after_seconds` (default
    ROLLUP_DISPATCH_AFTER_SECONDS) after they were made or last sent; a broker that was down, a task lost
    with a worker, a send that never happened. Returns the number of tasks sent."""
    after = settings.ROLLUP_DISPATCH_AFTER_SECONDS if after_seconds is None else after_seconds
    # The database's clock on both sides of the comparison, as for created_at.
    cutoff = ExpressionWrapper(Now() - timedelta(seconds=after), output_field=DateTimeField())
    with transaction.atomic():
        # province_id is null for a plan-wide slice; the plugin types the nullable key's column as int.
        due: list[tuple[int, int, int, int | None]] = list(
            RollupRequest.objects.select_for_update(skip_locked=True)
            .filter(Q(dispatched_at__isnull=True, created_at__lte=cutoff) | Q(dispatched_at__lte=cutoff))
            .values_list("pk", "plan_id", "period_id", "province_id")
        )
        RollupRequest.objects.filter(pk__in=[row[0] for row in due]).update(dispatched_at=Now())
    slices: dict[tuple[int, int, int | None], list[int]] = defaultdict(list)
    for pk, plan_id, period_id, province_id in due:
        slices[(plan_id, period_id, province_id)].append(pk)
    sent = 0
    for (plan_id, period_id, province_id), ids in sorted(slices.items(), key=lambda kv: (*kv[0][:2], kv[0][2] or 0)):
        if _send(plan_id=plan_id, period_id=period_id, province_id=province_id):
            sent += 1
        else:
            _undispatch(ids)
    return sent


def rollup_slices(*, plan: Plan | None = None) -> list[tuple[int, int, int]]:
    """Every (plan, period, province) slice a full rebuild writes: quarters of the years that have
    submissions (the first quarter, and the later ones that have ended)."""
    today = timezone.localdate()
    out = []
    plans = [plan] if plan is not None else list(Plan.objects.order_by("pk"))
    for each in plans:
        years = set(Submission.objects.filter(plan=each).values_list("period__year", flat=True).distinct())
        if not years:
            continue
        provinces = [p.pk for p in plan_provinces(plan=each)]
        for period in Period.objects.filter(year__in=years).order_by("year", "quarter"):
            if period.quarter != 1 and period.end >= today:
                continue
            out += [(each.pk, period.pk, province) for province in provinces]
    return out


def rollup_everything(*, force: bool = False) -> dict:
    """The full rebuild in this process: every slice, one transaction each; with `force`, every slice is
    recomputed even when its fingerprint shows nothing changed."""
    done = []
    started = time.monotonic()
    for plan_id, province_id, period_ids in rollup_rebuild_partitions():
        found = rollup_province_check(plan_id=plan_id, province_id=province_id, period_ids=period_ids, force=force)
        for period_id in found.stale:
            rollup_slice(plan_id=plan_id, period_id=period_id, province_id=province_id, force=force)
        done += [f"{plan_id}:{period_id}:{province_id}" for period_id in period_ids]
    return {"rebuilt": done, "seconds": round(time.monotonic() - started, 3)}


def rollup_rebuild_enqueue(*, plan: Plan | None = None) -> int:
    """The full rebuild, partitioned by plan and province: one task per province (`rollup_province_rebuild`)
    checks its unchanged slices in one statement and queues one task per slice that needs a recompute, so that
    N workers on N machines share both. Returns the number of province tasks queued."""
    from reporting.tasks import rollup_province_task

    partitions = rollup_rebuild_partitions(plan=plan)
    for plan_id, province_id, period_ids in partitions:
        rollup_province_task.delay(plan_id, province_id, period_ids)
    return len(partitions)


def _figure_key(f: Figure) -> tuple:
    return (f.indicator_id, f.region_id, f.period_id, f.span, f.basis)


def _figure_facts(f: Figure) -> tuple:
    return (f.value, f.numerator, f.denominator, f.done_count, f.reported_count, f.carried_count)


def rollup_consistency_check(*, repair: bool = True) -> dict:
    """Recompute every slice's figures in memory and compare with what is stored; record the drift and,
    by default, repair it by rebuilding the drifting periods."""
    from reporting.models import ConsistencyCheck

    results = {}
    for plan in Plan.objects.all():
        if plan_province(plan) is None:
            continue
        ctx = _Plan(plan)
        provinces = [p.pk for p in plan_provinces(plan=plan)]
        period_ids = set(Submission.objects.filter(plan=plan).values_list("period_id", flat=True))
        period_ids |= set(Figure.objects.filter(plan=plan).values_list("period_id", flat=True))
        differences = []
        checked = 0
        drifting: set[tuple[int, int]] = set()
        for period in Period.objects.filter(pk__in=period_ids):
            for province_id in provinces:
                fresh = _slice_compute(ctx=ctx, period=period, province_id=province_id)
                want = {(r.indicator_id, r.region_id, period.pk, r.span, r.basis): r.facts() for r in fresh}
                regions = [province_id, *ctx.cities(province_id)]
                have = {
                    _figure_key(f): _figure_facts(f)
                    for f in Figure.objects.filter(plan=plan, period=period, region_id__in=regions)
                }
                checked += len(have)
                for key in want.keys() | have.keys():
                    if want.get(key) != have.get(key):
                        drifting.add((period.pk, province_id))
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
            for period_id, province_id in sorted(drifting):
                rollup_slice(plan_id=plan.pk, period_id=period_id, province_id=province_id)
        ConsistencyCheck.objects.create(
            plan=plan,
            figures_checked=checked,
            drift_count=len(differences),
            differences=differences[:500],
            repaired=repair and bool(drifting),
        )
        results[plan.code] = len(differences)
    return results
