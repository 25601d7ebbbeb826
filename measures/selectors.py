"""Reads of the plan: each function returns an optimised queryset or object, never touches HTTP.

Prefetches use ordered querysets so templates and serializers see the plan's own order without
sorting in Python, and so the number of queries does not grow with the number of rows.
"""

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from measures.models import Measure, Plan, Programme, Region, Responsibility, ResponsibleBody, Task


def plan_list() -> QuerySet[Plan]:
    """All plans, oldest first (the order the plans were issued in)."""
    return Plan.objects.order_by("issued_on", "code")


def plan_structure_list() -> QuerySet[Plan]:
    """Plans with their sections (总体要求, 组织实施) and programmes → measures, each level in plan order.

    Four queries whatever the number of plans, programmes or measures.
    """
    return plan_list().prefetch_related("sections", _programmes_with_measures())


def plan_structure_get(*, plan_code: str | None = None) -> Plan | None:
    """The plan with its programmes and their measures, prefetched in three queries.

    With no code, the first plan by issue date (the portal tracks one plan). Returns None when there is
    no such plan. Templates may loop `plan.programmes.all` → `programme.measures.all` with no further
    queries; both are in plan order (programme number, measure number).
    """
    plans = plan_list().prefetch_related(_programmes_with_measures())
    if plan_code is not None:
        plans = plans.filter(code=plan_code)
    return plans.first()


def _programmes_with_measures() -> Prefetch:
    measures = Measure.objects.order_by("number")
    programmes = Programme.objects.order_by("number").prefetch_related(Prefetch("measures", queryset=measures))
    return Prefetch("programmes", queryset=programmes)


def programme_list() -> QuerySet[Programme]:
    """Programmes with their plan and their measures (in number order)."""
    return (
        Programme.objects.select_related("plan")
        .prefetch_related(Prefetch("measures", queryset=Measure.objects.order_by("number")))
        .order_by("plan__issued_on", "plan__code", "number")
    )


def responsibility_list() -> QuerySet[Responsibility]:
    """Responsibilities with their body, leads first, then by body code."""
    return Responsibility.objects.select_related("body").order_by("role", "body__code")


def measure_list() -> QuerySet[Measure]:
    """Measures with plan, programme and the measure-level responsibilities in `measure_responsibilities`.

    Task-level responsibilities are left to `measure_detail_list` and `task_list`: the list answers who
    answers for the measure as a whole.
    """
    return (
        Measure.objects.select_related("plan", "programme")
        .prefetch_related(
            Prefetch(
                "responsibilities",
                queryset=responsibility_list().filter(task__isnull=True),
                to_attr="measure_responsibilities",
            )
        )
        .order_by("plan__issued_on", "plan__code", "number")
    )


def measure_with_tasks_list() -> QuerySet[Measure]:
    """`measure_list` plus the tasks (in number order), each with its responsibilities."""
    tasks = Task.objects.order_by("number").prefetch_related(
        Prefetch("responsibilities", queryset=responsibility_list())
    )
    return measure_list().prefetch_related(Prefetch("tasks", queryset=tasks))


def task_list() -> QuerySet[Task]:
    """Tasks with their measure and plan (the task code needs the measure's number) and responsibilities."""
    return (
        Task.objects.select_related("measure__plan")
        .prefetch_related(Prefetch("responsibilities", queryset=responsibility_list()))
        .order_by("measure__plan__issued_on", "measure__plan__code", "measure__number", "number")
    )


def responsibility_exists(
    *, outer: str, body: ResponsibleBody | None = None, is_proposed: bool | None = None
) -> Exists:
    """An `Exists` for filtering measures (`outer="measure"`) or tasks (`outer="task"`) by who answers for them.

    For a measure it counts a body in any role, for the measure as a whole or for one of its tasks; with
    `is_proposed`, only assignments still proposed (True) or confirmed (False). Both conditions hold on the
    same responsibility, so "body X, still proposed" means X's own assignment is the proposed one.
    """
    responsibilities = Responsibility.objects.filter(**{outer: OuterRef("pk")})
    if body is not None:
        responsibilities = responsibilities.filter(body=body)
    if is_proposed is not None:
        responsibilities = responsibilities.filter(is_proposed=is_proposed)
    return Exists(responsibilities)


def body_list() -> QuerySet[ResponsibleBody]:
    """Responsible bodies by code."""
    return ResponsibleBody.objects.order_by("code")


def region_list() -> QuerySet[Region]:
    """Regions with their parent, in the official order (province, then the cities in their usual order)."""
    return Region.objects.select_related("parent").order_by("sort_order", "code")
