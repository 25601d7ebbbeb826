"""The dashboards: overview, measure, indicator, completeness and a city's home page.

Views parse the request (period, basis), check the role, call one selector and render. Everything
they show comes from `reporting.selectors.dashboards`; charts get their numbers through `json_script`
(the CSP forbids inline script) and the same numbers are always in a table beside them.
"""

from typing import Any, Literal

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from common.requests import AuthenticatedRequest
from measures.models import Plan
from portal.dashboards.kept import overview_judged_kept, overview_judged_key
from reporting.models import Figure, Period
from reporting.read_cache import read_cached, read_key, read_version, read_version_and_digest
from reporting.selectors.dashboards import (
    Audience,
    IndicatorDetail,
    audience_for,
    basis_for,
    cities_of,
    city_home,
    completeness_grid,
    dashboard_overview,
    indicator_detail,
    measure_detail,
    overview_submissions_sql,
    periods_ended,
    plan_default,
)
from reporting.selectors.progress import figures_visibility
from reporting.status import STATUS_LABELS, Status

COMPLETENESS_QUARTERS = 8


def _denied(request: HttpRequest, audience: Audience, message: str) -> HttpResponse:
    return render(
        request,
        "dashboards/denied.html",
        {"message": message, "audience": audience},
        status=403,
    )


def _province_only(request: HttpRequest, audience: Audience) -> HttpResponse | None:
    if audience.province:
        return None
    return _denied(
        request,
        audience,
        _("本页面仅向协调小组办公室、督查审计人员和省级责任单位开放。设区市用户请查看本市首页。"),
    )


def _period(request: HttpRequest, periods: list[Period]) -> Period | None:
    """The chosen quarter (?period=2025Q4), by default the latest that has ended. An unknown code is a 404."""
    code = request.GET.get("period", "").strip().upper()
    if not code:
        return periods[0] if periods else None
    for period in periods:
        if period.code == code:
            return period
    raise Http404


def _frame(request: HttpRequest, audience: Audience) -> tuple[Plan | None, list[Period], Period | None, str]:
    plan = plan_default()
    periods = periods_ended()
    period = _period(request, periods)
    basis = basis_for(audience=audience, requested=request.GET.get("basis"))
    return plan, periods, period, basis


def _context(audience: Audience, periods: list[Period], period: Period | None, basis: str, **extra: Any) -> dict:
    return {
        "audience": audience,
        "periods": periods,
        "period": period,
        "basis": basis,
        "is_preview": basis == Figure.Basis.PREVIEW,
        "status_choices": [(s.value, STATUS_LABELS[s]) for s in Status],
        **extra,
    }


def _empty(request: HttpRequest, audience: Audience, plan: Plan | None, periods: list[Period]) -> HttpResponse:
    return render(
        request,
        "dashboards/empty.html",
        _context(audience, periods, None, Figure.Basis.OFFICIAL, plan=plan),
    )


@login_required
@require_GET
def overview(request: AuthenticatedRequest) -> HttpResponse:
    audience = audience_for(user=request.user)
    if not audience.province and audience.city_ids:
        # A city's people have their own dashboard; the province-wide one lists other cities' work.
        return redirect("dashboards:city")
    if (denied := _province_only(request, audience)) is not None:
        return denied
    plan, periods, period, basis = _frame(request, audience)
    if plan is None or period is None:
        return _empty(request, audience, plan, periods)
    today = timezone.localdate()
    version, submissions = read_version_and_digest(
        plan_id=plan.pk, rows=overview_submissions_sql(plan_id=plan.pk, period_id=period.pk)
    )
    context = _context(audience, periods, period, basis, plan=plan, today=today)
    # What the figures say (the grid, the judged targets, the lagging ones) is the same for every province
    # reader of a period and basis: computed and rendered once per figures' version and language.
    judged_key = overview_judged_key(plan=plan, period=period, basis=basis, version=version)

    def judged() -> tuple:
        return overview_judged_kept(plan=plan, periods=periods, period=period, basis=basis, version=version)

    def overview_data(judged_parts: tuple | None = None):
        figures_part = (judged_parts or judged())[0]
        return dashboard_overview(plan=plan, period=period, audience=audience, basis=basis, judged=figures_part)

    def body() -> str:
        judged_parts = judged()
        context.update(data=overview_data(judged_parts), fragments=judged_parts[1])
        return render_to_string("dashboards/_overview_body.html", {**context, "request": request})

    # The whole body is kept too, under everything it shows: the figures (version), what it reads from the
    # submissions and checks (completeness, overdue, returned, drift: their rows read on every request, in the
    # version's query, as a digest), the periods offered, the day, the reader's scope (links they may open,
    # the preview switch), the path.
    page_key = read_key(
        "overview-page",
        judged_key,
        submissions,
        [p.code for p in periods],
        period.deadline,
        today,
        audience.scope.text(),
        request.path,
    )
    context["body"] = read_cached(page_key, body)
    if "data" not in context:  # a kept body: what it was rendered from, computed only if something asks
        context["data"] = SimpleLazyObject(overview_data)
    return render(request, "dashboards/overview.html", context)


@login_required
@require_GET
def measure(request: AuthenticatedRequest, number: int) -> HttpResponse:
    audience = audience_for(user=request.user)
    if (denied := _province_only(request, audience)) is not None:
        return denied
    plan, periods, period, basis = _frame(request, audience)
    if plan is None or period is None:
        return _empty(request, audience, plan, periods)
    data = measure_detail(plan=plan, number=number, period=period, audience=audience, user=request.user, basis=basis)
    if data is None:
        raise Http404
    return render(request, "dashboards/measure.html", _context(audience, periods, period, basis, plan=plan, data=data))


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


@login_required
@require_GET
def indicator(request: AuthenticatedRequest, code: str) -> HttpResponse:
    audience = audience_for(user=request.user)
    if not audience.any_role:
        return _denied(request, audience, _("您尚未获得任何角色授权，无法查看进展数据。请联系系统管理员。"))
    plan, periods, period, basis = _frame(request, audience)
    if plan is None or period is None:
        return _empty(request, audience, plan, periods)
    # The city breakdown follows who may see which figures; the rest is the same for every reader.
    key = read_key(
        "indicator",
        plan.pk,
        code,
        period.pk,
        basis,
        audience.province,
        figures_visibility(user=request.user),
        read_version(plan_id=plan.pk),
    )
    context = _context(audience, periods, period, basis, plan=plan)

    def parts() -> tuple[IndicatorDetail, dict, dict | None] | Literal[False]:
        return read_cached(
            key,
            lambda: _indicator_parts(
                request=request, audience=audience, plan=plan, code=code, period=period, basis=basis
            ),
        )

    def page() -> tuple[str, str] | Literal[False]:
        found = parts()
        if not found:
            return False
        data, trend_chart, cities_chart = found
        context.update(data=data, trend_chart=trend_chart, cities_chart=cities_chart)
        return data.indicator.name, render_to_string("dashboards/_indicator_body.html", {**context, "request": request})

    # The rendered body is kept under the same key plus what else it shows: the periods offered, the reader's
    # scope (breadcrumbs, the preview switch) and the path.
    page_key = read_key("indicator-page", key, [p.code for p in periods], audience.scope.text(), request.path)
    kept = read_cached(page_key, page)
    if not kept:
        raise Http404
    context["title"], context["body"] = kept
    if "data" not in context:  # a kept body: what it was rendered from, read only if something asks
        found = SimpleLazyObject(parts)
        for index, name in enumerate(("data", "trend_chart", "cities_chart")):
            # mypy cannot type a lambda whose parameter has a default (the loop-variable binding idiom) against
            # Callable[[], T]: an open mypy bug (python/mypy#12557, #15459).
            context[name] = SimpleLazyObject(lambda index=index: found[index])  # type: ignore[misc]
    return render(request, "dashboards/indicator.html", context)


def _indicator_parts(
    *, request: AuthenticatedRequest, audience: Audience, plan: Plan, code: str, period: Period, basis: str
) -> tuple[IndicatorDetail, dict, dict | None] | Literal[False]:
    data = indicator_detail(plan=plan, code=code, period=period, audience=audience, user=request.user, basis=basis)
    if data is None:
        return False  # an unknown indicator: cached too (None would read as "not cached")
    return data, _trend_chart(data), _cities_chart(data) if data.cities else None


@login_required
@require_GET
def completeness(request: AuthenticatedRequest) -> HttpResponse:
    audience = audience_for(user=request.user)
    if (denied := _province_only(request, audience)) is not None:
        return denied
    plan, periods, period, basis = _frame(request, audience)
    if plan is None or period is None:
        return _empty(request, audience, plan, periods)
    # The chosen quarter and the ones before it, oldest first, as the columns.
    start = periods.index(period)
    shown = list(reversed(periods[start : start + COMPLETENESS_QUARTERS]))
    grid = completeness_grid(plan=plan, periods=shown, audience=audience)
    return render(
        request,
        "dashboards/completeness.html",
        _context(audience, periods, period, basis, plan=plan, grid=grid, today=timezone.localdate()),
    )


@login_required
@require_GET
def city(request: AuthenticatedRequest) -> HttpResponse:
    audience = audience_for(user=request.user)
    cities = cities_of(audience=audience)
    if not cities:
        return _denied(request, audience, _("本页面是设区市填报员和审核员的首页。您没有设区市的角色授权。"))
    chosen = request.GET.get("city", "")
    region = next((c for c in cities if c.code == chosen), None) if chosen else cities[0]
    if region is None:
        raise Http404
    plan, periods, period, _basis = _frame(request, audience)
    if plan is None or period is None:
        return _empty(request, audience, plan, periods)
    data = city_home(plan=plan, city=region, cities=cities, period=period, audience=audience)
    return render(
        request,
        "dashboards/city.html",
        _context(audience, periods, period, Figure.Basis.OFFICIAL, plan=plan, data=data, today=timezone.localdate()),
    )
