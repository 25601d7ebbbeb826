"""What the dashboards keep in the read cache that is the same for every reader, and its warming.

The overview's judged part (the status grid, every province target judged against its trajectory, the
lagging ones) depends on the figures, the plan, the period and the basis only: it is kept once per figures'
version and language, rendered, for every province reader. A rollup that changed figures asks for it to be
computed again at once (`overview_warm`, run by the read-cache warm task), so the first reader after a
rollup does not pay for it."""

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

from measures.models import Plan
from reporting.models import Figure, Period
from reporting.read_cache import read_cached, read_key, read_version
from reporting.selectors.dashboards import overview_judged, periods_ended, plan_default
from reporting.status import STATUS_LABELS, Status


def overview_judged_key(*, plan: Plan, period: Period, basis: str, version: str) -> str:
    return read_key("overview", plan.pk, period.pk, basis, version)


def overview_judged_kept(*, plan: Plan, periods: list[Period], period: Period, basis: str, version: str) -> tuple:
    """(judged, rendered fragments) of the overview, from the read cache or computed and kept."""
    key = overview_judged_key(plan=plan, period=period, basis=basis, version=version)
    return read_cached(key, lambda: _overview_judged(plan=plan, periods=periods, period=period, basis=basis))


def _overview_judged(*, plan: Plan, periods: list[Period], period: Period, basis: str) -> tuple:
    judged = overview_judged(plan=plan, period=period, basis=basis)
    # The fragments read only what `judged` holds and the reader-independent frame (no reader, no request).
    context = {
        "periods": periods,
        "period": period,
        "basis": basis,
        "is_preview": basis == Figure.Basis.PREVIEW,
        "status_choices": [(s.value, STATUS_LABELS[s]) for s in Status],
        "plan": plan,
        "judged": judged,
        "off_track": judged.off_track,
    }
    fragments = {
        "judged": render_to_string("dashboards/_overview_judged.html", context),
        "off_track": render_to_string("dashboards/_overview_off_track.html", context),
    }
    return judged, fragments


def overview_warm(*, plan_id: int) -> bool:
    """Keep the overview's judged part of the plan's default period (the latest ended quarter, what the
    overview opens on), official basis, in the default language, for the figures' current version. False
    when the plan is not the one the dashboards show or no quarter has ended."""
    plan = plan_default()
    periods = periods_ended()
    if plan is None or plan.pk != plan_id or not periods:
        return False
    with translation.override(settings.LANGUAGE_CODE):
        overview_judged_kept(
            plan=plan,
            periods=periods,
            period=periods[0],
            basis=Figure.Basis.OFFICIAL,
            version=read_version(plan_id=plan.pk),
        )
    return True
