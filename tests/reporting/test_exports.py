"""Supervision reports: the figures in the XLSX, CSV and PDF equal the rollups; text is inert; a snapshot
regenerates identical figures and its diff shows revisions; each sentence of the summary traces to a
figure; building a report takes a bounded number of queries."""

import csv
import hashlib
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reporting.exports.summary import number_text
from reporting.models import ExportJob, ReportSnapshot
from reporting.selectors.exports import report_content, report_scope_resolve, snapshot_diff
from reporting.services import workflow
from reporting.services.exports import canonical_json, export_job_create, export_job_run
from reporting.services.rollups import rollup_period
from reporting.services.submissions import submission_values_put
from tests.reporting.test_exports_support import (
    INJECTED_COMMENT,
    INJECTED_DESCRIPTION,
    INJECTED_REASON,
    RATIO,
    UNAPPROVED_NUMERATOR,
    all_cells,
    as_decimal,
    build_world,
    job_path,
    official,
    pdf_text,
    sheet_rows,
    zip_members,
)

TARGET = "target:high-skill-workers-per-10000-800-by-2020"
PER_YEAR = "target:high-skill-workers-new-150000-per-year"


@pytest.fixture
def world(
    plan,
    period,
    django_user_model,
    time_machine,
    coordinator,
    nanjing_reporter,
    nanjing_reviewer,
    suzhou_reporter,
    suzhou_reviewer,
):
    return build_world(
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


def _export(user, fmt="xlsx", **kwargs):
    kwargs.setdefault("period", "2025Q4")
    job = export_job_create(user=user, format=fmt, **kwargs)
    if job.status != ExportJob.Status.DONE:
        job = export_job_run(job_id=job.pk)
    assert job.status == ExportJob.Status.DONE, job.error
    return job


def test_xlsx_figures_equal_the_rollups_for_the_scope(world, auditor):
    job = _export(auditor)
    path = job_path(job)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == job.sha256
    assert path.stat().st_size == job.size
    rows = sheet_rows(path, "各地数据")
    expected = official(world.plan, world.period)
    assert {r["数据键"] for r in rows} == set(expected)
    for row in rows:
        figure = expected[row["数据键"]]
        value_header = "数值（单位见“计量单位”列）"
        assert row[value_header] == (float(figure.value) if figure.value is not None else None)
        if figure.numerator is not None:
            assert row["分子（口径见“分子口径”列）"] == float(figure.numerator)
            assert row["分母（口径见“分母口径”列）"] == float(figure.denominator)
    province = next(r for r in rows if r["数据键"] == f"figure:{RATIO}:320000")
    # (90000 + 60000) / (1000000 + 1000000) × 10000: 南京 and 苏州 confirmed; 无锡's unapproved value is not in it.
    assert province["数值（单位见“计量单位”列）"] == 750.0
    assert province["已报（个）"] == 2
    assert province["应报（个）"] == 13
    assert "基于 2/13 个设区市已确认数据" in province["数据覆盖说明"]
    assert {r["地区"] for r in rows} == {"江苏省", "南京市", "苏州市"}

    targets = {r["数据键"]: r for r in sheet_rows(path, "目标进展")}
    ratio_target = targets[TARGET]
    assert ratio_target["实际值（单位见“计量单位”列）"] == 750.0
    assert ratio_target["目标值（单位见“计量单位”列）"] == 800.0
    assert ratio_target["完成率（%）"] == 93.75
    assert ratio_target["状态"] == "明显滞后"


def test_xlsx_layout_frozen_headers_units_and_numbers_as_numbers(world, auditor):
    from openpyxl import load_workbook

    path = job_path(_export(auditor))
    workbook = load_workbook(path)
    assert workbook.sheetnames == [
        "报告说明",
        "文字摘要",
        "工程与举措进展",
        "目标进展",
        "各地数据",
        "报送情况",
        "督办清单",
        "变更记录",
        "佐证材料",
    ]
    for sheet in workbook.worksheets[1:]:
        assert sheet.freeze_panes == "A3"
    headers = [c.value for c in workbook["目标进展"][2]]
    assert "完成率（%）" in headers
    assert "目标值（单位见“计量单位”列）" in headers
    sheet = workbook["目标进展"]
    gap_column = headers.index("差距（实际−应达）（单位见“计量单位”列）") + 1
    gaps = [sheet.cell(row=r, column=gap_column) for r in range(3, sheet.max_row + 1)]
    assert any(c.value is not None and c.value < 0 for c in gaps)
    assert all(c.data_type == "n" for c in gaps)
    completeness = workbook["报送情况"]
    deadline = completeness.cell(row=3, column=6)
    assert deadline.is_date
    workbook.close()


def test_formula_like_text_comes_out_inert_in_xlsx_and_csv(world, auditor):
    path = job_path(_export(auditor))
    cells = all_cells(path)
    assert not [c for c in cells if c.data_type == "f"]
    texts = [c.value for c in cells if c.data_type == "s"]
    assert "'" + INJECTED_REASON in texts
    assert "'" + INJECTED_COMMENT in texts
    assert "'" + INJECTED_DESCRIPTION in texts
    assert not [t for t in texts if t.startswith(("=", "+", "-", "@", "\t", "\r"))]

    members = zip_members(job_path(_export(auditor, "csv")))
    changes = members["07_changes.csv"]
    assert changes.startswith(b"\xef\xbb\xbf")
    fields = [f for row in csv.reader(io.StringIO(changes.decode("utf-8-sig"))) for f in row]
    assert "'" + INJECTED_REASON in fields
    assert "'" + INJECTED_COMMENT in fields
    every_field = [
        f for data in members.values() for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for f in row
    ]
    assert not [f for f in every_field if f.startswith(("=", "+", "@", "\t", "\r"))]
    # Numbers stay numbers: a negative gap is written as a number, not neutralised.
    targets = list(csv.DictReader(io.StringIO(members["03_targets.csv"].decode("utf-8-sig"))))
    gap = next(r for r in targets if r["数据键"] == PER_YEAR)["差距（实际−应达）（单位见“计量单位”列）"]
    # 2 cities × 1000 new high-skill workers against 150000 expected by the end of the year.
    assert gap == "-148000"
    assert Decimal(gap) < 0


def test_csv_one_part_is_a_single_utf8_file_with_bom(world, auditor):
    job = _export(auditor, "csv", part="figures")
    data = job_path(job).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    expected = official(world.plan, world.period)
    assert {r["数据键"] for r in rows} == set(expected)
    for row in rows:
        figure = expected[row["数据键"]]
        assert (as_decimal(row["数值（单位见“计量单位”列）"]) if row["数值（单位见“计量单位”列）"] else None) == (
            figure.value.normalize() if figure.value is not None else None
        )


def test_pdf_text_holds_the_chinese_titles_and_figures(world, auditor, django_capture_on_commit_callbacks):
    # Every PDF is queued; the worker path itself is tested in test_exports_worker.py. Here the job is
    # run in this process so the test does not depend on whether a broker is configured.
    with django_capture_on_commit_callbacks(execute=False):
        job = export_job_create(user=auditor, format="pdf", period="2025Q4", measures=[6])
    assert job.mode == ExportJob.Mode.QUEUED
    job = export_job_run(job_id=job.pk)
    assert job.status == ExportJob.Status.DONE, job.error
    path = job_path(job)
    assert path.read_bytes().startswith(b"%PDF-")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == job.sha256
    text = pdf_text(path)
    flat = "".join(text.split())
    for title in ("推进情况督查报告", "文字摘要", "工程与举措进展", "目标进展", "各地数据", "报送情况", "督办清单"):
        assert title in flat
    assert "全省每万名劳动者中高技能人才数为750.0人/万人，目标≥800人/万人" in flat
    assert "完成93.8%" in flat
    assert "苏州市（600.0人/万人）等1市" in flat
    assert "逾期未报" in flat


def test_summary_sentences_trace_to_the_figures_they_state(world, auditor):
    scope, audience = report_scope_resolve(user=auditor, period="2025Q4")
    content = report_content(scope=scope, audience=audience, cut_off=timezone.now())
    figures = content["figures"]
    assert content["summary"]
    for sentence in content["summary"]:
        assert sentence["refs"]
        assert all(ref in figures for ref in sentence["refs"]), sentence
    stated = next(s for s in content["summary"] if s["refs"] == [TARGET])
    entry = figures[TARGET]
    assert entry["value"] == "750"
    assert f"为 {number_text(entry['value'], entry['decimals'])}人/万人" in stated["text"]
    assert stated["text"] == (
        "全省每万名劳动者中高技能人才数为 750.0人/万人，目标≥ 800人/万人（2020年底前），完成 93.8%，明显滞后"
        "（基于 2/13 个设区市已确认数据）。"
    )
    lagging = next(s for s in content["summary"] if "低于全省水平" in s["text"] and RATIO in s["refs"][0])
    assert lagging["refs"] == [f"figure:{RATIO}:320000", f"figure:{RATIO}:320500"]
    assert figures[f"figure:{RATIO}:320500"]["value"] == "600"
    completeness = next(s for s in content["summary"] if s["refs"] == ["completeness:2025Q4"])
    assert "已报 3 个" in completeness["text"]
    assert "其中省级已确认 2 个" in completeness["text"]


def test_report_parts_hold_the_supervision_list_changes_and_evidence(world, auditor, nanjing):
    scope, audience = report_scope_resolve(user=auditor, period="2025Q4")
    content = report_content(scope=scope, audience=audience, cut_off=timezone.now())
    parts = content["parts"]
    categories = {}
    for row in parts["supervision"]:
        categories.setdefault(row["category"], []).append(row)
    overdue = {r["responsible"] for r in categories["逾期未报"]}
    cities = {"常州市", "南通市", "连云港市", "淮安市", "盐城市", "扬州市", "镇江市", "泰州市", "宿迁市"}
    assert overdue & {"南京市", "苏州市", "无锡市", "徐州市"} == set()
    assert cities <= overdue
    # The provincial bodies that lead a measure or report an indicator sent nothing either.
    body_rows = [r for r in parts["completeness"] if r["reporter_kind"] == "省级责任单位"]
    assert body_rows
    assert overdue - cities == {r["reporter"] for r in body_rows}
    assert [r["responsible"] for r in categories["已退回"]] == ["徐州市"]
    assert "分母口径有误" in categories["已退回"][0]["detail"]
    assert [r["responsible"] for r in categories["低于全省水平"] if RATIO in r["key"]] == ["苏州市"]
    off_track = next(r for r in categories["明显滞后"] if r["key"] == TARGET)
    assert off_track["responsible"] == "省人力资源社会保障厅"
    # Every workflow step of the period's submissions, and the value changed after 苏州 first submitted.
    value_changes = [r for r in parts["changes"] if r["kind"] == "数值"]
    assert [(r["reporter"], r["field"], r["new"], r["reason"], r["user"]) for r in value_changes] == [
        ("苏州市", "说明", INJECTED_COMMENT, INJECTED_REASON, "sz-reporter")
    ]
    actions = [(r["reporter"], r["action"]) for r in parts["changes"] if r["kind"] == "状态"]
    assert actions.count(("苏州市", "退回")) == 1
    assert ("南京市", "省级确认") in actions
    assert ("无锡市", "提交") in actions
    # Evidence only behind confirmed values, with its SHA-256.
    assert [(e["reporter"], e["file_name"], e["sha256"]) for e in parts["evidence"]] == [
        (
            "南京市",
            "台账.pdf",
            hashlib.sha256(
                b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
            ).hexdigest(),
        )
    ]
    # Completeness: 13 cities plus the bodies expected to report.
    city_rows = [r for r in parts["completeness"] if r["reporter_kind"] == "设区市"]
    assert len(city_rows) == 13
    assert {r["reporter"]: r["timeliness"] for r in city_rows if r["timeliness"] != "未报"} == {
        "南京市": "按时",
        "苏州市": "按时",
        "无锡市": "按时",
    }


def test_the_same_snapshot_regenerates_identical_figures_and_the_diff_shows_revisions(
    world, auditor, coordinator, nanjing_reporter, nanjing_reviewer, suzhou_reviewer
):
    first = _export(auditor)
    snapshot = first.snapshot
    before_figures = sheet_rows(job_path(first), "各地数据")
    before_targets = sheet_rows(job_path(first), "目标进展")

    # 南京 is reopened and revised; 无锡 is approved and confirmed: the live figures move on.
    nj = workflow.submission_reopen(submission=world.nanjing, user=coordinator, reason="核减重复统计的高技能人才")
    nj, _ = submission_values_put(
        submission=nj,
        user=nanjing_reporter,
        values=[{"indicator": RATIO, "numerator": "95000", "denominator": "1000000"}],
    )
    nj = workflow.submission_submit(submission=nj, user=nanjing_reporter)
    nj = workflow.submission_city_approve(submission=nj, user=nanjing_reviewer)
    workflow.submission_confirm(submission=nj, user=coordinator)
    wx = workflow.submission_city_approve(submission=world.wuxi, user=_reviewer_of(world.wuxi))
    workflow.submission_confirm(submission=wx, user=coordinator)
    rollup_period(plan_id=world.plan.pk, period_id=world.period.pk)

    again = _export(auditor, snapshot=snapshot)
    assert again.snapshot_id == snapshot.pk
    assert sheet_rows(job_path(again), "各地数据") == before_figures
    assert sheet_rows(job_path(again), "目标进展") == before_targets
    snapshot.refresh_from_db()
    assert ReportSnapshot.objects.count() == 1

    later = _export(auditor).snapshot
    assert later.pk != snapshot.pk
    diff = snapshot_diff(earlier=snapshot, later=later)
    revised = {(r["key"], r["field"]): (r["old"], r["new"]) for r in diff["revised"]}
    assert revised[(f"figure:{RATIO}:320100", "value")] == ("900", "950")
    assert revised[(f"figure:{RATIO}:320100", "numerator")] == ("90000", "95000")
    # (95000 + 60000 + 77777) / 3000000 × 10000
    assert revised[(f"figure:{RATIO}:320000", "value")] == ("750", "775.923333")
    assert {a["key"] for a in diff["added"]} >= {f"figure:{RATIO}:320200"}
    joined = {c["key"]: c["cities"] for c in diff["cities_added"]}
    assert joined[f"figure:{RATIO}:320000"] == ["无锡市"]
    reopen = [r for r in later.content["parts"]["changes"] if r["kind"] == "数值" and r["reporter"] == "南京市"]
    assert [(r["field"], r["old"], r["new"], r["reason"]) for r in reopen] == [
        ("分子", "90000", "95000", "核减重复统计的高技能人才")
    ]


def _reviewer_of(submission):
    from django.contrib.auth import get_user_model

    from portal.accounts.services import membership_grant

    user = get_user_model().objects.create_user(username="wx-reviewer", password="a-long-test-password")
    membership_grant(user=user, role="city_reviewer", region=submission.region, valid_from=timezone.localdate())
    return user


def test_running_a_done_job_again_changes_nothing(world, auditor):
    job = _export(auditor)
    before = (job.file_path, job.sha256, job.size, job.snapshot_id, job.attempts, job.finished_at)
    again = export_job_run(job_id=job.pk)
    assert (again.file_path, again.sha256, again.size, again.snapshot_id, again.attempts, again.finished_at) == before
    assert ReportSnapshot.objects.count() == 1


def test_a_city_reporters_report_holds_only_their_city_beside_the_province(world, nanjing_reporter):
    job = _export(nanjing_reporter)
    path = job_path(job)
    figures = sheet_rows(path, "各地数据")
    assert {r["地区"] for r in figures} == {"江苏省", "南京市"}
    assert {r["填报主体"] for r in sheet_rows(path, "报送情况")} == {"南京市"}
    assert {r["填报主体"] for r in sheet_rows(path, "变更记录")} == {"南京市"}
    assert {r["责任单位"] for r in sheet_rows(path, "督办清单")} <= {"南京市", "省人力资源社会保障厅"} | {
        r["责任单位"] for r in sheet_rows(path, "督办清单") if r["类别"] in ("明显滞后", "存在风险")
    }
    cells = [str(c.value) for c in all_cells(path) if c.value is not None]
    assert not [c for c in cells if "苏州" in c or "无锡" in c or "徐州" in c]
    assert not [c for c in cells if UNAPPROVED_NUMERATOR in c]
    assert job.snapshot.audience["kind"] == "cities"


def test_building_a_report_takes_bounded_queries(world, auditor, coordinator, suzhou_reporter, django_user_model):
    from tests.reporting.test_exports_support import city, confirm, person, values_with_ratio

    scope, audience = report_scope_resolve(user=auditor, period="2025Q4")
    with CaptureQueriesContext(connection) as small:
        report_content(scope=scope, audience=audience, cut_off=timezone.now())
    # Four more cities confirmed, one reopened and revised: more rows, more history, more changes.
    from reporting.services.submissions import submission_create

    for code in ("320400", "320600", "320700", "320800"):
        region = city(code)
        reporter = person(django_user_model, f"r-{code}", "city_reporter", region=region)
        reviewer = person(django_user_model, f"v-{code}", "city_reviewer", region=region)
        s, _ = submission_create(user=reporter, plan=world.plan, period=world.period, region=region)
        s, _ = submission_values_put(submission=s, user=reporter, values=values_with_ratio(s, "70000"))
        s = confirm(s, reporter=reporter, reviewer=reviewer, coordinator=coordinator)
        if code == "320400":
            s = workflow.submission_reopen(submission=s, user=coordinator, reason="复核")
            s, _ = submission_values_put(
                submission=s,
                user=reporter,
                values=[{"indicator": RATIO, "numerator": "71000", "denominator": "1000000"}],
            )
            confirm(s, reporter=reporter, reviewer=reviewer, coordinator=coordinator)
    rollup_period(plan_id=world.plan.pk, period_id=world.period.pk)
    with CaptureQueriesContext(connection) as large:
        content = report_content(scope=scope, audience=audience, cut_off=timezone.now())
    assert len(content["parts"]["figures"]) > 0
    assert len(large) == len(small)
    # 17 for the report, one for when its slices were last checked (SliceCheck, the report's 汇总数据计算时间).
    assert len(large) <= 18
    assert sum("slicecheck" in q["sql"] for q in large.captured_queries) == 1


def test_a_year_report_states_year_to_date_figures_and_every_ended_quarter(world, auditor, previous_period):
    rollup_period(plan_id=world.plan.pk, period_id=previous_period.pk)
    job = _export(auditor, period="2025")
    content = job.snapshot.content
    assert (content["meta"]["span"], content["meta"]["figure_span"], content["meta"]["period_label"]) == (
        "year",
        "ytd",
        "2025年度",
    )
    expected = official(world.plan, world.period, span="ytd")
    rows = sheet_rows(job_path(job), "各地数据")
    assert {r["数据键"] for r in rows} == set(expected)
    for row in rows:
        figure = expected[row["数据键"]]
        assert row["数值（单位见“计量单位”列）"] == (float(figure.value) if figure.value is not None else None)
    # 2025Q3 (nothing sent, long overdue) and 2025Q4.
    assert {r["填报期"] for r in sheet_rows(job_path(job), "报送情况")} == {"2025Q3", "2025Q4"}


def test_the_pdf_fetches_nothing_but_local_fonts():
    from reporting.exports.to_pdf import _fetcher_class, css_string

    fetcher = _fetcher_class()()
    for url in (
        "http://evil.example/x.png",
        "https://evil.example/font.woff",
        "file:///etc/passwd",
        "file:///usr/share/fonts/../../../etc/passwd",
        "data:text/plain,hello",
    ):
        with pytest.raises(ValueError, match="local fonts only"):
            fetcher(url)
    assert css_string('a"b</style>') == "a\\22 b\\3c /style\\3e "


def test_a_small_xlsx_is_built_in_memory_a_large_one_streamed_with_the_same_cells(
    world, auditor, tmp_path, monkeypatch
):
    import zipfile

    from reporting.exports import to_xlsx

    content = _export(auditor).snapshot.content

    def write(name):
        path = tmp_path / name
        to_xlsx.xlsx_write(content, path)
        return path

    def cells(path):
        return [(c.coordinate, c.value, c.data_type, c.number_format, c.font.b) for c in all_cells(path)]

    small, again = write("small.xlsx"), write("again.xlsx")
    monkeypatch.setattr(to_xlsx, "IN_MEMORY_MAX_CELLS", 0)  # every report counts as large
    large, large_again = write("large.xlsx"), write("large-again.xlsx")
    # In memory: strings in the shared table; streamed (constant memory): strings inline in each row.
    assert "xl/sharedStrings.xml" in zipfile.ZipFile(small).namelist()
    assert "xl/sharedStrings.xml" not in zipfile.ZipFile(large).namelist()
    assert cells(small) == cells(large)
    assert [c for c in cells(small) if c[2] == "n"]  # numbers stay numbers
    # The mode follows from the content alone: the same content gives the same bytes each time.
    assert small.read_bytes() == again.read_bytes()
    assert large.read_bytes() == large_again.read_bytes()


@pytest.mark.parametrize("streamed", [False, True])
def test_the_report_worksheet_writes_the_bytes_xlsxwriters_own_worksheet_writes(
    world, auditor, tmp_path, monkeypatch, streamed
):
    """ReportWorksheet (its records stored in bulk, its shorter cell writer) against XlsxWriter's own worksheet fed
    cell by cell, on a real report and on rows of awkward values (markup and control characters, spaces at the
    ends, formula-like text and text over Excel's limit, numbers large, tiny, negative, whole and unparsable,
    dates and times, empty records), in memory and streamed: the same file, byte for byte."""
    import copy

    import xlsxwriter
    from xlsxwriter.worksheet import Worksheet

    from reporting.exports import to_xlsx

    content = copy.deepcopy(_export(auditor).snapshot.content)
    awkward_texts = ["a & b <c> \"d\" 'e'", "\x01\x1f tab\there", "  padded  ", "=SUM(A1)", "中文 & 全角", "x" * 40000]
    awkward_numbers = ["-0.000001", "123456789012345678901234567890", "0.1", "-5", "1e-7", "not a number"]
    for i, (text, number) in enumerate(zip(awkward_texts, awkward_numbers, strict=True)):
        content["parts"]["figures"].append(
            {"key": text, "indicator": text, "value": number, "numerator": "", "denominator": None, "done_count": i}
        )
        content["parts"]["completeness"].append(
            {
                "period": text,
                "deadline": f"2025-0{i + 1}-1{i}",
                "submitted_at": f"2025-0{i + 1}-0{i + 1}T23:59:0{i}+08:00",
                "days_late": i - 3,
            }
        )
    content["parts"]["completeness"].append({"deadline": "2025-12-31"})  # a row of a date alone
    content["parts"]["figures"].insert(1, {})  # a row with nothing to write
    content["parts"]["figures"].append({"key": "", "value": None})
    if streamed:
        monkeypatch.setattr(to_xlsx, "IN_MEMORY_MAX_CELLS", 0)

    ours = tmp_path / "ours.xlsx"
    to_xlsx.xlsx_write(content, ours)

    class CellByCell(Worksheet):
        write_records = to_xlsx.records_by_cell

    class Reference(xlsxwriter.Workbook):
        worksheet_class = CellByCell

    monkeypatch.setattr(to_xlsx, "ReportWorkbook", Reference)
    theirs = tmp_path / "theirs.xlsx"
    to_xlsx.xlsx_write(content, theirs)
    assert ours.read_bytes() == theirs.read_bytes()
    assert any(c.value == "a & b <c> \"d\" 'e'" for c in all_cells(ours))  # the awkward rows were written


def test_the_snapshot_stores_its_content_as_the_canonical_text_it_hashed(world, auditor):
    """The column keeps the text as sent (PostgreSQL `json`, not `jsonb`, which would re-serialise it in its
    own key order and spacing): the stored text is the one whose SHA-256 is recorded, and it reads back as
    the content that was built."""
    snapshot = _export(auditor, period="2025").snapshot
    text_of = "content::text" if connection.vendor == "postgresql" else "content"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {text_of} FROM reporting_reportsnapshot WHERE id = %s", [snapshot.pk])  # noqa: S608
        stored = cursor.fetchone()[0]
    assert stored == canonical_json(snapshot.content)
    assert hashlib.sha256(stored.encode("utf-8")).hexdigest() == snapshot.content_sha256
    assert ReportSnapshot.objects.get(pk=snapshot.pk).content == snapshot.content


def test_the_report_reads_workflow_steps_without_joining_the_user_table(world, auditor):
    """The actor's name is looked up per step: the user table is small and seldom analysed, and joined to the
    steps the planner took it for one row and scanned the steps' index once per user."""
    scope, audience = report_scope_resolve(user=auditor, period="2025Q4")
    with CaptureQueriesContext(connection) as queries:
        content = report_content(scope=scope, audience=audience, cut_off=timezone.now())
    steps = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "reporting_transition"')]
    assert len(steps) == 1
    assert "JOIN" not in steps[0]
    assert {r["user"] for r in content["parts"]["changes"] if r["kind"] == "状态"} >= {"nj-reporter"}
