"""The scenarios of `make bench`, each measured beside its ceiling in the same run.

Each function returns a plain dict (it goes into bench/results.json as it is): the portal's figure, the
ceiling's, the ratio and the raw numbers behind them. Verdicts against the budgets are drawn in
`bench.report`. Loops are bounded by their job lists; nothing here runs until stopped from outside."""

import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from bench import procs
from bench.load import Answer, Client, Outcome, percentile, run_pool
from indicators.models import Indicator
from measures.models import Plan, Region
from portal.accounts.models import Role
from portal.accounts.services import membership_grant
from reporting.management.commands.generate_data import Generator
from reporting.models import DataValue, Figure, Period, RollupRequest, Submission, Transition

CLIENTS = 8
RESENT_SHARE = 0.05
COMMENT = "合成数据（基准测试 SYNTHETIC）"


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def timed(fn, *args, **kwargs) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - started


def median_time(fn, repeat: int) -> float:
    return statistics.median(timed(fn)[1] for _ in range(repeat))


@dataclass
class Bench:
    scale: str
    plan: Plan
    generator: Generator
    work: Path
    env: dict[str, str]
    port: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, Any] = field(default_factory=dict)
    burst: list[tuple[int, int]] = field(default_factory=list)
    background: tuple[int, int] | None = None
    cities: list[Region] = field(default_factory=list)
    reports: list[Submission] = field(default_factory=list)

    @property
    def province(self) -> Region:
        return Region.objects.get(code="320000")


# ---------------------------------------------------------------------------------------------------
# Bulk history import vs psycopg COPY of the same rows


def bulk_import(bench: Bench, csv_path: Path) -> dict[str, Any]:
    """The real import (timed, committed) into empty tables; then the same rows, ids resolved, COPYed by
    psycopg into an empty table with the same columns, indexes, checks and foreign keys (timed, committed)."""
    from reporting.services.bulk_import import history_import

    importer = get_user_model().objects.get(username="synthetic-importer")
    report, seconds = timed(
        history_import, user=importer, plan=bench.plan, path=csv_path, create_periods=True, rollup=False
    )
    rows = report.values_created + report.values_updated + report.values_unchanged
    copy_file = bench.work / "copy-ceiling.csv"
    with connection.cursor() as cursor:
        with copy_file.open("w") as handle:
            cursor.cursor.copy_expert(
                "COPY (SELECT submission_id, indicator_id, value, numerator, denominator, done, done_on, comment, "
                "updated_at, updated_by_id FROM reporting_datavalue ORDER BY id) TO STDOUT WITH (FORMAT csv)",
                handle,
            )
        cursor.execute("DROP TABLE IF EXISTS bench_copy_ceiling")
        cursor.execute("CREATE TABLE bench_copy_ceiling (LIKE reporting_datavalue INCLUDING ALL)")
        cursor.execute(
            """
            ALTER TABLE bench_copy_ceiling
              ADD FOREIGN KEY (submission_id) REFERENCES reporting_submission (id) DEFERRABLE INITIALLY DEFERRED,
              ADD FOREIGN KEY (indicator_id) REFERENCES indicators_indicator (id) DEFERRABLE INITIALLY DEFERRED,
              ADD FOREIGN KEY (updated_by_id) REFERENCES auth_user (id) DEFERRABLE INITIALLY DEFERRED
            """
        )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor, copy_file.open() as handle:
        cursor.cursor.copy_expert(
            "COPY bench_copy_ceiling (submission_id, indicator_id, value, numerator, denominator, done, done_on, "
            "comment, updated_at, updated_by_id) FROM STDIN WITH (FORMAT csv)",
            handle,
        )
    ceiling = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_copy_ceiling")
    copy_file.unlink()
    return {
        "rows": rows,
        "rejected_rows": report.rejected_rows,
        "reports_created": report.submissions_created,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "ceiling_seconds": round(ceiling, 2),
        "ceiling_rows_per_s": round(rows / ceiling),
        "ratio": round((rows / seconds) / (rows / ceiling), 3),
    }


def import_rest(bench: Bench, csv_path: Path) -> dict[str, Any]:
    from reporting.services.bulk_import import history_import

    importer = get_user_model().objects.get(username="synthetic-importer")
    report, seconds = timed(
        history_import, user=importer, plan=bench.plan, path=csv_path, create_periods=True, rollup=False
    )
    rows = report.values_created + report.values_updated + report.values_unchanged
    return {
        "rows": rows,
        "rejected_rows": report.rejected_rows,
        "reports_created": report.submissions_created,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
    }


# ---------------------------------------------------------------------------------------------------
# Full rebuild vs the raw GROUP BY over the same rows

REGION_MAP = """
SELECT c.id AS region_id, c.id AS city_id, c.parent_id AS province_id
FROM measures_region c WHERE c.level = 'city'
UNION ALL
SELECT k.id, c.id, c.parent_id
FROM measures_region k JOIN measures_region c ON c.id = k.parent_id WHERE k.level = 'county'
"""

# The ceilings' SQL: one pass, both bases (FILTER), ratio pairs summed alongside, cities and provinces by
# GROUPING SETS. Built from the constants here only; values travel as parameters.
RAW_GROUP_BY = f"""
SELECT s.period_id, d.indicator_id, m.province_id, m.city_id,
       SUM(d.value) FILTER (WHERE s.status = 'confirmed') AS value_official,
       SUM(d.numerator) FILTER (WHERE s.status = 'confirmed') AS numerator_official,
       SUM(d.denominator) FILTER (WHERE s.status = 'confirmed') AS denominator_official,
       COUNT(*) FILTER (WHERE s.status = 'confirmed') AS reported_official,
       SUM(d.value) AS value_preview, SUM(d.numerator) AS numerator_preview,
       SUM(d.denominator) AS denominator_preview, COUNT(*) AS reported_preview
FROM reporting_datavalue d
JOIN reporting_submission s ON s.id = d.submission_id
JOIN ({REGION_MAP}) m ON m.region_id = s.region_id
WHERE s.plan_id = %(plan)s AND s.status IN ('confirmed', 'city_approved') {{slice}}
GROUP BY GROUPING SETS ((s.period_id, d.indicator_id, m.province_id, m.city_id),
                        (s.period_id, d.indicator_id, m.province_id))
"""  # noqa: S608


# A second, added ceiling for one slice (reported beside the one above, which it does not replace): the same
# output set the portal computes, in plain SQL — this quarter and the year so far, both bases, value, numerator
# and denominator, cities and the province by GROUPING SETS — with last quarter's values standing in for a
# reporter's missing stock-like ones (the carry) and the year's quarters summed for indicators that add up over
# time. No coverage lists, no comparison with stored figures, no write.
RAW_SLICE_FULL_SQL = f"""
WITH m AS ({REGION_MAP}),
i AS (
    SELECT id, kind = 'flow' OR (kind IN ('ratio', 'share') AND time_aggregation = 'sum') AS summed,
           kind IN ('stock', 'ratio', 'share') AND NOT (kind IN ('ratio', 'share') AND time_aggregation = 'sum')
               AS carries
    FROM indicators_indicator WHERE plan_id = %(plan)s AND is_active
),
v AS (
    SELECT m.city_id, d.indicator_id, d.value, d.numerator, d.denominator,
           s.period_id = %(period)s AND s.status = 'confirmed' AS q_c, s.period_id = %(period)s AS q_a,
           i.carries AND s.period_id = %(before)s AND s.status = 'confirmed'
               AND count(*) FILTER (WHERE s.period_id = %(period)s AND s.status = 'confirmed') OVER w = 0 AS b_c,
           i.carries AND s.period_id = %(before)s
               AND count(*) FILTER (WHERE s.period_id = %(period)s) OVER w = 0 AS b_a,
           i.summed AND s.period_id = ANY(%(ytd)s) AND s.status = 'confirmed' AS y_c,
           i.summed AND s.period_id = ANY(%(ytd)s) AS y_a
    FROM reporting_datavalue d
    JOIN reporting_submission s ON s.id = d.submission_id
    JOIN m ON m.region_id = s.region_id
    JOIN i ON i.id = d.indicator_id
    WHERE s.plan_id = %(plan)s AND s.status IN ('confirmed', 'city_approved') AND m.province_id = %(province)s
      AND s.period_id = ANY(%(periods)s)
    WINDOW w AS (PARTITION BY s.region_id, d.indicator_id)
)
SELECT indicator_id, city_id,
       SUM(value) FILTER (WHERE q_c OR b_c) AS quarter_value_official,
       SUM(numerator) FILTER (WHERE q_c OR b_c) AS quarter_numerator_official,
       SUM(denominator) FILTER (WHERE q_c OR b_c) AS quarter_denominator_official,
       SUM(value) FILTER (WHERE q_a OR b_a) AS quarter_value_preview,
       SUM(numerator) FILTER (WHERE q_a OR b_a) AS quarter_numerator_preview,
       SUM(denominator) FILTER (WHERE q_a OR b_a) AS quarter_denominator_preview,
       SUM(value) FILTER (WHERE y_c) AS ytd_value_official, SUM(numerator) FILTER (WHERE y_c) AS ytd_numerator_official,
       SUM(denominator) FILTER (WHERE y_c) AS ytd_denominator_official,
       SUM(value) FILTER (WHERE y_a) AS ytd_value_preview, SUM(numerator) FILTER (WHERE y_a) AS ytd_numerator_preview,
       SUM(denominator) FILTER (WHERE y_a) AS ytd_denominator_preview,
       COUNT(*) FILTER (WHERE q_c) AS reported_official, COUNT(*) FILTER (WHERE q_a) AS reported_preview
FROM v
GROUP BY GROUPING SETS ((indicator_id, city_id), (indicator_id))
"""  # noqa: S608


def raw_slice_full_params(*, plan_id: int, period_id: int, province_id: int) -> dict[str, Any]:
    from reporting.services.rollups import _year_periods

    period = Period.objects.get(pk=period_id)
    before, ytd = _year_periods(period)
    ytd_ids = [p.pk for p in ytd]
    periods = sorted({period.pk, *ytd_ids} | ({before.pk} if before else set()))
    return {
        "plan": plan_id,
        "period": period.pk,
        "province": province_id,
        "before": before.pk if before else None,
        "ytd": ytd_ids,
        "periods": periods,
    }


def raw_rebuild_sql() -> str:
    return RAW_GROUP_BY.replace("{slice}", "")


def raw_slice_sql() -> str:
    return RAW_GROUP_BY.replace("{slice}", "AND s.period_id = %(period)s AND m.province_id = %(province)s")


def _truncate_figures() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE reporting_figure")


def _wait_results(results: list, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for result in results:
        result.get(timeout=max(1.0, deadline - time.monotonic()), propagate=True)


def _consistency_reader(bench: Bench, stop: threading.Event, found: dict[str, int]) -> None:
    """While a rebuild runs: each check is one statement (one snapshot) comparing a province figure with
    the sum of its cities' figures for the same slice; a half-built slice would show as a difference."""
    from django.db import connections

    flows = list(
        Indicator.objects.filter(plan=bench.plan, kind="flow", reporter__in=["city", "both"]).values_list(
            "id", flat=True
        )
    )
    provinces = list(Region.objects.filter(level="province").values_list("id", flat=True))
    periods = list(Period.objects.values_list("id", flat=True))
    rng = random.Random(7)  # noqa: S311
    try:
        while not stop.is_set():
            with connection.cursor() as cursor:
                cursor.execute(
                    """
                    SELECT count(*) FROM reporting_figure f
                    WHERE f.region_id = %s AND f.period_id = %s AND f.span = 'quarter' AND f.basis = 'official'
                      AND f.indicator_id = ANY(%s)
                      AND f.value IS DISTINCT FROM (
                          SELECT SUM(c.value) FROM reporting_figure c JOIN measures_region r ON r.id = c.region_id
                          WHERE r.parent_id = f.region_id AND c.indicator_id = f.indicator_id
                            AND c.period_id = f.period_id AND c.span = f.span AND c.basis = f.basis)
                    """,
                    [rng.choice(provinces), rng.choice(periods), flows],
                )
                found["checks"] += 1
                found["half_built"] += cursor.fetchone()[0]
            # Often enough to catch a slice mid-write many times over, rarely enough not to slow the rebuild.
            time.sleep(0.2)
    finally:
        connections.close_all()


def full_rebuild(bench: Bench, *, sample_quarters: int | None) -> dict[str, Any]:
    """The raw GROUP BY (into an unlogged table), then the partitioned rebuild by Celery with one worker
    process and with two, each from empty figures; readers check for half-built slices meanwhile."""
    from celery.result import AsyncResult

    from portal.celery import app
    from reporting.services.rollups import rollup_rebuild_partitions, rollup_slices
    from reporting.tasks import rollup_province_task, rollup_slice_task

    params = {"plan": bench.plan.pk}
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_rebuild_ceiling")
        started = time.perf_counter()
        cursor.execute("CREATE UNLOGGED TABLE bench_rebuild_ceiling AS " + raw_rebuild_sql(), params)
        ceiling = time.perf_counter() - started
        ceiling_rows = cursor.rowcount
        cursor.execute("DROP TABLE bench_rebuild_ceiling")
        started = time.perf_counter()
        cursor.execute("SELECT count(*) FROM (" + raw_rebuild_sql() + ") x", params)  # noqa: S608
        select_only = time.perf_counter() - started

    slices = rollup_slices(plan=bench.plan)
    sample = slices
    if sample_quarters:
        latest = Period.objects.filter(pk__in={s[1] for s in slices}).order_by("-year", "-quarter")
        keep = set(latest.values_list("pk", flat=True)[:sample_quarters])
        sample = [s for s in slices if s[1] in keep]
    plan_runs = [(1, sample, "one_worker"), (2, sample, "two_workers")]
    if sample is not slices:
        plan_runs.append((2, slices, "full"))
    # The nightly job: every slice again over the figures already there, nothing changed since (one task per
    # province checks its slices against their fingerprints); then every slice forced to recompute, one task per
    # slice, as if all had changed.
    plan_runs.append((2, slices, "nightly"))
    plan_runs.append((2, slices, "nightly_forced"))
    runs: dict[str, Any] = {}
    for workers, jobs, label in plan_runs:
        if not label.startswith("nightly"):
            _truncate_figures()
        else:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE reporting_figure")
        started_workers = [
            procs.worker_start(env=bench.env, name=f"rebuild{n}", log=bench.work / f"worker-rebuild{n}.log")
            for n in range(workers)
        ]
        try:
            procs.workers_ready(app, [f"rebuild{n}" for n in range(workers)])
            found = {"checks": 0, "half_built": 0}
            stop = threading.Event()
            reader = threading.Thread(target=_consistency_reader, args=(bench, stop, found), daemon=True)
            reader.start()
            started = time.perf_counter()
            recomputed = None
            if label == "nightly":
                # What the 02:00 job queues (`rollup_rebuild_enqueue`): one task per province, which checks its
                # slices in one statement and queues a task for each slice that needs a recompute; waited for too.
                results = [rollup_province_task.delay(*part) for part in rollup_rebuild_partitions(plan=bench.plan)]
                _wait_results(results, timeout=1800)
                queued = [AsyncResult(task_id, app=app) for r in results for task_id in r.result["queued"]]
                _wait_results(queued, timeout=1800)
                recomputed = len(queued)
            else:
                force = label == "nightly_forced"
                results = [rollup_slice_task.delay(*s, force) for s in jobs]
                _wait_results(results, timeout=1800)
            seconds = time.perf_counter() - started
            stop.set()
            reader.join(30)
        finally:
            for worker in started_workers:
                worker.stop()
        runs[label] = {
            "workers": workers,
            "slices": len(jobs),
            "tasks": len(results),
            # The nightly run: the slices its province tasks found changed and queued for a recompute.
            "recomputed": recomputed,
            "seconds": round(seconds, 2),
            "reader_checks": found["checks"],
            "half_built_seen": found["half_built"],
        }
    with connection.cursor() as cursor:
        # What autovacuum would do shortly after a rebuild; the readers' plans depend on it.
        cursor.execute("ANALYZE reporting_figure")
    full = runs.get("full", runs["two_workers"])
    nightly = runs["nightly"]
    return {
        "figures": Figure.objects.filter(plan=bench.plan).count(),
        "slices": len(slices),
        "sample_slices": len(sample),
        "ceiling_seconds": round(ceiling, 2),
        "ceiling_rows": ceiling_rows,
        "ceiling_select_only_seconds": round(select_only, 2),
        "seconds": nightly["seconds"],
        "ratio": round(nightly["seconds"] / ceiling, 2),
        # Every slice recomputed (none found unchanged by its fingerprint): the nightly job after a day on which
        # every slice changed, and the figure this scenario reported before fingerprints.
        "forced_seconds": runs["nightly_forced"]["seconds"],
        "forced_ratio": round(runs["nightly_forced"]["seconds"] / ceiling, 2),
        "first_build_seconds": full["seconds"],
        "first_build_ratio": round(full["seconds"] / ceiling, 2),
        "runs": runs,
        "speedup_two_workers": round(runs["one_worker"]["seconds"] / runs["two_workers"]["seconds"], 2),
        "reader_checks": sum(r["reader_checks"] for r in runs.values()),
        "half_built_seen": sum(r["half_built_seen"] for r in runs.values()),
    }


# ---------------------------------------------------------------------------------------------------
# Accounts and payloads for the HTTP scenarios


def accounts(bench: Bench) -> None:
    """Reporters and reviewers for every city that reports through the API, a coordinator, an auditor; knox
    tokens for the API and a session for the dashboards. No passwords: nothing here logs in by form."""
    from django.contrib.sessions.backends.db import SessionStore
    from knox.models import AuthToken

    user_model = get_user_model()
    first = Period.objects.order_by("start").first()
    if first is None:
        # Impossible here: Generator.reference() has created every quarter of the history before this runs.
        raise RuntimeError("no reporting periods: the reference data has not been generated")
    start = first.start

    def person(username: str, role: str, region: Region | None = None) -> Any:
        user = user_model.objects.filter(username=username).first()
        if user is None:
            user = user_model.objects.create_user(username=username, password=None)
            membership_grant(user=user, role=role, region=region, valid_from=start)
        return user

    bench.users["coordinator"] = person("bench-coordinator", Role.COORDINATOR)
    bench.users["auditor"] = person("bench-auditor", Role.AUDITOR)
    _instance, bench.tokens["coordinator"] = AuthToken.objects.create(user=bench.users["coordinator"])
    session = SessionStore()
    coordinator = bench.users["coordinator"]
    session["_auth_user_id"] = str(coordinator.pk)
    session["_auth_user_backend"] = "portal.accounts.backends.PortalModelBackend"
    session["_auth_user_hash"] = coordinator.get_session_auth_hash()
    session.create()
    # session.create() has just saved the session under a fresh key, so the key is set.
    bench.tokens["session"] = cast(str, session.session_key)
    home = bench.province
    national = Region.objects.filter(level="province").count() > 1
    cities = Region.objects.filter(level="city")
    bench.cities = list((cities if national else cities.filter(parent=home)).order_by("sort_order", "code"))
    for city in bench.cities:
        bench.users[f"rep:{city.code}"] = person(f"bench-rep-{city.code}", Role.CITY_REPORTER, city)
        bench.users[f"rev:{city.code}"] = person(f"bench-rev-{city.code}", Role.CITY_REVIEWER, city)
        _instance, bench.tokens[f"rep:{city.code}"] = AuthToken.objects.create(user=bench.users[f"rep:{city.code}"])
    quarters = sorted(bench.generator.burst)
    bench.background = quarters[0] if len(quarters) > 1 else None
    bench.burst = quarters[1:] if len(quarters) > 1 else quarters


def payloads(bench: Bench, periods: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """One full report per (city, quarter), the generator's values, every value with a comment."""
    generator = bench.generator
    indicators = generator.city_indicators()
    reporters = {r.code: r for r in generator.reporters()}
    index = {p: i for i, p in enumerate(generator.periods)}
    out: list[dict[str, Any]] = []
    for period in periods:
        for city in bench.cities:
            reporter = reporters.get(city.code)
            if reporter is None:
                continue
            series = generator.series(reporter, indicators)
            values = []
            for indicator, value, numerator, denominator in generator.values(
                reporter, series, index[period], period, complete=True
            ):
                item: dict[str, Any] = {"indicator": indicator.code, "comment": COMMENT}
                if value is not None:
                    item["value"] = str(value)
                else:
                    item["numerator"], item["denominator"] = str(numerator), str(denominator)
                values.append(item)
            out.append({"city": city.code, "period": f"{period[0]}Q{period[1]}", "values": values})
    rng = random.Random(2026)  # noqa: S311
    for job in out:
        job["resend"] = rng.randint(1, 3) if rng.random() < RESENT_SHARE else 0
    return out


# ---------------------------------------------------------------------------------------------------
# Quarter-end burst through the real API vs a bare DRF bulk-insert view


def _expect(answer: Answer, statuses: tuple[int, ...], what: str) -> None:
    if answer.status not in statuses:
        raise RuntimeError(f"{what}: HTTP {answer.status} {answer.body[:200]!r}")


def _report_through_api(bench: Bench, client: Client, job: dict[str, Any]) -> Outcome:
    """The portal's documented path for a city's system: the whole report in one POST (create, values,
    submit), under an Idempotency-Key; a resent request must come back as the first answer, replayed."""
    token = bench.tokens[f"rep:{job['city']}"]
    headers = {"Authorization": f"Token {token}", "Idempotency-Key": f"bench-{job['city']}-{job['period']}"}
    body = {
        "plan": bench.plan.code,
        "period": job["period"],
        "region": job["city"],
        "values": job["values"],
        "submit": True,
    }
    answer = client.request("POST", "/api/v1/submissions/report/", body, headers)
    _expect(answer, (201,), "report")
    elapsed, requests = answer.seconds, 1
    if job["resend"]:
        again = client.request("POST", "/api/v1/submissions/report/", body, headers)
        elapsed, requests = elapsed + again.seconds, 2
        _expect(again, (answer.status,), "resent report")
        if again.json() != answer.json() or again.headers.get("idempotent-replayed") != "true":
            raise RuntimeError("resent report: not the first answer replayed")
    return Outcome(True, elapsed, requests=requests)


def _report_bare(client: Client, job: dict[str, Any]) -> Outcome:
    body = {"report": f"{job['city']}-{job['period']}", "values": job["values"]}
    answer = client.request("POST", "/bench/bare/ingest/", body)
    _expect(answer, (201,), "bare ingest")
    elapsed, requests = answer.seconds, 1
    if job["resend"]:
        again = client.request("POST", "/bench/bare/ingest/", body)
        _expect(again, (201,), "bare ingest resent")
        elapsed, requests = elapsed + again.seconds, 2
    return Outcome(True, elapsed, requests=requests)


def warm(bench: Bench) -> None:
    """Every server worker answers a few requests first, so Django's first-request set-up is not measured."""
    token = {"Authorization": f"Token {bench.tokens['coordinator']}"}
    period = f"{bench.burst[-1][0]}Q{bench.burst[-1][1]}"
    paths = [
        ("/api/v1/periods/", token),
        (f"/bench/bare/figures/?year={bench.burst[-1][0]}&quarter={bench.burst[-1][1]}&region=320000", {}),
        (f"/dashboard/?period={period}", {"Cookie": f"sessionid={bench.tokens['session']}"}),
    ]
    run_pool(
        port=bench.port,
        clients=CLIENTS,
        jobs=[paths[n % len(paths)] for n in range(CLIENTS * 6)],
        work=lambda client, job: Outcome(client.request("GET", job[0], None, job[1]).status == 200, 0.0),
    )


def burst(bench: Bench) -> dict[str, Any]:
    from bench.views import INGEST_TABLE

    warm(bench)
    jobs = payloads(bench, bench.burst)
    with connection.cursor() as cursor:
        cursor.execute(INGEST_TABLE)
        cursor.execute("TRUNCATE bench_ingest")
    ceiling = run_pool(port=bench.port, clients=CLIENTS, jobs=jobs, work=_report_bare)
    real = run_pool(port=bench.port, clients=CLIENTS, jobs=jobs, work=lambda c, j: _report_through_api(bench, c, j))
    codes = {j["city"] for j in jobs}
    periods = [Period.objects.get(year=y, quarter=q) for y, q in bench.burst]
    reports = list(
        Submission.objects.filter(plan=bench.plan, period__in=periods, region__code__in=codes).select_related(
            "region", "period"
        )
    )
    bench.reports = [r for r in reports if r.status == Submission.Status.SUBMITTED]
    expected_values = {(j["city"], j["period"]): len(j["values"]) for j in jobs}
    # Every report here has a region: the query above filters on region__code.
    stored = {
        (cast(Region, r.region).code, r.period.code): n
        for r, n in ((r, DataValue.objects.filter(submission=r).count()) for r in reports)
    }
    steps = Counter(Transition.objects.filter(submission__in=reports).values_list("submission_id", flat=True))
    # Anything written twice: a second report for a (city, quarter), more values or more transitions
    # (create, submit) than one pass of the report makes.
    duplicates = (
        (len(reports) - len({(r.region_id, r.period_id) for r in reports}))
        + sum(max(0, n - expected_values.get(k, 0)) for k, n in stored.items())
        + sum(max(0, n - 2) for n in steps.values())
    )
    missing = sum(1 for k, n in expected_values.items() if stored.get(k, 0) < n)
    real_p99, ceiling_p99 = percentile(real.latencies, 0.99), percentile(ceiling.latencies, 0.99)
    return {
        "reports": len(jobs),
        "values_per_report": round(statistics.mean(len(j["values"]) for j in jobs), 1),
        "resent": sum(1 for j in jobs if j["resend"]),
        "clients": CLIENTS,
        "reports_per_s": round(real.rate, 2),
        "requests": real.requests,
        "p50_ms": ms(percentile(real.latencies, 0.5)),
        "p99_ms": ms(real_p99),
        "errors": len(real.errors),
        "error_samples": real.errors[:5],
        "duplicates": duplicates,
        "incomplete_reports": missing,
        "stored_reports": len(reports),
        "ceiling_reports_per_s": round(ceiling.rate, 2),
        "ceiling_requests": ceiling.requests,
        "ceiling_p50_ms": ms(percentile(ceiling.latencies, 0.5)),
        "ceiling_p99_ms": ms(ceiling_p99),
        "ceiling_errors": len(ceiling.errors),
        "rate_ratio": round(real.rate / ceiling.rate, 3) if ceiling.rate else None,
        "p99_ratio": round(real_p99 / ceiling_p99, 2) if ceiling_p99 else None,
    }


# ---------------------------------------------------------------------------------------------------
# Incremental rollup after approvals vs the raw SQL of the one-period slice


def _worker_task_count(app) -> int:
    stats = app.control.inspect(timeout=2.0).stats() or {}
    return sum(s.get("total", {}).get("reporting.tasks.rollup_period_task", 0) for s in stats.values())


def _queue_empty(app) -> bool:
    import redis

    client = redis.Redis.from_url(app.conf.broker_url)
    if client.llen("celery"):
        return False
    inspect = app.control.inspect(timeout=2.0)
    # Scheduled: tasks sent with a countdown (the read-cache warming a rollup asks for) wait in the worker.
    return not any(any((getattr(inspect, kind)() or {}).values()) for kind in ("active", "reserved", "scheduled"))


def incremental(bench: Bench, *, sample_provinces: int) -> dict[str, Any]:
    """Approve every burst report (city review, then the province confirms) through the services while one
    worker process runs; count the rollup tasks it ran; then time the rollup of the touched slices in
    this process against the raw GROUP BY of the same one-period slice."""

    from portal.celery import app
    from reporting.services import workflow
    from reporting.services.rollups import province_of, rollup_period, rollup_slice

    worker = procs.worker_start(env=bench.env, name="incremental", log=bench.work / "worker-incremental.log")
    try:
        procs.workers_ready(app, ["incremental"])
        before = _worker_task_count(app)
        coordinator = bench.users["coordinator"]
        started = time.perf_counter()
        for report in bench.reports:
            # bench.reports are cities' reports (burst() filters on region__code), so each has a region.
            reviewer = bench.users[f"rev:{cast(Region, report.region).code}"]
            report = workflow.submission_city_approve(submission=report, user=reviewer)  # noqa: PLW2901
            workflow.submission_confirm(submission=report, user=coordinator)
        approvals = time.perf_counter() - started
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not _queue_empty(app):
            time.sleep(0.5)
        drained = time.perf_counter() - started
        tasks = _worker_task_count(app) - before
    finally:
        worker.stop()
    by_slice: dict[tuple[int, int], Submission] = {}
    for report in bench.reports:
        # A city's report (see above): it has a region, and a city always has a province.
        province_id = cast(int, province_of(region_id=cast(int, report.region_id)))
        by_slice.setdefault((report.period_id, province_id), report)
    touched = sorted(by_slice)
    rng = random.Random(11)  # noqa: S311
    sample = touched if len(touched) <= sample_provinces else rng.sample(touched, sample_provinces)
    timings = []
    later_ids = {p.code: p.pk for p in Period.objects.all()}
    for period_id, province_id in sample:
        approved = by_slice[(period_id, province_id)]

        def ours(period_id: int = period_id, province_id: int = province_id, approved: Submission = approved) -> None:
            # What one approval's task does: the approval left a request naming its report's region, and
            # the queued run of its province and quarter takes it.
            RollupRequest.objects.create(
                plan_id=bench.plan.pk, period_id=period_id, province_id=province_id, region_id=approved.region_id
            )
            rollup_period(plan_id=bench.plan.pk, period_id=period_id, province_id=province_id, requested=True)

        def chain(period_id: int = period_id, province_id: int = province_id, approved: Submission = approved) -> None:
            # The same, followed by the runs of the later quarters it hands on (each a queued task of its own,
            # run here one after the other): everything one approval costs until the whole year is current.
            RollupRequest.objects.create(
                plan_id=bench.plan.pk, period_id=period_id, province_id=province_id, region_id=approved.region_id
            )
            pending = [period_id]
            while pending:
                summary = rollup_period(
                    plan_id=bench.plan.pk, period_id=pending.pop(0), province_id=province_id, requested=True
                )
                pending += [later_ids[code] for code in summary.handed_on if later_ids[code] not in pending]

        def whole(period_id: int = period_id, province_id: int = province_id) -> None:
            # Forced: an unchanged slice would otherwise only be checked against its fingerprint.
            rollup_slice(plan_id=bench.plan.pk, period_id=period_id, province_id=province_id, force=True)

        def raw(period_id: int = period_id, province_id: int = province_id) -> None:
            with connection.cursor() as cursor:
                cursor.execute(raw_slice_sql(), {"plan": bench.plan.pk, "period": period_id, "province": province_id})
                cursor.fetchall()

        full_params = raw_slice_full_params(plan_id=bench.plan.pk, period_id=period_id, province_id=province_id)

        def raw_full(params: dict[str, Any] = full_params) -> None:
            # With the portal's rollup setting (work_mem, `_lock_slice`): its ~24 numeric sums per group would
            # otherwise spill to disk.
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '64MB'")
                cursor.execute(RAW_SLICE_FULL_SQL, params)
                cursor.fetchall()

        ours()
        raw()
        raw_full()
        timings.append(
            (
                median_time(ours, 5),
                median_time(raw, 5),
                median_time(whole, 3),
                median_time(chain, 3),
                median_time(raw_full, 5),
            )
        )
    ours_ms = statistics.median(t[0] for t in timings) * 1000
    raw_ms = statistics.median(t[1] for t in timings) * 1000
    whole_ms = statistics.median(t[2] for t in timings) * 1000
    chain_ms = statistics.median(t[3] for t in timings) * 1000
    full_ms = statistics.median(t[4] for t in timings) * 1000
    return {
        "reports_approved": len(bench.reports),
        "approvals_seconds": round(approvals, 2),
        "queue_drained_seconds": round(drained, 2),
        "tasks": tasks,
        "tasks_per_report": round(tasks / len(bench.reports), 3) if bench.reports else None,
        "slices_touched": len(touched),
        "slices_timed": len(sample),
        "slice_ms": round(ours_ms, 1),
        "ceiling_ms": round(raw_ms, 1),
        "ratio": round(ours_ms / raw_ms, 2) if raw_ms else None,
        "whole_slice_ms": round(whole_ms, 1),
        # The added ceiling (RAW_SLICE_FULL_SQL): the portal's output set in plain SQL, beside the one above.
        "ceiling_full_ms": round(full_ms, 1),
        "ratio_to_full_ceiling": round(ours_ms / full_ms, 2) if full_ms else None,
        # One approval's run and the runs of the later quarters it hands on, one after the other.
        "with_later_ms": round(chain_ms, 1),
        "with_later_ms_each": [round(t[3] * 1000, 1) for t in timings],
        "slice_ms_each": [round(t[0] * 1000, 1) for t in timings],
        "ceiling_ms_each": [round(t[1] * 1000, 1) for t in timings],
    }


# ---------------------------------------------------------------------------------------------------
# Reads under load (with an ingest running) vs a bare DRF view reading the same rows


def _background_ingest(bench: Bench, stop: threading.Event, counts: dict[str, int]) -> None:
    """Two clients keep writing values into draft reports of a reserved quarter through the API."""
    jobs = payloads(bench, [bench.background]) if bench.background else []
    if not jobs:
        return
    from reporting.services.submissions import submission_create

    # jobs is empty (and we have returned) when there is no background quarter.
    background = cast(tuple[int, int], bench.background)
    period = Period.objects.get(year=background[0], quarter=background[1])
    drafts = []
    for job in jobs[: 2 * 4]:
        city = Region.objects.get(code=job["city"])
        submission, _created = submission_create(
            user=bench.users[f"rep:{city.code}"], plan=bench.plan, period=period, region=city
        )
        drafts.append((str(submission.public_id), job))

    def loop(offset: int) -> None:
        client = Client(bench.port)
        turn = offset
        try:
            while not stop.is_set():
                public_id, job = drafts[turn % len(drafts)]
                turn += 2
                values = [dict(v, comment=f"{COMMENT} #{turn}") for v in job["values"]]
                token = bench.tokens["rep:" + job["city"]]
                answer = client.request(
                    "PUT",
                    f"/api/v1/submissions/{public_id}/values/",
                    {"values": values},
                    {"Authorization": f"Token {token}", "If-Match": "*"},
                )
                counts["requests"] += 1
                if answer.status != 200:
                    counts["errors"] += 1
        finally:
            client.close()

    threads = [threading.Thread(target=loop, args=(n,), daemon=True) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def reads(bench: Bench, *, per_client: int) -> dict[str, Any]:
    period = Period.objects.get(year=bench.burst[-1][0], quarter=bench.burst[-1][1])
    code = period.code
    indicator = "high-skill-workers-per-10000"
    session = {"Cookie": f"sessionid={bench.tokens['session']}"}
    token = {"Authorization": f"Token {bench.tokens['coordinator']}"}
    pages = [
        ("overview", f"/dashboard/?period={code}", session),
        ("indicator", f"/dashboard/indicators/{indicator}/?period={code}", session),
        ("api_figures", f"/api/v1/figures/?period={code}&region=320000", token),
        ("api_status", f"/api/v1/status/?period={code}", token),
    ]
    bare = f"/bench/bare/figures/?year={period.year}&quarter={period.quarter}&region=320000"

    def under_ingest(jobs: list, work) -> tuple[Any, dict[str, int]]:
        stop = threading.Event()
        counts = {"requests": 0, "errors": 0}
        ingest = threading.Thread(target=_background_ingest, args=(bench, stop, counts), daemon=True)
        ingest.start()
        time.sleep(1.0)
        try:
            result = run_pool(port=bench.port, clients=CLIENTS, jobs=jobs, work=work)
        finally:
            stop.set()
            ingest.join(60)
        return result, counts

    # Added measurement, not a budget: when each request was sent (its rank in sending order and its start
    # from the first request's) and how long it took, to see which requests make the tail.
    timeline: list[tuple[int, float, float, str]] = []
    timeline_lock = threading.Lock()
    origin: list[float] = []

    def fetch(client: Client, job: tuple[str, str, dict[str, str]]) -> Outcome:
        name, path, headers = job
        with timeline_lock:
            rank, started = len(timeline), time.perf_counter()
            origin.append(origin[0] if origin else started)
            timeline.append((rank, started - origin[0], 0.0, name))
        answer = client.request("GET", path, None, headers)
        with timeline_lock:
            timeline[rank] = (rank, timeline[rank][1], answer.seconds, name)
        if answer.status != 200:
            return Outcome(False, answer.seconds, f"{name}: HTTP {answer.status}")
        return Outcome(True, answer.seconds, name)

    count = CLIENTS * per_client
    from portal.celery import app

    # A deployment's Celery worker runs beside its readers: the work the rollups before this scenario queued
    # (the read-cache warming they ask for once they commit) is done before the reads start, as a worker does
    # it a few seconds after a rollup; and it stays up while they run.
    worker = procs.worker_start(env=bench.env, name="reads", log=bench.work / "worker-reads.log")
    try:
        procs.workers_ready(app, ["reads"])
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not _queue_empty(app):
            time.sleep(0.5)
        ceiling, ceiling_ingest = under_ingest([("bare", bare, {})] * count, fetch)
        timeline.clear()
        origin.clear()
        real, real_ingest = under_ingest([pages[n % len(pages)] for n in range(count)], fetch)
    finally:
        worker.stop()
    slowest = sorted(timeline, key=lambda t: -t[2])[:10]
    by_page = {}
    for name, _path, _headers in pages:
        times = [o.seconds for o in real.outcomes if o.ok and o.note == name]
        by_page[name] = {
            "requests": len(times),
            "p50_ms": ms(percentile(times, 0.5)),
            "p99_ms": ms(percentile(times, 0.99)),
        }
    return {
        "period": code,
        "requests": len(real.outcomes),
        "requests_per_s": round(real.rate, 1),
        "p50_ms": ms(percentile(real.latencies, 0.5)),
        "p99_ms": ms(percentile(real.latencies, 0.99)),
        "errors": len(real.errors),
        "error_samples": real.errors[:5],
        "pages": by_page,
        "ingest_requests": real_ingest["requests"],
        "ingest_errors": real_ingest["errors"],
        "ceiling_requests_per_s": round(ceiling.rate, 1),
        "ceiling_p50_ms": ms(percentile(ceiling.latencies, 0.5)),
        "ceiling_p99_ms": ms(percentile(ceiling.latencies, 0.99)),
        "ceiling_ingest_requests": ceiling_ingest["requests"],
        "rate_ratio": round(real.rate / ceiling.rate, 3) if ceiling.rate else None,
        # The ten slowest requests: [page, rank in sending order, sent at (ms after the first), ms taken].
        "slowest": [[name, rank, ms(at), ms(took)] for rank, at, took, name in slowest],
    }


# ---------------------------------------------------------------------------------------------------
# Supervision XLSX for a full year vs the raw XlsxWriter writing the same cells


def _probe(bench: Bench, *args: str) -> dict[str, Any]:
    env = {k: v for k, v in bench.env.items() if k != "REDIS_URL"}
    answer = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.probe", *args],
        cwd=procs.ROOT,
        env=procs.child_env(env) | {"REDIS_URL": ""},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if answer.returncode != 0:
        raise RuntimeError(f"probe {args[0]} failed: {answer.stderr[-2000:]}")
    return json.loads(answer.stdout.strip().splitlines()[-1])


def export(bench: Bench) -> dict[str, Any]:
    if not (procs.ROOT / "reporting" / "services" / "exports.py").exists():
        return {"measured": False, "note": "not measured: export not built yet"}
    # The latest year whose fourth quarter has ended; failing that (the tiny scale), the latest year with data.
    today = time_today()
    ended = [p.year for p in Period.objects.filter(quarter=4, end__lt=today).order_by("year")]
    if ended:
        year = str(ended[-1])
    else:
        latest = Period.objects.filter(end__lt=today).order_by("-year").first()
        if latest is None:
            # Impossible: the generator creates every quarter up to the last one that has ended.
            raise RuntimeError("no ended reporting period")
        year = str(latest.year)
    ours = _probe(bench, "export", "--year", year, "--user", bench.users["auditor"].username)
    with tempfile.TemporaryDirectory() as folder:
        raw = _probe(bench, "raw-xlsx", "--source", ours["path"], "--target", str(Path(folder) / "raw.xlsx"))
    Path(ours["path"]).unlink(missing_ok=True)
    return {
        "measured": True,
        "year": year,
        "cells": raw["cells"],
        "sheets": raw["sheets"],
        "seconds": ours["seconds"],
        "render_seconds": ours.get("render_seconds"),
        "rss_mb": ours["rss_mb"],
        "baseline_rss_mb": ours.get("baseline_rss_mb"),
        "ceiling_seconds": raw["seconds"],
        "ceiling_rss_mb": raw["rss_mb"],
        "ratio": round(ours["seconds"] / raw["seconds"], 2) if raw["seconds"] else None,
        "render_ratio": round(ours["render_seconds"] / raw["seconds"], 2) if ours.get("render_seconds") else None,
    }


def time_today():
    from django.utils import timezone

    return timezone.localdate()


# ---------------------------------------------------------------------------------------------------
# EXPLAIN (ANALYZE) of the hot queries


def explain(bench: Bench) -> dict[str, str]:
    from reporting.services.rollups import _Plan, _year_periods, slice_sql, slice_write_statement

    period = Period.objects.get(year=bench.burst[-1][0], quarter=bench.burst[-1][1])
    province = bench.province
    before, ytd = _year_periods(period)
    ctx = _Plan(bench.plan)
    queries: dict[str, tuple[str | None, list[Any] | None]] = {
        "rollup slice (one province, one quarter; the portable path's sums)": (
            slice_sql(ctx=ctx, province_id=province.pk, period=period, before=before, ytd=ytd),
            None,
        ),
        "figures of a province for a quarter (API figures, overview)": (
            """
            SELECT f.* FROM reporting_figure f JOIN indicators_indicator i ON i.id = f.indicator_id
            WHERE f.plan_id = %s AND f.period_id = %s AND f.region_id = %s AND f.basis = 'official'
            ORDER BY i.sort_order, f.span
            """,
            [bench.plan.pk, period.pk, province.pk],
        ),
        "an indicator's trend and city ranking (indicator page)": (
            """
            SELECT f.period_id, f.region_id, f.value, f.numerator, f.denominator FROM reporting_figure f
            WHERE f.indicator_id = (SELECT id FROM indicators_indicator WHERE plan_id = %s AND code = %s)
              AND f.basis = 'official' AND f.span = 'ytd'
              AND f.region_id IN (SELECT id FROM measures_region WHERE id = %s OR parent_id = %s)
            """,
            [bench.plan.pk, "high-skill-workers-per-10000", province.pk, province.pk],
        ),
        "submissions of a quarter awaiting review (review queue)": (
            """
            SELECT s.* FROM reporting_submission s
            WHERE s.plan_id = %s AND s.period_id = %s AND s.status IN ('submitted', 'city_approved')
            ORDER BY s.region_id
            """,
            [bench.plan.pk, period.pk],
        ),
    }
    out = {}
    with connection.cursor() as cursor:
        for name, (sql, params) in queries.items():
            if sql is None:
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            out[name] = "\n".join(row[0] for row in cursor.fetchall())
    # What a rollup runs on PostgreSQL: the slice computed and written by one statement. ANALYZE runs it, so
    # in a transaction that is rolled back, with the rollup's own settings.
    write_sql, write_params = slice_write_statement(ctx=ctx, period=period, province_id=province.pk)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '64MB'; SET LOCAL random_page_cost = 1.1")
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + write_sql, write_params)
        out["rollup slice computed and written (PostgreSQL, one statement)"] = "\n".join(
            row[0] for row in cursor.fetchall()
        )
        transaction.set_rollback(True)
    return out
