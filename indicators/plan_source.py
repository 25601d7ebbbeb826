"""Reading a plan directory's indicator file (see `measures.plan_source` for the rest of the directory).

`plan_indicators_read` checks every indicator and target against the plan's own text and data before
anything is written: the measure and task exist, the lead body is known, a ratio has its numerator and
denominator, a supporting indicator carries no target, and every target's clause occurs word for word in
its measure's text. It raises one ValidationError listing every problem, each naming file and item.
"""

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from measures.plan_source import PlanSource, Problems, duplicates, mappings, optional_date, required

KINDS = ("stock", "flow", "ratio", "share", "milestone")
REPORTERS = ("city", "body", "both")
COMPARATORS = ("gte", "lte", "approx")
SOURCES = ("quoted", "commitment", "apportioned", "set")
# Targets that are the plan's own words; the rest (apportioned, set) are the coordinators'.
PLAN_SOURCES = ("quoted", "commitment")


@dataclass(frozen=True)
class TargetData:
    code: str
    value: Decimal
    comparator: str
    tolerance: Decimal
    deadline: datetime.date | None
    per_year: bool
    baseline_value: Decimal | None
    baseline_year: int | None
    clause: str
    source: str
    note: str
    region: str | None


@dataclass(frozen=True)
class IndicatorData:
    code: str
    measure: int
    task: int | None
    name: str
    name_en: str
    definition: str
    kind: str
    unit: str
    unit_en: str
    scale: Decimal
    decimals: int
    numerator_label: str
    denominator_label: str
    is_supporting: bool
    reporter: str
    lead_body: str | None
    sort_order: int
    targets: tuple[TargetData, ...]


def decimal_read(value: Any, where: str, key: str, problems: Problems) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        problems.add(where, f"“{key}” must be a number, not {value!r}")
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        problems.add(where, f"“{key}” must be a number, not {value!r}")
        return None
    if not number.is_finite():
        problems.add(where, f"“{key}” must be a finite number, not {value!r}")
        return None
    return number


def plan_indicators_read(*, source: PlanSource) -> tuple[IndicatorData, ...]:
    """Check the plan's indicators and targets against its text and data; raise ValidationError if any fail."""
    problems = Problems()
    name = source.indicators_file
    entries = source.indicators
    for code in duplicates([entry.get("code") for entry in entries]):
        problems.add(name, f"indicator code “{code}” is listed twice")
    target_codes = [t.get("code") for entry in entries for t in mappings(entry, "targets", name, Problems())]
    for code in duplicates(target_codes):
        problems.add(name, f"target code “{code}” is listed twice")

    indicators = []
    for order, entry in enumerate(entries, start=1):
        indicator = indicator_read(entry, order, source, name, problems)
        if indicator is not None:
            indicators.append(indicator)
    problems.raise_if_any()
    return tuple(indicators)


def indicator_read(
    entry: dict[str, Any], order: int, source: PlanSource, name: str, problems: Problems
) -> IndicatorData | None:
    code = str(entry.get("code") or "")
    where = f"{name}: indicator “{code or order}”"
    if not re.fullmatch(r"[-a-z0-9_]+", code):
        problems.add(where, "code must be a slug (a-z, 0-9, - and _)")
    measure = source.measure(entry.get("measure"))  # type: ignore[arg-type]
    if measure is None:
        problems.add(where, f"measure {entry.get('measure')!r} is not in the plan")
        return None
    task = entry.get("task")
    if task is not None and task not in {t.number for t in measure.tasks}:
        problems.add(where, f"task {task!r} is not a task of measure {measure.number}")
    kind = entry.get("kind")
    if kind not in KINDS:
        problems.add(where, f"kind “{kind}” is not one of {', '.join(KINDS)}")
    reporter = entry.get("reporter") or "city"
    if reporter not in REPORTERS:
        problems.add(where, f"reporter “{reporter}” is not one of {', '.join(REPORTERS)}")
    lead_body = entry.get("lead_body")
    if lead_body is not None and lead_body not in source.body_codes:
        problems.add(where, f"unknown body code “{lead_body}”")
    if reporter in ("body", "both") and not lead_body:
        problems.add(where, "an indicator a body reports needs a lead_body")
    numerator = (entry.get("numerator") or "").strip()
    denominator = (entry.get("denominator") or "").strip()
    if kind in ("ratio", "share") and not (numerator and denominator):
        problems.add(where, f"a {kind} needs both a numerator and a denominator")
    default_scale = 100 if kind == "share" else 1
    scale = decimal_read(entry.get("scale", default_scale), where, "scale", problems) or Decimal(default_scale)
    if scale <= 0:
        problems.add(where, "scale must be positive")
    if kind == "share" and scale != 100:
        problems.add(where, "a share is a percentage: its scale must be 100")
    decimals = entry.get("decimals", 0)
    if not isinstance(decimals, int) or decimals < 0:
        problems.add(where, "decimals must be a whole number ≥ 0")
        decimals = 0
    supporting = entry.get("supporting", False)
    if not isinstance(supporting, bool):
        problems.add(where, "supporting must be true or false")
    target_entries = mappings(entry, "targets", where, problems)
    if supporting and target_entries:
        problems.add(where, "a supporting indicator is not a plan target and carries no targets")
    targets = tuple(
        target
        for target_entry in target_entries
        if (
            target := target_read(
                target_entry,
                kind=kind,
                measure_text=measure.text,
                measure_number=measure.number,
                source=source,
                indicator_where=where,
                problems=problems,
            )
        )
    )
    return IndicatorData(
        code=code,
        measure=measure.number,
        task=task,
        name=required(entry, "name", where, problems),
        name_en=required(entry, "name_en", where, problems),
        definition=required(entry, "definition", where, problems),
        kind=kind or "",
        unit=str(entry.get("unit") or ""),
        unit_en=str(entry.get("unit_en") or ""),
        scale=scale,
        decimals=decimals,
        numerator_label=numerator,
        denominator_label=denominator,
        is_supporting=bool(supporting),
        reporter=reporter,
        lead_body=lead_body,
        sort_order=order,
        targets=targets,
    )


def target_read(
    entry: dict[str, Any],
    *,
    kind: str | None,
    measure_text: str,
    measure_number: int,
    source: PlanSource,
    indicator_where: str,
    problems: Problems,
) -> TargetData | None:
    code = str(entry.get("code") or "")
    where = f"{indicator_where}, target “{code}”"
    if not re.fullmatch(r"[-a-z0-9_]+", code):
        problems.add(where, "code must be a slug (a-z, 0-9, - and _)")
    value = decimal_read(entry.get("value"), where, "value", problems)
    if value is None:
        problems.add(where, "“value” is missing")
        return None
    comparator = entry.get("comparator")
    if comparator not in COMPARATORS:
        problems.add(where, f"comparator “{comparator}” is not one of {', '.join(COMPARATORS)}")
    tolerance = decimal_read(entry.get("tolerance", 10), where, "tolerance", problems)
    if tolerance is None or tolerance < 0:
        problems.add(where, "tolerance must be a number ≥ 0")
        tolerance = Decimal(10)
    deadline = optional_date(entry, "deadline", where, problems)
    per_year = entry.get("per_year", False)
    if not isinstance(per_year, bool):
        problems.add(where, "per_year must be true or false")
        per_year = False
    if per_year and deadline:
        problems.add(where, "a per-year target has no deadline")
    if kind == "milestone" and (value != 1 or comparator != "gte"):
        problems.add(where, "a milestone target is value 1, comparator gte (done)")
    clause = required(entry, "clause", where, problems)
    if clause and clause not in measure_text:
        problems.add(where, f"clause is not in measure {measure_number}'s text: “{clause}”")
    target_source = entry.get("source") or "quoted"
    if target_source not in SOURCES:
        problems.add(where, f"source “{target_source}” is not one of {', '.join(SOURCES)}")
    baseline_value = decimal_read(entry.get("baseline_value"), where, "baseline_value", problems)
    baseline_year = entry.get("baseline_year")
    if (baseline_value is None) != (baseline_year is None):
        problems.add(where, "baseline_value and baseline_year go together")
    region = entry.get("region")
    if region is not None:
        region = str(region)
        if region not in source.region_codes:
            problems.add(where, f"region {region} is not in the plan's region list")
    return TargetData(
        code=code,
        value=value,
        comparator=comparator or "",
        tolerance=tolerance,
        deadline=deadline,
        per_year=per_year,
        baseline_value=baseline_value,
        baseline_year=baseline_year,
        clause=clause,
        source=target_source,
        note=(entry.get("note") or "").strip(),
        region=region,
    )
