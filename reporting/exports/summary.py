"""The written summary of a supervision report: Chinese sentences generated from the report's own figures
by fixed templates. Each sentence carries the keys of the figures it states (`refs`), so an auditor can
trace every number in the text to a row of the tables (the 数据键 column) and to the snapshot.

Pure functions of the content: the same snapshot always gives the same sentences."""

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

STATUS_WORDS = (
    ("achieved", "已完成"),
    ("on_track", "进度正常"),
    ("at_risk", "存在风险"),
    ("off_track", "明显滞后"),
    ("no_data", "暂无数据"),
)
SUPERVISION_CATEGORIES = ("逾期未报", "已退回", "明显滞后", "存在风险", "低于全省水平")


def number_text(value: Any, decimals: int = 0) -> str:
    """A figure as the text states it: rounded half up to the indicator's decimals."""
    if value is None:
        return "—"
    exponent = Decimal(1).scaleb(-decimals) if decimals > 0 else Decimal(1)
    return format(Decimal(str(value)).quantize(exponent, rounding=ROUND_HALF_UP), "f")


def _unit(unit: str) -> str:
    return unit or ""


def _sentence(text: str, refs: list[str]) -> dict[str, Any]:
    return {"text": text, "refs": refs}


def _target_sentence(key: str, f: dict[str, Any]) -> str:
    unit = _unit(f.get("unit", ""))
    decimals = int(f.get("decimals") or 0)
    if f.get("kind") == "milestone":
        done = f.get("status") == "achieved"
        return f"{f['label']}：{'已完成' if done else '尚未完成'}（{f['deadline']}），{f['status_label']}。"
    # A per-year target is judged on the year so far; the target itself is stated exactly as the plan does.
    so_far = "年初至今" if f.get("per_year") else ""
    text = (
        f"全省{f['label']}{so_far}为 {number_text(f['value'], decimals)}{unit}，"
        f"目标{f['comparator']} {f['target']}{unit}（{f['deadline']}）"
    )
    if f.get("completion_pct") is not None:
        text += f"，完成 {number_text(f['completion_pct'], 1)}%"
    text += f"，{f['status_label']}"
    expected, reported = f.get("expected_count"), f.get("reported")
    if expected and reported is not None and reported < expected:
        who = "个责任单位" if f.get("indicator_reporter") == "body" else "个设区市"
        text += f"（基于 {reported}/{expected} {who}已确认数据）"
    return text + "。"


def _lagging_sentence(key: str, content: dict[str, Any]) -> dict[str, Any] | None:
    lag = content.get("lagging", {}).get(key)
    figures = content["figures"]
    if not lag or not lag["compared"]:
        return None
    target = figures[key]
    decimals = int(target.get("decimals") or 0)
    unit = _unit(target.get("unit", ""))
    province = figures.get(lag["province"], {})
    below_word = "高于" if lag.get("lower_is_better") else "低于"
    whole = f"全省 {number_text(province.get('value'), decimals)}{unit}"
    if content["meta"]["audience"] == "cities":
        keys = lag["compared"]
        parts = []
        for city_key in keys:
            city = figures[city_key]
            verdict = f"{below_word}全省水平" if city_key in lag["behind"] else f"不{below_word}全省水平"
            parts.append(f"{city['region']}为 {number_text(city['value'], decimals)}{unit}，{verdict}")
        return _sentence("；".join(parts) + f"（{whole}）。", [lag["province"], *keys])
    behind = lag["behind"]
    if not behind:
        return _sentence(
            f"纳入比较的 {len(lag['compared'])} 个设区市{target['label']}均不{below_word}全省水平（{whole}）。",
            [lag["province"], *lag["compared"]],
        )
    ordered = sorted(
        behind,
        key=lambda k: Decimal(figures[k]["value"]) * (-1 if lag.get("lower_is_better") else 1),
    )
    named = "、".join(f"{figures[k]['region']}（{number_text(figures[k]['value'], decimals)}{unit}）" for k in ordered)
    return _sentence(
        f"{target['label']}{below_word}全省水平（{whole}）的有{named}等 {len(behind)} 市。",
        [lag["province"], *ordered],
    )


def summary_sentences(content: dict[str, Any]) -> list[dict[str, Any]]:
    meta = content["meta"]
    figures = content["figures"]
    out = [
        _sentence(
            f"本报告依据截至 {meta['cut_off'][:16].replace('T', ' ')} 省级已确认的数据及其汇总结果生成"
            f"（汇总规则版本 {meta['rule_version']}），报告期为{meta['period_label']}，范围：{meta['scope_text']}。",
            ["meta"],
        )
    ]
    status = figures["status:targets"]
    if status["total"]:
        counts = "、".join(f"{word} {status[key]} 项" for key, word in STATUS_WORDS)
        out.append(_sentence(f"纳入评价的 {status['total']} 项目标中，{counts}。", ["status:targets"]))
    no_data = []
    for row in content["parts"]["targets"]:
        key = row["key"]
        entry = figures[key]
        if entry.get("value") is None and entry.get("status") == "no_data":
            no_data.append(key)
            continue
        out.append(_sentence(_target_sentence(key, entry), [key]))
        lagging = _lagging_sentence(key, content)
        if lagging is not None:
            out.append(lagging)
    if no_data:
        names = "、".join(figures[k]["label"] for k in no_data)
        out.append(_sentence(f"以下 {len(no_data)} 项目标暂无省级已确认数据：{names}。", no_data))
    for period_key in sorted(k for k in figures if k.startswith("completeness:")):
        c = figures[period_key]
        if not c["expected"]:
            continue
        out.append(
            _sentence(
                f"{period_key.split(':', 1)[1]} 应报 {c['expected']} 个填报主体，已报 {c['received']} 个"
                f"（按时 {c['on_time']} 个、逾期 {c['late']} 个），其中省级已确认 {c['confirmed']} 个；"
                f"未报 {c['missing']} 个，其中已过截止日期 {c['overdue']} 个。",
                [period_key],
            )
        )
    supervision = figures["supervision"]
    if supervision["total"]:
        counts = "、".join(f"{cat} {supervision[cat]} 项" for cat in SUPERVISION_CATEGORIES if supervision.get(cat))
        out.append(_sentence(f"督办清单共 {supervision['total']} 项：{counts}。", ["supervision"]))
    else:
        out.append(_sentence("本期没有需要督办的事项。", ["supervision"]))
    changes = figures["changes"]
    out.append(
        _sentence(
            f"报表提交后共有 {changes['value_changes']} 处数值修改（涉及 {changes['revised_submissions']} 份报表），"
            f"退回 {changes['returned']} 次，省级确认后重新打开 {changes['reopened']} 次。",
            ["changes"],
        )
    )
    out.append(
        _sentence(f"已确认报表附佐证材料 {figures['evidence']['count']} 份，每份均记录 SHA-256 校验值。", ["evidence"])
    )
    return out
