"""Writes of indicators and targets.

`plan_indicators_load` writes a plan's indicators and the targets the plan sets for them, from data
checked by `indicators.plan_source.plan_indicators_read`. Like `measures.services.plan_load` it matches
rows by natural key (indicator code within the plan, target code within the indicator) and saves a row
only when a field differs, so loading the same data twice writes nothing.
"""

from collections.abc import Iterable

from django.db import transaction

from indicators.models import Indicator, Target
from indicators.plan_source import PLAN_SOURCES, IndicatorData
from measures.models import Measure, Plan, Region, ResponsibleBody, Task
from measures.services import LoadReport, by_key, rows_sync


@transaction.atomic
def plan_indicators_load(*, plan: Plan, indicators: Iterable[IndicatorData], report: LoadReport) -> LoadReport:
    indicators = tuple(indicators)
    reason = f"load_plan {plan.code}"
    measures = by_key(Measure.objects.filter(plan=plan), lambda m: m.number)
    tasks = by_key(
        Task.objects.filter(measure__plan=plan).select_related("measure"), lambda t: (t.measure.number, t.number)
    )
    bodies = by_key(
        ResponsibleBody.objects.filter(code__in={i.lead_body for i in indicators if i.lead_body}), lambda b: b.code
    )
    regions = by_key(
        Region.objects.filter(code__in={t.region for i in indicators for t in i.targets if t.region}),
        lambda r: r.code,
    )

    saved = rows_sync(
        model=Indicator,
        existing=by_key(Indicator.objects.filter(plan=plan), lambda i: i.code),
        wanted={
            i.code: {
                "plan_id": plan.pk,
                "code": i.code,
                "name": i.name,
                "name_en": i.name_en,
                "definition": i.definition,
                "kind": i.kind,
                "unit": i.unit,
                "unit_en": i.unit_en,
                "scale": i.scale,
                "decimals": i.decimals,
                "numerator_label": i.numerator_label,
                "denominator_label": i.denominator_label,
                "measure_id": measures[i.measure].pk,
                "task_id": tasks[(i.measure, i.task)].pk if i.task else None,
                "is_supporting": i.is_supporting,
                "reporter": i.reporter,
                "lead_body_id": bodies[i.lead_body].pk if i.lead_body else None,
                "sort_order": i.sort_order,
            }
            for i in indicators
        },
        counts=report["indicators"],
        reason=reason,
        label=lambda code: f"indicator {code}",
    )
    # Targets the coordinators add (apportioned to a city, or set by them) are theirs, not the plan's: the
    # loader neither touches them nor counts them as stale.
    existing_targets = by_key(
        Target.objects.filter(indicator__plan=plan, source__in=PLAN_SOURCES).select_related("indicator"),
        lambda t: (t.indicator.code, t.code),
    )
    rows_sync(
        model=Target,
        existing=existing_targets,
        wanted={
            (i.code, t.code): {
                "indicator_id": saved[i.code].pk,
                "code": t.code,
                "region_id": regions[t.region].pk if t.region else None,
                "value": t.value,
                "comparator": t.comparator,
                "tolerance": t.tolerance,
                "deadline": t.deadline,
                "per_year": t.per_year,
                "baseline_value": t.baseline_value,
                "baseline_year": t.baseline_year,
                "clause": t.clause,
                "source": t.source,
                "note": t.note,
            }
            for i in indicators
            for t in i.targets
        },
        counts=report["targets"],
        reason=reason,
        label=lambda key: f"target {key[0]}/{key[1]}",
    )
    return report
