"""The dashboards over the demo data (13 cities since 2019, the last quarter in flight) in Chromium:
at 1280 px and at phone width, and in print. Takes the screenshots kept in docs/screenshots/
(`SCREENSHOTS_UPDATE=1` writes them there; otherwise into the test's temporary folder)."""

from io import StringIO

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from measures.models import Region
from tests.conftest import _person

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
PAGES = {
    "overview": "/dashboard/",
    "indicator": "/dashboard/indicators/high-skill-workers-per-10000/",
    "measure": "/dashboard/measures/6/",
    "completeness": "/dashboard/completeness/",
}


@pytest.fixture
def demo(plan, settings):
    # load_demo refuses to run with DEBUG off (its accounts have published passwords); the tests log in
    # with their own personas, and the live server goes on with DEBUG off.
    settings.DEBUG = True
    call_command("load_demo", stdout=StringIO())
    settings.DEBUG = False
    return plan


@pytest.fixture
def changzhou_reporter(demo, django_user_model):
    # 常州市's last quarter comes back returned in the demo: the city home has a reason to show.
    return _person(
        django_user_model, "cz-reporter", "city_reporter", region=Region.objects.get(name="常州市", level="city")
    )


def _fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_dashboards_at_desktop_and_phone_width_and_in_print(
    page, live_server, watch, log_in, demo, coordinator, changzhou_reporter, screenshots
):
    base = live_server.url

    log_in(coordinator)
    for name, path in PAGES.items():
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(base + path)
        expect(page.locator("#dashboard h1")).to_be_visible()
        assert _fits_the_screen(page), name
        if name in ("overview", "indicator"):
            if name == "indicator":
                expect(page.locator(".chart[data-drawn=true] canvas")).to_have_count(2)
            page.screenshot(path=screenshots / f"{name}.png", full_page=True)
        page.set_viewport_size(PHONE)
        page.reload()
        assert _fits_the_screen(page), f"{name} at phone width"
        if name == "overview":
            page.screenshot(path=screenshots / "overview-phone.png")

    # Print: the numbers without the controls; charts stay.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(base + PAGES["indicator"])
    page.emulate_media(media="print")
    expect(page.locator(".site-nav")).to_be_hidden()
    expect(page.locator(".period-form")).to_be_hidden()
    expect(page.locator(".dash-tabs")).to_be_hidden()
    expect(page.locator("table.trend-table")).to_be_visible()
    expect(page.locator(".chart canvas").first).to_be_visible()
    assert page.pdf(format="A4")[:5] == b"%PDF-"
    page.emulate_media(media="screen")

    log_in(changzhou_reporter)
    page.goto(base + "/dashboard/city/")
    expect(page.locator(".returned-card")).to_contain_text("部分数据口径需核实")
    expect(page.locator("table.city-figures")).to_contain_text("常州市")
    assert _fits_the_screen(page)
    page.screenshot(path=screenshots / "city-home.png", full_page=True)
    page.set_viewport_size(PHONE)
    page.reload()
    assert _fits_the_screen(page), "city home at phone width"

    assert watch.foreign() == []
    assert watch.unexpected_errors() == []
