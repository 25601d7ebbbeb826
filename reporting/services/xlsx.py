"""The XLSX round trip: a template pre-filled for one submission, and the import of a filled one.

The import goes through exactly the same services as the API (`submission_values_put`,
`submission_narratives_put`), so a value the API refuses is refused here with the same message; this
module only translates between cells and those services' `values.<code>.<field>` error keys, so every
message names its sheet and cell ("指标数据!F7"). Nothing is written unless the whole file is valid.

Uploads are hostile until proven otherwise: openpyxl parses through defusedxml (installed), formula
cells are refused (with data_only they would read as None and silently erase a value), and the file is
checked as a ZIP before openpyxl sees it.
"""

import datetime
import io
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

import xlsxwriter
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from indicators.models import Indicator
from reporting.models import DataValue, Narrative, Submission
from reporting.selectors import indicators_expected, measures_for_narrative, value_as_number, values_previous
from reporting.services.submissions import (
    WriteSummary,
    ensure_editable,
    submission_narratives_put,
    submission_values_put,
)

SHEET_INFO = "填报说明"
SHEET_VALUES = "指标数据"
SHEET_NARRATIVES = "进展情况"
SHEETS = (SHEET_INFO, SHEET_VALUES, SHEET_NARRATIVES)

# 填报说明: label in column A, value in column B. The import finds the rows by label.
INFO_ID = "报表编号"
INFO_REPORTER = "填报主体"
INFO_PERIOD = "填报期"
INFO_VERSION = "版本"
INFO_ROWS = (INFO_ID, INFO_REPORTER, INFO_PERIOD, INFO_VERSION)

# 指标数据: (key, header). Keys from "value" on are the inputs and match the services' field names.
VALUE_COLUMNS = (
    ("code", "代码"),
    ("name", "指标名称"),
    ("unit", "单位"),
    ("kind", "类型"),
    ("previous", "上期数值"),
    ("value", "数值"),
    ("numerator", "分子"),
    ("denominator", "分母"),
    ("done", "是否完成"),
    ("done_on", "完成日期"),
    ("comment", "说明"),
)
VALUE_COL = {key: index for index, (key, _header) in enumerate(VALUE_COLUMNS)}
INPUT_FIELDS = ("value", "numerator", "denominator", "done", "done_on", "comment")

NARRATIVE_COLUMNS = (
    ("measure", "举措编号"),
    ("title", "举措名称"),
    ("progress", "进展情况"),
    ("problems", "存在问题"),
    ("next_steps", "下步计划"),
)
NARRATIVE_COL = {key: index for index, (key, _header) in enumerate(NARRATIVE_COLUMNS)}
NARRATIVE_FIELDS = ("progress", "problems", "next_steps")

YES, NO = "是", "否"

# A filled template is a few hundred KB at most; anything far larger is not one of ours.
XLSX_MAX_BYTES = 5 * 1024 * 1024
XLSX_MAX_UNPACKED_BYTES = 50 * 1024 * 1024
# Rows 填报说明 may hold (instructions included); the data sheets are bounded by what is expected.
INFO_MAX_ROWS = 100
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class XlsxImportResult:
    submission: Submission
    values: WriteSummary = field(default_factory=WriteSummary)
    narratives: WriteSummary = field(default_factory=WriteSummary)


def _fields_for(kind: str) -> tuple[str, ...]:
    """The input columns a reporter fills for an indicator of this kind (comment always)."""
    if kind == Indicator.Kind.MILESTONE:
        return ("done", "done_on", "comment")
    if kind in (Indicator.Kind.RATIO, Indicator.Kind.SHARE):
        return ("numerator", "denominator", "comment")
    return ("value", "comment")


def _cell(sheet: str, row: int, col: int) -> str:
    return f"{sheet}!{get_column_letter(col + 1)}{row}"


# ---------------------------------------------------------------------------------------------------
# Template


def _number_or_text(value: Decimal) -> float | str:
    """A float when it round-trips exactly (so the cell is a real number), else the exact text:
    NUMERIC(20, 4) holds more digits than a double does."""
    as_float = float(value)
    return as_float if Decimal(str(as_float)) == value else format(value, "f")


def submission_template_build(*, submission: Submission) -> bytes:
    """An XLSX template for this submission: identity and version in 填报说明, one row per expected
    indicator in 指标数据, one row per measure in 进展情况, pre-filled with what is stored now."""
    indicators = list(indicators_expected(plan=submission.plan, region=submission.region, body=submission.body))
    current = {v.indicator_id: v for v in DataValue.objects.filter(submission=submission)}
    previous = values_previous(submission=submission)
    measures = list(measures_for_narrative(plan=submission.plan, body=submission.body))
    narratives = {n.measure_id: n for n in Narrative.objects.filter(submission=submission)}

    out = io.BytesIO()
    # strings_to_formulas off: text a reporter typed ("=1+1", "+86…") stays text, never a formula.
    workbook = xlsxwriter.Workbook(
        out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    )
    fmt_title = workbook.add_format({"bold": True, "font_size": 14})
    fmt_label = workbook.add_format({"bold": True, "bg_color": "#EEF1F5", "border": 1})
    fmt_fixed = workbook.add_format({"border": 1, "text_wrap": True, "valign": "top"})
    fmt_header = workbook.add_format(
        {"bold": True, "bg_color": "#1D4E89", "font_color": "#FFFFFF", "border": 1, "text_wrap": True}
    )
    fmt_na = workbook.add_format({"bg_color": "#E5E7EB", "border": 1})
    fmt_input = workbook.add_format({"locked": False, "bg_color": "#FFFBE6", "border": 1, "valign": "top"})
    fmt_input_text = workbook.add_format(
        {"locked": False, "bg_color": "#FFFBE6", "border": 1, "text_wrap": True, "valign": "top"}
    )
    fmt_input_date = workbook.add_format(
        {"locked": False, "bg_color": "#FFFBE6", "border": 1, "num_format": "yyyy-mm-dd"}
    )
    fmt_previous = workbook.add_format({"border": 1, "font_color": "#52606D"})

    _write_info(workbook, submission, fmt_title=fmt_title, fmt_label=fmt_label, fmt_fixed=fmt_fixed)

    sheet = workbook.add_worksheet(SHEET_VALUES)
    for col, (_key, header) in enumerate(VALUE_COLUMNS):
        sheet.write_string(0, col, header, fmt_header)
    for row, indicator in enumerate(indicators, start=1):
        sheet.write_string(row, VALUE_COL["code"], indicator.code, fmt_fixed)
        sheet.write_string(row, VALUE_COL["name"], indicator.name, fmt_fixed)
        if indicator.definition:
            sheet.write_comment(row, VALUE_COL["name"], f"口径：{indicator.definition}", {"x_scale": 3, "y_scale": 2})
        unit = indicator.unit
        if indicator.has_parts:
            unit = f"{unit}（{indicator.numerator_label} / {indicator.denominator_label}）"
        sheet.write_string(row, VALUE_COL["unit"], unit, fmt_fixed)
        sheet.write_string(row, VALUE_COL["kind"], str(indicator.get_kind_display()), fmt_fixed)
        _write_previous(sheet, row, indicator, previous.get(indicator.pk), fmt_previous)
        editable = _fields_for(indicator.kind)
        value = current.get(indicator.pk)
        for key in INPUT_FIELDS:
            col = VALUE_COL[key]
            if key not in editable:
                sheet.write_blank(row, col, None, fmt_na)
                continue
            stored = getattr(value, key) if value is not None else None
            if key in ("value", "numerator", "denominator"):
                if stored is None:
                    sheet.write_blank(row, col, None, fmt_input)
                else:
                    number = _number_or_text(stored)
                    if isinstance(number, float):
                        sheet.write_number(row, col, number, fmt_input)
                    else:
                        sheet.write_string(row, col, number, fmt_input)
            elif key == "done":
                sheet.write_string(row, col, "" if stored is None else (YES if stored else NO), fmt_input)
            elif key == "done_on":
                if stored is None:
                    sheet.write_blank(row, col, None, fmt_input_date)
                else:
                    sheet.write_datetime(row, col, datetime.datetime.combine(stored, datetime.time()), fmt_input_date)
            else:
                sheet.write_string(row, col, stored or "", fmt_input_text)
        if indicator.has_parts:
            sheet.write_comment(row, VALUE_COL["numerator"], f"分子：{indicator.numerator_label}")
            sheet.write_comment(row, VALUE_COL["denominator"], f"分母：{indicator.denominator_label}")
    last = max(len(indicators), 1)
    # Spreadsheet-side checks are a convenience for the reporter; the import checks everything again.
    for key in ("value", "numerator", "denominator"):
        col = VALUE_COL[key]
        sheet.data_validation(
            1,
            col,
            last,
            col,
            {
                "validate": "decimal",
                "criteria": ">=",
                "value": 0,
                "error_title": "数值有误",
                "error_message": "请填写不小于 0 的数字。",
            },
        )
    sheet.data_validation(1, VALUE_COL["done"], last, VALUE_COL["done"], {"validate": "list", "source": [YES, NO]})
    sheet.data_validation(
        1,
        VALUE_COL["done_on"],
        last,
        VALUE_COL["done_on"],
        {
            "validate": "date",
            "criteria": ">=",
            "value": datetime.date(2000, 1, 1),
            "error_title": "日期有误",
            "error_message": "请填写日期，格式 YYYY-MM-DD。",
        },
    )
    for key, width in (("code", 18), ("name", 36), ("unit", 16), ("kind", 8), ("previous", 14), ("comment", 40)):
        sheet.set_column(VALUE_COL[key], VALUE_COL[key], width)
    sheet.set_column(VALUE_COL["value"], VALUE_COL["done_on"], 13)
    sheet.freeze_panes(1, 2)
    sheet.protect("", {"format_columns": True, "format_rows": True})

    sheet = workbook.add_worksheet(SHEET_NARRATIVES)
    for col, (_key, header) in enumerate(NARRATIVE_COLUMNS):
        sheet.write_string(0, col, header, fmt_header)
    for row, measure in enumerate(measures, start=1):
        sheet.write_number(row, NARRATIVE_COL["measure"], measure.number, fmt_fixed)
        sheet.write_string(row, NARRATIVE_COL["title"], measure.title, fmt_fixed)
        narrative = narratives.get(measure.pk)
        for key in NARRATIVE_FIELDS:
            text = getattr(narrative, key) if narrative is not None else ""
            sheet.write_string(row, NARRATIVE_COL[key], text, fmt_input_text)
    sheet.set_column(NARRATIVE_COL["measure"], NARRATIVE_COL["measure"], 9)
    sheet.set_column(NARRATIVE_COL["title"], NARRATIVE_COL["title"], 30)
    sheet.set_column(NARRATIVE_COL["progress"], NARRATIVE_COL["next_steps"], 50)
    sheet.freeze_panes(1, 2)
    sheet.protect("", {"format_columns": True, "format_rows": True})

    workbook.close()
    return out.getvalue()


def _write_info(workbook: Any, submission: Submission, *, fmt_title: Any, fmt_label: Any, fmt_fixed: Any) -> None:
    sheet = workbook.add_worksheet(SHEET_INFO)
    sheet.set_column(0, 0, 16)
    sheet.set_column(1, 1, 80)
    sheet.write_string(0, 0, "产业工人队伍建设改革季度填报模板", fmt_title)
    plan = submission.plan
    rows = [
        (INFO_ID, str(submission.public_id)),
        (INFO_REPORTER, submission.reporter_name),
        (INFO_PERIOD, submission.period.code),
        (INFO_VERSION, submission.version),
        ("方案", f"{plan.document_number} {plan.title}"),
        ("填报截止日期", submission.period.deadline.isoformat()),
        ("生成时间", timezone.localtime().strftime("%Y-%m-%d %H:%M")),
    ]
    for row, (label, value) in enumerate(rows, start=2):
        sheet.write_string(row, 0, label, fmt_label)
        if isinstance(value, int):
            sheet.write_number(row, 1, value, fmt_fixed)
        else:
            sheet.write_string(row, 1, value, fmt_fixed)
    notes = [
        "填报说明 Instructions",
        "1. 在“指标数据”表黄色单元格中填写本期数值；灰色单元格不适用于该指标，请留空。",
        "   比率、占比指标分别填写分子和分母；里程碑指标填写“是/否”及完成日期（YYYY-MM-DD）。",
        "2. 与上期相比变化较大的数值，请在“说明”列解释原因，否则无法提交。",
        "3. 在“进展情况”表中按举措填写进展情况、存在问题和下步计划。",
        "4. 请勿修改代码列、表头和本页的报表编号、填报主体、填报期、版本；请勿填写公式，只填数值或文字。",
        "5. 上传后系统按与网页、接口相同的规则校验；有错误时整份文件都不会写入，错误提示会指明工作表和单元格。",
        "6. 上传前如报表已在网页上修改（版本变化），请重新下载模板。",
        "Fill the yellow cells; grey cells do not apply. No formulas. "
        "Errors name the sheet and cell; nothing is saved unless the whole file is valid.",
    ]
    for offset, text in enumerate(notes):
        sheet.write_string(len(rows) + 3 + offset, 0, text)


def _write_previous(sheet: Any, row: int, indicator: Indicator, previous: DataValue | None, fmt: Any) -> None:
    col = VALUE_COL["previous"]
    if previous is None:
        sheet.write_blank(row, col, None, fmt)
    elif indicator.kind == Indicator.Kind.MILESTONE:
        text = "" if previous.done is None else (YES if previous.done else NO)
        if previous.done_on:
            text = f"{text} {previous.done_on.isoformat()}"
        sheet.write_string(row, col, text, fmt)
    else:
        number = value_as_number(previous, indicator)
        if number is None:
            sheet.write_blank(row, col, None, fmt)
        else:
            # Shown for reference only and never read back, so rounding for display is harmless.
            sheet.write_number(row, col, float(round(number, max(indicator.decimals, 2))), fmt)


# ---------------------------------------------------------------------------------------------------
# Import


def _small_member(archive: zipfile.ZipFile, name: str, limit: int = 1024 * 1024) -> bytes:
    """A member's bytes when it exists and declares no more than `limit` (the declared size bounds what
    zipfile inflates), else nothing."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        return b""
    return archive.read(info) if info.file_size <= limit else b""


def _read_upload(file: IO[bytes]) -> bytes:
    data = file.read(XLSX_MAX_BYTES + 1)
    if not isinstance(data, bytes):
        raise ValidationError({"file": [_("无法读取上传的文件。")]})
    if len(data) > XLSX_MAX_BYTES:
        raise ValidationError({"file": [_("文件超过大小上限 %(mb)s MB。") % {"mb": XLSX_MAX_BYTES // (1024 * 1024)}]})
    if not data.startswith(b"PK\x03\x04"):
        raise ValidationError({"file": [_("不是有效的 .xlsx 文件，请上传从本系统下载的填报模板。")]})
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            content_types = _small_member(archive, "[Content_Types].xml")
    except zipfile.BadZipFile as exc:
        raise ValidationError({"file": [_("文件已损坏或不是有效的 .xlsx 文件。")]}) from exc
    names = {info.filename for info in infos}
    if sum(info.file_size for info in infos) > XLSX_MAX_UNPACKED_BYTES:
        raise ValidationError({"file": [_("压缩内容过大，疑似压缩炸弹，已拒绝。")]})
    # A macro workbook (.xlsm) renamed .xlsx says so in its content types even when its VBA part is
    # named otherwise; ActiveX controls carry code too.
    if (
        any(name.lower().endswith("vbaproject.bin") or name.lower().startswith("xl/activex/") for name in names)
        or b"macroenabled" in content_types.lower()
    ):
        raise ValidationError({"file": [_("不接受含宏的文件。")]})
    if "xl/workbook.xml" not in names:
        raise ValidationError({"file": [_("不是有效的 .xlsx 文件，请上传从本系统下载的填报模板。")]})
    return data


@dataclass
class _Parsed:
    info: dict[str, tuple[Any, int]] = field(default_factory=dict)
    values: list[tuple[int, list[Any]]] = field(default_factory=list)
    narratives: list[tuple[int, list[Any]]] = field(default_factory=list)


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _read_sheet(
    sheet: Any, name: str, *, width: int, max_rows: int, errors: dict[str, list[str]]
) -> list[tuple[int, list[Any]]]:
    """Rows of one sheet as (row number, first `width` values), blank rows dropped; every formula
    cell anywhere in the sheet is an error."""
    rows: list[tuple[int, list[Any]]] = []
    for number, cells in enumerate(sheet.iter_rows(), start=1):
        for index, cell in enumerate(cells):
            if getattr(cell, "data_type", None) == "f":
                errors[_cell(name, number, index)] = [_("不接受公式，请直接填写数值或文字。")]
        values = [getattr(cell, "value", None) for cell in cells[:width]]
        values += [None] * (width - len(values))
        if all(_is_blank(v) for v in values):
            continue
        rows.append((number, values))
        if len(rows) > max_rows:
            raise ValidationError(
                {
                    name: [
                        _("工作表“%(sheet)s”的行数过多（超过 %(n)s 行），请使用本报表的填报模板。")
                        % {"sheet": name, "n": max_rows}
                    ]
                }
            )
    return rows


def _parse_workbook(data: bytes, *, max_value_rows: int, max_narrative_rows: int) -> _Parsed:
    errors: dict[str, list[str]] = {}
    parsed = _Parsed()
    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    try:
        names = workbook.sheetnames
        missing = [name for name in SHEETS if name not in names]
        if missing:
            raise ValidationError(
                {"file": [_("缺少工作表“%(sheet)s”，请使用本系统下载的填报模板。") % {"sheet": s} for s in missing]}
            )
        extra = [name for name in names if name not in SHEETS]
        if extra:
            raise ValidationError(
                {
                    "file": [
                        _("文件含有模板以外的工作表“%(sheet)s”，请删除后再上传。") % {"sheet": s[:31]}
                        for s in extra[:5]
                    ]
                }
            )
        for number, (label, value) in _read_sheet(
            workbook[SHEET_INFO], SHEET_INFO, width=2, max_rows=INFO_MAX_ROWS, errors=errors
        ):
            if isinstance(label, str) and label.strip() in INFO_ROWS:
                parsed.info.setdefault(label.strip(), (value, number))
        parsed.values = _read_sheet(
            workbook[SHEET_VALUES], SHEET_VALUES, width=len(VALUE_COLUMNS), max_rows=max_value_rows + 1, errors=errors
        )
        parsed.narratives = _read_sheet(
            workbook[SHEET_NARRATIVES],
            SHEET_NARRATIVES,
            width=len(NARRATIVE_COLUMNS),
            max_rows=max_narrative_rows + 1,
            errors=errors,
        )
    finally:
        workbook.close()
    if errors:
        raise ValidationError(errors)
    _check_header(parsed.values, SHEET_VALUES, VALUE_COLUMNS)
    _check_header(parsed.narratives, SHEET_NARRATIVES, NARRATIVE_COLUMNS)
    parsed.values = parsed.values[1:]
    parsed.narratives = parsed.narratives[1:]
    return parsed


def _check_header(rows: list[tuple[int, list[Any]]], sheet: str, columns: tuple[tuple[str, str], ...]) -> None:
    """Columns are read by position, so a moved column would put values in the wrong field."""
    expected = [header for _key, header in columns]
    if not rows or rows[0][0] != 1 or [str(v or "").strip() for v in rows[0][1]] != expected:
        raise ValidationError(
            {
                f"{sheet}!A1": [
                    _("表头与模板不符（应为：%(headers)s），请勿增删或移动列。") % {"headers": "、".join(expected)}
                ]
            }
        )


def _check_identity(info: dict[str, tuple[Any, int]], submission: Submission, expected_version: int | None) -> int:
    """The file must be this submission's template, at this submission's version. Returns the version."""
    missing = [label for label in INFO_ROWS if label not in info]
    if missing:
        raise ValidationError(
            {
                SHEET_INFO: [
                    _("缺少“%(label)s”一行，请使用本系统下载的填报模板。") % {"label": label} for label in missing
                ]
            }
        )
    errors: dict[str, list[str]] = {}

    def ref(label: str) -> str:
        return f"{SHEET_INFO}!B{info[label][1]}"

    def text(label: str) -> str:
        value = info[label][0]
        return "" if value is None else str(value).strip()

    if text(INFO_ID) != str(submission.public_id):
        errors[ref(INFO_ID)] = [
            _("该模板属于另一份报表（%(reporter)s %(period)s），不能上传到本报表（%(own_reporter)s %(own_period)s）。")
            % {
                "reporter": text(INFO_REPORTER)[:64],
                "period": text(INFO_PERIOD)[:16],
                "own_reporter": submission.reporter_name,
                "own_period": submission.period.code,
            }
        ]
    if text(INFO_REPORTER) != submission.reporter_name:
        errors[ref(INFO_REPORTER)] = [
            _("填报主体“%(given)s”与本报表（%(own)s）不符。")
            % {"given": text(INFO_REPORTER)[:64], "own": submission.reporter_name}
        ]
    if text(INFO_PERIOD) != submission.period.code:
        errors[ref(INFO_PERIOD)] = [
            _("填报期“%(given)s”与本报表（%(own)s）不符。")
            % {"given": text(INFO_PERIOD)[:16], "own": submission.period.code}
        ]
    raw_version = info[INFO_VERSION][0]
    version: int | None = None
    if isinstance(raw_version, int) and not isinstance(raw_version, bool):
        version = raw_version
    elif isinstance(raw_version, float) and raw_version.is_integer():
        version = int(raw_version)
    elif isinstance(raw_version, str) and raw_version.strip().isdigit():
        version = int(raw_version.strip())
    if version is None:
        errors[ref(INFO_VERSION)] = [_("版本号缺失或无效，请重新下载模板。")]
    elif version != submission.version or (expected_version is not None and version != expected_version):
        errors[ref(INFO_VERSION)] = [
            _("模板版本 %(given)s 已过期（报表当前版本 %(current)s），请重新下载模板后再填写上传。")
            % {"given": version, "current": submission.version}
        ]
    if errors or version is None:
        raise ValidationError(errors)
    return version


def _cell_text(value: Any) -> Any:
    """Text fields accept what a spreadsheet makes of typed text: numbers and dates become text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def _done_input(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    return value


def _measure_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _value_items(
    rows: list[tuple[int, list[Any]]],
    *,
    submission: Submission,
    expected: dict[str, Indicator],
    errors: dict[str, list[str]],
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Service items from 指标数据 rows, and the row of each indicator code for mapping errors back."""
    stored = set(DataValue.objects.filter(submission=submission).values_list("indicator__code", flat=True))
    known = set(Indicator.objects.filter(plan=submission.plan).values_list("code", flat=True))
    items: list[dict[str, Any]] = []
    row_of: dict[str, int] = {}
    for number, cells in rows:
        raw_code = cells[VALUE_COL["code"]]
        code = raw_code.strip() if isinstance(raw_code, str) else ("" if raw_code is None else str(raw_code))
        inputs = {key: cells[VALUE_COL[key]] for key in INPUT_FIELDS}
        if not code:
            if any(not _is_blank(v) for v in inputs.values()):
                errors[_cell(SHEET_VALUES, number, VALUE_COL["code"])] = [_("缺少指标代码。")]
            continue
        if code in row_of:
            errors[_cell(SHEET_VALUES, number, VALUE_COL["code"])] = [
                _("指标“%(code)s”重复出现（已在第 %(row)s 行）。") % {"code": code[:64], "row": row_of[code]}
            ]
            continue
        if code not in expected:
            errors[_cell(SHEET_VALUES, number, VALUE_COL["code"])] = [
                _("该指标不由本填报主体填报。")
                if code in known
                else _("未知的指标代码“%(code)s”。") % {"code": code[:64]}
            ]
            continue
        row_of[code] = number
        if all(_is_blank(v) for v in inputs.values()) and code not in stored:
            continue
        item: dict[str, Any] = {"indicator": code}
        for key, value in inputs.items():
            if _is_blank(value):
                item[key] = None
            elif key == "comment":
                item[key] = _cell_text(value)
            elif key == "done":
                item[key] = _done_input(value)
            else:
                item[key] = value
        items.append(item)
    return items, row_of


def _narrative_items(
    rows: list[tuple[int, list[Any]]], *, submission: Submission, errors: dict[str, list[str]]
) -> tuple[list[dict[str, Any]], dict[int, int]]:
    stored = set(Narrative.objects.filter(submission=submission).values_list("measure__number", flat=True))
    items: list[dict[str, Any]] = []
    row_of: dict[int, int] = {}
    for number, cells in rows:
        texts = {key: cells[NARRATIVE_COL[key]] for key in NARRATIVE_FIELDS}
        measure = _measure_number(cells[NARRATIVE_COL["measure"]])
        if measure is None:
            if cells[NARRATIVE_COL["measure"]] is not None or any(not _is_blank(v) for v in texts.values()):
                errors[_cell(SHEET_NARRATIVES, number, NARRATIVE_COL["measure"])] = [_("举措编号应为整数。")]
            continue
        if measure in row_of:
            errors[_cell(SHEET_NARRATIVES, number, NARRATIVE_COL["measure"])] = [
                _("举措 %(n)s 重复出现（已在第 %(row)s 行）。") % {"n": measure, "row": row_of[measure]}
            ]
            continue
        row_of[measure] = number
        if all(_is_blank(v) for v in texts.values()) and measure not in stored:
            continue
        item: dict[str, Any] = {"measure": measure}
        for key, value in texts.items():
            item[key] = "" if _is_blank(value) else _cell_text(value)
        items.append(item)
    return items, row_of


def _value_error_ref(key: str, row_of: dict[str, int], expected: dict[str, Indicator]) -> str:
    """`values.<code>.<field>` → 指标数据!<cell>; a key naming no field points at the first input."""
    parts = key.split(".", 2)
    if len(parts) < 2 or parts[0] != "values" or parts[1] not in row_of:
        return key
    code = parts[1]
    field_name = parts[2] if len(parts) == 3 else _fields_for(expected[code].kind)[0]
    col = VALUE_COL.get(field_name, VALUE_COL["code"])
    return _cell(SHEET_VALUES, row_of[code], col)


def _narrative_error_ref(key: str, row_of: dict[int, int]) -> str:
    parts = key.split(".", 2)
    if len(parts) < 2 or parts[0] != "narratives" or not parts[1].isdigit() or int(parts[1]) not in row_of:
        return key
    field_name = parts[2] if len(parts) == 3 else "measure"
    col = NARRATIVE_COL.get(field_name, NARRATIVE_COL["measure"])
    return _cell(SHEET_NARRATIVES, row_of[int(parts[1])], col)


def _merge(errors: dict[str, list[str]], key: str, messages: list[str]) -> None:
    errors.setdefault(key, []).extend(messages)


def submission_xlsx_import(
    *,
    submission: Submission,
    user: User,
    file: IO[bytes],
    expected_version: int | None = None,
) -> XlsxImportResult:
    """Read a filled template into the submission's draft. Raises ValidationError keyed by
    "sheet!cell" (or "file"), PermissionDenied, or ApplicationError (locked, stale); writes nothing
    unless every cell is valid."""
    submission = Submission.objects.with_related().get(pk=submission.pk)
    # Identity and state first: an auditor or a locked submission is refused before the file is read.
    ensure_editable(submission=submission, user=user)
    expected = {
        i.code: i for i in indicators_expected(plan=submission.plan, region=submission.region, body=submission.body)
    }
    measure_count = measures_for_narrative(plan=submission.plan, body=submission.body).count()

    data = _read_upload(file)
    try:
        parsed = _parse_workbook(
            data, max_value_rows=2 * max(len(expected), 1), max_narrative_rows=2 * max(measure_count, 1)
        )
    except ValidationError:
        raise
    except Exception as exc:
        # openpyxl and its XML parser raise many types for a damaged or hostile file (entity
        # expansion refused by defusedxml, missing parts, bad XML); to the reporter they are all one.
        raise ValidationError({"file": [_("无法读取该文件：文件已损坏或不是本系统的填报模板。")]}) from exc

    version = _check_identity(parsed.info, submission, expected_version)

    errors: dict[str, list[str]] = {}
    value_items, value_rows = _value_items(parsed.values, submission=submission, expected=expected, errors=errors)
    narrative_items, narrative_rows = _narrative_items(parsed.narratives, submission=submission, errors=errors)
    if errors:
        raise ValidationError(errors)

    result = XlsxImportResult(submission=submission)
    with transaction.atomic():
        try:
            result.submission, result.values = submission_values_put(
                submission=submission, user=user, values=value_items, expected_version=version
            )
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                _merge(errors, _value_error_ref(key, value_rows, expected), messages)
        try:
            result.submission, result.narratives = submission_narratives_put(
                submission=result.submission,
                user=user,
                narratives=narrative_items,
                expected_version=result.submission.version,
            )
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                _merge(errors, _narrative_error_ref(key, narrative_rows), messages)
        if errors:
            # Raised inside the block so the values written before a narrative error roll back too.
            raise ValidationError(errors)
    return result
