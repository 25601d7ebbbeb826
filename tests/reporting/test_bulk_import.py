"""Bulk import of historical values: the same rules and messages as the API on both back ends (COPY and
set-based SQL on PostgreSQL, value_clean row by row on SQLite), a report of rejected rows, confirmed reports
with their trail, idempotent re-imports, and nothing written by a refused file."""

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from measures.models import Region
from reporting.models import DataValue, Figure, Submission, Transition
from reporting.services.bulk_import import history_import, rejected_csv
from reporting.services.periods import period_ensure
from reporting.services.rollups import rollup_period

HEADER = ["region", "body", "period", "indicator", "value", "numerator", "denominator", "done", "done_on", "comment"]
FLOW = "apprentices-trained"  # flow, city-reported
STOCK = "high-skill-workers"  # stock, city-reported
SHARE = "collective-contract-coverage"  # share, city-reported
RATIO = "high-skill-workers-per-10000"  # ratio, city-reported
MILESTONE = "vocational-college-skills-contest"  # milestone, reported by 省教育厅 (js-education)


def _row(region="320100", body="", period="2025Q3", indicator=FLOW, **cells):
    row = {"region": region, "body": body, "period": period, "indicator": indicator}
    row.update(cells)
    return [str(row.get(k, "")) for k in HEADER]


def _csv(tmp_path: Path, rows: list[list[str]], name="history.csv", header=HEADER) -> Path:
    path = tmp_path / name
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def quarters(db):
    return [period_ensure(year=2025, quarter=q) for q in (2, 3)]


def _state():
    return (
        Submission.objects.count(),
        DataValue.objects.count(),
        Transition.objects.count(),
        DataValue.history.count(),
        sorted(
            map(
                str,
                DataValue.objects.values_list("id", "value", "numerator", "denominator", "done", "done_on", "comment"),
            )
        ),
    )


def test_rows_become_confirmed_reports_with_their_trail(plan, coordinator, quarters, tmp_path):
    path = _csv(
        tmp_path,
        [
            _row(region="320100", value="120"),
            _row(region="320102", value="１２"),  # a county; full-width digits read as ASCII, as in the API
            _row(region="320102", indicator=SHARE, numerator="30", denominator="40"),
            _row(region="320102", indicator=STOCK, value="-0"),
            _row(region="", body="js-education", indicator=MILESTONE, done="是", done_on="2025-08-01"),
        ],
    )
    report = history_import(user=coordinator, plan=plan, path=path)
    assert report.rejected == []
    assert (report.rows, report.accepted, report.submissions_created, report.values_created) == (5, 5, 3, 5)
    county = Submission.objects.get(region__code="320102", period=quarters[1])
    assert (county.status, county.confirmed_by, county.created_by) == ("confirmed", coordinator, coordinator)
    values = {v.indicator.code: v for v in county.values.select_related("indicator")}
    assert values[FLOW].value == Decimal(12)
    assert values[STOCK].value == Decimal(0)
    assert (values[SHARE].numerator, values[SHARE].denominator) == (Decimal(30), Decimal(40))
    milestone = DataValue.objects.get(indicator__code=MILESTONE)
    assert (milestone.done, milestone.done_on) == (True, date(2025, 8, 1))
    step = Transition.objects.get(submission=county)
    assert (step.action, step.from_status, step.to_status, step.actor) == ("confirm", "", "confirmed", coordinator)
    assert step.reason == f"历史数据导入：history.csv（SHA-256 {report.sha256[:16]}）"
    assert county.history.count() == 1
    assert report.periods == ["2025Q3"]


BAD_ROWS = [
    (_row(value="-5"), "value", "数值不能为负数。"),
    (_row(value="NaN"), "value", "不能为 NaN（非数字）。"),
    (_row(value="Infinity"), "value", "不能为无穷大。"),
    (_row(value="1e309"), "value", "数值过大：绝对值须小于 10 的 15 次方。"),
    (_row(value="1" * 30), "value", "数值过大：绝对值须小于 10 的 15 次方。"),
    (_row(value="1.23456"), "value", "最多保留 4 位小数。"),
    (_row(value="12abc"), "value", "“12abc”不是有效的数字。"),
    (_row(indicator=STOCK, value="5", numerator="3"), "numerator", "该指标只填写数值。"),
    (
        _row(indicator=SHARE, numerator="50", denominator="40"),
        "numerator",
        "占比指标的分子不能大于分母（占比须在 0–100% 之间）。",
    ),
    (_row(indicator=SHARE, numerator="5", denominator="0"), "denominator", "分母必须大于 0。"),
    (_row(indicator=RATIO, numerator="-1", denominator="40"), "numerator", "分子不能为负数。"),
    (_row(indicator=RATIO, value="7"), "value", "比率指标请分别填写分子和分母。"),
    (_row(region="", body="js-education", indicator=MILESTONE, done="也许"), "done", "应为“是”或“否”。"),
    (
        _row(region="", body="js-education", indicator=MILESTONE, done="是", done_on="2025-02-30"),
        "done_on",
        "应为日期，格式 YYYY-MM-DD。",
    ),
    (
        _row(region="", body="js-education", indicator=MILESTONE, done="否", done_on="2025-08-01"),
        "done_on",
        "未完成的事项不应填写完成日期。",
    ),
    (
        _row(region="", body="js-education", indicator=MILESTONE, done="是", done_on="2099-01-01"),
        "done_on",
        "完成日期不能晚于今天。",
    ),
    (
        _row(region="", body="js-education", indicator=MILESTONE, value="1"),
        "value",
        "里程碑指标只填是否完成及完成日期。",
    ),
    (_row(region="", body="js-education", indicator=FLOW, value="1"), "indicator", "该指标不由本填报主体填报。"),
    (_row(indicator=MILESTONE, done="是"), "indicator", "该指标不由本填报主体填报。"),
    (_row(region="329999", value="1"), "region", "未知的行政区划代码“329999”。"),
    (_row(region="320000", value="1"), "region", "省级地区不直接填报，请按设区市或县（市、区）导入。"),
    (_row(region="", body="nobody", value="1"), "body", "未知的责任单位代码“nobody”。"),
    (_row(body="js-education", value="1"), "region", "须且只能指定一个填报主体：地区代码或责任单位代码。"),
    (_row(region="", value="1"), "region", "须且只能指定一个填报主体：地区代码或责任单位代码。"),
    (_row(indicator="no-such-thing", value="1"), "indicator", "未知的指标代码“no-such-thing”。"),
    (_row(indicator="", value="1"), "indicator", "缺少指标代码。"),
    (_row(period="2025Q9", value="1"), "period", "未知的填报期“2025Q9”，格式如 2025Q4。"),
    (_row(period="2024Q1", value="1"), "period", "未知的填报期“2024Q1”，格式如 2025Q4。"),
    (_row(period="2099Q1", value="1"), "period", "2099Q1 尚未结束，历史导入只接受已结束的季度。"),
    (_row(period="", value="1"), "period", "缺少填报期。"),
    (_row(value="1", comment="长" * 2001), "comment", "说明不能超过 2000 个字符。"),
]


@pytest.mark.parametrize(("row", "field", "reason"), BAD_ROWS, ids=[f"{f}:{r[:12]}" for _row_, f, r in BAD_ROWS])
def test_a_bad_row_is_reported_and_the_good_ones_are_imported(
    plan, coordinator, quarters, tmp_path, row, field, reason
):
    path = _csv(tmp_path, [_row(region="320200", value="7"), row])
    report = history_import(user=coordinator, plan=plan, path=path)
    assert [(r.row, r.field, r.reason) for r in report.rejected] == [(3, field, reason)]
    assert (report.rows, report.accepted, report.rejected_rows) == (2, 1, 1)
    assert list(DataValue.objects.values_list("submission__region__code", "value")) == [("320200", Decimal(7))]


def test_duplicate_rows_are_both_refused(plan, coordinator, quarters, tmp_path):
    path = _csv(tmp_path, [_row(value="1"), _row(value="2"), _row(region="320200", value="3")])
    report = history_import(user=coordinator, plan=plan, path=path)
    assert [(r.row, r.field, r.reason) for r in report.rejected] == [
        (2, "indicator", "同一指标在一次提交中出现了多次。"),
        (3, "indicator", "同一指标在一次提交中出现了多次。"),
    ]
    assert list(DataValue.objects.values_list("value", flat=True)) == [Decimal(3)]


def test_reports_in_the_workflow_are_not_touched(plan, coordinator, quarters, nanjing, tmp_path):
    draft = Submission.objects.create(plan=plan, period=quarters[1], region=nanjing, created_by=coordinator)
    before = _state()
    report = history_import(user=coordinator, plan=plan, path=_csv(tmp_path, [_row(value="9")]))
    assert [(r.field, r.reason) for r in report.rejected] == [
        ("period", "该报表正在填报流程中（草稿），历史导入不能改动。")
    ]
    assert _state() == before
    draft.refresh_from_db()
    assert (draft.status, draft.version) == ("draft", 1)


def test_importing_the_same_file_again_changes_nothing(plan, coordinator, quarters, tmp_path):
    path = _csv(tmp_path, [_row(value="5"), _row(region="320102", indicator=SHARE, numerator="1", denominator="2")])
    history_import(user=coordinator, plan=plan, path=path)
    before = _state()
    again = history_import(user=coordinator, plan=plan, path=path)
    assert (again.submissions_created, again.values_created, again.values_updated, again.values_unchanged) == (
        0,
        0,
        0,
        2,
    )
    assert _state() == before


def test_a_corrected_value_keeps_the_old_one_in_the_history(plan, coordinator, quarters, tmp_path):
    history_import(user=coordinator, plan=plan, path=_csv(tmp_path, [_row(value="10")], name="first.csv"))
    report = history_import(user=coordinator, plan=plan, path=_csv(tmp_path, [_row(value="12")], name="second.csv"))
    assert (report.values_created, report.values_updated) == (0, 1)
    value = DataValue.objects.get()
    trail = list(DataValue.history.filter(id=value.pk).order_by("history_id").values_list("history_type", "value"))
    assert trail == [("+", Decimal(10)), ("~", Decimal(12))]
    assert (
        DataValue.history.filter(id=value.pk, history_type="~")
        .get()
        .history_change_reason.startswith("历史数据导入：second.csv")
    )
    assert value.submission.version == 2


def test_strict_mode_and_dry_run_write_nothing(plan, coordinator, quarters, tmp_path):
    path = _csv(tmp_path, [_row(value="1"), _row(region="320200", value="-1")])
    before = _state()
    strict = history_import(user=coordinator, plan=plan, path=path, strict=True)
    assert (strict.accepted, strict.rejected_rows, strict.written) == (1, 1, False)
    assert _state() == before
    dry = history_import(
        user=coordinator, plan=plan, path=_csv(tmp_path, [_row(value="1")], name="ok.csv"), dry_run=True
    )
    assert (dry.accepted, dry.submissions_created, dry.values_created, dry.written) == (1, 1, 1, False)
    assert _state() == before


def test_only_a_coordinator_may_import(plan, nanjing_reporter, auditor, quarters, tmp_path):
    path = _csv(tmp_path, [_row(value="1")])
    before = _state()
    for user in (nanjing_reporter, auditor):
        with pytest.raises(PermissionDenied):
            history_import(user=user, plan=plan, path=path)
    assert _state() == before


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        (["region", "period", "indicator", "valeu"], [["320100", "2025Q3", FLOW, "1"]], "未知的列“valeu”。"),
        (["region", "indicator", "value"], [["320100", FLOW, "1"]], "缺少必需的列：period。"),
        (["region", "period", "indicator", "value"], [["320100", "2025Q3", FLOW]], "第 2 行的列数与标题行不一致。"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(plan, coordinator, quarters, tmp_path, header, rows, message):
    path = _csv(tmp_path, rows, header=header)
    before = _state()
    with pytest.raises(ValidationError) as refused:
        history_import(user=coordinator, plan=plan, path=path)
    assert refused.value.message_dict == {"file": [message]}
    assert _state() == before


def test_chinese_headings_and_an_xlsx_file_with_a_formula_cell(plan, coordinator, quarters, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "2025"
    sheet.append(["地区代码", "填报期", "指标代码", "数值", "分子", "分母", "说明"])
    sheet.append(["320100", "2025Q3", FLOW, 15, None, None, "初次导入"])
    sheet.append(["320200", "2025Q3", FLOW, "=1+1", None, None, None])
    sheet.append(["320102", "2025Q3", SHARE, None, 3, 4.5, None])
    path = tmp_path / "history.xlsx"
    book.save(path)
    report = history_import(user=coordinator, plan=plan, path=path)
    assert [(r.sheet, r.row, r.field) for r in report.rejected] == [("2025", 3, "value"), ("2025", 3, "value")]
    assert {r.reason for r in report.rejected} == {"不接受公式，请直接填写数值或文字。", "“=1+1”不是有效的数字。"}
    stored = sorted(
        DataValue.objects.values_list("submission__region__code", "value", "numerator", "denominator", "comment")
    )
    assert stored == [("320100", Decimal(15), None, None, "初次导入"), ("320102", None, Decimal(3), Decimal("4.5"), "")]
    assert rejected_csv(report).splitlines()[0] == "\ufeff工作表,行号,字段,原因"


def test_county_history_rolls_into_its_city_and_the_province(
    plan, coordinator, quarters, tmp_path, django_capture_on_commit_callbacks
):
    path = _csv(
        tmp_path,
        [
            _row(region="320100", value="100"),  # 南京市 itself (市本级)
            _row(region="320102", value="20"),  # 玄武区, in 南京
            _row(region="320104", value="5"),  # 秦淮区, in 南京
            _row(region="320200", value="7"),  # 无锡市
        ],
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        history_import(user=coordinator, plan=plan, path=path)
    # The import asks for a recompute after commit (a broker runs it in CI); run the rollup here so the
    # test does not depend on whether tasks run in-process.
    assert callbacks
    rollup_period(plan_id=plan.pk, period_id=quarters[1].pk)
    nanjing = Region.objects.get(code="320100")
    city = Figure.objects.get(
        indicator__code=FLOW, region=nanjing, period=quarters[1], span="quarter", basis="official"
    )
    province = Figure.objects.get(
        indicator__code=FLOW, region__code="320000", period=quarters[1], span="quarter", basis="official"
    )
    assert (city.value, city.coverage) == (Decimal(125), {"reporters": 3})
    assert province.value == Decimal(132)
    assert (province.reported_count, province.coverage["reported"]) == (2, ["320100", "320200"])


def test_the_import_issues_the_same_statements_whatever_the_number_of_rows(
    plan, coordinator, quarters, tmp_path, django_assert_max_num_queries
):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the set-based path is PostgreSQL's; SQLite's plain path works row by row")
    small = _csv(tmp_path, [_row(region="320100", value="1")], name="small.csv")
    counties = Region.objects.filter(parent__code="320100", level="county").values_list("code", flat=True)
    large = _csv(
        tmp_path, [_row(region=c, period=p.code, value="2") for c in counties for p in quarters], name="large.csv"
    )
    with django_assert_max_num_queries(40) as few:
        history_import(user=coordinator, plan=plan, path=small, rollup=False)
    with django_assert_max_num_queries(len(few.captured_queries)):
        history_import(user=coordinator, plan=plan, path=large, rollup=False)
    assert DataValue.objects.count() == 1 + 2 * len(counties)
