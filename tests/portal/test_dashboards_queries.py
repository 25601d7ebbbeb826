"""Every dashboard page issues the same number of queries with one report behind it as with thirteen
cities' reports over four quarters (figures, narratives, returned reports, drift). The counts include
what every signed-in request costs (the session, and the user read with its demo-account check and its
memberships in one query; the session is written only when it changes, its last activity at most once a
minute), and for a coordinator the second-factor device the session was verified with, looked up on every
request so that a reset takes effect at once. The overview and the indicator page also read the figures'
version (one query), the key of the read cache, the overview with a digest of what it shows from the
submissions and the consistency checks (in the same query); the counts in PAGES are of uncached pages, since a
rollup runs between them. A kept page (the second request) costs only the frame and its keys."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from measures.models import Region
from reporting.models import ConsistencyCheck
from reporting.services.periods import period_ensure
from reporting.services.rollups import rollup_period
from tests.portal.test_dashboards import report

PAGES = {
    "overview": ("/dashboard/", "coordinator", 20),
    "overview (preview)": ("/dashboard/?basis=preview", "coordinator", 20),
    "measure": ("/dashboard/measures/6/", "coordinator", 17),
    "measure (body reporter)": ("/dashboard/measures/6/", "edu_reporter", 16),
    "indicator": ("/dashboard/indicators/high-skill-workers-per-10000/", "coordinator", 13),
    "indicator (flow)": ("/dashboard/indicators/high-skill-workers-new/", "coordinator", 13),
    "indicator (city reporter)": ("/dashboard/indicators/high-skill-workers-per-10000/", "nanjing_reporter", 12),
    "completeness": ("/dashboard/completeness/", "coordinator", 8),
    "city home": ("/dashboard/city/", "nanjing_reporter", 17),
}


@pytest.fixture(autouse=True)
def today(time_machine):
    # A still clock: the session's last activity is written once a minute, which a slow set-up would cross.
    time_machine.move_to(datetime(2026, 1, 20, 10, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False)


def _count(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries.captured_queries)


@pytest.mark.parametrize("page", list(PAGES))
def test_query_count_does_not_grow_with_data(client, plan, coordinator, nanjing_reporter, edu_reporter, request, page):
    url, persona, bound = PAGES[page]
    client.force_login(request.getfixturevalue(persona))
    # The session's first request also looks up when the password expires (kept in the session after).
    client.get("/")
    cities = list(Region.objects.filter(level="city").order_by("sort_order"))
    quarters = [period_ensure(year=2025, quarter=q) for q in (1, 2, 3, 4)]
    report(plan, quarters[-1], cities[0], coordinator, narrative="南京进展。")
    rollup_period(plan_id=plan.pk, period_id=quarters[-1].pk)
    few = _count(client, url)

    for quarter in quarters:
        for index, city in enumerate(cities[1:], start=1):
            status = ["confirmed", "city_approved", "submitted", "returned", "draft"][index % 5]
            report(plan, quarter, city, coordinator, status=status, size=index, reason="请核实。", narrative="进展。")
        if quarter != quarters[-1]:
            report(plan, quarter, cities[0], coordinator)
    ConsistencyCheck.objects.create(plan=plan, figures_checked=500, drift_count=3)
    rollup_period(plan_id=plan.pk, period_id=quarters[0].pk)
    many = _count(client, url)

    assert (few, many) == (bound, bound)


KEPT = {
    # session, user (with its memberships), second-factor device, plan, periods, version (for the overview
    # with the digest of its submissions and of the latest consistency check)
    "overview": ("/dashboard/", 6),
    "indicator": ("/dashboard/indicators/high-skill-workers-per-10000/", 6),
}


@pytest.mark.parametrize("page", list(KEPT))
def test_a_kept_page_costs_its_frame_and_keys_only(client, plan, coordinator, page):
    url, bound = KEPT[page]
    client.force_login(coordinator)
    client.get("/")
    cities = list(Region.objects.filter(level="city").order_by("sort_order"))
    quarter = period_ensure(year=2025, quarter=4)
    for index, city in enumerate(cities):
        status = ["confirmed", "city_approved", "submitted", "returned", "draft"][index % 5]
        report(plan, quarter, city, coordinator, status=status, size=index + 1, reason="请核实。", narrative="进展。")
    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    first = _count(client, url)
    assert _count(client, url) == bound < first
