"""Progress endpoints: figures with coverage scoped by role, the status grid, completeness, notifications."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from measures.models import Region
from reporting.models import DataValue, Notification, Submission
from reporting.services.periods import period_ensure
from reporting.services.rollups import rollup_period


@pytest.fixture
def rolled(plan, user):
    period = period_ensure(year=2025, quarter=4)
    indicator = plan.indicators.get(code="apprentices-trained")
    cities = list(Region.objects.filter(level="city").order_by("sort_order"))
    for index, city in enumerate(cities[:3]):
        status = "confirmed" if index < 2 else "city_approved"
        s = Submission.objects.create(plan=plan, period=period, region=city, status=status, created_by=user)
        DataValue.objects.create(submission=s, indicator=indicator, value=Decimal(10 * (index + 1)), updated_by=user)
    rollup_period(plan_id=plan.pk, period_id=period.pk)
    return period


def _rows(client, **params):
    response = client.get("/api/v1/figures/", {"period": "2025Q4", "indicator": "apprentices-trained", **params})
    assert response.status_code == 200, response.json()
    return {(r["region"], r["span"], r["basis"]): r for r in response.json()["results"]}


def test_province_figure_says_how_many_cities_are_in_it(rolled, client_for, coordinator):
    rows = _rows(client_for(coordinator), span="quarter")
    province = rows[("320000", "quarter", "official")]
    assert Decimal(province["value"]) == Decimal(30)
    assert (province["reported_count"], province["expected_count"]) == (2, 13)
    assert province["coverage"]["pending"] == ["320300"]
    assert len(province["coverage"]["missing"]) == 10


def test_city_reporter_sees_province_and_own_city_only(rolled, client_for, nanjing_reporter, coordinator):
    mine = _rows(client_for(nanjing_reporter))
    assert {region for region, _span, _basis in mine} == {"320000", "320100"}
    assert _rows(client_for(nanjing_reporter), basis="preview") == {}
    preview = _rows(client_for(coordinator), basis="preview", span="quarter")
    assert Decimal(preview[("320000", "quarter", "preview")]["value"]) == Decimal(60)


def test_outsider_sees_only_official_province_figures(rolled, api_client):
    assert {region for region, _span, _basis in _rows(api_client)} == {"320000"}


def test_figures_need_login_and_valid_filters(rolled, client, client_for, coordinator):
    assert client.get("/api/v1/figures/").status_code in (401, 403)
    response = client_for(coordinator).get("/api/v1/figures/", {"period": "2025Q9"})
    assert response.status_code == 400
    assert "period" in response.json()["errors"]
    response = client_for(coordinator).get("/api/v1/figures/", {"period": "2025Q4", "span": "decade"})
    assert response.status_code == 400
    assert "span" in response.json()["errors"]


def test_figure_list_queries_do_not_grow(rolled, client_for, coordinator, django_assert_max_num_queries):
    client = client_for(coordinator)
    client.get("/api/v1/figures/", {"period": "2025Q4"})
    with django_assert_max_num_queries(8):
        response = client.get("/api/v1/figures/", {"period": "2025Q4", "limit": 500})
    assert response.json()["count"] > 100


def test_figure_pages_are_cut_in_the_database_and_cached_apart(rolled, client_for, coordinator):
    client = client_for(coordinator)

    def page(**params):
        return client.get("/api/v1/figures/", {"period": "2025Q4", **params}).json()

    whole = page(limit=1000)
    first, second = page(limit=50), page(limit=50, offset=50)
    again = page(limit=50, offset=50)

    ids = [(r["indicator"], r["region"], r["span"]) for r in whole["results"]]
    assert first["count"] == second["count"] == whole["count"] == len(ids) > 100
    assert [(r["indicator"], r["region"], r["span"]) for r in first["results"]] == ids[:50]
    assert [(r["indicator"], r["region"], r["span"]) for r in second["results"]] == ids[50:100]
    assert again == second
    assert "limit=50&offset=50" in first["next"]
    assert second["previous"] is not None

    # A page not asked for before reads only its own rows: at national scale a period holds every province.
    with CaptureQueriesContext(connection) as queries:
        assert len(page(limit=40, offset=10)["results"]) == 40
    reads = [q["sql"] for q in queries.captured_queries if 'FROM "reporting_figure"' in q["sql"]]
    assert any("LIMIT 40 OFFSET 10" in sql for sql in reads)
    assert all("LIMIT" in sql or "COUNT(" in sql for sql in reads)


def test_status_grid_has_every_measure(rolled, client_for, auditor):
    body = client_for(auditor).get("/api/v1/status/", {"period": "2025Q4"}).json()
    assert [p["number"] for p in body["programmes"]] == [1, 2, 3, 4, 5]
    assert sorted(m["number"] for p in body["programmes"] for m in p["measures"]) == list(range(1, 24))
    assert {t["target"] for t in body["targets"]} >= {"high-skill-workers-per-10000-800-by-2020"}


def test_completeness_by_quarter(rolled, client_for, coordinator):
    body = client_for(coordinator).get("/api/v1/completeness/", {"year": 2025}).json()
    q4 = next(row for row in body if row["period"] == "2025Q4")
    assert (q4["expected"], q4["received"], q4["confirmed"], q4["missing"]) == (13, 3, 2, 10)


def test_notifications_are_private_and_can_be_marked_read(client_for, nanjing_reporter, suzhou_reporter, period):
    note = Notification.objects.create(
        user=nanjing_reporter, kind="reminder", period=period, dedupe_key="k1", title="提醒", message="请填报"
    )
    assert client_for(suzhou_reporter).get("/api/v1/notifications/").json()["count"] == 0
    assert client_for(suzhou_reporter).post(f"/api/v1/notifications/{note.pk}/read/").status_code == 404
    response = client_for(nanjing_reporter).post(f"/api/v1/notifications/{note.pk}/read/")
    assert response.status_code == 200
    assert response.json()["read_at"] is not None


def test_a_malformed_notification_id_is_not_found_and_marks_nothing(client_for, nanjing_reporter, period):
    """Found by schemathesis: `/notifications/null,null/read/` was a 500 (Django's get_object_or_404 raised
    ValueError on a non-numeric primary key)."""
    note = Notification.objects.create(
        user=nanjing_reporter, kind="reminder", period=period, dedupe_key="k1", title="提醒", message="请填报"
    )

    for malformed in ("null,null", "abc", "-1"):
        response = client_for(nanjing_reporter).post(f"/api/v1/notifications/{malformed}/read/")
        assert response.status_code == 404, malformed
        assert set(response.json()) == {"message", "errors"}
    assert Notification.objects.get(pk=note.pk).read_at is None


def test_status_is_documented_as_the_one_object_it_answers(rolled, client_for, auditor):
    """Found by schemathesis: the schema said an array of Status (the ViewSet's `list` route)."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    documented = schema["paths"]["/api/v1/status/"]["get"]["responses"]["200"]["content"]["application/json"]

    response = client_for(auditor).get("/api/v1/status/", {"period": "2025Q4"})

    assert documented["schema"] == {"$ref": "#/components/schemas/Status"}
    assert response.status_code == 200
    assert set(response.json()) == set(schema["components"]["schemas"]["Status"]["properties"])
    assert set(response.json()) == {"period", "programmes", "targets"}


def test_plan_and_period_are_chosen_and_refused_as_before(rolled, plan, client_for, coordinator, time_machine):
    """The figures and status answers read the plan, the period and the figures' version in one query; the
    choices and the errors are those of the plan and period lookups, in the same order."""
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    time_machine.move_to(datetime(2026, 1, 20, 10, tzinfo=ZoneInfo("Asia/Shanghai")))
    api = client_for(coordinator)
    for path in ("/api/v1/figures/", "/api/v1/status/"):
        latest = api.get(path)  # the latest ended quarter: 2025Q4
        assert latest.status_code == 200
        chosen = api.get(path, {"period": " 2025q4 ", "plan": plan.code})
        if path == "/api/v1/status/":
            assert chosen.content == latest.content
        else:
            # The same page, whose links keep each request's own query (a kept page once carried the links of
            # whoever asked first: this request's next page would then have left 2025Q4 once a quarter ended).
            assert {**chosen.json(), "next": None} == {**latest.json(), "next": None}
            assert latest.json()["next"] == "http://testserver/api/v1/figures/?limit=100&offset=100"
            assert chosen.json()["next"] == (
                f"http://testserver/api/v1/figures/?limit=100&offset=100&period=+2025q4+&plan={plan.code}"
            )
        unknown_plan = api.get(path, {"plan": "no-such-plan", "period": "nonsense"})
        assert unknown_plan.status_code == 404  # the plan is looked at first
        # A code no plan can have is refused by name before it reaches the database (a NUL byte was a 500).
        for code in ("js\x002018", "x" * 65):
            refused = api.get(path, {"plan": code})
            assert refused.status_code == 400, refused.content
            assert refused.json()["errors"] == {
                "plan": ["方案代码应由字母、数字、连字符或下划线组成，不超过 64 个字符。"]
            }
        for code in ("2025Q9", "nonsense", "2031Q1"):
            refused = api.get(path, {"period": code})
            assert refused.status_code == 400
            assert refused.json()["errors"]["period"] == [f"未知的填报期“{code}”，格式如 2025Q4。"]
    assert api.get("/api/v1/status/").json()["period"] == "2025Q4"
    time_machine.move_to(datetime(2025, 12, 1, 10, tzinfo=ZoneInfo("Asia/Shanghai")))  # before 2025Q4 ended
    from reporting.models import Period

    ended = Period.objects.filter(end__lt=date(2025, 12, 1)).order_by("-year", "-quarter").first()
    answer = api.get("/api/v1/status/")
    if ended is None:
        assert answer.status_code == 400
        assert answer.json()["errors"]["period"] == ["尚无已结束的季度。"]
    else:
        assert answer.json()["period"] == ended.code
