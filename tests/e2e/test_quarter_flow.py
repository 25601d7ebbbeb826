"""A quarter end to end in headless Chromium: Nanjing's reporter fills and submits the report through
the web form, Nanjing's reviewer approves it, the coordinator confirms it in the review queue, the
rollup runs, and the overview, the indicator page and the city home show the new province figure.
Along the way: the language switch, the period selector (htmx), another city's report answering 404,
no request leaving the portal and no error in the browser console."""

import re
from datetime import date

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from reporting.models import Figure, Submission
from reporting.services.periods import period_ensure
from reporting.services.submissions import submission_create

pytestmark = pytest.mark.browser

NEW_WORKERS = "high-skill-workers-new"
PER_10000 = "high-skill-workers-per-10000"


def _last_ended_quarter(today: date) -> tuple[int, int]:
    quarter = (today.month - 1) // 3  # the quarter before the current one
    return (today.year, quarter) if quarter else (today.year - 1, 4)


def _value_for(name: str) -> str:
    """What the reporter types: 1,234 new high-skill workers; 9,000 of 100,000 workers per 10,000."""
    if name == f"v-{NEW_WORKERS}-value":
        return "1234"
    if name == f"v-{PER_10000}-numerator":
        return "9000"
    if name == f"v-{PER_10000}-denominator":
        return "100000"
    if name.endswith("-numerator"):
        return "40"
    if name.endswith("-denominator"):
        return "100"
    return "100"


def test_quarter_from_form_to_dashboard(
    page,
    live_server,
    watch,
    log_in,
    plan,
    nanjing_reporter,
    nanjing_reviewer,
    coordinator,
    suzhou,
    suzhou_reporter,
    celery_worker_process,
    wait_for,
):
    base = live_server.url
    year, quarter = _last_ended_quarter(timezone.localdate())
    period = period_ensure(year=year, quarter=quarter)
    earlier = period_ensure(year=year - 1, quarter=quarter)
    other_city, _ = submission_create(user=suzhou_reporter, plan=plan, period=period, region=suzhou)

    # 1. Nanjing's reporter starts the quarter from the due list and fills the form.
    log_in(nanjing_reporter)
    page.goto(f"{base}/report/")
    row = page.locator("tr", has_text=period.code).filter(has_text="南京市")
    row.get_by_role("button", name="开始填报").click()
    page.wait_for_url(re.compile(r"/report/[0-9a-f-]{36}/$"))
    inputs = page.locator("input[name^='v-']:not([type=hidden])")
    names = [inputs.nth(i).get_attribute("name") for i in range(inputs.count())]
    assert f"v-{NEW_WORKERS}-value" in names
    for name in names:
        if not name.endswith("-comment"):
            page.fill(f"input[name='{name}']", _value_for(name))
    page.fill("textarea[name='n-6-progress']", "南京：本季度新认定高技能人才1234人。")
    page.get_by_role("button", name="保存并提交").click()
    expect(page.locator(".messages")).to_contain_text("已提交")
    submission = Submission.objects.get(plan=plan, period=period, region__name="南京市")
    assert submission.status == "submitted"

    # 2. Another city's report is not there for Nanjing: 404, not 403.
    forbidden = f"{base}/report/{other_city.public_id}/"
    response = page.goto(forbidden)
    assert response.status == 404

    # 3. Nanjing's reviewer approves at city level.
    log_in(nanjing_reviewer)
    page.goto(f"{base}/report/review/")
    page.locator("tr", has_text="南京市").get_by_role("button", name="市级审核通过").click()
    expect(page.locator(".messages")).to_contain_text("已通过市级审核")

    # 4. The coordinator confirms in the review queue; the rollup runs (in-process without a broker,
    #    on a real worker when REDIS_URL is set).
    log_in(coordinator)
    page.goto(f"{base}/report/review/")
    page.locator("tr", has_text="南京市").get_by_role("button", name="省级确认").click()
    expect(page.locator(".messages")).to_contain_text("已省级确认")
    figure = wait_for(
        lambda: Figure.objects.filter(
            plan=plan,
            period=period,
            indicator__code=NEW_WORKERS,
            region__level="province",
            basis="official",
            span="ytd",
            value__isnull=False,
        ).first()
    )
    assert figure.value == 1234

    # 5. The overview shows the new province figure with its coverage.
    page.goto(f"{base}/dashboard/")
    expect(page.locator("h1")).to_contain_text("改革推进总览")
    target_row = page.locator("table.targets-table tr", has_text="新增高技能人才数")
    expect(target_row).to_contain_text("1,234")
    expect(target_row).to_contain_text("1/13 市")
    expect(target_row).to_contain_text("明显滞后")
    expect(page.locator(".kpi").nth(1)).to_contain_text("1/")

    # 6. The period selector (htmx) swaps the dashboard and the address; the earlier quarter has no figure.
    page.select_option("#period-select", earlier.code)
    page.wait_for_url(re.compile(rf"period={earlier.code}"))
    expect(page.locator("table.targets-table tr", has_text="新增高技能人才数")).not_to_contain_text("1,234")
    page.select_option("#period-select", period.code)
    page.wait_for_url(re.compile(rf"period={period.code}"))
    expect(page.locator("table.targets-table tr", has_text="新增高技能人才数")).to_contain_text("1,234")

    # 7. The indicator page: the chart is drawn from the page's JSON, the table carries the same number.
    page.goto(f"{base}/dashboard/indicators/{NEW_WORKERS}/")
    expect(page.locator(".chart[data-chart=trend][data-drawn=true] canvas")).to_have_count(1)
    expect(page.locator("table.trend-table tr.is-current")).to_contain_text("1,234")
    expect(page.locator("table.cities-table")).to_contain_text("南京市")
    page.goto(f"{base}/dashboard/indicators/{PER_10000}/")
    expect(page.locator("table.trend-table tr.is-current")).to_contain_text("900.0")
    expect(page.locator("table.cities-table tr", has_text="南京市")).to_contain_text("100,000")

    # 8. The measure page shows Nanjing's narrative.
    page.goto(f"{base}/dashboard/measures/6/")
    expect(page.locator(".narrative-card")).to_contain_text("南京：本季度新认定高技能人才1234人。")

    # 9. The language switch: English, remembered on the next page, and back to Chinese.
    page.goto(f"{base}/dashboard/")
    page.locator(".language-switch").get_by_role("button", name="English").click()
    expect(page.locator("h1")).to_contain_text("Progress overview")
    assert page.locator("html").get_attribute("lang") == "en"
    page.goto(f"{base}/dashboard/completeness/")
    expect(page.locator("h1")).to_contain_text("Reporting, quarter by quarter")
    page.locator(".language-switch").get_by_role("button", name="简体中文").click()
    expect(page.locator("h1")).to_contain_text("各单位逐季报送情况")

    # 10. Nanjing's reporter sees the confirmed figure on the city home, beside the province's.
    log_in(nanjing_reporter)
    page.goto(f"{base}/dashboard/")
    page.wait_for_url(re.compile(r"/dashboard/city/"))
    city_row = page.locator("table.city-figures tr", has_text="新增高技能人才数")
    expect(city_row).to_contain_text("1,234")
    expect(city_row).to_contain_text("100.0%")
    denied = f"{base}/dashboard/completeness/"
    response = page.goto(denied)
    assert response.status == 403
    expect(page.locator("h1")).to_contain_text("无权访问此页面")

    assert watch.foreign() == []
    assert watch.unexpected_errors(forbidden, denied) == []
