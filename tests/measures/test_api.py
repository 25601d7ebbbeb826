"""The plan endpoints of `measures/api.py`: plans, programmes, tasks, bodies, regions, and the plan selectors.

The measures endpoint is served (and tested) from `indicators/api.py`, since its detail nests indicators.
"""

import datetime

import pytest
from django.template import Context, Template

from measures.models import Region, Responsibility, ResponsibleBody
from measures.selectors import plan_list, plan_structure_get
from tests.factories import (
    MeasureFactory,
    PlanFactory,
    PlanSectionFactory,
    ProgrammeFactory,
    RegionFactory,
    ResponsibilityFactory,
    ResponsibleBodyFactory,
    TaskFactory,
    plan_tree_create,
)

pytestmark = pytest.mark.django_db

LIST_URLS = [
    "/api/v1/plans/",
    "/api/v1/programmes/",
    "/api/v1/measures/",
    "/api/v1/tasks/",
    "/api/v1/indicators/",
    "/api/v1/targets/",
    "/api/v1/bodies/",
    "/api/v1/regions/",
]


# selectors


def test_plan_structure_get_prefetches_programmes_and_measures_in_plan_order(django_assert_num_queries):
    plan = PlanFactory(code="js-2018-28")
    second, first = ProgrammeFactory(plan=plan, number=2), ProgrammeFactory(plan=plan, number=1)
    MeasureFactory(programme=second, number=3)
    MeasureFactory(programme=first, number=2)
    MeasureFactory(programme=first, number=1)
    template = Template(
        "{% for programme in plan.programmes.all %}{{ programme.number }}:"
        "{% for measure in programme.measures.all %}{{ measure.number }},{% endfor %};{% endfor %}"
    )

    with django_assert_num_queries(3):
        found = plan_structure_get(plan_code="js-2018-28")
        rendered = template.render(Context({"plan": found}))

    assert found == plan
    assert rendered == "1:1,2,;2:3,;"


def test_plan_structure_get_query_count_does_not_grow_with_the_plan(django_assert_num_queries):
    plan_tree_create(size=6)

    with django_assert_num_queries(3):
        plan = plan_structure_get()
        assert plan is not None
        measures = [m.number for p in plan.programmes.all() for m in p.measures.all()]

    assert len(measures) == 6


def test_plan_structure_get_without_code_returns_the_first_issued_plan():
    PlanFactory(code="later", issued_on=datetime.date(2019, 1, 1))
    earliest = PlanFactory(code="earlier", issued_on=datetime.date(2017, 1, 1))

    assert plan_structure_get() == earliest
    assert list(plan_list().values_list("code", flat=True)) == ["earlier", "later"]


def test_plan_structure_get_answers_none_for_an_unknown_code_or_no_plan():
    assert plan_structure_get() is None
    PlanFactory(code="js-2018-28")

    assert plan_structure_get(plan_code="nope") is None


# authentication and the error shape


@pytest.mark.parametrize("url", LIST_URLS)
def test_anonymous_request_is_refused_with_the_error_shape(client, url):
    response = client.get(url)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"message", "errors"}
    assert response.json()["errors"] == {}
    assert response.json()["message"]


@pytest.mark.parametrize("url", LIST_URLS)
def test_authenticated_request_is_answered(api_client, url):
    response = api_client.get(url)

    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_unknown_object_answers_404_with_the_error_shape(api_client):
    response = api_client.get("/api/v1/plans/no-such-plan/")

    assert response.status_code == 404
    assert set(response.json()) == {"message", "errors"}
    assert response.json()["errors"] == {}


# plans and programmes


def test_plan_list_gives_chinese_and_english_titles(api_client):
    PlanFactory(code="js-2018-28", title="新时代江苏产业工人队伍建设改革实施方案", title_en="Jiangsu plan")

    response = api_client.get("/api/v1/plans/")

    assert response.json()["results"] == [
        {
            "code": "js-2018-28",
            "document_number": response.json()["results"][0]["document_number"],
            "title": "新时代江苏产业工人队伍建设改革实施方案",
            "title_en": "Jiangsu plan",
            "issuing_bodies": "中共江苏省委 江苏省人民政府",
            "issued_on": "2018-11-18",
            "start_year": 2018,
            "end_year": 2022,
        }
    ]


def test_plan_detail_by_code_nests_sections_and_programmes_with_measures(api_client):
    plan = PlanFactory(code="js-2018-28")
    PlanSectionFactory(plan=plan, kind="goal", number=1, title="目标任务", title_en="Goals")
    programme = ProgrammeFactory(plan=plan, number=1, title="思想引领工程", title_en="Ideological guidance")
    measure = MeasureFactory(programme=programme, number=1, title="举措一", title_en="Measure one")

    response = api_client.get("/api/v1/plans/js-2018-28/")

    assert response.status_code == 200
    body = response.json()
    assert body["sections"] == [
        {
            "kind": "goal",
            "kind_label": "目标任务",
            "number": 1,
            "title": "目标任务",
            "title_en": "Goals",
            "text": "坚持党的领导。",
        }
    ]
    assert body["programmes"] == [
        {
            "id": programme.pk,
            "number": 1,
            "title": "思想引领工程",
            "title_en": "Ideological guidance",
            "heading": "（1）实施思想引领工程",
            "measures": [{"id": measure.pk, "number": 1, "title": "举措一", "title_en": "Measure one"}],
        }
    ]


def test_programmes_filter_by_plan_code(api_client):
    mine = ProgrammeFactory(plan=PlanFactory(code="js-2018-28"))
    ProgrammeFactory(plan=PlanFactory(code="other"))

    response = api_client.get("/api/v1/programmes/", {"plan": "js-2018-28"})

    assert [p["id"] for p in response.json()["results"]] == [mine.pk]
    assert response.json()["results"][0]["plan"] == "js-2018-28"


# tasks


def test_task_gives_its_code_plan_measure_and_responsibilities(api_client):
    measure = MeasureFactory(number=5, programme__plan__code="js-2018-28")
    task = TaskFactory(measure=measure, number=2, recurrence="yearly", deadline=datetime.date(2020, 12, 31))
    body = ResponsibleBodyFactory(code="hrss", name="省人力资源社会保障厅", name_en="Provincial HRSS")
    ResponsibilityFactory(task=task, body=body, is_proposed=False)

    response = api_client.get(f"/api/v1/tasks/{task.pk}/")

    assert response.status_code == 200
    body_json = response.json()
    assert body_json["code"] == "5.2"
    assert body_json["plan"] == "js-2018-28"
    assert body_json["measure"] == {
        "id": measure.pk,
        "number": 5,
        "title": measure.title,
        "title_en": measure.title_en,
    }
    assert body_json["recurrence"] == "yearly"
    assert body_json["recurrence_label"] == "每年"
    assert body_json["deadline"] == "2020-12-31"
    assert body_json["responsibilities"] == [
        {
            "body": {"code": "hrss", "name": "省人力资源社会保障厅", "name_en": "Provincial HRSS", "short_name": ""},
            "role": "lead",
            "role_label": "牵头单位",
            "is_proposed": False,
        }
    ]


def test_tasks_filter_by_measure_plan_body_and_deadline(api_client):
    measure = MeasureFactory(number=5, programme__plan__code="js-2018-28")
    with_deadline = TaskFactory(measure=measure, deadline=datetime.date(2020, 12, 31))
    without_deadline = TaskFactory(measure=measure)
    elsewhere = TaskFactory(measure=MeasureFactory(number=6, programme__plan=measure.plan))
    other_plan = TaskFactory(measure=MeasureFactory(number=5, programme__plan__code="other"))
    body = ResponsibleBodyFactory(code="edu")
    ResponsibilityFactory(task=without_deadline, body=body, role=Responsibility.Role.COOPERATING)
    ResponsibilityFactory(measure=measure, body=body)  # measure-level: does not make every task the body's

    def ids(**params):
        return [t["id"] for t in api_client.get("/api/v1/tasks/", params).json()["results"]]

    assert ids(plan="js-2018-28") == [with_deadline.pk, without_deadline.pk, elsewhere.pk]
    assert ids(measure=5) == [with_deadline.pk, without_deadline.pk, other_plan.pk]
    assert ids(plan="js-2018-28", measure=5) == [with_deadline.pk, without_deadline.pk]
    assert ids(body="edu") == [without_deadline.pk]
    assert ids(plan="js-2018-28", has_deadline="true") == [with_deadline.pk]
    assert ids(plan="js-2018-28", has_deadline="false") == [without_deadline.pk, elsewhere.pk]


# bodies and regions


def test_bodies_by_code_and_filtered_by_kind(api_client):
    ResponsibleBodyFactory(
        code="acftu-js", name="省总工会", name_en="Jiangsu Federation of Trade Unions", kind="mass_org"
    )
    ResponsibleBodyFactory(code="edu", kind="government")

    listed = api_client.get("/api/v1/bodies/", {"kind": "mass_org"})
    detail = api_client.get("/api/v1/bodies/acftu-js/")

    assert [b["code"] for b in listed.json()["results"]] == ["acftu-js"]
    assert detail.json() == {
        "code": "acftu-js",
        "name": "省总工会",
        "name_en": "Jiangsu Federation of Trade Unions",
        "short_name": "",
        "kind": "mass_org",
        "kind_label": "群团组织",
        "is_active": True,
    }


def test_regions_by_code_and_filtered_by_level_and_parent(api_client):
    province = RegionFactory(code="320000", level=Region.Level.PROVINCE, name="江苏省", sort_order=0)
    nanjing = RegionFactory(code="320100", parent=province, name="南京市", name_en="Nanjing", sort_order=1)
    RegionFactory(code="320102", parent=nanjing, level=Region.Level.COUNTY, sort_order=2)

    cities = api_client.get("/api/v1/regions/", {"level": "city"})
    children = api_client.get("/api/v1/regions/", {"parent": "320000"})
    detail = api_client.get("/api/v1/regions/320100/")

    assert [r["code"] for r in cities.json()["results"]] == ["320100"]
    assert [r["code"] for r in children.json()["results"]] == ["320100"]
    assert detail.json() == {
        "code": "320100",
        "name": "南京市",
        "name_en": "Nanjing",
        "level": "city",
        "level_label": "设区市",
        "parent": "320000",
        "division_year": 2018,
        "sort_order": 1,
    }


# bad filter values


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        ("/api/v1/bodies/", {"kind": "ministry"}, "kind"),
        ("/api/v1/bodies/", {"is_active": "yes"}, "is_active"),
        ("/api/v1/regions/", {"level": "town"}, "level"),
        ("/api/v1/regions/", {"parent": "999999"}, "parent"),
        ("/api/v1/programmes/", {"plan": "no-such-plan"}, "plan"),
        ("/api/v1/tasks/", {"measure": "five"}, "measure"),
        ("/api/v1/tasks/", {"has_deadline": "maybe"}, "has_deadline"),
        ("/api/v1/tasks/", {"body": "no-such-body"}, "body"),
        # Found by schemathesis: django-filter's NumberFilter read "1e3" as a number for an integer field.
        ("/api/v1/tasks/", {"measure": "1e3"}, "measure"),
    ],
)
def test_bad_filter_value_answers_400_naming_the_parameter(api_client, url, params, field):
    ResponsibleBodyFactory(code="edu")

    response = api_client.get(url, params)

    assert response.status_code == 400
    assert set(response.json()) == {"message", "errors"}
    assert list(response.json()["errors"]) == [field]
    assert response.json()["errors"][field][0]
    assert ResponsibleBody.objects.count() == 1


def test_whole_number_filters_read_full_width_digits_and_find_nothing_for_a_huge_number(api_client):
    plan = plan_tree_create(size=2)
    first = plan.measures.order_by("number").first()

    found = api_client.get("/api/v1/tasks/", {"measure": str(first.number).translate(FULL_WIDTH)})
    huge = api_client.get("/api/v1/tasks/", {"measure": "9" * 30})

    assert found.status_code == 200
    assert sorted(t["id"] for t in found.json()["results"]) == sorted(first.tasks.values_list("pk", flat=True))
    assert (huge.status_code, huge.json()["count"]) == (200, 0)


# paging (found by schemathesis: DRF answered the first page for any malformed limit or offset)

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
LIMIT_ERROR = "应为 1 到 1000 之间的整数。"
OFFSET_ERROR = "应为 0 到 2147483647 之间的整数。"


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("offset=null", {"offset": [OFFSET_ERROR]}),
        ("offset=null&offset=null", {"offset": [OFFSET_ERROR]}),
        ("offset=1&offset=2", {"offset": [OFFSET_ERROR]}),
        ("offset=-1", {"offset": [OFFSET_ERROR]}),
        ("offset=", {"offset": [OFFSET_ERROR]}),
        (f"offset={2**31}", {"offset": [OFFSET_ERROR]}),
        ("limit=0", {"limit": [LIMIT_ERROR]}),
        ("limit=1001", {"limit": [LIMIT_ERROR]}),
        ("limit=2.5", {"limit": [LIMIT_ERROR]}),
    ],
)
def test_a_malformed_page_is_refused_with_400_naming_the_parameter(api_client, query, errors):
    PlanFactory()

    response = api_client.get(f"/api/v1/plans/?{query}")

    assert response.status_code == 400
    assert set(response.json()) == {"message", "errors"}
    assert response.json()["errors"] == errors


def test_a_malformed_page_is_explained_in_english_on_request(api_client):
    response = api_client.get("/api/v1/plans/", {"limit": "0"}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    assert response.json()["errors"] == {"limit": ["Must be a whole number from 1 to 1000."]}


def test_a_page_within_the_bounds_is_served_and_full_width_digits_read_as_digits(api_client):
    PlanFactory(issued_on=datetime.date(2018, 1, 1))
    later = PlanFactory(issued_on=datetime.date(2019, 1, 1))

    page = api_client.get("/api/v1/plans/", {"limit": "１", "offset": "1"})
    last = api_client.get("/api/v1/plans/", {"limit": 1000, "offset": 2**31 - 1})

    assert page.status_code == 200
    assert (page.json()["count"], len(page.json()["results"])) == (2, 1)
    assert page.json()["results"][0]["code"] == later.code
    assert (last.status_code, last.json()["results"]) == (200, [])


# bounded queries: each list is the page count, the page, and one query per prefetched collection


@pytest.mark.parametrize("size", [2, 6])
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/api/v1/plans/", (2, lambda size: 1)),
        ("/api/v1/programmes/", (3, lambda size: size)),
        ("/api/v1/tasks/", (3, lambda size: size * size)),
        ("/api/v1/bodies/", (2, lambda size: 2)),
        ("/api/v1/regions/", (2, lambda size: size + 1)),
    ],
)
def test_list_issues_the_same_queries_whatever_the_size(api_client, django_assert_num_queries, size, url, expected):
    plan_tree_create(size=size)
    expected_queries, expected_count = expected

    with django_assert_num_queries(expected_queries):
        response = api_client.get(url)

    assert response.status_code == 200
    assert response.json()["count"] == expected_count(size)


@pytest.mark.parametrize("size", [2, 6])
@pytest.mark.parametrize(
    ("url", "expected_queries"),
    [
        (lambda plan: f"/api/v1/plans/{plan.code}/", 4),
        (lambda plan: f"/api/v1/programmes/{plan.programmes.first().pk}/", 2),
        (lambda plan: f"/api/v1/tasks/{plan.measures.first().tasks.first().pk}/", 2),
        (lambda plan: f"/api/v1/bodies/{ResponsibleBody.objects.first().code}/", 1),
        (lambda plan: f"/api/v1/regions/{Region.objects.get(level=Region.Level.PROVINCE).code}/", 1),
    ],
)
def test_detail_issues_the_same_queries_whatever_the_size(
    api_client, django_assert_num_queries, size, url, expected_queries
):
    plan = plan_tree_create(size=size)
    detail_url = url(plan)

    with django_assert_num_queries(expected_queries):
        response = api_client.get(detail_url)

    assert response.status_code == 200


def test_plan_detail_holds_every_programme_and_section(api_client):
    plan = plan_tree_create(size=3)

    detail = api_client.get(f"/api/v1/plans/{plan.code}/").json()

    assert [len(p["measures"]) for p in detail["programmes"]] == [1, 1, 1]
    assert len(detail["sections"]) == 3
