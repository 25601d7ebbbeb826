"""Cell values as a writer stores them: numbers as numbers, dates as dates, text made inert.

A spreadsheet runs a cell that starts with = + - @ (and, in some, a tab or carriage return) as a
formula, even from a CSV. Text cells from reporters (comments, reasons, file names) are prefixed with
an apostrophe so they show as typed and never run. Numbers never pass through here as text: they keep
their type, so a negative gap stays a number."""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def as_decimal(raw: Any) -> Decimal | None:
    if raw is None or raw == "":
        return None
    try:
        return Decimal(str(raw))
    except InvalidOperation:
        return None


def as_date(raw: Any) -> date | None:
    if not raw:
        return None
    return date.fromisoformat(str(raw)[:10])


def as_datetime(raw: Any) -> datetime | None:
    """Stored as local (Asia/Shanghai) ISO text with its offset; spreadsheets want the wall-clock time."""
    if not raw:
        return None
    return datetime.fromisoformat(str(raw)).replace(tzinfo=None)


def as_text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, list | tuple):
        return "、".join(str(x) for x in raw)
    return neutralise(str(raw))


def csv_value(raw: Any, kind: str) -> str:
    """A CSV field: numbers in plain notation, dates ISO, text neutralised."""
    if kind in ("number", "int"):
        number = as_decimal(raw)
        return "" if number is None else format(number, "f")
    if kind == "date":
        day = as_date(raw)
        return day.isoformat() if day else ""
    if kind == "datetime":
        moment = as_datetime(raw)
        return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""
    return as_text(raw)
