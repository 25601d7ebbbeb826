"""A forced recompute of many slices of one province at once (PostgreSQL): the same figures, check times and
fingerprints as recomputing each slice with `rollups.rollup_slice(force=True)`, in three statements instead of
three per slice.

The per-slice statement (`rollups.SLICE_WRITE_SQL`) reads, for each quarter, that quarter's values, last
quarter's (the carry) and the year's so far (year to date): a value is read, windowed and summed once per slice
that reads it, up to five times. Here each value is read once for all the slices (`BULK_WRITE_SQL`):

- this quarter's sums per quarter, city and indicator come from one GROUP BY over the values;
- the carry: a reporter's value of a stock-like indicator stands in the next quarter's slice when the reporter
  has no value there (for the official basis: no confirmed one), found by one join of the values with
  themselves on (reporter, indicator, next quarter): the same rule as the per-slice statement's window count;
- the year to date of indicators that add up over time: the per-quarter city sums (not the values) summed
  over the year's quarters up to each slice;
- then the city figures, the province's with its coverage, and one compare and merge into the figure table
  for all the slices, writing only the rows that changed and every slice's check time, as the per-slice
  statement does for one.

Sums of numerics are exact, so summing the values per quarter first and the quarters per slice after gives the
per-slice statement's sums to the last digit; a test recomputes generated data both ways and compares every
column of every figure, coverage included, and the fingerprints stored.

Locks and atomicity: the slices' locks are the nightly check's (`rollups._slices_lock`: every quarter's period
row FOR SHARE and every slice's advisory lock, in quarter order), held for one transaction that writes all the
slices: readers see every slice's old figures or every slice's new ones. The fingerprints stored are the
per-slice path's: the inputs are hashed by the nightly check's own statement (`rollups.SLICES_FINGERPRINT_SQL`,
up to its `inputs` part) before the recompute, the figures after it, as `rollups._slice_verify_or_write` does.
"""

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from measures.models import Plan
from reporting.models import Period
from reporting.services import rollups

# A comment the statement starts with, that names it in a log or a captured query.
MARK = "-- rollups_bulk: a province's slices recomputed"
BULK_WRITE_SQL = """-- rollups_bulk: a province's slices recomputed
WITH b (basis, status) AS (VALUES ('official', 'confirmed'), ('preview', 'confirmed'), ('preview', 'city_approved')),
ind (indicator_id, kind, scale, summed, carries, is_body, body_expected) AS (
    SELECT * FROM unnest(%(ind_ids)s::bigint[], %(ind_kinds)s::text[], %(ind_scales)s::numeric[],
                         %(ind_summed)s::int[], %(ind_carries)s::bool[], %(ind_body)s::bool[], %(ind_expected)s::int[])
),
city (city_id, code) AS (SELECT * FROM unnest(%(city_ids)s::bigint[], %(city_codes)s::text[])),
rep (region_id, city_id) AS (SELECT * FROM unnest(%(rep_regions)s::bigint[], %(rep_cities)s::bigint[])),
-- The slices: their quarter, last quarter (NULL when there is none) and its code.
sl (period_id, before, carried_from) AS (
    SELECT * FROM unnest(%(sl_periods)s::bigint[], %(sl_before)s::bigint[], %(sl_carried_from)s::text[])
),
-- Which quarters make each slice's year so far (the slice's own included).
ym (slice, period_id) AS (SELECT * FROM unnest(%(ym_slices)s::bigint[], %(ym_periods)s::bigint[])),
-- Every value any slice reads, once. A reporter has one submission per quarter and one value per indicator in it
-- (unique constraints), so a row is a (reporter, indicator, quarter).
v AS (
    SELECT s.region_id, r.city_id, d.indicator_id, s.period_id, s.status = 'confirmed' AS conf, i.summed, i.carries,
           d.value, d.numerator, d.denominator, CASE WHEN d.done THEN 1 ELSE 0 END AS done
    FROM reporting_submission s
    JOIN rep r ON r.region_id = s.region_id
    JOIN reporting_datavalue d ON d.submission_id = s.id
    JOIN ind i ON i.indicator_id = d.indicator_id
    WHERE s.plan_id = %(plan)s AND s.period_id = ANY(%(reads)s::bigint[])
      AND s.status IN ('confirmed', 'city_approved')
),
-- Fresh values per quarter, city and indicator; official counts confirmed values, preview those in city review too.
cq AS (
    SELECT period_id, city_id, indicator_id, summed,
           count(*) FILTER (WHERE conf) AS n_c, sum(value) FILTER (WHERE conf) AS v_c,
           sum(numerator) FILTER (WHERE conf) AS nu_c, sum(denominator) FILTER (WHERE conf) AS de_c,
           sum(done) FILTER (WHERE conf) AS k_c,
           count(*) AS n_a, sum(value) AS v_a, sum(numerator) AS nu_a, sum(denominator) AS de_a, sum(done) AS k_a
    FROM v GROUP BY period_id, city_id, indicator_id, summed
),
-- Carried: a reporter's value of last quarter stands in a slice where the reporter has none of its own (official:
-- no confirmed one), stock-like indicators only, one quarter only.
cr AS (
    SELECT sl.period_id AS slice, p.city_id, p.indicator_id,
           p.conf AND NOT (p.nxt IS NOT DISTINCT FROM sl.period_id AND p.nxt_conf) AS c_c,
           p.nxt IS DISTINCT FROM sl.period_id AS c_a,
           p.value, p.numerator, p.denominator, p.done
    FROM (
        SELECT w.*, lead(w.period_id) OVER x AS nxt, lead(w.conf) OVER x AS nxt_conf
        FROM v w JOIN unnest(%(reads)s::bigint[], %(read_ords)s::int[]) o (period_id, ord) ON o.period_id = w.period_id
        WHERE w.carries
        WINDOW x AS (PARTITION BY w.region_id, w.indicator_id ORDER BY o.ord)
    ) p
    JOIN sl ON sl.before = p.period_id
    WHERE p.nxt IS DISTINCT FROM sl.period_id OR (p.conf AND NOT p.nxt_conf)
),
parts (slice, city_id, indicator_id, fresh_c, carried_c, qv_c, qn_c, qd_c, qk_c, yr_c, yv_c, yn_c, yd_c, yk_c,
       fresh_a, carried_a, qv_a, qn_a, qd_a, qk_a, yr_a, yv_a, yn_a, yd_a, yk_a) AS (
    SELECT sl.period_id, q.city_id, q.indicator_id, q.n_c, 0::bigint, q.v_c, q.nu_c, q.de_c, q.k_c,
           0::bigint, NULL::numeric, NULL::numeric, NULL::numeric, NULL::bigint,
           q.n_a, 0::bigint, q.v_a, q.nu_a, q.de_a, q.k_a, 0::bigint, NULL::numeric, NULL::numeric, NULL::numeric,
           NULL::bigint
    FROM cq q JOIN sl ON sl.period_id = q.period_id
    UNION ALL
    SELECT c.slice, c.city_id, c.indicator_id, 0, count(*) FILTER (WHERE c_c),
           sum(value) FILTER (WHERE c_c), sum(numerator) FILTER (WHERE c_c), sum(denominator) FILTER (WHERE c_c),
           sum(done) FILTER (WHERE c_c), 0, NULL, NULL, NULL, NULL,
           0, count(*) FILTER (WHERE c_a),
           sum(value) FILTER (WHERE c_a), sum(numerator) FILTER (WHERE c_a), sum(denominator) FILTER (WHERE c_a),
           sum(done) FILTER (WHERE c_a), 0, NULL, NULL, NULL, NULL
    FROM cr c GROUP BY c.slice, c.city_id, c.indicator_id
    UNION ALL
    -- The year so far of indicators that add up over time: the quarters' city sums, not the values again.
    SELECT ym.slice, q.city_id, q.indicator_id, 0, 0, NULL, NULL, NULL, NULL, q.n_c, q.v_c, q.nu_c, q.de_c, q.k_c,
           0, 0, NULL, NULL, NULL, NULL, q.n_a, q.v_a, q.nu_a, q.de_a, q.k_a
    FROM cq q JOIN ym ON ym.period_id = q.period_id
    WHERE q.summed = 1
),
sums AS (
    SELECT slice, city_id, indicator_id,
           sum(fresh_c) AS fresh_c, sum(carried_c) AS carried_c, sum(qv_c) AS qv_c, sum(qn_c) AS qn_c,
           sum(qd_c) AS qd_c, sum(qk_c) AS qk_c, sum(yr_c) AS yr_c, sum(yv_c) AS yv_c, sum(yn_c) AS yn_c,
           sum(yd_c) AS yd_c, sum(yk_c) AS yk_c,
           sum(fresh_a) AS fresh_a, sum(carried_a) AS carried_a, sum(qv_a) AS qv_a, sum(qn_a) AS qn_a,
           sum(qd_a) AS qd_a, sum(qk_a) AS qk_a, sum(yr_a) AS yr_a, sum(yv_a) AS yv_a, sum(yn_a) AS yn_a,
           sum(yd_a) AS yd_a, sum(yk_a) AS yk_a
    FROM parts GROUP BY slice, city_id, indicator_id
),
agg AS (
    SELECT x.*
    FROM sums s
    CROSS JOIN LATERAL (VALUES
        ('official', s.slice, s.indicator_id, s.city_id, s.fresh_c, s.carried_c, s.qv_c, s.qn_c, s.qd_c, s.qk_c,
         s.yr_c, s.yv_c, s.yn_c, s.yd_c, s.yk_c),
        ('preview', s.slice, s.indicator_id, s.city_id, s.fresh_a, s.carried_a, s.qv_a, s.qn_a, s.qd_a, s.qk_a,
         s.yr_a, s.yv_a, s.yn_a, s.yd_a, s.yk_a)
    ) x (basis, slice, indicator_id, city_id, fresh, carried, qv, qn, qd, qk, yr, yv, yn, yd, yk)
),
-- The figures stored for the slices' regions now.
cur AS (
    SELECT f.id, f.indicator_id, f.region_id, f.period_id, f.span, f.basis, f.value, f.numerator, f.denominator,
           f.done_count, f.expected_count, f.reported_count, f.carried_count, f.coverage, f.rule_version
    FROM reporting_figure f
    WHERE f.plan_id + 0 = %(plan)s AND f.period_id = ANY(%(sl_periods)s::bigint[])
      AND f.region_id = ANY(%(regions)s::bigint[])
),
-- The city figures, by the indicator's kind (as rollups.SLICE_WRITE_SQL's `fresh`).
fresh AS (
    SELECT a.slice AS period_id, a.indicator_id, a.city_id AS region_id, x.span, a.basis,
           CASE WHEN i.kind IN ('ratio', 'share') THEN
                     CASE WHEN x.n IS NULL OR x.d IS NULL OR x.d = 0 THEN NULL
                          ELSE round((x.n::numeric(38, 18) * i.scale) / x.d, 6) END
                WHEN i.kind = 'milestone' THEN x.k
                ELSE x.v END AS value,
           x.n AS numerator, x.d AS denominator, x.k AS done_count, 1 AS expected_count, 1 AS reported_count,
           CASE WHEN x.quarter_like THEN a.carried ELSE 0 END AS carried_count,
           jsonb_strip_nulls(jsonb_build_object(
               'carried_from', CASE WHEN x.quarter_like AND a.carried > 0 THEN sl.carried_from END,
               'reporters', CASE WHEN x.quarter_like AND a.fresh + a.carried > 1 THEN a.fresh END)) AS coverage,
           x.quarter_like AND a.carried > 0 AND a.fresh = 0 AND sl.carried_from IS NOT NULL AS carried_here,
           sl.carried_from
    FROM agg a
    JOIN ind i ON i.indicator_id = a.indicator_id
    JOIN sl ON sl.period_id = a.slice
    CROSS JOIN LATERAL (VALUES
        ('quarter', true, a.qv, a.qn, a.qd, a.qk, a.fresh + a.carried > 0),
        ('ytd', i.summed = 0,
         CASE WHEN i.summed = 1 THEN a.yv ELSE a.qv END, CASE WHEN i.summed = 1 THEN a.yn ELSE a.qn END,
         CASE WHEN i.summed = 1 THEN a.yd ELSE a.qd END, CASE WHEN i.summed = 1 THEN a.yk ELSE a.qk END,
         CASE WHEN i.summed = 1 THEN a.yr > 0 ELSE a.fresh + a.carried > 0 END)
    ) x (span, quarter_like, v, n, d, k, present)
    WHERE x.present
),
pend AS (
    SELECT DISTINCT s.period_id AS slice, pb.basis, rep.city_id
    FROM reporting_submission s
    JOIN rep ON rep.region_id = s.region_id
    JOIN (VALUES ('official', 'submitted'), ('official', 'city_approved'), ('preview', 'submitted')) pb (basis, status)
      ON pb.status = s.status
    WHERE s.plan_id = %(plan)s AND s.period_id = ANY(%(sl_periods)s::bigint[])
      AND s.status IN ('submitted', 'city_approved')
),
keys AS (
    SELECT sl.period_id AS slice, bs.basis, i.indicator_id, sp.span
    FROM sl
    CROSS JOIN ind i
    CROSS JOIN (VALUES ('official'), ('preview')) bs (basis)
    CROSS JOIN (VALUES ('quarter'), ('ytd')) sp (span)
),
grid AS (
    SELECT cf.period_id AS slice, cf.basis, cf.indicator_id, cf.span, SUM(cf.value) AS v, SUM(cf.numerator) AS n,
           SUM(cf.denominator) AS d, SUM(cf.done_count) AS k, COUNT(*) AS reported,
           COUNT(*) FILTER (WHERE cf.carried_here) AS carried, array_agg(cf.region_id) AS ids,
           array_agg(c.code) AS codes, array_agg(c.code) FILTER (WHERE NOT cf.carried_here) AS fresh_codes,
           jsonb_object_agg(c.code, cf.carried_from) FILTER (WHERE cf.carried_here) AS carried_codes
    FROM fresh cf
    JOIN city c ON c.city_id = cf.region_id
    GROUP BY cf.period_id, cf.basis, cf.indicator_id, cf.span
),
waiting AS (
    SELECT p.slice, p.basis, array_agg(c.code) AS codes
    FROM pend p JOIN city c ON c.city_id = p.city_id
    GROUP BY p.slice, p.basis
),
body AS (
    SELECT ym.slice, bb.basis, dv.indicator_id, sp.span, SUM(dv.value) AS v, SUM(dv.numerator) AS n,
           SUM(dv.denominator) AS d, SUM(CASE WHEN dv.done THEN 1 ELSE 0 END) AS k, array_agg(s.body_id) AS ids
    FROM reporting_submission s
    JOIN ym ON ym.period_id = s.period_id
    JOIN reporting_datavalue dv ON dv.submission_id = s.id
    JOIN ind i ON i.indicator_id = dv.indicator_id AND i.is_body
    JOIN b bb ON bb.status = s.status
    CROSS JOIN LATERAL (VALUES ('quarter', s.period_id = ym.slice),
                               ('ytd', i.summed = 1 OR s.period_id = ym.slice)) sp (span, counted)
    WHERE %(home)s AND s.plan_id = %(plan)s AND s.body_id IS NOT NULL
      AND s.period_id = ANY(%(ym_periods)s::bigint[])
      AND s.status IN ('confirmed', 'city_approved') AND sp.counted
    GROUP BY ym.slice, bb.basis, dv.indicator_id, sp.span
),
-- The province's figures and coverage (as rollups.SLICE_WRITE_SQL's `prov`).
prov AS (
    SELECT k.slice AS period_id, k.indicator_id, %(province)s::bigint AS region_id, k.span, k.basis,
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
                    'pending', COALESCE(
                        (SELECT jsonb_agg(x ORDER BY x COLLATE "C") FROM unnest(w.codes) x
                         WHERE NOT x = ANY(COALESCE(g.fresh_codes, '{{}}'::text[]))), '[]'::jsonb),
                    'missing', COALESCE(
                        (SELECT jsonb_agg(x ORDER BY x COLLATE "C") FROM unnest(%(city_codes)s::text[]) x
                         WHERE NOT x = ANY(COALESCE(g.codes, '{{}}'::text[]))
                           AND NOT x = ANY(COALESCE(w.codes, '{{}}'::text[]))), '[]'::jsonb)) END AS coverage
    FROM keys k
    JOIN ind i ON i.indicator_id = k.indicator_id
    LEFT JOIN grid g ON g.slice = k.slice AND g.basis = k.basis AND g.indicator_id = k.indicator_id AND g.span = k.span
    LEFT JOIN waiting w ON w.slice = k.slice AND w.basis = k.basis
    LEFT JOIN body bo ON bo.slice = k.slice AND bo.basis = k.basis AND bo.indicator_id = k.indicator_id
     AND bo.span = k.span
    CROSS JOIN LATERAL (SELECT
        COALESCE(g.v + bo.v, g.v, bo.v) AS v, COALESCE(g.n + bo.n, g.n, bo.n) AS n,
        COALESCE(g.d + bo.d, g.d, bo.d) AS d, COALESCE(g.k, 0) + COALESCE(bo.k, 0) AS k,
        COALESCE(g.ids, '{{}}'::bigint[]) || COALESCE(bo.ids, '{{}}'::bigint[]) AS ids,
        CASE WHEN bo.ids IS NULL THEN COALESCE(g.reported, 0)
             ELSE (SELECT count(DISTINCT x) FROM unnest(COALESCE(g.ids, '{{}}'::bigint[]) || bo.ids) x) END
            AS reported
    ) t
),
fig AS (
    SELECT period_id, indicator_id, region_id, span, basis, value, numerator, denominator, done_count,
           expected_count, reported_count, carried_count, coverage
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
          ON fig.period_id = cur.period_id AND fig.indicator_id = cur.indicator_id AND fig.region_id = cur.region_id
         AND fig.span = cur.span AND fig.basis = cur.basis
        WHERE fig.region_id IS NULL
    )
    RETURNING 1
),
-- Only the rows whose figures changed are written (see rollups.SLICE_WRITE_SQL's `todo`).
todo AS (
    SELECT fig.*, cur.id AS cur_id
    FROM fig
    LEFT JOIN cur
      ON cur.period_id = fig.period_id AND cur.indicator_id = fig.indicator_id AND cur.region_id = fig.region_id
     AND cur.span = fig.span AND cur.basis = fig.basis
    WHERE cur.region_id IS NULL OR NOT ({same})
),
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
    SELECT %(plan)s, indicator_id, region_id, period_id, span, basis, value, numerator, denominator, done_count,
           expected_count, reported_count, carried_count, coverage, %(rule)s, %(now)s
    FROM todo
    WHERE cur_id IS NULL
    ON CONFLICT ({key}) DO UPDATE SET {updates}
    WHERE {changed}
    RETURNING 1
),
-- Every slice was checked now, whatever changed; its fingerprint follows in the same transaction.
checked AS (
    INSERT INTO reporting_slicecheck (plan_id, period_id, province_id, checked_at, fingerprint)
    SELECT %(plan)s, sl.period_id, %(province)s, %(now)s, '' FROM sl
    ON CONFLICT (plan_id, period_id, province_id) DO UPDATE SET checked_at = EXCLUDED.checked_at, fingerprint = ''
    RETURNING 1
)
SELECT (SELECT count(*) FROM fig), (SELECT count(*) FROM upd) + (SELECT count(*) FROM put), (SELECT count(*) FROM gone),
       (SELECT count(*) FROM checked)
"""

# After the recompute, in its transaction: each slice's fingerprint from its inputs as read before the recompute
# and the figures it left, hashed as rollups.SLICES_FINGERPRINT_SQL's `figs` (the per-slice path's number).
BULK_FINGERPRINT_STORE_SQL = """
WITH inp (period_id, part) AS (SELECT * FROM unnest(%(slices)s::bigint[], %(inputs)s::text[])),
figs AS (
    SELECT f.period_id, count(*) || ':' || COALESCE(sum(hash_record_extended(
               (f.indicator_id, f.region_id, f.span, f.basis, f.value, f.numerator, f.denominator, f.done_count,
                f.expected_count, f.reported_count, f.carried_count, f.coverage, f.rule_version), 0)), 0) AS part
    FROM reporting_figure f
    WHERE f.plan_id + 0 = %(plan)s AND f.period_id = ANY(%(slices)s::bigint[])
      AND f.region_id = ANY(%(regions)s::bigint[])
    GROUP BY f.period_id
)
UPDATE reporting_slicecheck c
SET fingerprint = encode(sha256(convert_to(inp.part || '|' || COALESCE(figs.part, '0:0'), 'UTF8')), 'hex')
FROM inp LEFT JOIN figs ON figs.period_id = inp.period_id
WHERE c.plan_id = %(plan)s AND c.province_id = %(province)s AND c.period_id = inp.period_id
"""


@cache
def _bulk_write_sql() -> str:
    updated = [c for c in rollups.FIGURE_COLUMNS if c not in rollups.FIGURE_KEY]
    compared = [c for c in updated if c not in ("computed_at", "plan_id")]
    if not BULK_WRITE_SQL.startswith(MARK):
        raise RuntimeError("BULK_WRITE_SQL must start with MARK")
    # Built from the column constants only; every value is a parameter.
    return BULK_WRITE_SQL.format(
        columns=", ".join(rollups.FIGURE_COLUMNS),
        key=", ".join(rollups.FIGURE_KEY),
        updates=", ".join(f"{c} = EXCLUDED.{c}" for c in updated),
        changed=" OR ".join(f"reporting_figure.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in compared),
        same=" AND ".join(
            f"cur.{c} IS NOT DISTINCT FROM {'%(rule)s' if c == 'rule_version' else 'fig.' + c}" for c in compared
        ),
    )


@cache
def _inputs_sql() -> str:
    """The nightly check's statement up to the slices' inputs (submissions and values hashed, the digest): the
    very first half of every fingerprint the per-slice path stores."""
    head, found, _rest = rollups.SLICES_FINGERPRINT_SQL.partition("\nfigs AS (")
    if not found:
        raise RuntimeError("SLICES_FINGERPRINT_SQL has no `figs` part to stop before")
    return head.rstrip().rstrip(",") + "\nSELECT period_id, part FROM inputs"


def bulk_params(*, ctx: "rollups._Plan", province_id: int, periods: list[Period]) -> dict[str, Any]:
    """BULK_WRITE_SQL's parameters, from the very parameters each slice's own statement would be given
    (`rollups.slice_write_statement`)."""
    out: dict[str, Any] = {
        "sl_periods": [],
        "sl_before": [],
        "sl_carried_from": [],
        "ym_slices": [],
        "ym_periods": [],
    }
    reads: set[int] = set()
    for period in periods:
        _sql, params = rollups.slice_write_statement(ctx=ctx, period=period, province_id=province_id)
        out["sl_periods"].append(period.pk)
        out["sl_before"].append(params["before"])
        out["sl_carried_from"].append(params["carried_from"])
        out["ym_slices"] += [period.pk] * len(params["ytd"])
        out["ym_periods"] += params["ytd"]
        reads.update(params["periods"])
        # The same for every slice of the province.
        for name in (
            *(n for n in params if n.startswith("ind_")),
            "plan",
            "province",
            "home",
            "rule",
            "city_ids",
            "city_codes",
            "city_count",
            "rep_regions",
            "rep_cities",
            "regions",
        ):
            out[name] = params[name]
    out["reads"] = sorted(reads)
    # Each quarter read in time order, for the carry's "next quarter" (period ids need not follow time).
    ords = dict(Period.objects.filter(pk__in=reads).values_list("pk", "year"))
    quarters = dict(Period.objects.filter(pk__in=reads).values_list("pk", "quarter"))
    out["read_ords"] = [ords[pk] * 4 + quarters[pk] for pk in out["reads"]]
    out["now"] = timezone.now()
    return out


@dataclass
class BulkRecompute:
    periods: list[int] = field(default_factory=list)
    figures: int = 0
    written: int = 0


def _periods_seed(ctx: "rollups._Plan", periods: list[Period]) -> None:
    """The quarters every slice's `year_periods` needs, read in one query."""
    years = {p.year for p in periods}
    rows = list(Period.objects.filter(year__in=years | {y - 1 for y in years}))
    for year in years:
        ctx.periods_seed(year=year, rows=[p for p in rows if p.year in (year, year - 1)])


def slices_recompute(*, ctx: "rollups._Plan", province_id: int, periods: list[Period]) -> tuple[int, int]:
    """Recompute the given slices of one province (PostgreSQL, in the caller's transaction, under the slices'
    locks) and store their fingerprints. Returns (figures, written)."""
    if not periods:
        return 0, 0
    verify = rollups._slices_verify_params(ctx=ctx, province_id=province_id, periods=periods)
    params = bulk_params(ctx=ctx, province_id=province_id, periods=periods)
    with connection.cursor() as cursor:
        # The inputs before the recompute (see rollups._slice_verify_or_write).
        cursor.execute(_inputs_sql(), verify)
        inputs = dict(cursor.fetchall())
        cursor.execute(_bulk_write_sql(), params)
        figures, changed, gone, _checked = cursor.fetchone()
        cursor.execute(
            BULK_FINGERPRINT_STORE_SQL,
            {
                "plan": ctx.plan.pk,
                "province": province_id,
                "regions": params["regions"],
                "slices": params["sl_periods"],
                "inputs": [inputs[pk] for pk in params["sl_periods"]],
            },
        )
    return figures, changed + gone


def rollup_province_recompute(*, plan_id: int, province_id: int, period_ids: list[int]) -> BulkRecompute:
    """The forced rebuild of one province's quarters (PostgreSQL): every slice recomputed whole, in one
    transaction under all their locks, as `rollups.rollup_slice(force=True)` recomputes each."""
    out = BulkRecompute()
    periods = list(Period.objects.filter(pk__in=period_ids).order_by("year", "quarter"))
    if not periods:
        return out
    with transaction.atomic():
        rollups._slices_lock(plan_id=plan_id, province_id=province_id, periods=periods)
        ctx = rollups._Plan(Plan.objects.get(pk=plan_id))
        _periods_seed(ctx, periods)
        out.figures, out.written = slices_recompute(ctx=ctx, province_id=province_id, periods=periods)
        rollups._figures_checked(plan_id=plan_id, changed=bool(out.written))
    out.periods = [p.pk for p in periods]
    return out
