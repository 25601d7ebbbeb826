"""The parts (tables) of a supervision report and their columns.

A 督查 report is an official Chinese document: its headers are fixed Chinese text whatever language the
reader's interface is in. Units sit in the header; where a column mixes indicators with different units,
the header points to the unit column. Each column has a kind so that writers store numbers as numbers,
dates as dates, and only text is neutralised against formula injection."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str = "text"  # text | number | int | date | datetime
    width: int = 14


@dataclass(frozen=True)
class Part:
    key: str
    title: str  # the sheet name (at most 31 characters) and the section heading
    columns: tuple[Column, ...]
    # The columns a printed page has room for (A4 landscape); None: all of them.
    pdf_columns: tuple[str, ...] | None = None

    def columns_for_pdf(self) -> tuple[Column, ...]:
        if self.pdf_columns is None:
            return self.columns
        by_key = {c.key: c for c in self.columns}
        return tuple(by_key[k] for k in self.pdf_columns)


def _c(key: str, header: str, kind: str = "text", width: int = 14) -> Column:
    return Column(key=key, header=header, kind=kind, width=width)


MIXED = "（单位见“计量单位”列）"

SUMMARY = Part(
    "summary",
    "文字摘要",
    (
        _c("number", "序号", "int", 6),
        _c("text", "内容", width=90),
        _c("refs", "数据依据（数据键）", width=50),
    ),
)
PLAN_STATUS = Part(
    "plan_status",
    "工程与举措进展",
    (
        _c("programme_number", "工程序号", "int", 8),
        _c("programme", "工程", width=24),
        _c("programme_status", "工程状态", width=10),
        _c("measure_number", "举措序号", "int", 8),
        _c("measure", "举措", width=30),
        _c("measure_status", "举措状态", width=10),
        _c("targets", "目标数（项）", "int", 10),
        _c("achieved", "已完成（项）", "int", 10),
        _c("on_track", "进度正常（项）", "int", 10),
        _c("at_risk", "存在风险（项）", "int", 10),
        _c("off_track", "明显滞后（项）", "int", 10),
        _c("no_data", "暂无数据（项）", "int", 10),
        _c("lead_bodies", "牵头单位", width=24),
    ),
)
TARGETS = Part(
    "targets",
    "目标进展",
    (
        _c("key", "数据键", width=30),
        _c("measure_number", "举措序号", "int", 8),
        _c("indicator_code", "指标代码", width=24),
        _c("indicator", "指标", width=30),
        _c("unit", "计量单位", width=10),
        _c("comparator", "比较方式", width=8),
        _c("target", "目标值" + MIXED, "number"),
        _c("deadline", "期限", width=12),
        _c("actual", "实际值" + MIXED, "number"),
        _c("expected", "序时应达值" + MIXED, "number"),
        _c("gap", "差距（实际−应达）" + MIXED, "number"),
        _c("needed_per_quarter", "每季度尚需" + MIXED, "number"),
        _c("projected", "期末预计值" + MIXED, "number"),
        _c("completion_pct", "完成率（%）", "number", 10),
        _c("status", "状态", width=10),
        _c("reported", "已报（个）", "int", 8),
        _c("expected_count", "应报（个）", "int", 8),
        _c("lead_bodies", "牵头单位", width=20),
        _c("clause", "原文条款", width=50),
    ),
    pdf_columns=(
        "key",
        "indicator",
        "unit",
        "comparator",
        "target",
        "deadline",
        "actual",
        "expected",
        "gap",
        "projected",
        "completion_pct",
        "status",
        "lead_bodies",
    ),
)
FIGURES = Part(
    "figures",
    "各地数据",
    (
        _c("key", "数据键", width=36),
        _c("measure_number", "举措序号", "int", 8),
        _c("indicator_code", "指标代码", width=24),
        _c("indicator", "指标", width=30),
        _c("kind", "汇总方式", width=8),
        _c("region_code", "地区代码", width=10),
        _c("region", "地区", width=10),
        _c("unit", "计量单位", width=10),
        _c("value", "数值" + MIXED, "number"),
        _c("numerator", "分子（口径见“分子口径”列）", "number"),
        _c("denominator", "分母（口径见“分母口径”列）", "number"),
        _c("numerator_label", "分子口径", width=24),
        _c("denominator_label", "分母口径", width=24),
        _c("done_count", "已完成（个）", "int", 8),
        _c("reported", "已报（个）", "int", 8),
        _c("expected_count", "应报（个）", "int", 8),
        _c("coverage", "数据覆盖说明", width=40),
    ),
    pdf_columns=("key", "indicator", "region", "unit", "value", "numerator", "denominator", "done_count", "coverage"),
)
COMPLETENESS = Part(
    "completeness",
    "报送情况",
    (
        _c("period", "填报期", width=10),
        _c("reporter_kind", "填报主体类别", width=12),
        _c("reporter", "填报主体", width=20),
        _c("status", "报表状态", width=12),
        _c("timeliness", "报送及时性", width=10),
        _c("deadline", "截止日期", "date", 12),
        _c("submitted_at", "提交时间", "datetime", 18),
        _c("days_late", "逾期（天）", "int", 10),
    ),
)
SUPERVISION = Part(
    "supervision",
    "督办清单",
    (
        _c("category", "类别", width=12),
        _c("subject", "事项", width=40),
        _c("period", "填报期", width=10),
        _c("responsible", "责任单位", width=24),
        _c("detail", "情况说明", width=60),
        _c("days_late", "逾期（天）", "int", 10),
        _c("key", "数据键", width=30),
    ),
)
CHANGES = Part(
    "changes",
    "变更记录",
    (
        _c("at", "时间", "datetime", 18),
        _c("period", "填报期", width=10),
        _c("reporter", "填报主体", width=16),
        _c("user", "操作人", width=14),
        _c("kind", "类别", width=8),
        _c("action", "操作", width=12),
        _c("subject", "指标", width=24),
        _c("field", "字段", width=10),
        _c("old", "原值", width=16),
        _c("new", "新值", width=16),
        _c("reason", "原因", width=40),
    ),
)
EVIDENCE = Part(
    "evidence",
    "佐证材料",
    (
        _c("period", "填报期", width=10),
        _c("reporter", "填报主体", width=16),
        _c("measure_number", "举措序号", "int", 8),
        _c("indicator_code", "指标代码", width=24),
        _c("file_name", "文件名", width=30),
        _c("size", "大小（字节）", "int", 12),
        _c("sha256", "SHA-256", width=66),
        _c("uploaded_by", "上传人", width=14),
        _c("uploaded_at", "上传时间", "datetime", 18),
        _c("description", "说明", width=30),
    ),
)

PARTS: tuple[Part, ...] = (SUMMARY, PLAN_STATUS, TARGETS, FIGURES, COMPLETENESS, SUPERVISION, CHANGES, EVIDENCE)
PARTS_BY_KEY = {p.key: p for p in PARTS}
# The about sheet (报告说明): label/value pairs from content["meta"].
ABOUT_TITLE = "报告说明"
ABOUT_ROWS = (
    ("title", "报告名称"),
    ("plan", "方案"),
    ("period_label", "报告期"),
    ("scope_text", "范围"),
    ("audience_text", "数据可见范围"),
    ("basis", "数据口径"),
    ("cut_off", "数据截止时间"),
    ("rule_version", "汇总规则版本"),
    ("figures_computed_at", "汇总数据计算时间"),
    ("snapshot", "快照编号"),
    ("content_sha256", "快照内容 SHA-256"),
)


def part_rows(content: dict[str, Any], part: Part) -> list[dict[str, Any]]:
    """The rows of one part; the summary's sentences are rows too (their references joined)."""
    if part.key == SUMMARY.key:
        return [
            {"number": i, "text": s["text"], "refs": "、".join(s["refs"])}
            for i, s in enumerate(content.get("summary", []), start=1)
        ]
    return content.get("parts", {}).get(part.key, [])
