"""One entry point from a snapshot's content to a file in a chosen format."""

from pathlib import Path
from typing import Any

from reporting.exports.parts import PARTS_BY_KEY
from reporting.exports.to_csv import csv_write
from reporting.exports.to_pdf import pdf_write
from reporting.exports.to_xlsx import xlsx_write

CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "zip": "application/zip",
}


def file_extension(fmt: str, part: str) -> str:
    if fmt == "csv":
        return "csv" if part else "zip"
    return fmt


def download_name(content: dict[str, Any], fmt: str, part: str) -> str:
    meta = content["meta"]
    suffix = f"_{PARTS_BY_KEY[part].title}" if part else ""
    return f"督查报告_{meta['period']}{suffix}.{file_extension(fmt, part)}"


def render(content: dict[str, Any], *, fmt: str, part: str, path: Path) -> None:
    if fmt == "xlsx":
        xlsx_write(content, path)
    elif fmt == "pdf":
        pdf_write(content, path)
    elif fmt == "csv":
        csv_write(content, path, part=part)
    else:
        raise ValueError(f"unknown export format {fmt!r}")
