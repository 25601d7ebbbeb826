"""`python -m bench.run` (what `make bench` runs): build the benchmark database, load the data, run every
scenario beside its ceiling, and write bench/results.json and the table in docs/benchmarks.md.

BENCH_SCALE=national (default), province (a few minutes) or tiny (seconds; the smoke tests). The database
is BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bench_h; its name must start with
"bench", since it is dropped and created afresh), Redis is BENCH_REDIS_URL (default database 11 of the local
Redis, flushed at the start). The server (gunicorn) and the Celery workers are started here on 127.0.0.1 and
stopped here, by pid."""

import json
import os
import platform
import secrets
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("BENCH_RESULTS", ROOT / "bench" / "results.json"))
DOCS = Path(os.environ.get("BENCH_DOCS", ROOT / "docs" / "benchmarks.md"))
PLAN_DIR = "fixtures/plans/js-2018-28"
# Per scale: server workers, reads per client, full-rebuild sample (years) for 1 vs 2 workers, slices timed.
# Per scale: server workers, reads per client, full-rebuild sample (latest quarters) for 1 vs 2 workers, slices timed,
# and how many of the oldest quarters the timed import (and its COPY ceiling) covers (None: all of them).
# Every value is an int, or None where the comment above says so.
SETTINGS: dict[str, dict[str, Any]] = {
    "tiny": {
        "server_workers": 2,
        "reads_per_client": 3,
        "sample_quarters": None,
        "slices_timed": 2,
        "import_quarters": None,
    },
    "province": {
        "server_workers": 4,
        "reads_per_client": 25,
        "sample_quarters": None,
        "slices_timed": 6,
        "import_quarters": None,
    },
    "national": {
        "server_workers": 4,
        "reads_per_client": 25,
        "sample_quarters": 2,
        "slices_timed": 6,
        "import_quarters": 4,
    },
}


def log(message: str) -> None:
    sys.stdout.write(f"[bench {time.strftime('%H:%M:%S', time.gmtime())}Z] {message}\n")
    sys.stdout.flush()


def configure(work: Path) -> dict[str, str]:
    db_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_h")
    name = urlparse(db_url).path.lstrip("/")
    if not name.startswith("bench"):
        raise SystemExit(f"BENCH_DATABASE_URL must name a database starting with 'bench' (it is dropped): {name}")
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": db_url,
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"),
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        # The reads scenario signs coordinators in by password; with the second factor required every page
        # would redirect to /accounts/2fa/. The factor's per-request cost (one device lookup) is left out.
        "PORTAL_OTP_REQUIRED": "false",
        "LOG_LEVEL": "WARNING",
        "PRIVATE_FILES_ROOT": str(work / "private"),
    }
    os.environ.update(env)
    return env


def database_reset(db_url: str) -> None:
    import psycopg2

    parts = urlparse(db_url)
    name = parts.path.lstrip("/")
    admin = psycopg2.connect(
        dbname="postgres",
        user=parts.username or "postgres",
        password=parts.password or None,
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def redis_reset(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.ping()
    # Only the benchmark's own Redis database: leftover tasks and coalescing keys of an earlier run.
    client.flushdb()


def machine() -> dict[str, object]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(memory, 1),
        "postgres": f"PostgreSQL {version.split()[0]}",
        "python": platform.python_version(),
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def data_summary(plan) -> str:
    from django.db import connection

    from indicators.models import Indicator
    from measures.models import Region
    from reporting.models import Period, Submission

    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'reporting_datavalue'")
        values = cursor.fetchone()[0]
    regions = {level: Region.objects.filter(level=level).count() for level in ("province", "city", "county")}
    return (
        f"{regions['province']} provinces, {regions['city']} cities/prefectures, {regions['county']} counties; "
        f"{Indicator.objects.filter(plan=plan).count()} indicators; {Period.objects.count()} quarters; "
        f"{Submission.objects.filter(plan=plan).count():,} reports, ~{values:,} values (合成数据 SYNTHETIC)"
    )


def main() -> None:
    scale = os.environ.get("BENCH_SCALE", "national")
    if scale not in SETTINGS:
        raise SystemExit(f"BENCH_SCALE must be one of {sorted(SETTINGS)}")
    options = SETTINGS[scale]
    # BENCH_ONLY=burst,reads (say) runs only those scenarios after the data load, to time one change quickly.
    only = {name.strip() for name in os.environ.get("BENCH_ONLY", "").split(",") if name.strip()}

    def wanted(name: str) -> bool:
        return not only or name in only

    started = time.monotonic()
    # BENCH_WORK: a folder of one's own when several runs share the checkout (their files would collide).
    work = Path(os.environ.get("BENCH_WORK", ROOT / "var" / "bench" / scale))
    work.mkdir(parents=True, exist_ok=True)
    env = configure(work)
    log(f"scale {scale}; database {env['DATABASE_URL']}; redis {env['REDIS_URL']}")
    database_reset(env["DATABASE_URL"])
    redis_reset(env["REDIS_URL"])

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench import procs, scenarios
    from bench.report import verdicts, write
    from measures.models import Plan
    from reporting.management.commands.generate_data import SCALES, Generator

    run: dict[str, Any] = {"scale": scale, "machine": machine(), "notes": []}
    notes: list[str] = run["notes"]
    results: dict[str, Any] = {}
    call_command("migrate", verbosity=0)
    call_command("load_plan", PLAN_DIR, verbosity=0)
    plan = Plan.objects.get(code="js-2018-28")
    generator = Generator(plan=plan, scale=SCALES[scale], seed=2026)
    bench = scenarios.Bench(scale=scale, plan=plan, generator=generator, work=work, env=procs.child_env(env))

    log("generating the synthetic reference data and history file")
    csv_path = work / f"synthetic-{scale}-history.csv"
    (_counts, generated) = scenarios.timed(generator.reference)
    first = options["import_quarters"]
    part = slice(0, first) if first else None
    rows, written = scenarios.timed(generator.write_csv, csv_path, periods=part)
    run["generation"] = {"reference_seconds": round(generated, 2), "csv_seconds": round(written, 2), "rows": rows}
    log(f"{rows:,} history rows written in {written:.0f} s; importing")
    results["import"] = scenarios.bulk_import(bench, csv_path)
    log(f"import: {results['import']}")
    csv_path.unlink()
    if first:
        # The rest of the history goes through the same import, timed but without a ceiling: COPYing all
        # eleven million rows again only to time the ceiling would not fit the run's half hour.
        more, more_written = scenarios.timed(generator.write_csv, csv_path, periods=slice(first, None))
        run["generation"]["csv_seconds"] += round(more_written, 2)
        run["generation"]["rows"] += more
        results["import"]["rest"] = scenarios.import_rest(bench, csv_path)
        log(f"rest of the history: {results['import']['rest']}")
        csv_path.unlink()
    shaped, shaping = scenarios.timed(generator.shape)
    run["generation"]["shape_seconds"] = round(shaping, 2)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    run["data"] = data_summary(plan)
    log(run["data"])

    if wanted("rebuild"):
        log("full rebuild: raw SQL, then 1 and 2 worker processes")
        results["rebuild"] = scenarios.full_rebuild(bench, sample_quarters=options["sample_quarters"])
        log(f"rebuild: { {k: v for k, v in results['rebuild'].items() if k != 'runs'} }")

    scenarios.accounts(bench)
    server, port = procs.server_start(env=bench.env, workers=options["server_workers"], log=work / "server.log")
    bench.port = port
    try:
        log(f"server on 127.0.0.1:{port}; quarter-end burst, {len(bench.cities)} cities × {len(bench.burst)} quarters")
        results["burst"] = scenarios.burst(bench)
        log(f"burst: {results['burst']}")
        if wanted("incremental"):
            results["incremental"] = scenarios.incremental(bench, sample_provinces=options["slices_timed"])
            log(f"incremental: {results['incremental']}")
        if wanted("reads"):
            results["reads"] = scenarios.reads(bench, per_client=options["reads_per_client"])
            log(f"reads: {results['reads']}")
    finally:
        server.stop()
    if wanted("export"):
        log("supervision XLSX")
        try:
            results["export"] = scenarios.export(bench)
        except Exception as exc:
            results["export"] = {"measured": False, "note": f"not measured: {type(exc).__name__}: {exc}"[:500]}
        log(f"export: {results['export']}")
    if not only:
        run["explain"] = scenarios.explain(bench)
    run["scenarios"] = results
    run["verdicts"] = verdicts(run)
    # Other work on the machine shares its cores with the run; the load average says how much.
    run["machine"]["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    run["finished_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
    run["seconds"] = round(time.monotonic() - started, 1)
    if scale == "national" and run["seconds"] > 30 * 60:
        notes.append(f"The national run took {run['seconds'] / 60:.1f} minutes, over the 30-minute goal.")
    stored = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}
    stored.setdefault("runs", {})[scale] = run
    stored["about"] = "Written by `make bench` (bench/run.py); each run replaces its own scale's entry."
    write(stored, results_path=RESULTS, docs_path=DOCS)
    for row in run["verdicts"]:
        log(f"{'MET    ' if row['met'] else 'NOT MET'} {row['scenario']}: {row['figure']} | ceiling {row['ceiling']}")
    log(f"done in {run['seconds']:.0f} s; wrote {RESULTS} and {DOCS}")
    _ = shaped


if __name__ == "__main__":
    main()
