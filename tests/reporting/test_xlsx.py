"""The XLSX round trip: the template pre-filled for one submission, filled with openpyxl as a reporter
would, uploaded through the page; errors name sheet and cell, and a bad file writes nothing."""

import io
import zipfile
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from common.errors import ApplicationError
from indicators.models import Indicator
from reporting.models import DataValue, Narrative, Submission
from reporting.selectors import indicators_expected
from reporting.services import workflow
from reporting.services.submissions import submission_create, submission_values_put
from reporting.services.xlsx import submission_template_build, submission_xlsx_import
from tests.reporting.conftest import first_of_kind, full_values

S = Submission.Status
SHANGHAI = ZoneInfo("Asia/Shanghai")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# 指标数据 columns: A code … E last period, F value, G numerator, H denominator, I done, J done_on, K comment
COL = {"value": 6, "numerator": 7, "denominator": 8, "done": 9, "done_on": 10, "comment": 11}


def _url(name, submission):
    return reverse(f"reporting:{name}", kwargs={"public_id": submission.public_id})


def _download(client, submission):
    response = client.get(_url("template", submission))
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    return openpyxl.load_workbook(io.BytesIO(response.content))


def _bytes(workbook):
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _upload(client, submission, content, *, version=None):
    return client.post(
        _url("upload", submission),
        {
            "version": version if version is not None else Submission.objects.get(pk=submission.pk).version,
            "file": SimpleUploadedFile("填报模板.xlsx", content, content_type=XLSX),
        },
    )


def _rows(workbook):
    """Indicator code → row number in 指标数据."""
    sheet = workbook["指标数据"]
    return {sheet.cell(row, 1).value: row for row in range(2, sheet.max_row + 1) if sheet.cell(row, 1).value}


def _state(submission):
    row = Submission.objects.get(pk=submission.pk)
    return (
        row.status,
        row.version,
        sorted(
            DataValue.objects.filter(submission=row).values_list(
                "indicator__code", "value", "numerator", "denominator", "done", "done_on", "comment"
            )
        ),
        sorted(Narrative.objects.filter(submission=row).values_list("measure__number", "progress", "problems")),
    )


@pytest.fixture
def today(time_machine):
    time_machine.move_to(datetime(2026, 1, 5, 10, tzinfo=SHANGHAI))


def test_template_is_prefilled_for_the_reporter_and_period(
    client, filled, plan, previous_period, nanjing, nanjing_reporter
):
    earlier, _ = submission_create(user=nanjing_reporter, plan=plan, period=previous_period, region=nanjing)
    share = first_of_kind(filled, Indicator.Kind.SHARE)
    submission_values_put(
        submission=earlier,
        user=nanjing_reporter,
        values=[{"indicator": share.code, "numerator": "30", "denominator": "120"}],
    )
    client.force_login(nanjing_reporter)
    response = client.get(_url("template", filled))
    assert "attachment" in response["Content-Disposition"]
    assert "2025Q4" in response["Content-Disposition"]
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["填报说明", "指标数据", "进展情况"]

    info = {row[0]: row[1] for row in workbook["填报说明"].iter_rows(min_row=3, max_row=6, values_only=True)}
    assert info == {"报表编号": str(filled.public_id), "填报主体": "南京市", "填报期": "2025Q4", "版本": filled.version}

    sheet = workbook["指标数据"]
    expected = list(indicators_expected(plan=plan, region=nanjing))
    assert [c.value for c in sheet[1]] == [
        "代码", "指标名称", "单位", "类型", "上期数值", "数值", "分子", "分母", "是否完成", "完成日期", "说明",
    ]  # fmt: skip
    assert [sheet.cell(row, 1).value for row in range(2, sheet.max_row + 1)] == [i.code for i in expected]
    rows = _rows(workbook)
    stock = first_of_kind(filled, Indicator.Kind.STOCK)
    assert sheet.cell(rows[stock.code], COL["value"]).value == 1000
    assert (sheet.cell(rows[share.code], COL["numerator"]).value, sheet.cell(rows[share.code], 8).value) == (40, 100)
    assert sheet.cell(rows[share.code], 5).value == 25  # last quarter: 30 / 120 × 100
    assert sheet.protection.sheet is True
    assert sheet.cell(rows[stock.code], 1).protection.locked is True
    assert sheet.cell(rows[stock.code], COL["value"]).protection.locked is False
    assert sheet.cell(rows[stock.code], COL["numerator"]).protection.locked is True  # not used by a stock
    assert sheet.cell(rows[share.code], COL["numerator"]).protection.locked is False

    narratives = workbook["进展情况"]
    assert [c.value for c in narratives[1]] == ["举措编号", "举措名称", "进展情况", "存在问题", "下步计划"]
    assert [narratives.cell(row, 1).value for row in range(2, narratives.max_row + 1)] == list(range(1, 24))


def test_xlsx_round_trip_stores_values_exactly(client, draft, nanjing_reporter):
    client.force_login(nanjing_reporter)
    workbook = _download(client, draft)
    sheet = workbook["指标数据"]
    expected = {i.code: i for i in indicators_expected(plan=draft.plan, region=draft.region)}
    wanted = {}
    for code, row in _rows(workbook).items():
        kind = expected[code].kind
        if kind in (Indicator.Kind.RATIO, Indicator.Kind.SHARE):
            sheet.cell(row, COL["numerator"]).value = 1234.5678
            sheet.cell(row, COL["denominator"]).value = 98765
            wanted[code] = (None, Decimal("1234.5678"), Decimal(98765), "")
        else:
            sheet.cell(row, COL["value"]).value = row * 1000 + 0.25
            sheet.cell(row, COL["comment"]).value = f"+86 说明 {row}"  # a leading + stays text
            wanted[code] = (Decimal(f"{row * 1000}.25"), None, None, f"+86 说明 {row}")
    narratives = workbook["进展情况"]
    narratives.cell(2, 3).value = "召开专题会议 3 次"
    narratives.cell(2, 5).value = "下季度开展督查"
    narratives.cell(6, 4).value = 12  # a number typed into a text column is kept as text

    response = _upload(client, draft, _bytes(workbook))
    assert response.status_code == 302, response.content.decode()[:2000]
    stored = {
        v.indicator.code: (v.value, v.numerator, v.denominator, v.comment)
        for v in DataValue.objects.filter(submission=draft).select_related("indicator")
    }
    assert stored == wanted
    assert list(
        Narrative.objects.filter(submission=draft).values_list("measure__number", "progress", "problems", "next_steps")
    ) == [(1, "召开专题会议 3 次", "", "下季度开展督查"), (5, "", "12", "")]
    submission = Submission.objects.get(pk=draft.pk)
    assert (submission.status, submission.version) == (S.DRAFT, draft.version + 2)
    page = client.get(response["Location"]).content.decode()
    assert f"模板已导入：数值新增 {len(wanted)}、修改 0、未变 0；进展情况新增 2、修改 0。" in page

    # A fresh template carries exactly what is stored: uploading it unchanged writes nothing.
    before = _state(draft)
    again = _download(client, draft)
    assert _upload(client, draft, _bytes(again)).status_code == 302
    assert _state(draft) == before


def test_body_template_round_trip_with_a_milestone(client, plan, period, edu_body, edu_reporter, today):
    submission, _ = submission_create(user=edu_reporter, plan=plan, period=period, body=edu_body)
    milestone = first_of_kind(submission, Indicator.Kind.MILESTONE)
    client.force_login(edu_reporter)
    workbook = _download(client, submission)
    row = _rows(workbook)[milestone.code]
    sheet = workbook["指标数据"]
    sheet.cell(row, COL["done"]).value = "是"
    sheet.cell(row, COL["done_on"]).value = date(2025, 11, 3)
    sheet.cell(row, COL["done_on"]).number_format = "yyyy-mm-dd"
    assert _upload(client, submission, _bytes(workbook)).status_code == 302
    value = DataValue.objects.get(submission=submission, indicator=milestone)
    assert (value.done, value.done_on, value.value) == (True, date(2025, 11, 3), None)


def test_a_formula_cell_is_refused_naming_sheet_and_cell(client, filled, nanjing_reporter):
    client.force_login(nanjing_reporter)
    workbook = _download(client, filled)
    stock = first_of_kind(filled, Indicator.Kind.STOCK)
    row = _rows(workbook)[stock.code]
    workbook["指标数据"].cell(row, COL["value"]).value = "=SUM(1,2)"
    before = _state(filled)
    response = _upload(client, filled, _bytes(workbook))
    assert response.status_code == 400
    assert response.context["xlsx_errors"] == [(f"指标数据!F{row}", "不接受公式，请直接填写数值或文字。")]
    assert f"指标数据!F{row}</code>: 不接受公式" in response.content.decode()
    assert _state(filled) == before


def test_bad_cells_are_named_and_nothing_is_written(client, filled, nanjing_reporter):
    client.force_login(nanjing_reporter)
    workbook = _download(client, filled)
    rows = _rows(workbook)
    sheet = workbook["指标数据"]
    stock = first_of_kind(filled, Indicator.Kind.STOCK)
    share = first_of_kind(filled, Indicator.Kind.SHARE)
    flow = first_of_kind(filled, Indicator.Kind.FLOW)
    sheet.cell(rows[stock.code], COL["value"]).value = -5
    sheet.cell(rows[share.code], COL["numerator"]).value = "四十"
    sheet.cell(rows[flow.code], COL["value"]).value = 777  # valid, but must not be written alone
    sheet.cell(rows[flow.code], COL["numerator"]).value = 1  # a locked grey cell filled anyway
    workbook["进展情况"].cell(2, 3).value = "x" * 5001
    before = _state(filled)
    response = _upload(client, filled, _bytes(workbook))
    assert response.status_code == 400
    assert sorted(response.context["xlsx_errors"]) == sorted(
        [
            (f"指标数据!F{rows[stock.code]}", "数值不能为负数。"),
            (f"指标数据!G{rows[share.code]}", "“四十”不是有效的数字。"),
            (f"指标数据!G{rows[flow.code]}", "该指标只填写数值。"),
            ("进展情况!C2", "不能超过 5000 个字符。"),
        ]
    )
    content = response.content.decode()
    assert "文件有误，未写入任何数据" in content
    assert _state(filled) == before


def test_another_citys_template_is_refused_and_nothing_is_written(
    client, filled, plan, period, suzhou, suzhou_reporter, nanjing_reporter
):
    theirs, _ = submission_create(user=suzhou_reporter, plan=plan, period=period, region=suzhou)
    workbook = openpyxl.load_workbook(io.BytesIO(submission_template_build(submission=theirs)))
    stock = first_of_kind(filled, Indicator.Kind.STOCK)
    workbook["指标数据"].cell(_rows(workbook)[stock.code], COL["value"]).value = 5
    ours, others = _state(filled), _state(theirs)
    client.force_login(nanjing_reporter)
    response = _upload(client, filled, _bytes(workbook))
    assert response.status_code == 400
    errors = dict(response.context["xlsx_errors"])
    assert errors["填报说明!B3"].startswith("该模板属于另一份报表（苏州市 2025Q4），不能上传到本报表（南京市 2025Q4）")
    assert errors["填报说明!B4"] == "填报主体“苏州市”与本报表（南京市）不符。"
    assert (_state(filled), _state(theirs)) == (ours, others)
    # Nor can the Nanjing reporter upload it to Suzhou's submission: that one is not theirs to see.
    assert _upload(client, theirs, _bytes(workbook)).status_code == 404


def test_a_template_older_than_the_submission_is_refused(client, filled, nanjing_reporter):
    client.force_login(nanjing_reporter)
    workbook = _download(client, filled)
    stock = first_of_kind(filled, Indicator.Kind.STOCK)
    submission_values_put(submission=filled, user=nanjing_reporter, values=[{"indicator": stock.code, "value": "3"}])
    current = Submission.objects.get(pk=filled.pk)
    workbook["指标数据"].cell(_rows(workbook)[stock.code], COL["value"]).value = 4
    before = _state(filled)
    response = _upload(client, filled, _bytes(workbook), version=current.version)
    assert response.status_code == 400
    assert response.context["xlsx_errors"] == [
        (
            "填报说明!B6",
            f"模板版本 {filled.version} 已过期（报表当前版本 {current.version}），请重新下载模板后再填写上传。",
        )
    ]
    assert _state(filled) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"just some text, renamed to .xlsx", "不是有效的 .xlsx 文件，请上传从本系统下载的填报模板。"),
        (b"PK\x03\x04 but truncated", "文件已损坏或不是有效的 .xlsx 文件。"),
        (b"%PDF-1.4 a pdf", "不是有效的 .xlsx 文件，请上传从本系统下载的填报模板。"),
    ],
)
def test_a_file_that_is_not_an_xlsx_is_refused(filled, nanjing_reporter, content, message):
    before = _state(filled)
    with pytest.raises(ValidationError) as caught:
        submission_xlsx_import(submission=filled, user=nanjing_reporter, file=io.BytesIO(content))
    assert caught.value.message_dict == {"file": [message]}
    assert _state(filled) == before


def test_a_zip_that_is_no_workbook_and_a_macro_file_are_refused(filled, nanjing_reporter):
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ValidationError) as caught:
        submission_xlsx_import(submission=filled, user=nanjing_reporter, file=io.BytesIO(plain.getvalue()))
    assert caught.value.message_dict == {"file": ["不是有效的 .xlsx 文件，请上传从本系统下载的填报模板。"]}

    macro = io.BytesIO()
    template = io.BytesIO(submission_template_build(submission=filled))
    with zipfile.ZipFile(template) as source, zipfile.ZipFile(macro, "w") as archive:
        for item in source.infolist():
            archive.writestr(item, source.read(item))
        archive.writestr("xl/vbaProject.bin", b"\x00" * 16)
    with pytest.raises(ValidationError) as caught:
        submission_xlsx_import(submission=filled, user=nanjing_reporter, file=io.BytesIO(macro.getvalue()))
    assert caught.value.message_dict == {"file": ["不接受含宏的文件。"]}


def test_too_many_rows_are_refused(filled, nanjing_reporter):
    workbook = openpyxl.load_workbook(io.BytesIO(submission_template_build(submission=filled)))
    sheet = workbook["指标数据"]
    expected = sheet.max_row - 1
    for offset in range(2 * expected):
        sheet.cell(sheet.max_row + 1, 1).value = f"extra-{offset}"
    before = _state(filled)
    with pytest.raises(ValidationError) as caught:
        submission_xlsx_import(submission=filled, user=nanjing_reporter, file=io.BytesIO(_bytes(workbook)))
    assert caught.value.message_dict == {
        "指标数据": [f"工作表“指标数据”的行数过多（超过 {2 * expected + 1} 行），请使用本报表的填报模板。"]
    }
    assert _state(filled) == before


def test_unknown_and_duplicate_codes_are_named_by_cell(filled, nanjing_reporter, edu_body):
    workbook = openpyxl.load_workbook(io.BytesIO(submission_template_build(submission=filled)))
    sheet = workbook["指标数据"]
    last = sheet.max_row
    body_only = Indicator.objects.filter(plan=filled.plan, reporter="body").values_list("code", flat=True).first()
    sheet.cell(last + 1, 1).value = "no-such-indicator"
    sheet.cell(last + 1, COL["value"]).value = 1
    sheet.cell(last + 2, 1).value = body_only
    sheet.cell(last + 3, 1).value = sheet.cell(2, 1).value
    with pytest.raises(ValidationError) as caught:
        submission_xlsx_import(submission=filled, user=nanjing_reporter, file=io.BytesIO(_bytes(workbook)))
    assert caught.value.message_dict == {
        f"指标数据!A{last + 1}": ["未知的指标代码“no-such-indicator”。"],
        f"指标数据!A{last + 2}": ["该指标不由本填报主体填报。"],
        f"指标数据!A{last + 3}": [f"指标“{sheet.cell(2, 1).value}”重复出现（已在第 2 行）。"],
    }


def test_auditors_and_locked_submissions_cannot_import(client, filled, nanjing_reporter, auditor):
    content = submission_template_build(submission=filled)
    before = _state(filled)
    client.force_login(auditor)
    assert _upload(client, filled, content).status_code == 403
    with pytest.raises(PermissionDenied):
        submission_xlsx_import(submission=filled, user=auditor, file=io.BytesIO(content))
    submitted = workflow.submission_submit(submission=filled, user=nanjing_reporter)
    with pytest.raises(ApplicationError) as caught:
        submission_xlsx_import(submission=submitted, user=nanjing_reporter, file=io.BytesIO(content))
    assert caught.value.message == "该报表已提交，审核期间处于锁定状态；如需修改，请审核人退回。"
    client.force_login(nanjing_reporter)
    response = _upload(client, submitted, content)
    assert response.status_code == 302
    assert "该报表已提交，审核期间处于锁定状态" in client.get(response["Location"]).content.decode()
    assert _state(filled)[2:] == before[2:]


def test_full_values_fixture_survives_a_template_round_trip(client, filled, nanjing_reporter):
    """Values written through the API come back from the template unchanged (numbers stay numbers)."""
    before = _state(filled)
    result = submission_xlsx_import(
        submission=filled, user=nanjing_reporter, file=io.BytesIO(submission_template_build(submission=filled))
    )
    assert (result.values.created, result.values.updated, result.values.unchanged) == (0, 0, len(full_values(filled)))
    assert _state(filled) == before


def test_entity_expansion_in_a_sheet_is_refused(filled, nanjing_reporter):
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c></row></sheetData></worksheet>'
    )
    source = zipfile.ZipFile(io.BytesIO(submission_template_build(submission=filled)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for item in source.infolist():
            archive.writestr(item, bomb if item.filename == "xl/worksheets/sheet2.xml" else source.read(item))
    before = _state(filled)
    with pytest.raises(ValidationError) as caught:
        submission_xlsx_import(submission=filled, user=nanjing_reporter, file=io.BytesIO(out.getvalue()))
    assert caught.value.message_dict == {"file": ["无法读取该文件：文件已损坏或不是本系统的填报模板。"]}
    assert _state(filled) == before
