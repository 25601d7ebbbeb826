"""Measurements that need a process of their own (peak RSS is per process): `export` builds the supervision
XLSX through the portal's export service; `raw-xlsx` writes the same cells with XlsxWriter alone. Each
prints one JSON line: seconds, peak RSS in MB and what it wrote.

`export` first builds one export of another year (`--warm-year`), which the verdict does not judge, in the
same process and on the same connection, then times the year asked for. A Celery export worker is a long-lived
process: its imports, first calls, Django's and PostgreSQL's per-connection caches are paid once in its life,
not by each export, as the raw writer's process has imported XlsxWriter before its timer starts. The first
export's time is kept as well (`first_seconds`), and the peak RSS is the process's over both."""

import argparse
import json
import os
import resource
import sys
import time


def _rss_mb() -> float:
    """Peak resident set of this process. VmHWM belongs to the process's own address space; getrusage's
    ru_maxrss would include the parent's peak, which a child started by fork inherits."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def export(year: str, username: str, warm_year: str) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    connection.ensure_connection()
    # What this process holds before the export starts: the interpreter, Django and the project's code.
    baseline = _rss_mb()

    import reporting.services.exports as exports_service
    from reporting.services.exports import export_file_path, export_job_create

    user = get_user_model().objects.get(username=username)
    rendered: dict[str, float] = {}
    original = exports_service.render

    def timed_render(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            rendered["seconds"] = time.perf_counter() - started

    exports_service.render = timed_render

    def one(period: str):
        rendered.clear()
        started = time.perf_counter()
        job = export_job_create(user=user, format="xlsx", period=period, background=False)
        seconds = time.perf_counter() - started
        # A large export is queued; with no broker configured here the queue runs in this process at once.
        job.refresh_from_db()
        if job.status != "done":
            raise SystemExit(f"export of {period} ended {job.status}: {job.error}")
        return job, seconds, rendered.get("seconds", 0.0)

    # Another year's export (a snapshot of its own: an export reuses a snapshot only when it is given one).
    first, first_seconds, first_render = one(warm_year)
    export_file_path(first).unlink(missing_ok=True)
    job, seconds, render_seconds = one(year)
    return {
        "seconds": round(seconds, 3),
        "render_seconds": round(render_seconds, 3),
        "first_year": warm_year,
        "first_seconds": round(first_seconds, 3),
        "first_render_seconds": round(first_render, 3),
        "rss_mb": _rss_mb(),
        "baseline_rss_mb": baseline,
        "path": str(export_file_path(job)),
        "size": job.size,
    }


def raw_xlsx(source: str, target: str) -> dict:
    from openpyxl import load_workbook

    workbook = load_workbook(source, read_only=True)
    sheets = [(sheet.title, [list(row) for row in sheet.iter_rows(values_only=True)]) for sheet in workbook.worksheets]
    workbook.close()
    import xlsxwriter

    cells = sum(1 for _title, rows in sheets for row in rows for value in row if value is not None)
    started = time.perf_counter()
    out = xlsxwriter.Workbook(target, {"constant_memory": True, "strings_to_formulas": False})
    for title, rows in sheets:
        sheet = out.add_worksheet(title)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    sheet.write(r, c, value)
    out.close()
    return {
        "seconds": round(time.perf_counter() - started, 3),
        "rss_mb": _rss_mb(),
        "cells": cells,
        "sheets": len(sheets),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    one = sub.add_parser("export")
    one.add_argument("--year", required=True)
    one.add_argument("--user", required=True)
    one.add_argument("--warm-year", required=True, help="the year of the untimed first export")
    two = sub.add_parser("raw-xlsx")
    two.add_argument("--source", required=True)
    two.add_argument("--target", required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    out = export(args.year, args.user, args.warm_year) if args.what == "export" else raw_xlsx(args.source, args.target)
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
