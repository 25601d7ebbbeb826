"""The public home page: the plan's structure in Chinese first, English by a remembered switch, an empty
state without a plan, and a query count that does not grow with the plan."""

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

from measures.models import PlanSection
from tests.factories import MeasureFactory, PlanFactory, PlanSectionFactory, ProgrammeFactory

MEASURE_NUMBER = re.compile(r'class="measure__number" aria-hidden="true">(\d+)<')
PROGRAMME_COUNT = re.compile(r'<p class="programme__count">([^<]+)</p>')


def build_plan(measures_per_programme):
    plan = PlanFactory(
        code="js-2018-28",
        document_number="苏发〔2018〕28号",
        title="新时代江苏产业工人队伍建设改革实施方案",
        title_en="Implementation Plan for Reforming the Building of Jiangsu's Industrial Workforce",
    )
    PlanSectionFactory(
        plan=plan, kind=PlanSection.Kind.GUIDING_IDEA, number=1, title="指导思想", title_en="Guiding idea"
    )
    for number in range(1, 5):
        PlanSectionFactory(plan=plan, kind=PlanSection.Kind.PRINCIPLE, number=number)
    PlanSectionFactory(plan=plan, kind=PlanSection.Kind.GOAL, number=1, title="目标任务", title_en="Goal")
    PlanSectionFactory(
        plan=plan,
        kind=PlanSection.Kind.IMPLEMENTATION,
        number=1,
        title="构建推进改革新格局",
        title_en="A new pattern for driving the reform",
        text="成立产业工人队伍建设改革协调小组。",
    )
    measure_number = 0
    for programme_number, count in enumerate(measures_per_programme, start=1):
        programme = ProgrammeFactory(
            plan=plan,
            number=programme_number,
            title=f"工程{programme_number}",
            title_en=f"Programme {programme_number}",
        )
        for _ in range(count):
            measure_number += 1
            MeasureFactory(
                programme=programme,
                number=measure_number,
                title=f"举措{measure_number}",
                title_en=f"Measure {measure_number}",
            )
    return plan


@pytest.mark.django_db
def test_home_shows_programmes_and_measures_in_chinese_by_default(client):
    build_plan([4, 6, 3, 5, 5])

    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert '<h2 id="measures">主要举措</h2>' in html
    assert '<h2 id="requirements">总体要求</h2>' in html
    assert '<h2 id="implementation">组织实施</h2>' in html
    assert "苏发〔2018〕28号" in html
    assert [int(number) for number in MEASURE_NUMBER.findall(html)] == list(range(1, 24))
    assert PROGRAMME_COUNT.findall(html) == ["4 项举措", "6 项举措", "3 项举措", "5 项举措", "5 项举措"]
    assert html.count('<article class="programme"') == 5
    assert (
        '<span class="bi__primary" lang="zh-hans">举措7</span> <span class="bi__secondary" lang="en">Measure 7</span>'
        in html
    )
    assert "5 项工程 · 23 项举措" in html
    assert "构建推进改革新格局" in html


@pytest.mark.django_db
def test_home_shows_the_real_plan_with_23_measures_in_5_programmes(client, plan):
    response = client.get("/")

    html = response.content.decode()
    assert response.status_code == 200
    assert [int(number) for number in MEASURE_NUMBER.findall(html)] == list(range(1, 24))
    assert html.count('<article class="programme"') == 5
    assert "新时代江苏产业工人队伍建设改革实施方案" in html
    assert "苏发〔2018〕28号" in html


@pytest.mark.django_db
def test_language_switch_to_english_is_remembered(client):
    build_plan([2, 1])

    switched = client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    assert switched.status_code == 302
    assert switched["Location"] == "/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    for _ in range(2):
        html = client.get("/").content.decode()
        assert '<html lang="en">' in html
        assert '<h2 id="measures">Main measures</h2>' in html
        assert '<h2 id="requirements">General requirements</h2>' in html
        assert "主要举措" not in html
        assert (
            '<span class="bi__primary" lang="en">Measure 3</span> '
            '<span class="bi__secondary" lang="zh-hans">举措3</span>' in html
        )
        assert PROGRAMME_COUNT.findall(html) == ["2 measures", "1 measure"]


@pytest.mark.django_db
def test_language_switch_back_to_chinese(client):
    build_plan([1])
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})

    html = client.get("/").content.decode()
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    assert '<html lang="zh-hans">' in html
    assert "主要举措" in html


@pytest.mark.django_db
def test_language_switch_is_a_post_form_with_csrf(client):
    html = client.get("/").content.decode()

    form = re.search(r'<form class="language-switch" method="post" action="/i18n/setlang/">(.*?)</form>', html, re.S)
    assert form is not None
    assert 'name="csrfmiddlewaretoken"' in form.group(1)
    assert 'name="language" value="en"' in form.group(1)
    assert 'name="next" value="/"' in form.group(1)


@pytest.mark.django_db
def test_home_without_a_plan_shows_an_empty_state(client):
    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "尚未载入改革方案" in html
    assert "load_plan" in html
    assert "主要举措" not in html


@pytest.mark.django_db
def test_home_queries_do_not_grow_with_the_plan(client, django_assert_num_queries):
    plan = build_plan([3, 3])
    with django_assert_num_queries(4):
        client.get("/")
    for programme_number in range(3, 7):
        programme = ProgrammeFactory(plan=plan, number=programme_number)
        for offset in (0, 1):
            MeasureFactory(programme=programme, number=2 * programme_number + offset + 1)

    with django_assert_num_queries(4):
        response = client.get("/")

    assert response.content.decode().count('<article class="programme"') == 6
    assert len(MEASURE_NUMBER.findall(response.content.decode())) == 14


@pytest.mark.django_db
def test_nav_for_anonymous_visitor_offers_login_not_admin(client):
    html = client.get("/").content.decode()

    assert 'href="/accounts/login/?next=/"' in html
    # The API docs map every endpoint: offered only after signing in.
    assert 'href="/api/v1/docs/"' not in html
    assert 'href="/admin/"' not in html
    assert 'action="/accounts/logout/"' not in html
    assert 'href="/report/"' not in html


@pytest.mark.django_db
def test_nav_for_staff_offers_admin_and_logout(client, django_user_model):
    staff = django_user_model.objects.create_user(username="staff", password="a-long-test-password", is_staff=True)
    client.force_login(staff)

    html = client.get("/").content.decode()

    assert 'href="/admin/">管理后台</a>' in html
    assert 'action="/accounts/logout/"' in html
    assert "/accounts/login/" not in html


@pytest.mark.django_db
def test_nav_for_non_staff_user_hides_admin(client, user):
    client.force_login(user)

    html = client.get("/").content.decode()

    assert 'href="/admin/"' not in html
    assert 'action="/accounts/logout/"' in html
    assert 'href="/report/">季度填报</a>' in html


@pytest.mark.django_db
def test_login_page_uses_the_portal_layout_and_logs_in(client, user):
    page = client.get("/accounts/login/?next=/")

    assert page.status_code == 200
    html = page.content.decode()
    assert '<h1 id="login-title">登录</h1>' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'href="/static/portal/portal.css"' in html

    response = client.post("/accounts/login/", {"username": "reader", "password": "a-long-test-password", "next": "/"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").context["user"] == user


@pytest.mark.django_db
def test_login_page_reports_a_wrong_password(client, user):
    response = client.post("/accounts/login/", {"username": "reader", "password": "wrong-password-here"})

    assert response.status_code == 200
    assert 'class="form-errors" role="alert"' in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_pages_need_no_inline_style_or_script_under_the_csp(client):
    build_plan([1])

    response = client.get("/")

    html = response.content.decode()
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "<style" not in html
    assert " style=" not in html
    assert "<script" not in html
    assert finders.find("portal/portal.css") is not None


def test_an_english_browser_still_gets_chinese_until_the_user_switches(client, plan):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert '<html lang="zh-hans"' in response.content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert '<html lang="en"' in response.content.decode()


def test_api_errors_follow_accept_language(client):
    zh = client.get("/api/v1/plans/", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    en = client.get("/api/v1/plans/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert set(zh) == set(en) == {"message", "errors"}
    assert zh["message"] != en["message"]
