"""The endpoints of `indicators/api.py`: measures (whose detail nests tasks, bodies, indicators and targets),
indicators and targets.
"""

import datetime
from decimal import Decimal

import pytest

from indicators.models import Indicator, Target
from tests.factories import (
    IndicatorFactory,
    MeasureFactory,
    PlanFactory,
    ProgrammeFactory,
    RegionFactory,
    ResponsibilityFactory,
    ResponsibleBodyFactory,
    TargetFactory,
    TaskFactory,
    plan_tree_create,
)

pytestmark = pytest.mark.django_db


def _ids(api_client, url, **params):
    response = api_client.get(url, params)
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


# measures


def test_measure_detail_answers_what_it_commits_to_who_leads_and_what_targets(api_client):
    programme = ProgrammeFactory(plan__code="js-2018-28", number=2, title="技能提升工程", title_en="Skills programme")
    measure = MeasureFactory(programme=programme, number=5, title="构建职业教育体系", title_en="Vocational schooling")
    edu = ResponsibleBodyFactory(code="edu", name="省教育厅", name_en="Provincial Department of Education")
    union = ResponsibleBodyFactory(code="union", name="省总工会", name_en="Federation of Trade Unions")
    ResponsibilityFactory(measure=measure, body=edu)
    ResponsibilityFactory(measure=measure, body=union, role="cooperating", is_proposed=False)
    task = TaskFactory(measure=measure, number=1, title="建设一流中职学校", title_en="First-class schools")
    ResponsibilityFactory(task=task, body=edu)
    city = RegionFactory(code="320100", name="南京市", name_en="Nanjing")
    indicator = IndicatorFactory(
        measure=measure, task=task, lead_body=edu, code="first-class-schools", name="一流中等职业学校", kind="stock"
    )
    TargetFactory(indicator=indicator, code="province", value=Decimal(50), comparator="approx", clause="建设50所左右")
    TargetFactory(indicator=indicator, code="nanjing", region=city, value=Decimal(5), source="apportioned")

    response = api_client.get(f"/api/v1/measures/{measure.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["number"] == 5
    assert (body["title"], body["title_en"]) == ("构建职业教育体系", "Vocational schooling")
    assert body["plan"] == "js-2018-28"
    assert body["programme"] == {
        "id": programme.pk,
        "number": 2,
        "title": "技能提升工程",
        "title_en": "Skills programme",
    }
    assert [(r["body"]["code"], r["role"], r["role_label"], r["is_proposed"]) for r in body["responsibilities"]] == [
        ("union", "cooperating", "配合单位", False),
        ("edu", "lead", "牵头单位", True),
    ]
    assert [(t["code"], t["title"], t["title_en"]) for t in body["tasks"]] == [
        ("5.1", "建设一流中职学校", "First-class schools")
    ]
    assert body["tasks"][0]["responsibilities"] == [
        {
            "body": {
                "code": "edu",
                "name": "省教育厅",
                "name_en": "Provincial Department of Education",
                "short_name": "",
            },
            "role": "lead",
            "role_label": "牵头单位",
            "is_proposed": True,
        }
    ]
    [indicator_json] = body["indicators"]
    assert indicator_json["code"] == "first-class-schools"
    assert (indicator_json["kind"], indicator_json["kind_label"]) == ("stock", "存量")
    assert indicator_json["task"] == {
        "id": task.pk,
        "code": "5.1",
        "title": "建设一流中职学校",
        "title_en": "First-class schools",
    }
    assert indicator_json["lead_body"]["code"] == "edu"
    assert [
        (t["code"], t["region"], t["value"], t["comparator"], t["comparator_label"], t["source"])
        for t in indicator_json["targets"]
    ] == [
        ("nanjing", {"code": "320100", "name": "南京市", "name_en": "Nanjing"}, "5.0000", "gte", "≥", "apportioned"),
        ("province", None, "50.0000", "approx", "≈", "quoted"),
    ]
    assert indicator_json["targets"][1]["clause"] == "建设50所左右"


def test_measure_list_is_in_plan_order_with_measure_level_bodies_only(api_client):
    plan = PlanFactory(code="js-2018-28")
    second = MeasureFactory(programme__plan=plan, number=2)
    first = MeasureFactory(programme__plan=plan, number=1)
    ResponsibilityFactory(measure=first, body__code="edu")
    ResponsibilityFactory(task=TaskFactory(measure=first), body__code="hrss")

    results = api_client.get("/api/v1/measures/").json()["results"]

    assert [m["id"] for m in results] == [first.pk, second.pk]
    assert [r["body"]["code"] for r in results[0]["responsibilities"]] == ["edu"]
    assert "tasks" not in results[0]


def test_measures_filter_by_plan_programme_body_and_proposal(api_client):
    plan = PlanFactory(code="js-2018-28")
    one = MeasureFactory(programme=ProgrammeFactory(plan=plan, number=1), number=1)
    two = MeasureFactory(programme=ProgrammeFactory(plan=plan, number=2), number=2)
    three = MeasureFactory(programme=two.programme, number=3)
    elsewhere = MeasureFactory(programme__plan__code="other", programme__number=1, number=1)
    edu, hrss = ResponsibleBodyFactory(code="edu"), ResponsibleBodyFactory(code="hrss")
    ResponsibilityFactory(measure=one, body=edu, is_proposed=True)
    ResponsibilityFactory(measure=one, body=hrss, role="cooperating", is_proposed=False)
    ResponsibilityFactory(task=TaskFactory(measure=two), body=edu, role="cooperating", is_proposed=False)
    ResponsibilityFactory(measure=three, body=hrss, is_proposed=True)

    url = "/api/v1/measures/"
    assert _ids(api_client, url, plan="js-2018-28") == [one.pk, two.pk, three.pk]
    assert _ids(api_client, url, programme=1) == [one.pk, elsewhere.pk]
    assert _ids(api_client, url, plan="js-2018-28", programme=2) == [two.pk, three.pk]
    # Any role, for the measure as a whole or for one of its tasks.
    assert _ids(api_client, url, body="edu") == [one.pk, two.pk]
    assert _ids(api_client, url, is_proposed="true") == [one.pk, three.pk]
    assert _ids(api_client, url, is_proposed="false") == [one.pk, two.pk]
    # Both on the same responsibility: hrss's own assignment to measure one is confirmed, not proposed.
    assert _ids(api_client, url, body="hrss", is_proposed="true") == [three.pk]
    assert _ids(api_client, url, body="edu", is_proposed="false") == [two.pk]


# indicators


def test_indicator_gives_codes_and_labels_with_its_targets(api_client):
    measure = MeasureFactory(programme__plan__code="js-2018-28", number=7)
    indicator = IndicatorFactory(
        measure=measure,
        code="high-skill-per-10k",
        name="每万名劳动者中高技能人才数",
        name_en="High-skill workers per 10,000 workers",
        kind="ratio",
        unit="人/万人",
        scale=Decimal(10000),
        numerator_label="高技能人才数",
        denominator_label="劳动者数",
        reporter="both",
    )
    TargetFactory(indicator=indicator, code="2020", value=Decimal(800), deadline=datetime.date(2020, 12, 31))

    body = api_client.get(f"/api/v1/indicators/{indicator.pk}/").json()

    assert body["plan"] == "js-2018-28"
    assert body["measure"]["number"] == 7
    assert (body["name"], body["name_en"]) == ("每万名劳动者中高技能人才数", "High-skill workers per 10,000 workers")
    assert (body["kind"], body["kind_label"]) == ("ratio", "比率")
    assert (body["reporter"], body["reporter_label"]) == ("both", "设区市与责任单位均填报")
    assert (body["numerator_label"], body["denominator_label"], body["scale"]) == ("高技能人才数", "劳动者数", "10000")
    assert body["task"] is None
    assert body["lead_body"] is None
    assert [(t["code"], t["value"], t["deadline"], t["per_year"]) for t in body["targets"]] == [
        ("2020", "800.0000", "2020-12-31", False)
    ]


def test_indicators_filter_by_plan_measure_kind_supporting_reporter_and_body(api_client):
    plan = PlanFactory(code="js-2018-28")
    five = MeasureFactory(programme__plan=plan, number=5)
    six = MeasureFactory(programme__plan=plan, number=6)
    edu = ResponsibleBodyFactory(code="edu")
    flow = IndicatorFactory(measure=five, kind="flow", lead_body=edu)
    stock = IndicatorFactory(measure=five, kind="stock", is_supporting=True, reporter="body")
    milestone = IndicatorFactory(measure=six, kind="milestone", unit="")
    other_plan = IndicatorFactory(measure=MeasureFactory(programme__plan__code="other", number=5))

    url = "/api/v1/indicators/"
    assert _ids(api_client, url, plan="js-2018-28") == [flow.pk, stock.pk, milestone.pk]
    assert _ids(api_client, url, plan="js-2018-28", measure=5) == [flow.pk, stock.pk]
    assert _ids(api_client, url, measure=5) == [flow.pk, stock.pk, other_plan.pk]
    assert _ids(api_client, url, kind="milestone") == [milestone.pk]
    assert _ids(api_client, url, is_supporting="true") == [stock.pk]
    assert _ids(api_client, url, is_supporting="false", plan="js-2018-28") == [flow.pk, milestone.pk]
    assert _ids(api_client, url, reporter="body") == [stock.pk]
    assert _ids(api_client, url, body="edu") == [flow.pk]


# targets


def test_targets_filter_by_plan_indicator_source_and_per_year(api_client):
    indicator = IndicatorFactory(measure__programme__plan__code="js-2018-28", code="high-skill-new")
    quoted = TargetFactory(indicator=indicator, code="a")
    yearly = TargetFactory(indicator=indicator, code="b", per_year=True, deadline=None, source="commitment")
    other = TargetFactory(indicator=IndicatorFactory(measure=indicator.measure, code="chief-technicians"))
    other_plan = TargetFactory(indicator__measure__programme__plan__code="other", indicator__code="high-skill-new")

    url = "/api/v1/targets/"
    assert _ids(api_client, url, plan="js-2018-28") == [quoted.pk, yearly.pk, other.pk]
    assert _ids(api_client, url, indicator="high-skill-new") == [quoted.pk, yearly.pk, other_plan.pk]
    assert _ids(api_client, url, plan="js-2018-28", indicator="high-skill-new") == [quoted.pk, yearly.pk]
    assert _ids(api_client, url, source="commitment") == [yearly.pk]
    assert _ids(api_client, url, per_year="true") == [yearly.pk]
    assert _ids(api_client, url, per_year="false", plan="js-2018-28") == [quoted.pk, other.pk]


def test_target_on_its_own_names_its_plan_and_indicator(api_client):
    target = TargetFactory(
        indicator__measure__programme__plan__code="js-2018-28", indicator__code="x", value=Decimal("0.7")
    )

    body = api_client.get(f"/api/v1/targets/{target.pk}/").json()

    assert body["plan"] == "js-2018-28"
    assert body["indicator"] == {
        "id": target.indicator.pk,
        "code": "x",
        "name": target.indicator.name,
        "name_en": target.indicator.name_en,
        "unit": "人",
        "unit_en": "people",
    }
    assert (body["value"], body["source"], body["source_label"]) == ("0.7000", "quoted", "方案量化目标")


# bad filter values


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        ("/api/v1/measures/", {"plan": "no-such-plan"}, "plan"),
        ("/api/v1/measures/", {"programme": "two"}, "programme"),
        ("/api/v1/measures/", {"body": "no-such-body"}, "body"),
        ("/api/v1/measures/", {"is_proposed": "perhaps"}, "is_proposed"),
        ("/api/v1/indicators/", {"kind": "average"}, "kind"),
        ("/api/v1/indicators/", {"reporter": "county"}, "reporter"),
        ("/api/v1/indicators/", {"is_supporting": "1x"}, "is_supporting"),
        ("/api/v1/targets/", {"source": "guess"}, "source"),
        ("/api/v1/targets/", {"per_year": "sometimes"}, "per_year"),
        ("/api/v1/targets/", {"indicator": "no-such-indicator"}, "indicator"),
        # Found by schemathesis: django-filter's NumberFilter read these as numbers for an integer field.
        ("/api/v1/measures/", {"programme": "0.5"}, "programme"),
        ("/api/v1/measures/", {"number": "1.0"}, "number"),
        ("/api/v1/indicators/", {"measure": "-1.5e-3"}, "measure"),
    ],
)
def test_bad_filter_value_answers_400_naming_the_parameter(api_client, url, params, field):
    TargetFactory()

    response = api_client.get(url, params)

    assert response.status_code == 400
    assert set(response.json()) == {"message", "errors"}
    assert list(response.json()["errors"]) == [field]
    assert response.json()["errors"][field][0]
    assert (Indicator.objects.count(), Target.objects.count()) == (1, 1)


def test_bad_filter_message_follows_accept_language(api_client):
    chinese = api_client.get("/api/v1/indicators/", {"kind": "average"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    english = api_client.get("/api/v1/indicators/", {"kind": "average"}, HTTP_ACCEPT_LANGUAGE="en")

    assert chinese.json()["message"] == "提交的数据有误，请按字段修改后重试。"
    assert "average" in chinese.json()["errors"]["kind"][0]
    assert english.json()["errors"]["kind"][0] == "Select a valid choice. average is not one of the available choices."


# bounded queries: the page count, the page, and one query per prefetched collection


@pytest.mark.parametrize("size", [2, 6])
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/api/v1/measures/", (3, lambda size: size)),
        ("/api/v1/indicators/", (3, lambda size: size * size)),
        ("/api/v1/targets/", (2, lambda size: 2 * size * size)),
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
        # measure, its responsibilities, tasks, task responsibilities, indicators, targets
        (lambda plan: f"/api/v1/measures/{plan.measures.first().pk}/", 6),
        (lambda plan: f"/api/v1/indicators/{Indicator.objects.first().pk}/", 2),
        (lambda plan: f"/api/v1/targets/{Target.objects.first().pk}/", 1),
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


def test_measure_detail_holds_every_task_indicator_and_target(api_client):
    plan = plan_tree_create(size=3)

    body = api_client.get(f"/api/v1/measures/{plan.measures.first().pk}/").json()

    assert len(body["tasks"]) == 3
    assert len(body["responsibilities"]) == 2
    assert [len(i["targets"]) for i in body["indicators"]] == [2, 2, 2]


# the real plan (loaded by `manage.py load_plan`, as `make run` does)


def test_real_plan_has_23_measures_numbered_1_to_23_under_5_programmes(api_client, plan):
    response = api_client.get("/api/v1/measures/", {"plan": "js-2018-28"})

    assert response.status_code == 200
    assert response.json()["count"] == 23
    assert [m["number"] for m in response.json()["results"]] == list(range(1, 24))
    assert {m["programme"]["number"] for m in response.json()["results"]} == {1, 2, 3, 4, 5}
    assert all(m["title"] and m["title_en"] for m in response.json()["results"])


def test_real_plan_measure_detail_answers_in_bounded_queries(api_client, plan, django_assert_num_queries):
    measure = plan.measures.get(number=6)

    with django_assert_num_queries(6):
        response = api_client.get(f"/api/v1/measures/{measure.pk}/")

    body = response.json()
    assert body["number"] == 6
    assert body["tasks"]
    assert all(task["code"].startswith("6.") for task in body["tasks"])
    assert [r["is_proposed"] for r in body["responsibilities"] if r["role"] == "lead"] == [True]
    per_10000 = next(i for i in body["indicators"] if i["code"] == "high-skill-workers-per-10000")
    assert (per_10000["kind"], per_10000["scale"], per_10000["lead_body"]["code"]) == (
        "ratio",
        "10000",
        "js-human-resources",
    )
    assert [(t["value"], t["comparator"], t["deadline"], t["region"]) for t in per_10000["targets"]] == [
        ("800.0000", "gte", "2020-12-31", None)
    ]


def test_real_plan_per_year_target_by_indicator_code(api_client, plan):
    response = api_client.get("/api/v1/targets/", {"plan": "js-2018-28", "indicator": "high-skill-workers-new"})

    [target] = response.json()["results"]
    assert (target["value"], target["comparator"], target["per_year"], target["deadline"]) == (
        "150000.0000",
        "gte",
        True,
        None,
    )
    assert target["clause"] == "每年新增高技能人才15万人以上"


@pytest.mark.parametrize(
    ("url", "expected_queries"),
    [
        ("/api/v1/plans/", 2),
        ("/api/v1/programmes/", 3),
        ("/api/v1/measures/", 3),
        ("/api/v1/tasks/", 3),
        ("/api/v1/indicators/", 3),
        ("/api/v1/targets/", 2),
        ("/api/v1/bodies/", 2),
        ("/api/v1/regions/", 2),
    ],
)
def test_real_plan_lists_answer_in_the_same_queries_as_small_data(
    api_client, plan, django_assert_num_queries, url, expected_queries
):
    with django_assert_num_queries(expected_queries):
        response = api_client.get(url)

    assert response.status_code == 200
    assert response.json()["count"] > 0
