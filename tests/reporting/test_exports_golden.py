"""The report a snapshot holds, and the workbook rendered from it, pinned cell by cell: a change that only
makes the snapshot cheaper to take (fewer queries, plain rows instead of model instances, how the content
is stored) must leave every figure, text and cell as it was.

tests/reporting/golden_exports.json pins the SHA-256 of each report's content and cells as the code before
such a change wrote them, with times (which move with the clock) replaced by a placeholder. To pin a
deliberate change of the report, run this module with EXPORT_GOLDEN_DUMP=<folder> before and after it,
compare the two folders, then once with EXPORT_GOLDEN_WRITE=1."""

import hashlib
import json
import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reporting.exports.to_xlsx import xlsx_write
from reporting.models import ExportJob, ReportSnapshot
from reporting.services.exports import canonical_json, content_sha256, export_job_create, export_job_run
from reporting.services.rollups import rollup_period
from tests.reporting.test_exports_support import all_cells, build_world

GOLDEN = Path(__file__).parent / "golden_exports.json"
MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?")


@pytest.fixture
def world(
    plan,
    period,
    previous_period,
    django_user_model,
    time_machine,
    coordinator,
    nanjing_reporter,
    nanjing_reviewer,
    suzhou_reporter,
    suzhou_reviewer,
):
    built = build_world(
        plan=plan,
        period=period,
        django_user_model=django_user_model,
        time_machine=time_machine,
        coordinator=coordinator,
        nanjing_reporter=nanjing_reporter,
        nanjing_reviewer=nanjing_reviewer,
        suzhou_reporter=suzhou_reporter,
        suzhou_reviewer=suzhou_reviewer,
    )
    rollup_period(plan_id=plan.pk, period_id=previous_period.pk)
    return built


def _timeless(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _timeless(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_timeless(item) for item in value]
    if isinstance(value, datetime):
        return "<time>"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return MOMENT.sub("<time>", value)
    return value


def _cells(path: Path) -> list[list[Any]]:
    return [
        [cell.parent.title, cell.coordinate, _timeless(cell.value), cell.data_type, cell.number_format, cell.font.b]
        for cell in all_cells(path)
        if cell.value is not None
    ]


def _check(name: str, found: Any) -> None:
    """Compare with the pinned SHA-256 of the timeless content. EXPORT_GOLDEN_DUMP=<folder> writes the full
    copies, to diff one taken before a change against one taken after."""
    text = json.dumps(found, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    if folder := os.environ.get("EXPORT_GOLDEN_DUMP"):
        (Path(folder) / f"{name}.json").write_text(text, encoding="utf-8")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    pinned = json.loads(GOLDEN.read_text(encoding="utf-8"))
    if os.environ.get("EXPORT_GOLDEN_WRITE"):
        pinned[name] = digest
        GOLDEN.write_text(json.dumps(pinned, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    assert digest == pinned.get(name), f"{name} differs from its pinned copy"


def _exported(user: Any, period: str, **scope: Any) -> ReportSnapshot:
    job = export_job_create(user=user, format="xlsx", period=period, **scope)
    if job.status != ExportJob.Status.DONE:
        job = export_job_run(job_id=job.pk)
    assert job.status == ExportJob.Status.DONE, job.error
    assert job.snapshot is not None
    return job.snapshot


@pytest.mark.parametrize(
    ("who", "asked", "scope"),
    [
        ("auditor", "2025", {}),
        ("auditor", "2025Q4", {}),
        ("auditor", "2025Q4", {"programmes": [1], "cities": ["320100", "320500"]}),
        ("nanjing_reporter", "2025", {}),
        ("edu_reporter", "2025Q4", {}),
    ],
)
def test_the_snapshot_and_its_workbook_hold_the_pinned_cells(world, request, tmp_path, who, asked, scope):
    user = request.getfixturevalue(who)
    snapshot = _exported(user, asked, **scope)
    stored = ReportSnapshot.objects.get(pk=snapshot.pk)
    # What was stored is what was built, and its recorded hash is the hash of that content.
    assert stored.content == snapshot.content
    assert stored.content_sha256 == content_sha256(stored.content)
    path = tmp_path / "report.xlsx"
    xlsx_write(stored.content, path)
    name = f"{who}-{asked}" + ("-scoped" if scope else "")
    _check(f"{name}-content", _timeless(stored.content))
    _check(f"{name}-cells", _cells(path))


def test_the_snapshot_content_goes_to_the_database_once_as_its_canonical_text(world, auditor):
    """Serialised once, as the UTF-8 text its SHA-256 is of (JSONField alone would send \\u escapes), and
    compressed with lz4 where the server offers it."""
    with CaptureQueriesContext(connection) as queries:
        snapshot = _exported(auditor, "2025")
    inserts = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "reporting_reportsnapshot"')
    ]
    assert len(inserts) == 1
    # The statement as psycopg2 sent it: the text as one SQL literal (quotes doubled), cast to jsonb.
    assert "'" + canonical_json(snapshot.content).replace("'", "''") + "'" in inserts[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        lz4 = cursor.fetchone()[0]
        cursor.execute(
            "SELECT pg_column_compression(content) FROM reporting_reportsnapshot WHERE id = %s", [snapshot.pk]
        )
        compression = cursor.fetchone()[0]
    assert compression == ("lz4" if lz4 else "pglz")


def test_a_report_is_large_past_the_inline_limit_counted_no_further(world, auditor, settings):
    """Whether an export is built in the request or queued depends on the official figures of its quarter
    being more than EXPORT_INLINE_MAX_ROWS; the count stops one past the limit."""
    from reporting.models import Figure

    official = Figure.objects.filter(plan=world.plan, period=world.period, basis=Figure.Basis.OFFICIAL).count()
    assert official > 2
    settings.EXPORT_INLINE_MAX_ROWS = official
    inline = export_job_create(user=auditor, format="xlsx", period="2025Q4")
    assert inline.mode == ExportJob.Mode.INLINE
    settings.EXPORT_INLINE_MAX_ROWS = official - 1
    with CaptureQueriesContext(connection) as queries:
        queued = export_job_create(user=auditor, format="xlsx", period="2025Q4")
    assert queued.mode == ExportJob.Mode.QUEUED
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(*)" in q["sql"] and "reporting_figure" in q["sql"]]
    assert len(counts) == 1
    assert f"LIMIT {official}" in counts[0]


# Coverage and numbers no real rollup writes together, each put on some official figures: names of cities the
# report does not know (their codes stand in), lists out of order, empty and missing keys, carried-from values,
# negative, tiny, whole and missing numbers.
AWKWARD_COVERAGE = [
    {
        "kind": "city",
        "reported": ["320500", "999999", "320100"],
        "pending": ["320200", "888888"],
        "missing": ["320300", "320100"],
        "carried": {"320400": "2025Q3", "777777": "2025Q2", "320200": "2024Q4"},
    },
    {"kind": "city", "carried": {}, "pending": [], "missing": []},
    {"kind": "city"},
    {"kind": "body", "reported": ["320100"], "carried_from": "2025Q3"},
    {"carried_from": "2025Q3", "reporters": 2},
    {"kind": "", "carried_from": ""},
    {"kind": None, "carried_from": None},
    {},
    {"kind": "city", "reported": [], "carried_from": "2025Q2", "carried": {"320100": "2025Q3"}},
]
AWKWARD_NUMBERS = [
    ("-0.500000", "1234567.8900", None),
    ("100.000000", "0.0000", "3.1000"),
    ("0.000001", None, "1000000.0000"),
    (None, None, None),
    ("93000.123400", "-12.5000", "0.0001"),
]


def _both_paths(user: Any, asked: str, scope: dict[str, Any], monkeypatch: Any) -> tuple[str, str]:
    from django.utils import timezone

    from reporting.selectors import exports_content
    from reporting.selectors.exports import report_content, report_scope_resolve

    resolved, audience = report_scope_resolve(user=user, period=asked, **scope)
    cut_off = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        fast = canonical_json(report_content(scope=resolved, audience=audience, cut_off=cut_off))
    # The figures were read by the database-side path (its trim_scale), not the ORM's.
    assert any("trim_scale" in q["sql"] for q in queries.captured_queries)
    with monkeypatch.context() as patched:
        patched.setattr(exports_content, "_figures_sql", exports_content._figures_python)
        slow = canonical_json(report_content(scope=resolved, audience=audience, cut_off=cut_off))
    return fast, slow


@pytest.mark.parametrize("awkward", [False, True])
@pytest.mark.parametrize(
    ("who", "asked", "scope"),
    [
        ("auditor", "2025", {}),
        ("auditor", "2025Q4", {}),
        ("auditor", "2025Q4", {"programmes": [1], "cities": ["320100", "320500"]}),
        ("nanjing_reporter", "2025", {}),
        ("nanjing_reporter", "2025Q4", {}),
        ("edu_reporter", "2025Q4", {}),
        ("edu_reporter", "2025", {}),
    ],
)
def test_the_figures_read_in_the_database_give_the_content_the_orm_path_gives(
    world, request, monkeypatch, who, asked, scope, awkward
):
    """On PostgreSQL the figures part comes from one statement that formats its numbers and coverage texts
    itself; the content must be byte for byte the ORM path's (which SQLite runs)."""
    from decimal import Decimal

    from reporting.models import Figure

    if awkward:
        figures = list(Figure.objects.filter(plan=world.plan, basis=Figure.Basis.OFFICIAL).order_by("id"))
        assert len(figures) > len(AWKWARD_COVERAGE) * 2
        for n, figure in enumerate(figures):
            figure.coverage = AWKWARD_COVERAGE[n % len(AWKWARD_COVERAGE)]
            if n % 3 == 0:
                value, numerator, denominator = AWKWARD_NUMBERS[n // 3 % len(AWKWARD_NUMBERS)]
                figure.value = Decimal(value) if value is not None else None
                figure.numerator = Decimal(numerator) if numerator is not None else None
                figure.denominator = Decimal(denominator) if denominator is not None else None
        Figure.objects.bulk_update(figures, ["coverage", "value", "numerator", "denominator"])
    fast, slow = _both_paths(request.getfixturevalue(who), asked, scope, monkeypatch)
    assert fast == slow
    if awkward and who == "auditor" and not scope:
        content = json.loads(fast)
        # The awkward cases reached the report: unknown codes named by their code, an empty text, a carried note.
        texts = [row["coverage"] for row in content["parts"]["figures"]]
        assert any("999999" not in t and "888888" in t and "777777" in t for t in texts)
        assert "" in texts
        assert any(t.startswith("沿用 2025Q3") for t in texts)
        assert any("reported_cities" in entry for entry in content["figures"].values())
        assert any(row["value"] == "-0.5" for row in content["parts"]["figures"])
