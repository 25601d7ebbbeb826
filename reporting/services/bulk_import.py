"""Bulk import of historical values: a province adopting the portal brings years of past figures.

CSV or XLSX in, one row per value: the reporter (a region's code, or a provincial body's code), the
quarter, the indicator, and the value's fields as the API takes them. Rows go through the same rules as
`submission_values_put` (`value_clean` and `common.numbers.decimal_parse`): known codes, the fields the
indicator's kind takes, finite numbers below 10^15 with at most four decimals, no negative counts, a
positive denominator, a share's numerator no larger than its denominator, milestone dates not in the
future, one value per indicator and report. Each rejected row is reported with its row number, the field
and the reason, in Chinese; the other rows are imported (or nothing, with `strict`).

Imported values are confirmed history: each new report is created confirmed by the importing coordinator,
with a Transition that names the file and its SHA-256. A value that changes an existing confirmed report
keeps the old value in the report's history (a historical row of the old state, then one of the new).
Reports still in the workflow (draft, submitted, approved by the city, returned) are not touched.

On PostgreSQL the file is streamed by COPY (psycopg2 `copy_expert`) into a temporary staging table,
checked by one set-based statement (numbers in a canonical form are checked in SQL; the rare others go
through `decimal_parse` in Python, so both accept and refuse alike), and written by set-based
INSERT … SELECT … ON CONFLICT statements. On SQLite (the zero-set-up default) a plain Python path applies
`value_clean` row by row: slower, same results.
"""

import csv
import datetime
import hashlib
import io
import re
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DataError, connection, transaction
from django.db.utils import OperationalError, ProgrammingError
from django.utils import timezone
from django.utils.translation import gettext as _
from psycopg2.extras import execute_values

from common.numbers import decimal_parse
from indicators.models import Indicator
from measures.models import Plan, Region, ResponsibleBody
from reporting.models import DataValue, Period, Submission, Transition
from reporting.services.periods import period_ensure
from reporting.services.rollups import plan_province, province_of, rollup_enqueue
from reporting.services.submissions import MAX_COMMENT, value_clean

FIELDS = ("region", "body", "period", "indicator", "value", "numerator", "denominator", "done", "done_on", "comment")
VALUE_FIELDS = ("value", "numerator", "denominator", "done", "done_on", "comment")
# Column headings accepted, English or Chinese (the template's), case and surrounding blanks ignored.
HEADINGS = {
    "region": "region",
    "地区代码": "region",
    "行政区划代码": "region",
    "body": "body",
    "责任单位代码": "body",
    "period": "period",
    "填报期": "period",
    "indicator": "indicator",
    "指标代码": "indicator",
    "value": "value",
    "数值": "value",
    "numerator": "numerator",
    "分子": "numerator",
    "denominator": "denominator",
    "分母": "denominator",
    "done": "done",
    "是否完成": "done",
    "done_on": "done_on",
    "完成日期": "done_on",
    "comment": "comment",
    "说明": "comment",
}
TEMPLATE_HEADINGS = (
    "地区代码",
    "责任单位代码",
    "填报期",
    "指标代码",
    "数值",
    "分子",
    "分母",
    "是否完成",
    "完成日期",
    "说明",
)
FIELD_ORDER = {name: index for index, name in enumerate((*FIELDS, "file"))}
# The forms of a number and a date that SQL checks itself; anything else goes through the Python parsers.
CANONICAL_NUMBER = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$"
CANONICAL_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
PERIOD_CODE = re.compile(r"^([0-9]{4})Q([1-4])$")
TRUE_WORDS = ("true", "1", "yes", "是", "已完成", "y")
FALSE_WORDS = ("false", "0", "no", "否", "未完成", "n")
XLSX_MAX_BYTES = 200 * 1024 * 1024
XLSX_MAX_RATIO = 100
SEP = "\x1f"
# Blanks trimmed from every cell, the same set in SQL and in Python, so both paths read a cell alike.
BLANKS = " \t\r\n\u3000\u00a0"
HISTORY_REASON_MAX = 100
ANALYZE_AFTER = 50_000


@dataclass(frozen=True)
class RejectedRow:
    row: int
    field: str
    reason: str
    sheet: str = ""


@dataclass
class ImportReport:
    file: str = ""
    sha256: str = ""
    rows: int = 0
    accepted: int = 0
    rejected_rows: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    submissions_created: int = 0
    values_created: int = 0
    values_updated: int = 0
    values_unchanged: int = 0
    periods: list[str] = field(default_factory=list)
    written: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Messages:
    """Every reason the import gives, translated once per run; `{code}` is filled in by SQL or Python."""

    def __init__(self) -> None:
        self.reporter = _("须且只能指定一个填报主体：地区代码或责任单位代码。")
        self.region_unknown = _("未知的行政区划代码“%(code)s”。") % {"code": "{code}"}
        self.region_province = _("省级地区不直接填报，请按设区市或县（市、区）导入。")
        self.body_unknown = _("未知的责任单位代码“%(code)s”。") % {"code": "{code}"}
        self.period_missing = _("缺少填报期。")
        self.period_unknown = _("未知的填报期“%(code)s”，格式如 2025Q4。") % {"code": "{code}"}
        self.period_open = _("%(period)s 尚未结束，历史导入只接受已结束的季度。") % {"period": "{code}"}
        self.indicator_missing = _("缺少指标代码。")
        self.indicator_unknown = _("未知的指标代码“%(code)s”。") % {"code": "{code}"}
        self.indicator_elsewhere = _("该指标不由本填报主体填报。")
        self.duplicate = _("同一指标在一次提交中出现了多次。")
        self.milestone_only = _("里程碑指标只填是否完成及完成日期。")
        self.done_bad = _("应为“是”或“否”。")
        self.date_bad = _("应为日期，格式 YYYY-MM-DD。")
        self.done_false_date = _("未完成的事项不应填写完成日期。")
        self.date_future = _("完成日期不能晚于今天。")
        self.ratio_only = _("比率指标请分别填写分子和分母。")
        self.numerator_negative = _("分子不能为负数。")
        self.denominator_positive = _("分母必须大于 0。")
        self.share_over = _("占比指标的分子不能大于分母（占比须在 0–100% 之间）。")
        self.value_only = _("该指标只填写数值。")
        self.value_negative = _("数值不能为负数。")
        self.comment_long = _("说明不能超过 %(n)s 个字符。") % {"n": MAX_COMMENT}
        self.in_workflow = _("该报表正在填报流程中（%(status)s），历史导入不能改动。") % {"status": "{code}"}
        self.formula = _("不接受公式，请直接填写数值或文字。")

    @staticmethod
    def fill(template: str, code: str) -> str:
        return template.replace("{code}", code[:64])


def _status_label(status: str) -> str:
    return str(Submission.Status(status).label) if status in Submission.Status.values else status


# ---------------------------------------------------------------------------------------------------
# Reading the file


def _headings(raw: list[Any]) -> list[str | None]:
    """Map the heading row to fields; unknown headings are refused (a misspelt column would lose data)."""
    mapped: list[str | None] = []
    unknown = []
    for cell in raw:
        text = "" if cell is None else str(cell).strip().lstrip("\ufeff").strip()
        if not text:
            mapped.append(None)
            continue
        name = HEADINGS.get(text) or HEADINGS.get(text.lower())
        if name is None:
            unknown.append(text[:40])
        mapped.append(name)
    if unknown:
        raise ValidationError({"file": [_("未知的列“%(name)s”。") % {"name": name} for name in unknown[:5]]})
    present = [m for m in mapped if m]
    duplicated = [name for name, count in Counter(present).items() if count > 1]
    if duplicated:
        raise ValidationError({"file": [_("列“%(name)s”出现了多次。") % {"name": duplicated[0]}]})
    missing = [name for name in ("period", "indicator") if name not in present]
    if "region" not in present and "body" not in present:
        missing.insert(0, "region")
    if missing:
        raise ValidationError({"file": [_("缺少必需的列：%(names)s。") % {"names": "、".join(missing)}]})
    return mapped


def _cell_text(value: Any) -> str:
    """What a spreadsheet cell says, as the text a CSV would carry."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


@dataclass
class _Source:
    """The rows of a file: (sheet, row number, {field: text}), plus cells refused while reading."""

    name: str
    sha256: str
    kind: str  # csv | xlsx
    path: Path
    encoding: str
    headings: list[str | None] = field(default_factory=list)
    refused: list[RejectedRow] = field(default_factory=list)

    def rows(self) -> Iterator[tuple[str, int, dict[str, str]]]:
        if self.kind == "csv":
            yield from self._csv_rows()
        else:
            yield from self._xlsx_rows()

    def _csv_rows(self) -> Iterator[tuple[str, int, dict[str, str]]]:
        with self.path.open(encoding=self.encoding, newline="") as handle:
            reader = csv.reader(handle)
            next(reader, None)
            for number, cells in enumerate(reader, start=2):
                if len(cells) != len(self.headings):
                    # COPY refuses such a file as a whole; the plain path does the same.
                    raise ValidationError({"file": [_("第 %(row)s 行的列数与标题行不一致。") % {"row": number}]})
                item = {name: cells[i] for i, name in enumerate(self.headings) if name}
                if any(v.strip() for v in item.values()):
                    yield "", number, item

    def _xlsx_rows(self) -> Iterator[tuple[str, int, dict[str, str]]]:
        from openpyxl import load_workbook

        workbook = load_workbook(self.path, read_only=True, data_only=False)
        try:
            for sheet in workbook.worksheets:
                headings: list[str | None] | None = None
                for number, cells in enumerate(sheet.iter_rows(), start=1):
                    values = [getattr(c, "value", None) for c in cells]
                    if headings is None:
                        if all(v is None or not str(v).strip() for v in values):
                            continue
                        headings = _headings(values)
                        continue
                    item: dict[str, str] = {}
                    formula = False
                    for index, name in enumerate(headings):
                        if not name:
                            continue
                        cell = cells[index] if index < len(cells) else None
                        if getattr(cell, "data_type", None) == "f":
                            self.refused.append(RejectedRow(number, name, _Messages().formula, sheet.title))
                            formula = True
                        item[name] = _cell_text(getattr(cell, "value", None))
                    if any(v.strip() for v in item.values()) or formula:
                        yield sheet.title, number, item
        finally:
            workbook.close()


def _source_open(*, path: Path, name: str, encoding: str) -> _Source:
    data_head = path.open("rb").read(4)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    kind = "xlsx" if data_head.startswith(b"PK\x03\x04") else "csv"
    source = _Source(name=name, sha256=digest.hexdigest(), kind=kind, path=path, encoding=encoding)
    if kind == "xlsx":
        _xlsx_check(path)
        return source
    try:
        with path.open(encoding=encoding, newline="") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError as exc:
        raise ValidationError(
            {
                "file": [
                    _("文件不是 %(encoding)s 编码；请另存为 UTF-8 的 CSV，或指定 --encoding gb18030。")
                    % {"encoding": encoding}
                ]
            }
        ) from exc
    if not header:
        raise ValidationError({"file": [_("文件是空的。")]})
    source.headings = _headings(header)
    return source


def _xlsx_check(path: Path) -> None:
    """Refuse what openpyxl should never be handed: oversized files, zip bombs, macros."""
    size = path.stat().st_size
    if size > XLSX_MAX_BYTES:
        raise ValidationError({"file": [_("文件超过大小上限 %(mb)s MB。") % {"mb": XLSX_MAX_BYTES // (1024 * 1024)}]})
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise ValidationError({"file": [_("文件已损坏或不是有效的 .xlsx 文件。")]}) from exc
    if sum(i.file_size for i in infos) > max(size, 1) * XLSX_MAX_RATIO:
        raise ValidationError({"file": [_("压缩内容过大，疑似压缩炸弹，已拒绝。")]})
    if any(i.filename.lower().endswith("vbaproject.bin") for i in infos):
        raise ValidationError({"file": [_("不接受含宏的文件。")]})


# ---------------------------------------------------------------------------------------------------
# The entry point


def history_import(
    *,
    user: User,
    plan: Plan,
    path: Path,
    name: str | None = None,
    encoding: str = "utf-8",
    create_periods: bool = False,
    strict: bool = False,
    dry_run: bool = False,
    rollup: bool = True,
) -> ImportReport:
    """Import the file's rows as confirmed history. Raises ValidationError for a file that cannot be
    read at all; row problems are in the report. One transaction: on any failure nothing is written."""
    if not user.has_perm("reporting.confirm_submission"):
        raise PermissionDenied(_("只有协调小组办公室可以导入历史数据。"))
    started = time.monotonic()
    source = _source_open(path=Path(path), name=name or Path(path).name, encoding=encoding)
    report = ImportReport(file=source.name, sha256=source.sha256)
    runner = _PostgresImport if connection.vendor == "postgresql" else _PythonImport
    # (period, province) slices whose figures the import changes.
    touched: set[tuple[int, int | None]] = set()
    with transaction.atomic():
        runner(user=user, plan=plan, source=source, report=report, create_periods=create_periods, touched=touched).run(
            strict=strict
        )
        if dry_run:
            # A dry run does everything, so its counts are exact, and then undoes it.
            transaction.set_rollback(True)
            report.written = False
        elif rollup and (report.values_created or report.values_updated or report.submissions_created):
            for period_id, province_id in sorted(touched, key=lambda t: (t[0], t[1] or 0)):
                rollup_enqueue(plan_id=plan.pk, period_id=period_id, region_id=province_id)
    report.rejected.sort(key=lambda r: (r.sheet, r.row, FIELD_ORDER.get(r.field, 99), r.reason))
    report.rejected_rows = len({(r.sheet, r.row) for r in report.rejected})
    report.seconds = round(time.monotonic() - started, 3)
    return report


def history_reason(source_name: str, sha256: str) -> str:
    """The reason recorded on every report and value the import writes (fits simple-history's 100 chars)."""
    text = _("历史数据导入：%(file)s（SHA-256 %(sha)s）") % {"file": source_name[:40], "sha": sha256[:16]}
    return text[:HISTORY_REASON_MAX]


def rejected_csv(report: ImportReport) -> str:
    """The rejected rows as a CSV a spreadsheet opens (UTF-8 with BOM), Chinese headings."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([_("工作表"), _("行号"), _("字段"), _("原因")])
    for r in report.rejected:
        writer.writerow([r.sheet, r.row, r.field, r.reason])
    return out.getvalue()


class _Import:
    def __init__(
        self,
        *,
        user: User,
        plan: Plan,
        source: _Source,
        report: ImportReport,
        create_periods: bool,
        touched: set[tuple[int, int | None]],
    ) -> None:
        self.user = user
        self.plan = plan
        self.source = source
        self.report = report
        self.create_periods = create_periods
        self.touched = touched
        self.m = _Messages()
        self.today = timezone.localdate()
        self.now = timezone.now()
        self.reason = history_reason(source.name, source.sha256)

    def periods_for(self, codes: set[str]) -> dict[str, Period | None]:
        """Well-formed codes → their period (None when it does not exist); with create_periods, missing
        quarters that have ended are created. Ill-formed codes are left out."""
        wanted = {}
        for code in codes:
            match = PERIOD_CODE.match(code)
            if match:
                wanted[code] = (int(match.group(1)), int(match.group(2)))
        found = {p.code: p for p in Period.objects.filter(year__in={y for y, _q in wanted.values()})}
        if self.create_periods:
            for code, (year, quarter) in sorted(wanted.items()):
                if code in found or not 2000 <= year <= 2100:
                    continue
                probe = period_ensure(year=year, quarter=quarter) if _ended(year, quarter, self.today) else None
                if probe is not None:
                    found[code] = probe
        return {code: found.get(code) for code in wanted}


def _quarter_of(code: str) -> tuple[int, int]:
    return int(code[:4]), int(code[5])


def _ended(year: int, quarter: int, today: datetime.date) -> bool:
    from reporting.services.periods import quarter_bounds

    return quarter_bounds(year=year, quarter=quarter)[1] < today


# ---------------------------------------------------------------------------------------------------
# SQLite (and any other back end): row by row through value_clean


class _PythonImport(_Import):
    def run(self, *, strict: bool) -> None:
        m = self.m
        rows = list(self.source.rows())
        self.report.rows = len(rows)
        rejected: list[RejectedRow] = list(self.source.refused)
        refused = {(r.sheet, r.row) for r in self.source.refused}
        regions = {r.code: r for r in Region.objects.all()}
        bodies = {b.code: b for b in ResponsibleBody.objects.all()}
        indicators = {i.code: i for i in Indicator.objects.filter(plan=self.plan)}
        codes = {item.get("period", "").strip(BLANKS).upper() for _s, _n, item in rows}
        periods = self.periods_for(codes)
        keys = Counter(
            (
                item.get("region", "").strip(BLANKS),
                item.get("body", "").strip(BLANKS),
                item.get("period", "").strip(BLANKS).upper(),
                item.get("indicator", "").strip(BLANKS),
            )
            for _s, _n, item in rows
        )
        existing = {
            (s.period_id, s.region_id, s.body_id): s
            for s in Submission.objects.filter(plan=self.plan, period__in=[p for p in periods.values() if p])
        }
        accepted: list[tuple[Any, ...]] = []
        for sheet, number, item in rows:
            errors: list[tuple[str, str]] = []
            region_code, body_code, period_code, indicator_code = (
                item.get("region", "").strip(BLANKS),
                item.get("body", "").strip(BLANKS),
                item.get("period", "").strip(BLANKS).upper(),
                item.get("indicator", "").strip(BLANKS),
            )
            region = regions.get(region_code) if region_code else None
            body = bodies.get(body_code) if body_code else None
            if bool(region_code) == bool(body_code):
                errors.append(("region", m.reporter))
            elif region_code and region is None:
                errors.append(("region", m.fill(m.region_unknown, region_code)))
            elif region is not None and region.level == Region.Level.PROVINCE:
                errors.append(("region", m.region_province))
            elif body_code and body is None:
                errors.append(("body", m.fill(m.body_unknown, body_code)))
            period = periods.get(period_code)
            if not period_code:
                errors.append(("period", m.period_missing))
            elif period_code not in periods:
                errors.append(("period", m.fill(m.period_unknown, period_code)))
            elif not _ended(*_quarter_of(period_code), self.today):
                errors.append(("period", m.fill(m.period_open, period_code)))
            elif period is None:
                errors.append(("period", m.fill(m.period_unknown, period_code)))
            indicator = indicators.get(indicator_code)
            expected = False
            if not indicator_code:
                errors.append(("indicator", m.indicator_missing))
            elif indicator is None:
                errors.append(("indicator", m.fill(m.indicator_unknown, indicator_code)))
            else:
                if region_code:
                    expected = indicator.reporter in (Indicator.Reporter.CITY, Indicator.Reporter.BOTH)
                else:
                    expected = (
                        body is not None
                        and indicator.reporter in (Indicator.Reporter.BODY, Indicator.Reporter.BOTH)
                        and indicator.lead_body_id == body.pk
                    )
                expected = expected and indicator.is_active
                if (region is not None or body is not None) and not expected:
                    errors.append(("indicator", m.indicator_elsewhere))
            if indicator_code and keys[(region_code, body_code, period_code, indicator_code)] > 1:
                errors.append(("indicator", m.duplicate))
            clean = None
            if indicator is not None and expected:
                given: dict[str, Any] = {k: (item.get(k) or "").strip(BLANKS) for k in VALUE_FIELDS}
                given["comment"] = item.get("comment") or ""
                try:
                    clean = value_clean(indicator=indicator, item=given, prefix="row")
                except ValidationError as exc:
                    for key, messages in exc.message_dict.items():
                        errors += [(key.removeprefix("row."), message) for message in messages]
            if not errors and period is not None and (sheet, number) not in refused:
                current = existing.get((period.pk, region.pk if region else None, body.pk if body else None))
                if current is not None and current.status != Submission.Status.CONFIRMED:
                    errors.append(("period", m.fill(m.in_workflow, _status_label(current.status))))
            if errors:
                rejected += [RejectedRow(number, name, reason, sheet) for name, reason in errors]
            elif (sheet, number) not in refused:
                accepted.append((period, region, body, indicator, clean))
        self.report.rejected = rejected
        self.report.accepted = len(accepted)
        if (strict and rejected) or not accepted:
            return
        self._write(accepted, existing)

    def _province(self, region: Region | None) -> int | None:
        if region is None:
            home = plan_province(self.plan)
            return home.pk if home is not None else None
        return province_of(region_id=region.pk)

    def _write(self, accepted: list[tuple[Any, ...]], existing: dict) -> None:
        from simple_history.utils import bulk_create_with_history

        reports: dict[tuple[int, int | None, int | None], Submission] = {}
        created: list[Submission] = []
        for period, region, body, _indicator, _clean in accepted:
            key = (period.pk, region.pk if region else None, body.pk if body else None)
            if key in reports:
                continue
            found = existing.get(key)
            if found is None:
                found = Submission(
                    plan=self.plan,
                    period=period,
                    region=region,
                    body=body,
                    status=Submission.Status.CONFIRMED,
                    created_by=self.user,
                    confirmed_at=self.now,
                    confirmed_by=self.user,
                )
                created.append(found)
            reports[key] = found
            self.touched.add((period.pk, self._province(region)))
        if created:
            bulk_create_with_history(
                created, Submission, batch_size=1000, default_user=self.user, default_change_reason=self.reason
            )
            saved = {
                (s.period_id, s.region_id, s.body_id): s
                for s in Submission.objects.filter(plan=self.plan, period_id__in={k[0] for k in reports})
            }
            reports = {k: saved[k] for k in reports}
            Transition.objects.bulk_create(
                [
                    Transition(
                        submission=reports[(s.period_id, s.region_id, s.body_id)],
                        action=Transition.Action.CONFIRM,
                        from_status="",
                        to_status=Submission.Status.CONFIRMED,
                        actor=self.user,
                        reason=self.reason,
                    )
                    for s in created
                ]
            )
        self.report.submissions_created = len(created)
        current = {
            (v.submission_id, v.indicator_id): v
            for v in DataValue.objects.filter(submission_id__in=[s.pk for s in reports.values() if s.pk])
            .select_related("updated_by")
            .only(*VALUE_FIELDS, "submission_id", "indicator_id", "updated_at", "updated_by")
        }
        new_rows: list[DataValue] = []
        changed: list[DataValue] = []
        bumped: set[int] = set()
        for period, region, body, indicator, clean in accepted:
            report_row = reports[(period.pk, region.pk if region else None, body.pk if body else None)]
            row = current.get((report_row.pk, indicator.pk))
            if row is None:
                new_rows.append(DataValue(submission=report_row, indicator=indicator, updated_by=self.user, **clean))
                continue
            if all(getattr(row, k) == v for k, v in clean.items()):
                self.report.values_unchanged += 1
                continue
            changed.append(row)
            for k, v in clean.items():
                setattr(row, k, v)
            bumped.add(report_row.pk)
        DataValue.objects.bulk_create(new_rows, batch_size=1000)
        self.report.values_created = len(new_rows)
        if changed:
            ids = [row.pk for row in changed]
            with_trail = set(DataValue.history.filter(id__in=ids).values_list("id", flat=True))
            before = [r for r in DataValue.objects.filter(pk__in=ids) if r.pk not in with_trail]
            for row in before:
                DataValue.history.bulk_history_create(
                    [row],
                    default_user=row.updated_by,
                    default_date=row.updated_at,
                    default_change_reason=_("导入前的原值"),
                )
            for row in changed:
                row.updated_by = self.user
                row._change_reason = self.reason  # type: ignore[attr-defined]
                row._history_user = self.user  # type: ignore[attr-defined]
                row.save()
            self.report.values_updated = len(changed)
            for report_row in Submission.objects.filter(pk__in=bumped):
                report_row.version += 1
                report_row._change_reason = self.reason  # type: ignore[attr-defined]
                report_row._history_user = self.user  # type: ignore[attr-defined]
                report_row.save()
        self.report.written = True
        self.report.periods = sorted({p.code for p, *_rest in accepted}, key=lambda c: (c[:4], c[5:]))


# ---------------------------------------------------------------------------------------------------
# PostgreSQL: COPY into staging, one checking statement, set-based writes

# The scratch tables live until the transaction commits; an import inside a caller's larger transaction
# (a test, a script) must not trip over the previous one's.
SCRATCH_TABLES = (
    "hi_staging",
    "hi_errors",
    "hi_fix",
    "hi_periods",
    "hi_resolved",
    "hi_reports",
    "hi_blocked",
    "hi_changed",
)

STAGING_DDL = """
CREATE TEMP TABLE hi_staging (
    seq bigint GENERATED BY DEFAULT AS IDENTITY (START WITH 2),
    sheet text NOT NULL DEFAULT '',
    row_no bigint,
    region text, body text, period text, indicator text, value text, numerator text, denominator text,
    done text, done_on text, comment text, ignored1 text, ignored2 text, ignored3 text, ignored4 text
) ON COMMIT DROP;
CREATE TEMP TABLE hi_errors (seq bigint NOT NULL, field text NOT NULL, reason text NOT NULL) ON COMMIT DROP;
CREATE TEMP TABLE hi_fix (
    seq bigint PRIMARY KEY, value numeric, value_error text, numerator numeric, numerator_error text,
    denominator numeric, denominator_error text, done_on date, done_on_error text
) ON COMMIT DROP;
CREATE TEMP TABLE hi_periods (code text PRIMARY KEY, id bigint, ended boolean NOT NULL) ON COMMIT DROP;
"""

# Normalised cells: blanks are empty, codes trimmed, the period upper-cased. Inlined into each statement.
NORMALISED = """
SELECT seq, sheet, row_no,
       NULLIF(btrim(region, %(blanks)s), '') AS region, NULLIF(btrim(body, %(blanks)s), '') AS body,
       NULLIF(upper(btrim(period, %(blanks)s)), '') AS period, NULLIF(btrim(indicator, %(blanks)s), '') AS indicator,
       NULLIF(btrim(value, %(blanks)s), '') AS value, NULLIF(btrim(numerator, %(blanks)s), '') AS numerator,
       NULLIF(btrim(denominator, %(blanks)s), '') AS denominator, NULLIF(btrim(done, %(blanks)s), '') AS done,
       NULLIF(btrim(done_on, %(blanks)s), '') AS done_on,
       COALESCE(btrim(comment, %(blanks)s), '') AS comment, char_length(COALESCE(comment, '')) AS comment_length
FROM hi_staging
"""

PARSED = """
    CASE WHEN n.value ~ %(num)s THEN n.value::numeric ELSE f.value END AS pv,
    CASE WHEN n.numerator ~ %(num)s THEN n.numerator::numeric ELSE f.numerator END AS pn,
    CASE WHEN n.denominator ~ %(num)s THEN n.denominator::numeric ELSE f.denominator END AS pd,
    CASE WHEN lower(n.done) IN %(true_words)s THEN true WHEN lower(n.done) IN %(false_words)s THEN false END AS pdone,
    CASE WHEN n.done_on !~ %(date)s THEN f.done_on
         WHEN substr(n.done_on, 6, 2)::int BETWEEN 1 AND 12 AND substr(n.done_on, 1, 4)::int >= 1 THEN
              CASE WHEN substr(n.done_on, 9, 2)::int BETWEEN 1 AND extract(day FROM (
                        make_date(substr(n.done_on, 1, 4)::int, substr(n.done_on, 6, 2)::int, 1)
                        + interval '1 month - 1 day'))
                   THEN make_date(substr(n.done_on, 1, 4)::int, substr(n.done_on, 6, 2)::int,
                                  substr(n.done_on, 9, 2)::int) END END AS pdate
"""

EXPECTED = """(i.is_active AND CASE WHEN n.region IS NOT NULL THEN i.reporter IN ('city', 'both')
                ELSE b.id IS NOT NULL AND i.reporter IN ('body', 'both') AND i.lead_body_id = b.id END)"""

# One pass over the staging table: every code resolved, every number parsed, every rule checked; the
# reasons a row is refused are collected in its `errors` array. Blank rows are dropped here.
RESOLVE_SQL = f"""
CREATE TEMP TABLE hi_resolved ON COMMIT DROP AS
SELECT x.seq, x.sheet, x.row_no, COALESCE(x.region, '') AS region_key, COALESCE(x.body, '') AS body_key,
       COALESCE(x.period, '') AS period_key, x.indicator AS indicator_key,
       x.region_id, x.body_id, x.period_id, x.indicator_id, x.kind,
       x.pv, x.pn, x.pd, x.pdone, x.pdate, x.comment,
       array_remove(ARRAY[
    CASE WHEN (x.region IS NULL) = (x.body IS NULL) THEN 'region' || %(sep)s || %(reporter)s
         WHEN x.region IS NOT NULL AND x.region_id IS NULL
              THEN 'region' || %(sep)s || replace(%(region_unknown)s, '{{code}}', left(x.region, 64))
         WHEN x.region_level = 'province' THEN 'region' || %(sep)s || %(region_province)s
         WHEN x.body IS NOT NULL AND x.body_id IS NULL
              THEN 'body' || %(sep)s || replace(%(body_unknown)s, '{{code}}', left(x.body, 64)) END,
    CASE WHEN x.period IS NULL THEN 'period' || %(sep)s || %(period_missing)s
         WHEN x.period_known IS NULL
              THEN 'period' || %(sep)s || replace(%(period_unknown)s, '{{code}}', left(x.period, 64))
         WHEN NOT x.ended THEN 'period' || %(sep)s || replace(%(period_open)s, '{{code}}', x.period)
         WHEN x.period_id IS NULL
              THEN 'period' || %(sep)s || replace(%(period_unknown)s, '{{code}}', left(x.period, 64)) END,
    CASE WHEN x.indicator IS NULL THEN 'indicator' || %(sep)s || %(indicator_missing)s
         WHEN x.indicator_id IS NULL
              THEN 'indicator' || %(sep)s || replace(%(indicator_unknown)s, '{{code}}', left(x.indicator, 64))
         WHEN (x.region_id IS NOT NULL OR x.body_id IS NOT NULL) AND NOT x.expected
              THEN 'indicator' || %(sep)s || %(indicator_elsewhere)s END,
    CASE WHEN x.expected AND x.kind = 'milestone' AND x.value IS NOT NULL
              THEN 'value' || %(sep)s || %(milestone_only)s
         WHEN x.expected AND x.kind IN ('ratio', 'share') AND x.value IS NOT NULL
              THEN 'value' || %(sep)s || %(ratio_only)s
         WHEN x.expected AND x.kind IN ('stock', 'flow') AND x.value IS NOT NULL AND x.pv IS NULL
              THEN 'value' || %(sep)s || x.value_error
         WHEN x.expected AND x.kind IN ('stock', 'flow') AND x.pv < 0 THEN 'value' || %(sep)s || %(value_negative)s END,
    CASE WHEN x.expected AND x.kind = 'milestone' AND x.numerator IS NOT NULL
              THEN 'numerator' || %(sep)s || %(milestone_only)s
         WHEN x.expected AND x.kind IN ('stock', 'flow') AND x.numerator IS NOT NULL
              THEN 'numerator' || %(sep)s || %(value_only)s
         WHEN x.expected AND x.kind IN ('ratio', 'share') AND x.numerator IS NOT NULL AND x.pn IS NULL
              THEN 'numerator' || %(sep)s || x.numerator_error
         WHEN x.expected AND x.kind IN ('ratio', 'share') AND x.pn < 0
              THEN 'numerator' || %(sep)s || %(numerator_negative)s END,
    CASE WHEN x.expected AND x.kind = 'share' AND x.pn >= 0 AND x.pd > 0 AND x.pn > x.pd
              THEN 'numerator' || %(sep)s || %(share_over)s END,
    CASE WHEN x.expected AND x.kind = 'milestone' AND x.denominator IS NOT NULL
              THEN 'denominator' || %(sep)s || %(milestone_only)s
         WHEN x.expected AND x.kind IN ('stock', 'flow') AND x.denominator IS NOT NULL
              THEN 'denominator' || %(sep)s || %(value_only)s
         WHEN x.expected AND x.kind IN ('ratio', 'share') AND x.denominator IS NOT NULL AND x.pd IS NULL
              THEN 'denominator' || %(sep)s || x.denominator_error
         WHEN x.expected AND x.kind IN ('ratio', 'share') AND x.pd <= 0
              THEN 'denominator' || %(sep)s || %(denominator_positive)s END,
    CASE WHEN x.expected AND x.kind IN ('stock', 'flow') AND x.done IS NOT NULL
              THEN 'done' || %(sep)s || %(value_only)s
         WHEN x.expected AND x.kind IN ('ratio', 'share') AND x.done IS NOT NULL
              THEN 'done' || %(sep)s || %(ratio_only)s
         WHEN x.expected AND x.kind = 'milestone' AND x.done IS NOT NULL AND x.pdone IS NULL
              THEN 'done' || %(sep)s || %(done_bad)s END,
    CASE WHEN x.expected AND x.kind IN ('stock', 'flow') AND x.done_on IS NOT NULL
              THEN 'done_on' || %(sep)s || %(value_only)s
         WHEN x.expected AND x.kind IN ('ratio', 'share') AND x.done_on IS NOT NULL
              THEN 'done_on' || %(sep)s || %(ratio_only)s
         WHEN x.expected AND x.kind = 'milestone' AND x.done_on IS NOT NULL AND x.pdate IS NULL
              THEN 'done_on' || %(sep)s || %(date_bad)s
         WHEN x.expected AND x.kind = 'milestone' AND x.pdate > %(today)s
              THEN 'done_on' || %(sep)s || %(date_future)s
         WHEN x.expected AND x.kind = 'milestone' AND x.pdone = false AND x.pdate IS NOT NULL
              THEN 'done_on' || %(sep)s || %(done_false_date)s END,
    CASE WHEN x.expected AND x.comment_length > %(max_comment)s
              THEN 'comment' || %(sep)s || %(comment_long)s END
  ], NULL) AS errors
FROM (
    SELECT n.*, r.id AS region_id, r.level AS region_level, b.id AS body_id, p.id AS period_id, p.ended,
           p.code AS period_known, i.id AS indicator_id, i.kind, COALESCE({EXPECTED}, false) AS expected,
           f.value_error, f.numerator_error, f.denominator_error, {PARSED}
    FROM ({NORMALISED}) n
    LEFT JOIN measures_region r ON r.code = n.region
    LEFT JOIN measures_responsiblebody b ON b.code = n.body
    LEFT JOIN hi_periods p ON p.code = n.period
    LEFT JOIN indicators_indicator i ON i.plan_id = %(plan)s AND i.code = n.indicator
    LEFT JOIN hi_fix f ON f.seq = n.seq
    OFFSET 0
) x
WHERE concat(x.region, x.body, x.period, x.indicator, x.value, x.numerator, x.denominator, x.done, x.done_on,
             x.comment) <> ''
"""  # noqa: S608 - composed from the constant fragments above; values travel as parameters

ERRORS_SQL = """
INSERT INTO hi_errors (seq, field, reason)
SELECT seq, split_part(e, %(sep)s, 1), split_part(e, %(sep)s, 2)
FROM (SELECT seq, unnest(errors) AS e FROM hi_resolved WHERE cardinality(errors) > 0) y
"""

CLEAN = "NOT EXISTS (SELECT 1 FROM hi_errors e WHERE e.seq = r.seq)"

DUPLICATES_SQL = """
INSERT INTO hi_errors (seq, field, reason)
SELECT r.seq, 'indicator', %(duplicate)s
FROM hi_resolved r
JOIN (
    SELECT region_key, body_key, period_key, indicator_key FROM hi_resolved
    WHERE indicator_key IS NOT NULL
    GROUP BY 1, 2, 3, 4 HAVING count(*) > 1
) d USING (region_key, body_key, period_key, indicator_key)
"""

# The reports the file names, each once, with the report that already exists, if any.
REPORTS_SQL = f"""
CREATE TEMP TABLE hi_reports ON COMMIT DROP AS
SELECT k.period_id, k.region_id, k.body_id, COALESCE(sr.id, sb.id) AS submission_id,
       COALESCE(sr.status, sb.status) AS status, false AS created
FROM (SELECT period_id, region_id, body_id FROM hi_resolved r WHERE {CLEAN} GROUP BY 1, 2, 3) k
LEFT JOIN reporting_submission sr ON sr.plan_id = %(plan)s AND sr.period_id = k.period_id AND sr.region_id = k.region_id
LEFT JOIN reporting_submission sb ON sb.plan_id = %(plan)s AND sb.period_id = k.period_id AND sb.body_id = k.body_id
"""  # noqa: S608 - composed from the constant fragments above; values travel as parameters

SAME_REPORT = """h.period_id = r.period_id AND COALESCE(h.region_id, 0) = COALESCE(r.region_id, 0)
       AND COALESCE(h.body_id, 0) = COALESCE(r.body_id, 0)"""

BLOCKED_SQL = f"""
INSERT INTO hi_errors (seq, field, reason)
SELECT r.seq, 'period', h.reason
FROM hi_resolved r JOIN hi_blocked h ON {SAME_REPORT}
WHERE {CLEAN}
"""  # noqa: S608 - composed from the constant fragments above; values travel as parameters

CREATE_REPORTS_SQL = """
WITH made AS (
    INSERT INTO reporting_submission (
        public_id, plan_id, period_id, region_id, body_id, status, version, is_late, return_reason,
        created_by_id, created_at, updated_at, confirmed_at, confirmed_by_id)
    SELECT gen_random_uuid(), %(plan)s, h.period_id, h.region_id, h.body_id, 'confirmed', 1, false, '',
           %(user)s, %(now)s, %(now)s, %(now)s, %(user)s
    FROM hi_reports h WHERE h.submission_id IS NULL
    ORDER BY h.period_id, h.region_id, h.body_id
    RETURNING *
),
trail AS (
    INSERT INTO reporting_historicalsubmission (
        id, public_id, status, version, is_late, return_reason, created_at, updated_at, submitted_at,
        city_approved_at, confirmed_at, history_date, history_change_reason, history_type, body_id,
        city_approved_by_id, confirmed_by_id, created_by_id, history_user_id, plan_id, region_id,
        submitted_by_id, period_id)
    SELECT id, public_id, status, version, is_late, return_reason, created_at, updated_at, submitted_at,
           city_approved_at, confirmed_at, %(now)s, %(reason)s, '+', body_id, city_approved_by_id,
           confirmed_by_id, created_by_id, %(user)s, plan_id, region_id, submitted_by_id, period_id
    FROM made
),
steps AS (
    INSERT INTO reporting_transition (submission_id, action, from_status, to_status, actor_id, at, reason)
    SELECT id, 'confirm', '', 'confirmed', %(user)s, %(now)s, %(reason)s FROM made
)
UPDATE hi_reports h SET submission_id = made.id, status = 'confirmed', created = true
FROM made
WHERE made.period_id = h.period_id AND COALESCE(made.region_id, 0) = COALESCE(h.region_id, 0)
  AND COALESCE(made.body_id, 0) = COALESCE(h.body_id, 0)
"""

VALUES_SELECT = f"""
SELECT h.submission_id, r.indicator_id,
       CASE WHEN r.kind IN ('stock', 'flow') THEN r.pv END,
       CASE WHEN r.kind IN ('ratio', 'share') THEN r.pn END,
       CASE WHEN r.kind IN ('ratio', 'share') THEN r.pd END,
       CASE WHEN r.kind = 'milestone' THEN r.pdone END,
       CASE WHEN r.kind = 'milestone' THEN r.pdate END,
       r.comment, %(now)s::timestamptz, %(user)s::integer, h.created
FROM hi_resolved r JOIN hi_reports h ON {SAME_REPORT}
WHERE {CLEAN}
"""  # noqa: S608 - composed from the constant fragments above; values travel as parameters

VALUE_COLUMNS = "value, numerator, denominator, done, done_on, comment"

# Rows of reports that existed before the import and whose value would change.
CHANGED_SQL = f"""
CREATE TEMP TABLE hi_changed ON COMMIT DROP AS
SELECT d.id, d.submission_id, d.indicator_id, v.value, v.numerator, v.denominator, v.done, v.done_on, v.comment
FROM ({VALUES_SELECT}) v (submission_id, indicator_id, value, numerator, denominator, done, done_on, comment,
                          updated_at, updated_by_id, created)
JOIN reporting_datavalue d ON d.submission_id = v.submission_id AND d.indicator_id = v.indicator_id
WHERE NOT v.created AND ((d.value, d.numerator, d.denominator, d.done, d.done_on, d.comment)
      IS DISTINCT FROM (v.value, v.numerator, v.denominator, v.done, v.done_on, v.comment))
"""  # noqa: S608 - composed from the constant fragments above; values travel as parameters

OLD_STATE_SQL = """
INSERT INTO reporting_historicaldatavalue (
    id, value, numerator, denominator, done, done_on, comment, updated_at, history_date,
    history_change_reason, history_type, history_user_id, indicator_id, updated_by_id, submission_id)
SELECT d.id, d.value, d.numerator, d.denominator, d.done, d.done_on, d.comment, d.updated_at, d.updated_at,
       %(before_reason)s, '+', d.updated_by_id, d.indicator_id, d.updated_by_id, d.submission_id
FROM reporting_datavalue d JOIN hi_changed c ON c.id = d.id
WHERE NOT EXISTS (SELECT 1 FROM reporting_historicaldatavalue h WHERE h.id = d.id)
"""

UPSERT_SQL = f"""
INSERT INTO reporting_datavalue (submission_id, indicator_id, {VALUE_COLUMNS}, updated_at, updated_by_id)
SELECT submission_id, indicator_id, {VALUE_COLUMNS}, updated_at, updated_by_id
FROM ({VALUES_SELECT}) v (submission_id, indicator_id, value, numerator, denominator, done, done_on, comment,
                          updated_at, updated_by_id, created)
ON CONFLICT (submission_id, indicator_id) DO UPDATE SET
    value = EXCLUDED.value, numerator = EXCLUDED.numerator, denominator = EXCLUDED.denominator,
    done = EXCLUDED.done, done_on = EXCLUDED.done_on, comment = EXCLUDED.comment,
    updated_at = EXCLUDED.updated_at, updated_by_id = EXCLUDED.updated_by_id
WHERE (reporting_datavalue.value, reporting_datavalue.numerator, reporting_datavalue.denominator,
       reporting_datavalue.done, reporting_datavalue.done_on, reporting_datavalue.comment)
      IS DISTINCT FROM (EXCLUDED.value, EXCLUDED.numerator, EXCLUDED.denominator, EXCLUDED.done,
                        EXCLUDED.done_on, EXCLUDED.comment)
"""  # noqa: S608 - composed from the constant fragments above; values travel as parameters

NEW_STATE_SQL = """
INSERT INTO reporting_historicaldatavalue (
    id, value, numerator, denominator, done, done_on, comment, updated_at, history_date,
    history_change_reason, history_type, history_user_id, indicator_id, updated_by_id, submission_id)
SELECT d.id, d.value, d.numerator, d.denominator, d.done, d.done_on, d.comment, d.updated_at, %(now)s,
       %(reason)s, '~', %(user)s, d.indicator_id, d.updated_by_id, d.submission_id
FROM reporting_datavalue d JOIN hi_changed c ON c.id = d.id
"""

TOUCHED_SQL = """
SELECT DISTINCT h.period_id,
       CASE WHEN h.region_id IS NULL THEN %(home)s WHEN r.level = 'city' THEN r.parent_id ELSE c.parent_id END
FROM hi_reports h
LEFT JOIN measures_region r ON r.id = h.region_id
LEFT JOIN measures_region c ON c.id = r.parent_id
"""

BUMP_SQL = """
WITH bumped AS (
    UPDATE reporting_submission s SET version = s.version + 1, updated_at = %(now)s
    WHERE s.id IN (SELECT DISTINCT submission_id FROM hi_changed)
    RETURNING s.*
)
INSERT INTO reporting_historicalsubmission (
    id, public_id, status, version, is_late, return_reason, created_at, updated_at, submitted_at,
    city_approved_at, confirmed_at, history_date, history_change_reason, history_type, body_id,
    city_approved_by_id, confirmed_by_id, created_by_id, history_user_id, plan_id, region_id,
    submitted_by_id, period_id)
SELECT id, public_id, status, version, is_late, return_reason, created_at, updated_at, submitted_at,
       city_approved_at, confirmed_at, %(now)s, %(reason)s, '~', body_id, city_approved_by_id,
       confirmed_by_id, created_by_id, %(user)s, plan_id, region_id, submitted_by_id, period_id
FROM bumped
"""


def _fix_cell(raw: str, *, is_date: bool) -> tuple[Any, str | None]:
    """A cell SQL did not recognise, read by the same parsers the API uses."""
    from reporting.services.submissions import _parse_date

    try:
        if is_date:
            return _parse_date(raw, field="x"), None
        value = decimal_parse(raw, field="x")
    except ValidationError as exc:
        return None, exc.message_dict["x"][0]
    return value, None


class _PostgresImport(_Import):
    def params(self) -> dict[str, Any]:
        m = self.m
        return {
            **{k: v for k, v in vars(m).items() if isinstance(v, str)},
            "sep": SEP,
            "num": CANONICAL_NUMBER,
            "date": CANONICAL_DATE,
            "true_words": TRUE_WORDS,
            "false_words": FALSE_WORDS,
            "today": self.today,
            "max_comment": MAX_COMMENT,
            "plan": self.plan.pk,
            "user": self.user.pk,
            "now": self.now,
            "reason": self.reason,
            "before_reason": _("导入前的原值"),
            "blanks": BLANKS,
        }

    def run(self, *, strict: bool) -> None:
        params = self.params()
        with connection.cursor() as cursor:
            # The staging tables and the checks' hash tables stay in memory at national scale.
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("DROP TABLE IF EXISTS " + ", ".join(SCRATCH_TABLES))
            cursor.execute(STAGING_DDL)
            self._copy(cursor)
            cursor.execute("SELECT DISTINCT NULLIF(upper(btrim(period, %s)), '') FROM hi_staging", [BLANKS])
            periods = self.periods_for({code for (code,) in cursor.fetchall() if code})
            execute_values(
                cursor.cursor,
                "INSERT INTO hi_periods (code, id, ended) VALUES %s",
                [(code, p.pk if p else None, _ended(*_quarter_of(code), self.today)) for code, p in periods.items()],
            )
            self._fix(cursor)
            cursor.execute(RESOLVE_SQL, params)
            self.report.rows = cursor.rowcount
            cursor.execute(ERRORS_SQL, params)
            cursor.execute(DUPLICATES_SQL, params)
            cursor.execute(REPORTS_SQL, params)
            cursor.execute(
                "SELECT period_id, region_id, body_id, status FROM hi_reports "
                "WHERE status IS NOT NULL AND status <> 'confirmed'"
            )
            blocked = cursor.fetchall()
            if blocked:
                cursor.execute(
                    "CREATE TEMP TABLE hi_blocked (period_id bigint, region_id bigint, body_id bigint, reason text) "
                    "ON COMMIT DROP"
                )
                execute_values(
                    cursor.cursor,
                    "INSERT INTO hi_blocked VALUES %s",
                    [(p, r, b, self.m.fill(self.m.in_workflow, _status_label(st))) for p, r, b, st in blocked],
                )
                cursor.execute(BLOCKED_SQL, params)
                cursor.execute("DELETE FROM hi_reports WHERE status IS NOT NULL AND status <> 'confirmed'")
            self._collect_errors(cursor)
            cursor.execute("SELECT count(DISTINCT seq) FROM hi_errors")
            self.report.accepted = self.report.rows - cursor.fetchone()[0]
            if (strict and self.report.rejected) or not self.report.accepted:
                return
            cursor.execute(CREATE_REPORTS_SQL, params)
            cursor.execute(
                "SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM hi_reports"
            )
            self.report.submissions_created, existing = cursor.fetchone()
            changed = 0
            if existing:
                cursor.execute(CHANGED_SQL, params)
                cursor.execute("SELECT count(*) FROM hi_changed")
                changed = cursor.fetchone()[0]
                if changed:
                    cursor.execute(OLD_STATE_SQL, params)
            else:
                cursor.execute("CREATE TEMP TABLE hi_changed (id bigint, submission_id bigint) ON COMMIT DROP")
            cursor.execute(UPSERT_SQL, params)
            written = cursor.rowcount
            if written > ANALYZE_AFTER:
                # A large load changes the tables' shape; the rollups' plans depend on fresh statistics.
                cursor.execute("ANALYZE reporting_submission")
                cursor.execute("ANALYZE reporting_datavalue")
            if changed:
                cursor.execute(NEW_STATE_SQL, params)
                cursor.execute(BUMP_SQL, params)
            home = plan_province(self.plan)
            cursor.execute(TOUCHED_SQL, {"home": home.pk if home is not None else None})
            self.touched.update(cursor.fetchall())
            cursor.execute("SELECT DISTINCT p.code FROM hi_reports h JOIN hi_periods p ON p.id = h.period_id")
            self.report.periods = sorted(code for (code,) in cursor.fetchall())
            cursor.execute("DROP TABLE IF EXISTS " + ", ".join(SCRATCH_TABLES))
        self.report.values_updated = changed
        self.report.values_created = written - changed
        self.report.values_unchanged = self.report.accepted - written
        self.report.written = True

    def _copy(self, cursor: Any) -> None:
        raw = cursor.cursor
        try:
            if self.source.kind == "csv":
                names, ignored = [], 0
                for name in self.source.headings:
                    if name is None:
                        ignored += 1
                    names.append(name or f"ignored{ignored}")
                if ignored > 4:
                    raise ValidationError({"file": [_("空白标题的列过多。")]})
                encoding = "UTF8" if self.source.encoding.lower().replace("-", "") in ("utf8", "utf8sig") else "GB18030"
                sql = (
                    f"COPY hi_staging ({', '.join(names)}) FROM STDIN "
                    f"WITH (FORMAT csv, HEADER true, ENCODING '{encoding}')"
                )
                with self.source.path.open("rb") as handle:
                    raw.copy_expert(sql, handle)
                return
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            for sheet, number, item in self.source.rows():
                writer.writerow([sheet, number, *(item.get(name, "") for name in FIELDS)])
            buffer.seek(0)
            raw.copy_expert(
                f"COPY hi_staging (sheet, row_no, {', '.join(FIELDS)}) FROM STDIN WITH (FORMAT csv)",
                buffer,
            )
            execute_values(
                raw,
                "INSERT INTO hi_errors (seq, field, reason) SELECT s.seq, r.field, r.reason FROM hi_staging s JOIN "
                "(VALUES %s) r (sheet, row_no, field, reason) ON r.sheet = s.sheet AND r.row_no::bigint = s.row_no",
                [(r.sheet, r.row, r.field, r.reason) for r in self.source.refused],
            )
        except (DataError, ProgrammingError, OperationalError, psycopg2.Error) as exc:
            text = str(getattr(exc, "__cause__", None) or exc)
            line = re.search(r"line (\d+)", text)
            if line and ("missing data" in text or "extra data" in text):
                raise ValidationError(
                    {"file": [_("第 %(row)s 行的列数与标题行不一致。") % {"row": line.group(1)}]}
                ) from exc
            if "encoding" in text or "invalid byte sequence" in text:
                raise ValidationError(
                    {"file": [_("文件编码有误：请另存为 UTF-8 的 CSV，或指定 GB18030 编码。")]}
                ) from exc
            first = text.splitlines()[0][:200]
            raise ValidationError({"file": [_("文件无法读取：%(error)s") % {"error": first}]}) from exc

    def _fix(self, cursor: Any) -> None:
        """Cells SQL does not recognise: read them with decimal_parse / the API's date parser (usually none)."""
        cursor.execute(
            """
            SELECT seq, NULLIF(btrim(value, %(blanks)s), ''), NULLIF(btrim(numerator, %(blanks)s), ''),
                   NULLIF(btrim(denominator, %(blanks)s), ''), NULLIF(btrim(done_on, %(blanks)s), '')
            FROM hi_staging
            WHERE NULLIF(btrim(value, %(blanks)s), '') !~ %(num)s
               OR NULLIF(btrim(numerator, %(blanks)s), '') !~ %(num)s
               OR NULLIF(btrim(denominator, %(blanks)s), '') !~ %(num)s
               OR NULLIF(btrim(done_on, %(blanks)s), '') !~ %(date)s
            """,
            {"num": CANONICAL_NUMBER, "date": CANONICAL_DATE, "blanks": BLANKS},
        )
        rows = []
        for seq, value, numerator, denominator, done_on in cursor.fetchall():
            out: list[Any] = [seq]
            for raw in (value, numerator, denominator):
                if raw is None or re.match(CANONICAL_NUMBER, raw):
                    out += [None, None]
                else:
                    out += list(_fix_cell(raw, is_date=False))
            if done_on is None or re.match(CANONICAL_DATE, done_on):
                out += [None, None]
            else:
                out += list(_fix_cell(done_on, is_date=True))
            rows.append(out)
        execute_values(
            cursor.cursor,
            "INSERT INTO hi_fix (seq, value, value_error, numerator, numerator_error, denominator, "
            "denominator_error, done_on, done_on_error) VALUES %s",
            rows,
            page_size=1000,
        )

    def _collect_errors(self, cursor: Any) -> None:
        cursor.execute(
            """
            SELECT DISTINCT s.sheet, COALESCE(s.row_no, s.seq), e.field, e.reason
            FROM hi_errors e JOIN hi_resolved s ON s.seq = e.seq
            """
        )
        self.report.rejected = [RejectedRow(row, name, reason, sheet) for sheet, row, name, reason in cursor.fetchall()]
