"""Periods (coordinators move deadlines, close and reopen) and what is due for the current user."""

from datetime import date

import pytest
from django.urls import reverse

from reporting.models import Period, Submission
from reporting.services.periods import period_ensure
from reporting.services.submissions import submission_create
from tests.reporting.test_api_support import API, url


def test_periods_are_listed_in_order_with_their_deadlines(period, previous_period, user, api_client):
    response = api_client.get(f"{API}/periods/")

    assert response.status_code == 200
    assert [(p["code"], p["deadline"], p["status"]) for p in response.json()["results"]] == [
        ("2025Q3", "2025-10-10", "open"),
        ("2025Q4", "2026-01-10", "open"),
    ]
    assert api_client.get(f"{API}/periods/2025Q4/").json()["end"] == "2025-12-31"
    assert api_client.get(f"{API}/periods/2025Q9/").status_code == 404


def test_a_coordinator_moves_a_deadline(period, coordinator, client_for):
    response = client_for(coordinator).patch(f"{API}/periods/2025Q4/", {"deadline": "2026-01-20"}, format="json")

    assert response.status_code == 200
    assert (response.json()["deadline"], response.json()["version"]) == ("2026-01-20", 2)
    assert Period.objects.get(pk=period.pk).deadline == date(2026, 1, 20)


def test_a_deadline_before_the_quarter_ends_is_refused(period, coordinator, client_for):
    response = client_for(coordinator).patch(f"{API}/periods/2025Q4/", {"deadline": "2025-12-01"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"deadline": ["截止日期不能早于季度结束日期 2025-12-31。"]}
    assert Period.objects.get(pk=period.pk).deadline == date(2026, 1, 10)


def test_close_twice_and_reopen_without_a_reason_are_refused(period, coordinator, client_for):
    client = client_for(coordinator)
    assert client.post(f"{API}/periods/2025Q4/close/").json()["status"] == "closed"

    again = client.post(f"{API}/periods/2025Q4/close/")
    assert (again.status_code, again.json()["message"]) == (409, "填报期 2025Q4 已经关闭。")
    no_reason = client.post(f"{API}/periods/2025Q4/reopen/", {}, format="json")
    assert (no_reason.status_code, no_reason.json()["errors"]) == (400, {"reason": ["重新开放填报期须填写原因。"]})
    assert Period.objects.get(pk=period.pk).status == Period.Status.CLOSED

    reopened = client.post(f"{API}/periods/2025Q4/reopen/", {"reason": "延期补报"}, format="json")
    assert (reopened.status_code, reopened.json()["status"]) == (200, "open")
    assert Period.objects.get(pk=period.pk).history.first().history_change_reason == "延期补报"


def test_a_reporter_must_not_move_deadlines(period, nanjing_reporter, client_for):
    response = client_for(nanjing_reporter).patch(f"{API}/periods/2025Q4/", {"deadline": "2026-02-01"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"message": "只有协调小组办公室可以管理填报期。", "errors": {}}
    assert Period.objects.get(pk=period.pk).deadline == date(2026, 1, 10)


@pytest.fixture
def quarters(plan, time_machine):
    time_machine.move_to(date(2026, 1, 5))
    return [period_ensure(year=2025, quarter=q) for q in (3, 4)] + [period_ensure(year=2026, quarter=1)]


def _due(client, **params):
    response = client.get(f"{API}/due/", params)
    assert response.status_code == 200
    return [
        (
            item["period"],
            item["region"]["code"] if item["region"] else item["body"]["code"],
            item["days_left"],
            item["overdue"],
            item["submission"] and item["submission"]["status"],
        )
        for item in response.json()
    ]


def test_a_city_reporter_sees_each_ended_quarter_not_yet_sent(quarters, nanjing, nanjing_reporter, client_for, plan):
    client = client_for(nanjing_reporter)
    # 2025Q3's deadline (10 October) has passed, 2025Q4's (10 January) has not; 2026Q1 has not ended.
    assert _due(client) == [("2025Q4", "320100", 5, False, None), ("2025Q3", "320100", -87, True, None)]

    submission, _ = submission_create(user=nanjing_reporter, plan=plan, period=quarters[1], region=nanjing)
    assert _due(client)[0] == ("2025Q4", "320100", 5, False, "draft")

    Submission.objects.filter(pk=submission.pk).update(status=Submission.Status.SUBMITTED)
    assert _due(client) == [("2025Q3", "320100", -87, True, None)]
    assert _due(client, all="true")[0] == ("2025Q4", "320100", 5, False, "submitted")


def test_a_body_reporter_sees_its_body_and_others_see_nothing_due(
    quarters, edu_reporter, coordinator, nanjing_reviewer, client_for
):
    assert _due(client_for(edu_reporter)) == [
        ("2025Q4", "js-education", 5, False, None),
        ("2025Q3", "js-education", -87, True, None),
    ]
    assert _due(client_for(coordinator)) == []
    assert _due(client_for(nanjing_reviewer)) == []


def test_a_closed_period_is_not_due(quarters, nanjing_reporter, coordinator, client_for):
    client_for(coordinator).post(f"{API}/periods/2025Q3/close/")
    assert [row[0] for row in _due(client_for(nanjing_reporter))] == ["2025Q4"]


def test_the_due_page_and_the_due_api_agree_on_what_is_due(
    quarters, nanjing, nanjing_reporter, coordinator, client_for, client, plan
):
    """One definition for both: an open quarter never started is due however old it is; a quarter the
    coordinator has closed is not, even with a draft in it; sent ones are never overdue."""
    older = [period_ensure(year=2024, quarter=q) for q in (1, 2, 3, 4)] + [
        period_ensure(year=2025, quarter=q) for q in (1, 2)
    ]
    submission_create(user=nanjing_reporter, plan=plan, period=older[1], region=nanjing)
    client_for(coordinator).post(f"{API}/periods/{older[1].code}/close/")
    sent, _ = submission_create(user=nanjing_reporter, plan=plan, period=quarters[0], region=nanjing)
    Submission.objects.filter(pk=sent.pk).update(status=Submission.Status.SUBMITTED)

    due_codes = ["2025Q4", "2025Q2", "2025Q1", "2024Q4", "2024Q3", "2024Q1"]
    assert [row[0] for row in _due(client_for(nanjing_reporter))] == due_codes
    client.force_login(nanjing_reporter)
    rows = client.get(reverse("reporting:due")).context["rows"]
    assert [row.period.code for row in rows if row.is_due] == due_codes
    # The page also shows the latest four quarters' other rows for context: the sent 2025Q3.
    assert [(row.period.code, row.submission.status) for row in rows if not row.is_due] == [("2025Q3", "submitted")]
    # 2024Q2 (closed, with its draft) is listed by neither; with ?all=true the API lists it, as not overdue-able work.
    listed = {row[0]: row for row in _due(client_for(nanjing_reporter), all="true")}
    assert listed["2024Q2"][4] == "draft"
    # 2025Q3's deadline has passed but it was sent: not overdue, on the page or in the API.
    assert listed["2025Q3"][2:] == (-87, False, "submitted")
    assert listed["2025Q2"][3] is True


def test_a_bad_due_flag_is_refused(quarters, nanjing_reporter, client_for):
    response = client_for(nanjing_reporter).get(f"{API}/due/", {"all": "maybe"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["all"]


def test_a_due_item_links_to_its_submission(quarters, nanjing, nanjing_reporter, client_for, plan):
    submission, _ = submission_create(user=nanjing_reporter, plan=plan, period=quarters[1], region=nanjing)
    item = client_for(nanjing_reporter).get(f"{API}/due/").json()[0]
    assert item["submission"]["id"] == str(submission.public_id)
    assert client_for(nanjing_reporter).get(url(submission)).status_code == 200


def test_submissions_are_filtered_by_period_status_region_and_lateness(
    quarters, nanjing, suzhou, nanjing_reporter, suzhou_reporter, coordinator, client_for, plan
):
    nj, _ = submission_create(user=nanjing_reporter, plan=plan, period=quarters[1], region=nanjing)
    submission_create(user=suzhou_reporter, plan=plan, period=quarters[1], region=suzhou)
    submission_create(user=nanjing_reporter, plan=plan, period=quarters[0], region=nanjing)
    Submission.objects.filter(pk=nj.pk).update(status=Submission.Status.SUBMITTED, is_late=True)
    client = client_for(coordinator)

    def names(**params):
        response = client.get(f"{API}/submissions/", params)
        assert response.status_code == 200
        return sorted((s["period"], s["reporter_name"]) for s in response.json()["results"])

    assert names(period="2025Q4") == [("2025Q4", "南京市"), ("2025Q4", "苏州市")]
    assert names(period="2025q4", region="320100") == [("2025Q4", "南京市")]
    assert names(status="submitted") == [("2025Q4", "南京市")]
    assert names(late="true") == [("2025Q4", "南京市")]
    assert names(late="false", region="320100") == [("2025Q3", "南京市")]
    assert names(body="js-education") == []
    for params, field in (
        ({"period": "2025Q9"}, "period"),
        ({"region": "999999"}, "region"),
        ({"status": "done"}, "status"),
        ({"late": "yes"}, "late"),
    ):
        response = client.get(f"{API}/submissions/", params)
        assert (response.status_code, list(response.json()["errors"])) == (400, [field])
