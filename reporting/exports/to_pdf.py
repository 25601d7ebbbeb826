"""The PDF: the same report laid out for printing (A4 landscape) by WeasyPrint from an HTML template.

Fonts are Noto Sans CJK from Debian's fonts-noto-cjk, found through fontconfig on the local disk. The
URL fetcher refuses everything but local font files, so rendering never reaches the network (a
reporter's text cannot smuggle in a remote image or stylesheet either: it is escaped by the template)."""

import logging
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.safestring import mark_safe

from reporting.exports.cells import as_date, as_datetime, as_decimal
from reporting.exports.parts import ABOUT_ROWS, PARTS, SUMMARY, part_rows

TEMPLATE = "reporting/exports/report_pdf.html"
# WeasyPrint logs every layout step of every page at INFO; a 50-page report would flood the worker's log.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
FONT_DIRS = ("/usr/share/fonts/", "/usr/local/share/fonts/")


def _fetcher_class() -> type:
    from weasyprint.urls import URLFetcher

    class LocalFontsOnly(URLFetcher):
        """Only font files from the system's font directories; nothing over any network."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            parsed = urlparse(url)
            path = unquote(parsed.path)
            if parsed.scheme != "file" or not path.startswith(FONT_DIRS) or ".." in path:
                raise ValueError(f"refused to fetch {url!r}: the PDF uses local fonts only")
            return super().fetch(url, headers)

    return LocalFontsOnly


def pdf_value(raw: Any, kind: str) -> str:
    """Numbers for the eye: integers whole, others to two decimals (the XLSX and CSV keep full precision)."""
    if kind in ("number", "int"):
        number = as_decimal(raw)
        if number is None:
            return ""
        if number == number.to_integral_value():
            return format(number.quantize(Decimal(1)), "f")
        return format(number.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "f")
    if kind == "date":
        day = as_date(raw)
        return day.isoformat() if day else ""
    if kind == "datetime":
        moment = as_datetime(raw)
        return moment.strftime("%Y-%m-%d %H:%M") if moment else ""
    if isinstance(raw, list | tuple):
        return "、".join(str(x) for x in raw)
    return "" if raw is None else str(raw)


def css_string(text: str) -> str:
    """Text for a CSS string inside <style>: quotes, backslashes, angle brackets and control characters
    as CSS escapes, so nothing can close the string or the style element."""
    return "".join(f"\\{ord(ch):x} " if ch in '\\"<>&' or ord(ch) < 32 else ch for ch in text)


def pdf_html(content: dict[str, Any]) -> str:
    meta = content["meta"]
    sections = []
    for part in PARTS:
        if part.key == SUMMARY.key:
            continue
        columns = part.columns_for_pdf()
        rows = [
            [(pdf_value(record.get(c.key), c.kind), c.kind) for c in columns] for record in part_rows(content, part)
        ]
        sections.append({"part": part, "columns": columns, "rows": rows})
    about = [(label, pdf_value(meta.get(key), "text")) for key, label in ABOUT_ROWS]
    with translation.override("zh-hans"):
        return render_to_string(
            TEMPLATE,
            {
                "meta": meta,
                "about": about,
                "summary": content.get("summary", []),
                "sections": sections,
                # Built here and marked safe: autoescaping would put HTML entities into CSS.
                "page_title": mark_safe(css_string(meta["title"])),  # noqa: S308 - escaped by css_string
                "page_cut_off": mark_safe(css_string("数据截止 " + meta["cut_off"][:16].replace("T", " "))),  # noqa: S308
            },
        )


def pdf_write(content: dict[str, Any], path: Path) -> None:
    from weasyprint import HTML

    html = pdf_html(content)
    HTML(string=html, base_url=None, url_fetcher=_fetcher_class()()).write_pdf(str(path))
