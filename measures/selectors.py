"""Reads of the plan: each function returns an optimised queryset or object, never touches HTTP.

Prefetches use ordered querysets so templates and serializers see the plan's own order without
sorting in Python, and so the number of queries does not grow with the number of rows.
"""

from django.db.models import Prefetch, QuerySet

from measures.models import Measure, Plan, Programme


def plan_list() -> QuerySet[Plan]:
    """All plans, oldest first (the order the plans were issued in)."""
    return Plan.objects.order_by("issued_on", "code")


def plan_structure_get(*, plan_code: str | None = None) -> Plan | None:
    """The plan with its programmes and their measures, prefetched in three queries.

    With no code, the first plan by issue date (the portal tracks one plan). Returns None when there is
    no such plan. Templates may loop `plan.programmes.all` → `programme.measures.all` with no further
    queries; both are in plan order (programme number, measure number).
    """
    measures = Measure.objects.order_by("number")
    programmes = Programme.objects.order_by("number").prefetch_related(Prefetch("measures", queryset=measures))
    plans = plan_list().prefetch_related(Prefetch("programmes", queryset=programmes))
    if plan_code is not None:
        plans = plans.filter(code=plan_code)
    return plans.first()
