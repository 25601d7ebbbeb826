"""Smoke tests of the benchmark's code at tiny scale, so CI keeps `make bench` working. Nothing here asserts
a timing: the assertions are about what the benchmark computes, checks and writes."""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from bench import report
from bench.load import percentile
from reporting.management.commands.generate_data import FIELDS, SCALES, Generator

ROOT = Path(__file__).resolve().parents[2]


def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the benchmark and its ceilings run on PostgreSQL")


@pytest.fixture
def tiny(plan):
    generator = Generator(plan=plan, scale=SCALES["tiny"], seed=2026)
    generator.reference()
    return generator


def test_the_generator_is_seeded_and_labels_what_it_makes(plan, tiny, tmp_path):
    from indicators.models import Indicator
    from measures.models import Region

    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    rows = tiny.write_csv(first)
    assert rows == tiny.write_csv(second)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_text(encoding="utf-8").splitlines()[0] == ",".join(FIELDS)
    synthetic = Region.objects.filter(sort_order__gt=100_000)
    assert synthetic.filter(level="province").count() == 2
    assert (synthetic.filter(level="city").count(), synthetic.filter(level="county").count()) == (4, 8)
    assert all("合成" in name for name in synthetic.exclude(level="province").values_list("name", flat=True))
    added = Indicator.objects.filter(plan=plan, code__startswith="syn-")
    assert added.count() == 4
    assert all("SYNTHETIC" in name for name in added.values_list("name", flat=True))
    # A second run adds nothing.
    assert tiny.reference() == {"regions": 0, "indicators": 0}


def test_tiny_history_loads_through_the_import_and_matches_the_raw_ceiling(plan, tiny, tmp_path):
    """The rollup's province figures for flows equal what the benchmark's raw GROUP BY ceiling computes
    from the same rows: the ceiling does the same arithmetic, only without the portal's work around it."""
    _postgres_only()
    from django.contrib.auth import get_user_model

    from bench.scenarios import raw_rebuild_sql
    from indicators.models import Indicator
    from reporting.models import Figure, Submission
    from reporting.services.bulk_import import history_import
    from reporting.services.rollups import rollup_slice, rollup_slices

    path = tmp_path / "tiny.csv"
    rows = tiny.write_csv(path)
    importer = get_user_model().objects.get(username="synthetic-importer")
    imported = history_import(user=importer, plan=plan, path=path, rollup=False)
    assert (imported.rows, imported.rejected_rows, imported.values_created) == (rows, 0, rows)
    shaped = tiny.shape()
    assert set(shaped) <= {"city_approved", "submitted", "returned", "draft", "late"}
    assert Submission.objects.filter(plan=plan, is_late=True).exists()
    for plan_id, period_id, province_id in rollup_slices(plan=plan):
        rollup_slice(plan_id=plan_id, period_id=period_id, province_id=province_id)
    flows = set(Indicator.objects.filter(plan=plan, kind="flow", reporter="city").values_list("id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(raw_rebuild_sql(), {"plan": plan.pk})
        raw = {
            (period, indicator, province): value
            for period, indicator, province, city, value, *_rest in cursor.fetchall()
            if city is None and indicator in flows
        }
    ours = {
        (f.period_id, f.indicator_id, f.region_id): f.value
        for f in Figure.objects.filter(
            plan=plan, basis="official", span="quarter", region__level="province", indicator_id__in=flows
        )
        if f.value is not None
    }
    assert raw
    assert ours == {k: Decimal(v) for k, v in raw.items() if v is not None}


def test_the_bare_views_insert_and_read(plan, tiny, db, settings):
    _postgres_only()
    from rest_framework.test import APIClient

    from bench.views import INGEST_TABLE

    settings.ROOT_URLCONF = "bench.urls"
    with connection.cursor() as cursor:
        cursor.execute(INGEST_TABLE)
    client = APIClient()
    payload = {
        "report": "320100-2026Q3",
        "values": [{"indicator": "a", "value": "1"}, {"indicator": "b", "numerator": "1", "denominator": "2"}],
    }
    answer = client.post("/bench/bare/ingest/", payload, format="json")
    assert (answer.status_code, answer.json()) == (201, {"rows": 2})
    with connection.cursor() as cursor:
        cursor.execute("SELECT report, indicator, value, numerator FROM bench_ingest ORDER BY indicator")
        assert cursor.fetchall() == [("320100-2026Q3", "a", Decimal(1), None), ("320100-2026Q3", "b", None, Decimal(1))]
    read = client.get("/bench/bare/figures/", {"year": 2026, "quarter": 3, "region": "320000"})
    assert (read.status_code, read.json()) == (200, [])


def test_percentiles_are_nearest_rank():
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (50.0, 99.0, 100.0)
    assert percentile([], 0.99) == 0.0
    assert percentile([3.0], 0.99) == 3.0


def _run(**scenarios):
    return {
        "machine": {
            "cpus": 2,
            "memory_gb": 23.0,
            "postgres": "PostgreSQL 15",
            "python": "3.11",
            "load_at_start": [0.1],
        },
        "finished_at": "2026-11-25T09:00:00+08:00",
        "seconds": 60.0,
        "data": "tiny",
        "scenarios": scenarios,
    }


def test_verdicts_say_met_or_not_by_how_much_and_why():
    run = _run(
        **{
            "import": {
                "rows": 1000,
                "seconds": 2.0,
                "rows_per_s": 500,
                "ceiling_seconds": 1.0,
                "ceiling_rows_per_s": 1000,
                "ratio": 0.5,
            },
            "incremental": {
                "slice_ms": 150.0,
                "ceiling_ms": 50.0,
                "ratio": 3.0,
                "tasks": 4,
                "reports_approved": 10,
                "tasks_per_report": 0.4,
            },
            "export": {"measured": False, "note": "not measured: export not built yet"},
        }
    )
    rows = {row["scenario"]: row for row in report.verdicts(run)}
    assert rows["Bulk history import"]["met"] is True
    assert rows["Bulk history import"]["checks"][0]["by"] == "1.11× the floor"
    incremental = rows["Incremental rollup after approvals"]
    assert [c["met"] for c in incremental["checks"]] == [False, False, True]
    assert incremental["checks"][0]["by"] == "1.50× the limit"
    assert incremental["why"]
    assert rows["Supervision XLSX, full year"]["figure"] == "not measured: export not built yet"
    assert rows["Supervision XLSX, full year"]["met"] is False
    run["verdicts"] = list(rows.values())
    table = report.markdown({"runs": {"tiny": run}})
    assert "| Bulk history import | 500 rows/s" in table
    assert "**not met** (1.50× the limit)" in table


def test_the_docs_table_is_replaced_between_its_markers(tmp_path):
    docs = tmp_path / "benchmarks.md"
    docs.write_text(
        f"# Benchmarks\n\nkept\n\n{report.RESULTS_START}\nold\n{report.RESULTS_END}\n\nalso kept\n", encoding="utf-8"
    )
    run = _run()
    run["verdicts"] = []
    report.write({"runs": {"tiny": run}}, results_path=tmp_path / "results.json", docs_path=docs)
    text = docs.read_text(encoding="utf-8")
    assert "old" not in text
    assert text.startswith("# Benchmarks\n\nkept\n")
    assert "also kept" in text
    assert "### tiny scale" in text
    assert json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))["runs"]["tiny"]["seconds"] == 60.0


def _drop_database(db, name):
    import psycopg2

    admin = psycopg2.connect(
        dbname="postgres",
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.mark.worker
def test_a_whole_tiny_run_completes(tmp_path):
    """`python -m bench.run` end to end at tiny scale (about a minute): server, workers, every scenario."""
    if not os.environ.get("REDIS_URL") or connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL and Redis, as in CI")
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    # Named after this suite's own test database and Redis number, so that two suites on one server (two
    # checkouts, two CI jobs) never drop each other's benchmark database or flush each other's queue.
    name = f"bench_smoke_{db['NAME']}"
    database = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"
    url = urlsplit(os.environ["REDIS_URL"])
    redis = urlunsplit(url._replace(path=f"/{(int(url.path.strip('/') or 0) + 12) % 16}"))
    env = {
        **os.environ,
        "BENCH_SCALE": "tiny",
        "BENCH_DATABASE_URL": database,
        "BENCH_REDIS_URL": redis,
        "BENCH_RESULTS": str(tmp_path / "results.json"),
        "BENCH_DOCS": str(tmp_path / "benchmarks.md"),
        "BENCH_WORK": str(tmp_path / "work"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.run"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        _drop_database(db, name)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))["runs"]["tiny"]
    scenarios = run["scenarios"]
    assert set(scenarios) == {"import", "rebuild", "burst", "incremental", "reads", "export"}
    assert (scenarios["burst"]["errors"], scenarios["burst"]["duplicates"]) == (0, 0)
    assert scenarios["rebuild"]["half_built_seen"] == 0
    assert scenarios["reads"]["errors"] == 0
    assert scenarios["import"]["rejected_rows"] == 0
    # The export is timed as a process's second export; the fresh process's first is kept beside it.
    assert scenarios["export"]["first_seconds"] > 0
    assert scenarios["export"]["seconds"] > 0
    assert len(run["verdicts"]) == 6
    assert "### tiny scale" in (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
