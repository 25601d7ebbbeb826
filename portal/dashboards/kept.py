"""What the dashboards keep in the read cache that is the same for every reader, and its warming.

The overview's judged part (the status grid, every province target judged against its trajectory, the
lagging ones) depends on the figures, the plan, the period and the basis only: it is kept once per figures'
version and language, rendered, for every province reader. A rollup that changed figures asks for it to be
computed again at once (`overview_warm`, run by the read-cache warm task), so the first reader after a
rollup does not pay for it.

An indicator page's parts (trend, targets, the cities ranked) depend on who may see which figures as well:
they are kept per visibility class, and `indicators_warm` computes those of the readers who see every figure
(coordinators, auditors) for the indicators the overview links to."""

import functools
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from indicators.models import Indicator
from measures.models import Plan
from portal.accounts.models import Role
from portal.accounts.selectors import Scope
from reporting.models import Figure, Period
from reporting.read_cache import read_cached, read_key, read_version
from reporting.selectors.dashboards import (
    Audience,
    IndicatorDetail,
    indicator_detail,
    overview_judged,
    periods_ended,
    plan_default,
)
from reporting.selectors.progress import FIGURES_VISIBLE_ALL, figures_visible_to_all
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


# -- the indicator page -------------------------------------------------------------------------------------


def indicator_key(
    *, plan_id: int, code: str, period_id: int, basis: str, province: bool, visibility: str, version: str
) -> str:
    """The key of an indicator page's parts: the page asked for, whether the reader has the province-wide
    pages (`Audience.province`) and which figures they may see (`figures_visibility`), the figures' version."""
    return read_key("indicator", plan_id, code, period_id, basis, province, visibility, version)


def indicator_parts(
    *,
    plan: Plan,
    code: str,
    period: Period,
    audience: Audience,
    user: User | AnonymousUser | None,
    basis: str,
    figures: QuerySet[Figure] | None = None,
) -> tuple[IndicatorDetail, dict, dict | None] | Literal[False]:
    """(the indicator's detail, its trend chart, its cities chart) for a reader; False for an unknown
    indicator (kept too: None would read as "not kept")."""
    data = indicator_detail(
        plan=plan, code=code, period=period, audience=audience, user=user, basis=basis, figures=figures
    )
    if data is None:
        return False
    return data, _trend_chart(data), _cities_chart(data) if data.cities else None


def indicators_warm(*, plan_id: int) -> bool:
    """Keep the parts of the indicator pages the overview links to (every active indicator with a province
    target) for the plan's default period, official basis, in the default language, as readers who see every
    figure get them (`figures_visibility` "all": coordinators and auditors, who have the province-wide
    pages), for the figures' current version. Each reader's page around them (their scope, the path) is still
    rendered by its first reader. False when the plan is not the one the dashboards show or no quarter has
    ended."""
    plan = plan_default()
    periods = periods_ended()
    if plan is None or plan.pk != plan_id or not periods:
        return False
    period = periods[0]
    # Who sees every figure: `figures_visibility` says "all" and `Audience.province` is true for each of them.
    audience = Audience(scope=Scope(roles=frozenset({Role.COORDINATOR})))
    version = read_version(plan_id=plan.pk)
    codes = (
        Indicator.objects.filter(plan=plan, is_active=True, targets__region__isnull=True)
        .order_by("code")
        .values_list("code", flat=True)
        .distinct()
    )
    with translation.override(settings.LANGUAGE_CODE):
        for code in codes:
            key = indicator_key(
                plan_id=plan.pk,
                code=code,
                period_id=period.pk,
                basis=Figure.Basis.OFFICIAL,
                province=audience.province,
                visibility=FIGURES_VISIBLE_ALL,
                version=version,
            )
            read_cached(
                key,
                functools.partial(
                    indicator_parts,
                    plan=plan,
                    code=code,
                    period=period,
                    audience=audience,
                    user=None,
                    basis=Figure.Basis.OFFICIAL,
                    figures=figures_visible_to_all(plan=plan),
                ),
            )
    return True


def _trend_chart(data: IndicatorDetail) -> dict:
    """The trend chart's series, in the shape dashboards.js hands to ECharts (numbers as strings)."""
    projection: list[str | None] = [None] * len(data.trend)
    if data.projection is not None and data.current is not None:
        codes = [p.code for p in data.trend]
        projection[codes.index(data.current.code)] = str(data.current.value)
        if data.projection[0] in codes:
            projection[codes.index(data.projection[0])] = str(data.projection[1])
    return {
        "categories": [p.code for p in data.trend],
        "unit": data.indicator.unit,
        "decimals": data.indicator.decimals,
        "series": [
            {"key": "actual", "name": _("实际值"), "data": [_text(p.value) for p in data.trend]},
            {"key": "expected", "name": _("序时进度"), "data": [_text(p.expected) for p in data.trend]},
            {"key": "projection", "name": _("预测"), "data": projection},
        ],
        "target": _text(data.target_value),
        "target_name": _("目标值"),
    }


def _cities_chart(data: IndicatorDetail) -> dict:
    return {
        "categories": [row.region.name for row in data.cities],
        "unit": data.indicator.unit,
        "decimals": data.indicator.decimals,
        "series": [{"key": "cities", "name": _("各市"), "data": [_text(row.figure.value) for row in data.cities]}],
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
