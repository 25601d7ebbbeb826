"""The XLSX layout: a 报告说明 sheet, then one sheet per part with a title row, a header row (frozen,
filterable), and one row per record. Numbers are stored as numbers and dates as dates; text is
neutralised so that no cell runs as a formula.

A large report is written by XlsxWriter in constant-memory mode, which streams each row to a temporary
file as it is written, so memory stays flat however long a table is. A report of at most
IN_MEMORY_MAX_CELLS cells (a province's year report holds a few thousand to ~20,000) is assembled in
memory instead, about 180 bytes a cell (18 MB more peak memory at the limit): no temporary file per
sheet to write, read back and delete, which took half of the time of writing a small report. The mode
follows from the content alone, so the same snapshot always gives the same bytes.

The workbook is XlsxWriter's (the version pinned in requirements.txt) with a worksheet of our own
(`ReportWorksheet`, through XlsxWriter's `worksheet_class` hook) whose innermost loop writes the cells a report
holds with less work; the file is byte for byte the one XlsxWriter's own worksheet writes (a test compares)."""

from collections.abc import Callable
from datetime import datetime
from math import isfinite
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell_fast
from xlsxwriter.worksheet import CellDatetimeTuple, CellNumberTuple, CellStringTuple, Worksheet

from reporting.exports.cells import as_date, as_datetime, as_decimal, as_text
from reporting.exports.parts import ABOUT_ROWS, ABOUT_TITLE, PARTS, Part, part_rows

WORKBOOK_OPTIONS = {
    "constant_memory": True,
    # Never turn text into formulas, links or numbers: what a reporter typed stays inert text.
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}
IN_MEMORY_MAX_CELLS = 100_000


# One column of a part as the writers take it: its index, the record's key, its kind, its cell writer and format.
ColumnWriter = tuple[int, str, str, Callable[..., None], Any]


def records_by_cell(sheet: Any, first_row: int, records: list[dict[str, Any]], columns: list[ColumnWriter]) -> None:
    """Each record on a row of its own from `first_row` down, cell by cell through the column's writer. An empty
    value (None) writes nothing whatever the column's kind: XlsxWriter stores no cell for a blank without a
    format."""
    for row, record in enumerate(records, start=first_row):
        for col, key, _kind, write, cell_format in columns:
            raw = record.get(key)
            if raw is not None:
                write(sheet, row, col, raw, cell_format)


class ReportWorksheet(Worksheet):
    """XlsxWriter's worksheet with a shorter path for what a report writes: rows of shared strings, numbers and
    dates, each cell with a format.

    `write_records` stores an in-memory sheet's text and number cells itself, as XlsxWriter's writers would store
    them and in the same order (which numbers the shared strings), with the sheet's bounds checked once rather
    than per cell; a long text, a number that is not finite and every date still go through XlsxWriter's writers.
    `_write_cell` writes a string, number or date cell with a format as one piece of text: XlsxWriter's builds a
    list of attributes, escapes each one and dispatches on the cell's class name for every cell; the XML is the
    same (`r` is letters and digits and `s` an integer, so nothing needs escaping; numbers as `.16G`). Any other
    cell goes through XlsxWriter's own code."""

    def write_records(self, first_row: int, records: list[dict[str, Any]], columns: list[ColumnWriter]) -> None:
        if (
            self.constant_memory
            or not records
            or not columns
            or first_row + len(records) > self.xls_rowmax
            or max(col for col, *_ in columns) >= self.xls_colmax
        ):
            records_by_cell(self, first_row, records, columns)
            return
        shared = self.str_table
        indices = shared.string_table
        longest = self.xls_strmax // 2  # a text no longer than this is within Excel's limit whatever its UTF-16
        rows_written: list[int] = []
        cols_written: set[int] = set()
        for row, record in enumerate(records, start=first_row):
            cells = self.table[row]
            for col, key, kind, write, cell_format in columns:
                raw = record.get(key)
                if raw is None:
                    continue
                if kind == "text":
                    text = as_text(raw)
                    if not text:
                        continue
                    if len(text) > longest:
                        write(self, row, col, raw, cell_format)
                        continue
                    index = indices.get(text)
                    if index is None:
                        index = indices[text] = shared.unique_count
                        shared.unique_count += 1
                    shared.count += 1
                    cells[col] = CellStringTuple(index, cell_format)
                elif kind in ("number", "int"):
                    number = as_decimal(raw)
                    if number is None:
                        continue
                    value = float(number)
                    if not isfinite(value):
                        write(self, row, col, raw, cell_format)
                        continue
                    cells[col] = CellNumberTuple(value, cell_format)
                else:
                    write(self, row, col, raw, cell_format)
                    continue
                cols_written.add(col)
            if cells:
                rows_written.append(row)
        # The sheet's extent, as XlsxWriter's writers would have widened it cell by cell: its check of a cell
        # widens the extent to take the cell in, so checking the first and last corners takes them all in (a row
        # whose only cells are dates is in it already: XlsxWriter's writer checked them).
        if cols_written:
            self._check_dimensions(rows_written[0], min(cols_written))
            self._check_dimensions(rows_written[-1], max(cols_written))

    def _write_cell(self, row: int, col: int, cell: Any) -> None:
        cell_format = cell.format
        if cell_format is not None:
            kind = type(cell)
            if kind is CellStringTuple and not self.constant_memory:
                # `string` is the index in the shared strings table (constant memory writes inline strings).
                self.fh.write(
                    f'<c r="{xl_rowcol_to_cell_fast(row, col)}" s="{cell_format._get_xf_index()}" t="s">'
                    f"<v>{cell.string}</v></c>"
                )
                return
            if kind is CellNumberTuple or kind is CellDatetimeTuple:
                self.fh.write(
                    f'<c r="{xl_rowcol_to_cell_fast(row, col)}" s="{cell_format._get_xf_index()}">'
                    f"<v>{cell.number:.16G}</v></c>"
                )
                return
        super()._write_cell(row, col, cell)

    def _write_rows(self) -> None:
        """XlsxWriter's loop over the rows of an in-memory sheet, visiting each row's cells in column order
        rather than asking every column of the sheet's width whether the row has a cell there."""
        self._calculate_spans()
        table, row_info, comments = self.table, self.row_info, self.comments
        for row_num in range(self.dim_rowmin, self.dim_rowmax + 1):
            cells = table[row_num]
            if row_num in row_info or row_num in comments or cells:
                span = self.row_spans.get(int(row_num / 16))
                if cells:
                    self._write_row(row_num, span, row_info.get(row_num))
                    for col_num in sorted(cells):
                        self._write_cell(row_num, col_num, cells[col_num])
                    self._xml_end_tag("row")
                else:
                    self._write_empty_row(row_num, span, row_info.get(row_num))


class ReportWorkbook(xlsxwriter.Workbook):
    worksheet_class = ReportWorksheet


def workbook_options(content: dict[str, Any]) -> dict[str, Any]:
    """Constant memory for a large report, in memory for one of at most IN_MEMORY_MAX_CELLS cells."""
    cells = sum(len(part_rows(content, part)) * len(part.columns) for part in PARTS)
    if cells > IN_MEMORY_MAX_CELLS:
        return WORKBOOK_OPTIONS
    return {**WORKBOOK_OPTIONS, "constant_memory": False, "in_memory": True}


def xlsx_write(content: dict[str, Any], path: Path) -> None:
    meta = content["meta"]
    workbook = ReportWorkbook(str(path), workbook_options(content))
    created = as_datetime(meta["cut_off"]) or datetime(2000, 1, 1)  # noqa: DTZ001 - wall-clock time for Excel
    # The snapshot's cut-off, not the time of writing: the same snapshot gives the same document properties.
    workbook.set_properties({"title": meta["title"], "created": created, "comments": meta.get("snapshot", "")})
    formats = {
        "title": workbook.add_format({"bold": True, "font_size": 13}),
        "header": workbook.add_format(
            {"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#E8EEF4", "border": 1}
        ),
        "label": workbook.add_format({"bold": True, "valign": "top"}),
        "text": workbook.add_format({"text_wrap": True, "valign": "top"}),
        "number": workbook.add_format({"valign": "top"}),
        "int": workbook.add_format({"num_format": "0", "valign": "top"}),
        "date": workbook.add_format({"num_format": "yyyy-mm-dd", "valign": "top"}),
        "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss", "valign": "top"}),
    }

    about = workbook.add_worksheet(ABOUT_TITLE)
    about.set_column(0, 0, 20)
    about.set_column(1, 1, 100)
    about.write_string(0, 0, as_text(meta["title"]), formats["title"])
    for row, (key, label) in enumerate(ABOUT_ROWS, start=2):
        about.write_string(row, 0, label, formats["label"])
        about.write_string(row, 1, as_text(meta.get(key) or ""), formats["text"])

    for part in PARTS:
        _write_part(workbook, part, part_rows(content, part), meta, formats)
    workbook.close()


def _write_part(workbook: Any, part: Part, rows: list[dict[str, Any]], meta: dict[str, Any], formats: dict) -> None:
    sheet = workbook.add_worksheet(part.title)
    for col, column in enumerate(part.columns):
        sheet.set_column(col, col, column.width)
    sheet.write_string(0, 0, as_text(f"{part.title} · {meta['title']}"), formats["title"])
    for col, column in enumerate(part.columns):
        sheet.write_string(1, col, column.header, formats["header"])
    sheet.freeze_panes(2, 0)
    # Each column's writer and format looked up once, not per cell.
    columns: list[ColumnWriter] = [
        (col, column.key, column.kind, _CELL_WRITERS[column.kind], formats[column.kind])
        for col, column in enumerate(part.columns)
    ]
    sheet.write_records(2, rows, columns)
    if rows:
        sheet.autofilter(1, 0, len(rows) + 1, len(part.columns) - 1)


def _number_cell(sheet: Any, row: int, col: int, raw: Any, cell_format: Any) -> None:
    number = as_decimal(raw)
    if number is not None:
        sheet._write_number(row, col, float(number), cell_format)


def _date_cell(sheet: Any, row: int, col: int, raw: Any, cell_format: Any) -> None:
    day = as_date(raw)
    if day is not None:
        sheet._write_datetime(row, col, datetime(day.year, day.month, day.day), cell_format)  # noqa: DTZ001


def _datetime_cell(sheet: Any, row: int, col: int, raw: Any, cell_format: Any) -> None:
    moment = as_datetime(raw)
    if moment is not None:
        sheet._write_datetime(row, col, moment, cell_format)


def _text_cell(sheet: Any, row: int, col: int, raw: Any, cell_format: Any) -> None:
    text = as_text(raw)
    if text:
        sheet._write_string(row, col, text, cell_format)


# The cells go in through XlsxWriter's undecorated writers (its write_* methods are these behind a decorator that
# accepts "A1" references, a check per cell the report's numeric rows and columns do not need).
# A value no writer can store (empty text, a number or date that does not parse) leaves its cell empty.
_CELL_WRITERS = {
    "number": _number_cell,
    "int": _number_cell,
    "date": _date_cell,
    "datetime": _datetime_cell,
    "text": _text_cell,
}
