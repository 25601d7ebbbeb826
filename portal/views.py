"""Server-rendered pages of the portal. Views read through selectors and hand plain objects to templates."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from measures.models import PlanSection
from measures.selectors import plan_structure_get


def home(request: HttpRequest) -> HttpResponse:
    """The plan as a public document: its general requirements, programmes, measures and 组织实施."""
    plan = plan_structure_get()
    context: dict[str, object] = {"plan": plan}
    if plan is not None:
        sections = sorted(plan.sections.all(), key=lambda section: section.number)
        context.update(
            {
                "guiding_ideas": [s for s in sections if s.kind == PlanSection.Kind.GUIDING_IDEA],
                "principles": [s for s in sections if s.kind == PlanSection.Kind.PRINCIPLE],
                "goals": [s for s in sections if s.kind == PlanSection.Kind.GOAL],
                "implementation_items": [s for s in sections if s.kind == PlanSection.Kind.IMPLEMENTATION],
                "programmes": plan.programmes.all(),
                "measure_total": sum(len(programme.measures.all()) for programme in plan.programmes.all()),
            }
        )
    return render(request, "portal/home.html", context)
