"""CSV: each table on its own, UTF-8 with a byte-order mark (so Excel reads the Chinese right), text
neutralised against formula injection. One part as a single file, or every part as files in a zip."""

import csv
import io
import zipfile
from pathlib import Path
from typing import Any

from reporting.exports.cells import as_datetime, as_text, csv_value
from reporting.exports.parts import ABOUT_ROWS, ABOUT_TITLE, PARTS, PARTS_BY_KEY, Part, part_rows

BOM = "\ufeff"


def _part_csv(part: Part, rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([column.header for column in part.columns])
    for record in rows:
        writer.writerow([csv_value(record.get(column.key), column.kind) for column in part.columns])
    return buffer.getvalue().encode("utf-8")


def _about_csv(meta: dict[str, Any]) -> bytes:
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["项目", ABOUT_TITLE])
    for key, label in ABOUT_ROWS:
        writer.writerow([label, as_text(meta.get(key) or "")])
    return buffer.getvalue().encode("utf-8")


def csv_write(content: dict[str, Any], path: Path, *, part: str = "") -> None:
    if part:
        path.write_bytes(_part_csv(PARTS_BY_KEY[part], part_rows(content, PARTS_BY_KEY[part])))
        return
    moment = as_datetime(content["meta"]["cut_off"])
    stamp = moment.timetuple()[:6] if moment else (2000, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        files = [("00_about.csv", _about_csv(content["meta"]))]
        files += [(f"{i:02d}_{p.key}.csv", _part_csv(p, part_rows(content, p))) for i, p in enumerate(PARTS, 1)]
        for name, data in files:
            # The snapshot's cut-off as every member's time: the same snapshot gives the same archive.
            info = zipfile.ZipInfo(name, date_time=stamp)  # type: ignore[arg-type]
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
