"""Reads of indicators and targets, and of measures together with them (the measure detail nests its
indicators, and only this layer may know both). Each returns an optimised queryset; see `measures.selectors`.
"""

from django.db.models import Prefetch, QuerySet

from indicators.models import Indicator, Target
from measures.models import Measure
from measures.selectors import measure_with_tasks_list


def indicator_list() -> QuerySet[Indicator]:
    """Indicators with plan, measure, task (and its measure, for the task code), lead body and their targets
    (each with its region), in plan order: measure number, then the indicator's own order.
    """
    targets = Target.objects.select_related("region").order_by("code")
    return (
        Indicator.objects.select_related("plan", "measure", "task__measure", "lead_body")
        .prefetch_related(Prefetch("targets", queryset=targets))
        .order_by("plan__issued_on", "plan__code", "measure__number", "sort_order", "code")
    )


def target_list() -> QuerySet[Target]:
    """Targets with their indicator, its plan, and the region (empty: province-wide), in indicator order."""
    return Target.objects.select_related("indicator__plan", "region").order_by(
        "indicator__plan__issued_on",
        "indicator__plan__code",
        "indicator__measure__number",
        "indicator__sort_order",
        "indicator__code",
        "code",
    )


def measure_detail_list() -> QuerySet[Measure]:
    """Measures with their tasks and every responsibility (see `measure_with_tasks_list`) and their indicators
    with targets: a fixed number of queries for one measure or all of them.
    """
    return measure_with_tasks_list().prefetch_related(Prefetch("indicators", queryset=indicator_list()))
