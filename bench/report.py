"""Verdicts against the budgets of issue 7, and the table in docs/benchmarks.md.

Each budget is a ratio to a ceiling measured in the same run (plus the two absolute latency budgets the
issue sets). A verdict says met or not met, by how much, and why; the "why" for a miss comes from the
measured breakdown, not from a guess."""

import json
from pathlib import Path
from typing import Any

RESULTS_START = "<!-- bench:results -->"
RESULTS_END = "<!-- /bench:results -->"
EXPLAIN_START = "<!-- bench:explain -->"
EXPLAIN_END = "<!-- /bench:explain -->"


def _margin(value: float, limit: float, *, higher_is_better: bool) -> str:
    if higher_is_better:
        return f"{value / limit:.2f}× the floor" if limit else "-"
    return f"{value / limit:.2f}× the limit" if limit else "-"


def check(ok: bool, value: float | None, limit: float, text: str, *, higher_is_better: bool) -> dict[str, Any]:
    if value is None:
        return {"met": False, "check": text, "by": "not measured"}
    return {"met": ok, "check": text, "by": _margin(value, limit, higher_is_better=higher_is_better)}


def verdicts(run: dict[str, Any]) -> list[dict[str, Any]]:
    s = run["scenarios"]
    out: list[dict[str, Any]] = []

    b = s.get("burst")
    if b:
        checks = [
            check(
                (b["rate_ratio"] or 0) >= 0.5,
                b["rate_ratio"],
                0.5,
                "reports/s ≥ 50 % of the ceiling's",
                higher_is_better=True,
            ),
            check(
                (b["p99_ratio"] or 99) <= 4, b["p99_ratio"], 4, "p99 ≤ 4 × the ceiling's p99", higher_is_better=False
            ),
            {"met": b["duplicates"] == 0, "check": "0 duplicates", "by": f"{b['duplicates']} duplicates"},
            {"met": b["errors"] == 0, "check": "0 errors", "by": f"{b['errors']} errors"},
        ]
        why = (
            f"A report is one POST /api/v1/submissions/report/ (create, values and submit in one transaction; "
            f"{b['requests'] / b['reports']:.2f} requests per report with the resends, replayed from the idempotency "
            f"store) against one bare POST; it authenticates a knox token, reads the user's memberships, the period, "
            "the city, the plan and a digest of the city's indicator list in one statement, validates "
            f"{b['values_per_report']:.0f} values through the shared rules, creates the report with its history row "
            "and Transition in one statement (an existing one is locked and its version checked), checks the report "
            "is complete against last quarter, writes the values with their history rows and the report's version "
            "in one statement, the submit's row, history row and Transition in one more, and the idempotency "
            "record: 8 statements (pinned by tests/reporting/test_api_queries.py) where the bare view makes one."
        )
        out.append(
            {
                "scenario": "Quarter-end burst through the API",
                "figure": f"{b['reports_per_s']} reports/s, p99 {b['p99_ms']} ms ({b['reports']} reports, "
                f"{b['resent']} resent, {b['clients']} clients)",
                "ceiling": f"{b['ceiling_reports_per_s']} reports/s, p99 {b['ceiling_p99_ms']} ms "
                "(bare DRF bulk insert)",
                "checks": checks,
                "why": why,
            }
        )

    i = s.get("incremental")
    if i:
        checks = [
            check((i["ratio"] or 99) <= 2, i["ratio"], 2, "≤ 2 × the slice's raw SQL", higher_is_better=False),
            check(i["slice_ms"] <= 100, i["slice_ms"], 100, "≤ 100 ms", higher_is_better=False),
            check(
                (i["tasks_per_report"] or 0) <= 1,
                i["tasks_per_report"],
                1,
                "≤ 1 Celery task per report",
                higher_is_better=False,
            ),
        ]
        why = (
            "The raw SQL is one GROUP BY of the quarter's values of the whole province. The rollup of one approval "
            "recomputes only the city whose report changed, from this quarter, last quarter (carry-forward of "
            "stocks) and the year so far (year-to-date of flows), both bases and both spans; merges the changed "
            "rows; sums the province from the stored figures of all its cities; builds the province's coverage "
            "(reported, carried, pending, missing) with the reports pending review; rewrites the province figures "
            "that moved and records when the slice was checked, in one transaction with its locks (rebuilding the "
            "whole slice takes "
            f"{i.get('whole_slice_ms')} ms). An approval in an earlier quarter of the year hands the year's later "
            "quarters (their year-to-date includes it) on to queued runs of their own, coalesced like approvals; "
            "one approval's run followed by the runs it hands on takes "
            f"{i.get('with_later_ms')} ms."
        )
        out.append(
            {
                "scenario": "Incremental rollup after approvals",
                "figure": f"{i['slice_ms']} ms for one approval's (province, quarter)"
                + (
                    f" ({i['with_later_ms']} ms with the later quarters it hands on)"
                    if i.get("with_later_ms") is not None
                    else ""
                )
                + f"; {i['tasks']} tasks for {i['reports_approved']} approved reports",
                "ceiling": f"{i['ceiling_ms']} ms (raw GROUP BY of the same slice)"
                + (
                    f"; added, not a budget: {i['ceiling_full_ms']} ms for the portal's output set in raw SQL "
                    f"(quarter and year to date, both bases, the carry), {i['ratio_to_full_ceiling']}× of it"
                    if i.get("ceiling_full_ms") is not None
                    else ""
                ),
                "checks": checks,
                "why": why,
            }
        )

    r = s.get("rebuild")
    if r:
        checks = [
            check(r["ratio"] <= 2, r["ratio"], 2, "≤ 2 × the raw SQL", higher_is_better=False),
        ]
        if r.get("forced_ratio") is not None:
            # Added beside the nightly figure: the same job when every slice changed (none skipped).
            checks.append(
                check(
                    r["forced_ratio"] <= 2,
                    r["forced_ratio"],
                    2,
                    "every slice recomputed (forced): ≤ 2 × the raw SQL",
                    higher_is_better=False,
                )
            )
        checks += [
            {
                "met": r["half_built_seen"] == 0,
                "check": "readers never see a half-built state",
                "by": f"{r['half_built_seen']} half-built slices in {r['reader_checks']} reads",
            },
        ]
        why = (
            f"The raw SQL writes {r['ceiling_rows']:,} grouped rows into an unlogged table in one statement. The "
            f"rebuild computes {r['figures']:,} figures (quarter and year-to-date, official and preview, each with "
            f"coverage, carry-forward and year-to-date reading up to five quarters per slice), {r['slices']} slices "
            "each in its own transaction, merged into the indexed figure table; the first build from empty "
            f"({r.get('first_build_seconds')} s, {r.get('first_build_ratio')}× the raw SQL) also pays for inserting "
            "every row into four indexes and checking four foreign keys per row at commit. The nightly run first "
            "compares each slice's fingerprint (its parameters, every submission and value it reads, its stored "
            "figures: counts and 64-bit hash sums) with the one its last full recompute stored, one task and one "
            "statement per province for all its quarters, and recomputes only the slices that differ, one task each "
            f"({r['runs'].get('nightly', {}).get('recomputed')} here; the consistency check at 03:30 still recomputes "
            "everything independently); forced to recompute every slice, one task each, it took "
            f"{r.get('forced_seconds')} s ({r.get('forced_ratio')}× the raw SQL), rewriting only figures that "
            "changed (none) and each slice's check time. Two worker processes ran "
            f"{r['speedup_two_workers']}× as fast as one on this 2-core machine, where PostgreSQL shares the cores."
        )
        out.append(
            {
                "scenario": "Full rebuild (nightly, every slice)",
                "figure": f"{r['seconds']} s with 2 workers, nothing changed ({r['slices']} slices, "
                f"{r['figures']:,} figures; every slice recomputed (forced) {r.get('forced_seconds')} s; first "
                f"build from empty {r.get('first_build_seconds')} s); 1 vs 2 workers on {r['sample_slices']} slices "
                f"from empty: {r['runs']['one_worker']['seconds']} s vs {r['runs']['two_workers']['seconds']} s",
                "ceiling": f"{r['ceiling_seconds']} s (raw GROUP BY into an unlogged table; "
                f"{r['ceiling_select_only_seconds']} s without writing)",
                "checks": checks,
                "why": why,
            }
        )

    d = s.get("reads")
    if d:
        checks = [
            check(
                (d["rate_ratio"] or 0) >= 0.6,
                d["rate_ratio"],
                0.6,
                "requests/s ≥ 60 % of the ceiling's",
                higher_is_better=True,
            ),
            check(d["p99_ms"] <= 100, d["p99_ms"], 100, "p99 ≤ 100 ms", higher_is_better=False),
            {"met": d["errors"] == 0, "check": "0 errors", "by": f"{d['errors']} errors"},
        ]
        pages = ", ".join(f"{k} p99 {v['p99_ms']} ms" for k, v in d["pages"].items())
        why = (
            "The bare view returns the province's figure rows as JSON; the pages judge every target against its "
            "trajectory, roll status up to measures and programmes, resolve coverage names and render templates "
            f"with charts and tables ({pages}); a kept answer still costs the session, the user with its "
            "memberships, the plan, the periods and the figures' version (5 queries for a page, 2–3 for the API), the "
            "page around the kept body (its CSRF token and CSP nonce are per request) and the middleware; 8 clients "
            "share 2 cores with the server, PostgreSQL and the ingest."
        )
        out.append(
            {
                "scenario": "Dashboards and read API under load, ingest running",
                "figure": f"{d['requests_per_s']} requests/s, p99 {d['p99_ms']} ms ({d['requests']} requests; "
                f"{d['ingest_requests']} ingest requests meanwhile)",
                "ceiling": f"{d['ceiling_requests_per_s']} requests/s, p99 {d['ceiling_p99_ms']} ms "
                "(bare DRF view, same rows)",
                "checks": checks,
                "why": why,
            }
        )

    e = s.get("export")
    if e:
        if not e.get("measured"):
            out.append(
                {
                    "scenario": "Supervision XLSX, full year",
                    "figure": e.get("note", "not measured"),
                    "ceiling": "-",
                    "checks": [{"met": False, "check": "≤ 1.5 × the raw writer; RSS ≤ 150 MB", "by": "not measured"}],
                    "why": e.get("note", ""),
                }
            )
        else:
            checks = [
                check((e["ratio"] or 99) <= 1.5, e["ratio"], 1.5, "≤ 1.5 × the raw writer", higher_is_better=False),
                check(e["rss_mb"] <= 150, e["rss_mb"], 150, "worker RSS ≤ 150 MB", higher_is_better=False),
            ]
            why = (
                f"The export first takes an as-of snapshot (reads every figure, judgement, completeness row, change "
                f"and evidence file of the year and stores it), then renders it ({e['render_seconds']} s, "
                f"{e['render_ratio']}× the raw writer); the raw writer only writes the {e['cells']:,} cells. The "
                f"export process held {e.get('baseline_rss_mb')} MB before it began (Python, Django, the project)."
            )
            if e.get("first_seconds") is not None:
                why += (
                    f" Timed: the second export of a process that has just exported year {e.get('first_year')}, "
                    "as a long-lived export worker runs it (its imports, first calls and the connection's caches "
                    "paid once, as the raw writer's process has imported XlsxWriter before its timer); that "
                    f"first export in a fresh process took {e['first_seconds']} s (render "
                    f"{e.get('first_render_seconds')} s). The peak RSS covers both."
                )
            out.append(
                {
                    "scenario": "Supervision XLSX, full year",
                    "figure": f"{e['seconds']} s, peak RSS {e['rss_mb']} MB ({e['cells']:,} cells, "
                    f"{e['sheets']} sheets, "
                    f"year {e['year']}"
                    + (
                        f"; the process's second export; first export in a fresh process: {e['first_seconds']} s)"
                        if e.get("first_seconds") is not None
                        else ")"
                    ),
                    "ceiling": f"{e['ceiling_seconds']} s, peak RSS {e['ceiling_rss_mb']} MB (XlsxWriter alone)",
                    "checks": checks,
                    "why": why,
                }
            )

    m = s.get("import")
    if m:
        checks = [
            check(m["ratio"] >= 0.45, m["ratio"], 0.45, "rows/s ≥ 45 % of COPY's", higher_is_better=True),
        ]
        why = (
            "COPY streams already-resolved ids into the table; the import also streams the file into staging, "
            "resolves every code, checks every rule, creates the reports with their history and Transition rows, "
            "and upserts the values. Both pay the table's indexes and its foreign-key checks at commit."
        )
        rest = m.get("rest")
        tail = (
            f"; the other {rest['rows']:,} rows of the history: {rest['rows_per_s']:,} rows/s ({rest['seconds']} s)"
            if rest
            else ""
        )
        out.append(
            {
                "scenario": "Bulk history import",
                "figure": f"{m['rows_per_s']:,} rows/s ({m['rows']:,} rows, {m['seconds']} s){tail}",
                "ceiling": f"{m['ceiling_rows_per_s']:,} rows/s "
                f"(psycopg COPY of the same rows, {m['ceiling_seconds']} s)",
                "checks": checks,
                "why": why,
            }
        )
    for row in out:
        row["met"] = all(c["met"] for c in row["checks"])
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = []
    for scale, run in sorted(
        results.get("runs", {}).items(), key=lambda kv: ["tiny", "province", "national"].index(kv[0])
    ):
        machine = run["machine"]
        lines.append(
            f"### {scale} scale — {run['finished_at']}, {run['seconds']:.0f} s in all\n\n"
            f"{machine['cpus']} cores, {machine['memory_gb']} GB, {machine['postgres']}, Python {machine['python']}, "
            f"load average (1, 5, 15 min) at start {machine['load_at_start']}, at end "
            f"{machine.get('load_at_end', '-')}. Data: {run['data']}\n"
        )
        lines.append("| scenario | portal | ceiling (same run) | budget | verdict |")
        lines.append("| --- | --- | --- | --- | --- |")
        for row in run["verdicts"]:
            budget = "; ".join(c["check"] for c in row["checks"])
            verdict = "; ".join(f"{'met' if c['met'] else '**not met**'} ({c['by']})" for c in row["checks"])
            lines.append(f"| {row['scenario']} | {row['figure']} | {row['ceiling']} | {budget} | {verdict} |")
        lines.append("")
        missed = [row for row in run["verdicts"] if not row["met"]]
        for row in run["verdicts"]:
            label = "Why it is not met" if row in missed else "What the ratio measures"
            lines.append(f"- **{row['scenario']}** — {label}: {row['why']}")
        for note in run.get("notes", []):
            lines.append(f"- {note}")
        lines.append("")
    return "\n".join(lines)


def explain_markdown(results: dict[str, Any]) -> str:
    runs = results.get("runs", {})
    scale = "national" if "national" in runs else next(iter(runs), None)
    if scale is None:
        return ""
    lines = [f"From the {scale} run ({runs[scale]['finished_at']}).\n"]
    for name, plan in runs[scale].get("explain", {}).items():
        lines.append(f"#### {name}\n\n```\n{plan}\n```\n")
    return "\n".join(lines)


def _replace(text: str, start: str, end: str, body: str) -> str:
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _old, tail = rest.split(end, 1)
        return f"{head}{start}\n{body}\n{end}{tail}"
    return f"{text}\n{start}\n{body}\n{end}\n"


def write(results: dict[str, Any], *, results_path: Path, docs_path: Path) -> None:
    results_path.write_text(json.dumps(results, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    text = docs_path.read_text(encoding="utf-8") if docs_path.exists() else "# Benchmarks\n"
    text = _replace(text, RESULTS_START, RESULTS_END, markdown(results))
    text = _replace(text, EXPLAIN_START, EXPLAIN_END, explain_markdown(results))
    docs_path.write_text(text, encoding="utf-8")
