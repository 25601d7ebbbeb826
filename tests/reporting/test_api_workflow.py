"""Every workflow transition through the API: the allowed path, and each refusal with its status, its
message and the stored submission unchanged (row, version, values)."""

from datetime import date

import pytest
from django.test import override_settings

from reporting.models import Period, Submission, Transition
from reporting.services.periods import period_ensure
from reporting.services.submissions import submission_create
from tests.reporting.conftest import full_values
from tests.reporting.test_api_support import API, if_match, one_value, snapshot, url

S = Submission.Status


def _post(client, submission, action, **body):
    return client.post(url(submission, f"{action}/"), body, format="json")


def _put_values(client, submission, values):
    return client.put(url(submission, "values/"), {"values": values}, format="json", **if_match(submission))


def test_a_quarter_goes_the_whole_way_bottom_up_and_back(
    draft, nanjing_reporter, nanjing_reviewer, coordinator, client_for
):
    reporter, reviewer, province = (client_for(u) for u in (nanjing_reporter, nanjing_reviewer, coordinator))

    response = _put_values(reporter, draft, full_values(draft))
    assert (response.status_code, response.json()["version"], response["ETag"]) == (200, 2, '"2"')
    response = _post(reporter, draft, "submit")
    assert (response.status_code, response.json()["status"], response.json()["is_late"]) == (200, "submitted", False)
    assert response.json()["allowed_actions"] == []
    assert reviewer.get(url(draft)).json()["allowed_actions"] == ["city_approve", "return"]
    response = _post(reviewer, draft, "city-approve")
    assert (response.status_code, response.json()["status"]) == (200, "city_approved")
    assert province.get(url(draft)).json()["allowed_actions"] == ["confirm", "return"]
    response = _post(province, draft, "confirm")
    assert (response.status_code, response.json()["status"]) == (200, "confirmed")
    assert province.get(url(draft)).json()["allowed_actions"] == ["reopen"]
    response = _post(province, draft, "reopen", reason="南京市高技能人才数据口径有误，需更正。")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["return_reason"]) == (
        "returned",
        "南京市高技能人才数据口径有误，需更正。",
    )
    assert reporter.get(url(draft)).json()["allowed_actions"] == ["edit", "submit"]
    # Editing a returned submission makes it a draft again.
    response = _put_values(reporter, draft, [one_value(draft, "999")])
    assert (response.status_code, response.json()["status"]) == (200, "draft")

    trail = list(Transition.objects.filter(submission=draft).values_list("action", "actor__username", "reason"))
    assert trail == [
        ("create", "nj-reporter", ""),
        ("submit", "nj-reporter", ""),
        ("city_approve", "nj-reviewer", ""),
        ("confirm", "coordinator", ""),
        ("reopen", "coordinator", "南京市高技能人才数据口径有误，需更正。"),
    ]


def test_returns_from_either_review_step_carry_the_reason(
    filled, nanjing_reporter, nanjing_reviewer, coordinator, client_for
):
    reporter, reviewer, province = (client_for(u) for u in (nanjing_reporter, nanjing_reviewer, coordinator))
    _post(reporter, filled, "submit")

    response = _post(reviewer, filled, "return", reason="请补充说明。")
    assert (response.status_code, response.json()["status"], response.json()["return_reason"]) == (
        200,
        "returned",
        "请补充说明。",
    )
    assert _post(reporter, filled, "submit").status_code == 200
    assert _post(reviewer, filled, "city-approve").status_code == 200
    response = _post(province, filled, "return", reason="与统计年鉴不符。")
    assert (response.status_code, response.json()["status"]) == (200, "returned")
    assert reporter.get(url(filled)).json()["return_reason"] == "与统计年鉴不符。"


@override_settings(REPORTING_CITY_REVIEW=False)
def test_without_the_city_step_the_province_confirms_a_submitted_report(
    filled, nanjing_reporter, nanjing_reviewer, coordinator, client_for
):
    _post(client_for(nanjing_reporter), filled, "submit")
    before = snapshot(filled)

    response = _post(client_for(nanjing_reviewer), filled, "city-approve")
    assert (response.status_code, response.json()["message"]) == (409, "本报表不经过市级审核。")
    assert snapshot(filled) == before
    response = _post(client_for(coordinator), filled, "confirm")
    assert (response.status_code, response.json()["status"]) == (200, "confirmed")


def test_submitting_after_the_deadline_is_allowed_and_marked_late(filled, nanjing_reporter, client_for, time_machine):
    time_machine.move_to(date(2026, 1, 20))
    response = _post(client_for(nanjing_reporter), filled, "submit")
    assert (response.status_code, response.json()["is_late"]) == (200, True)


# (state first, who acts, action, body, status, message, errors)
REFUSALS = [
    (
        S.SUBMITTED,
        "nanjing_reporter",
        "submit",
        {},
        409,
        "该报表已提交（当前状态：已提交），请勿重复提交。",
        {"status": ["已提交。"]},
    ),
    (
        S.CONFIRMED,
        "nanjing_reporter",
        "submit",
        {},
        409,
        "该报表已提交（当前状态：省级已确认），请勿重复提交。",
        {"status": ["已提交。"]},
    ),
    (
        S.DRAFT,
        "nanjing_reviewer",
        "city-approve",
        {},
        409,
        "只有“已提交”的报表可以市级审核，当前状态：草稿。",
        {"status": ["状态不允许此操作。"]},
    ),
    (
        S.SUBMITTED,
        "coordinator",
        "confirm",
        {},
        409,
        "当前状态“已提交”不能省级确认，需先为“市级已审核”。",
        {"status": ["状态不允许此操作。"]},
    ),
    (
        S.DRAFT,
        "coordinator",
        "return",
        {"reason": "x"},
        409,
        "当前状态“草稿”不能退回。",
        {"status": ["状态不允许此操作。"]},
    ),
    (
        S.CITY_APPROVED,
        "coordinator",
        "reopen",
        {"reason": "x"},
        409,
        "只有已确认的报表可以重新打开，当前状态：市级已审核。",
        {"status": ["状态不允许此操作。"]},
    ),
    (
        S.CITY_APPROVED,
        "coordinator",
        "return",
        {},
        400,
        "提交的数据有误，请按字段修改后重试。",
        {"reason": ["必须填写原因。"]},
    ),
    (
        S.CONFIRMED,
        "coordinator",
        "reopen",
        {"reason": "   "},
        400,
        "提交的数据有误，请按字段修改后重试。",
        {"reason": ["必须填写原因。"]},
    ),
    (S.CITY_APPROVED, "nanjing_reviewer", "return", {"reason": "x"}, 403, "当前审核环节不由您负责。", {}),
    (S.SUBMITTED, "nanjing_reporter", "city-approve", {}, 403, "只有本市审核员可以进行市级审核。", {}),
    (S.CITY_APPROVED, "nanjing_reviewer", "confirm", {}, 403, "只有协调小组办公室可以进行省级确认。", {}),
    (S.CONFIRMED, "auditor", "reopen", {"reason": "x"}, 403, "只有协调小组办公室可以重新打开已确认的报表。", {}),
    (S.DRAFT, "coordinator", "submit", {}, 403, "您无权提交该报表。", {}),
]


@pytest.mark.parametrize(
    ("state", "role", "action", "body", "status", "message", "errors"),
    REFUSALS,
    ids=[f"{r[2]} {r[0]} by {r[1]}" for r in REFUSALS],
)
def test_refused_transition_says_why_and_changes_nothing(
    filled, request, client_for, state, role, action, body, status, message, errors
):
    Submission.objects.filter(pk=filled.pk).update(status=state)
    before = snapshot(filled)

    response = _post(client_for(request.getfixturevalue(role)), filled, action, **body)

    assert response.status_code == status
    assert response.json() == {"message": message, "errors": errors}
    assert snapshot(filled) == before


def test_an_incomplete_report_cannot_be_submitted_and_the_missing_values_are_named(draft, nanjing_reporter, client_for):
    values = full_values(draft)
    _put_values(client_for(nanjing_reporter), draft, values[1:])
    before = snapshot(draft)

    response = _post(client_for(nanjing_reporter), draft, "submit")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [f"values.{values[0]['indicator']}"]
    assert snapshot(draft) == before


def test_a_quarter_that_has_not_ended_cannot_be_submitted(plan, nanjing, nanjing_reporter, client_for, time_machine):
    time_machine.move_to(date(2026, 1, 5))
    running = period_ensure(year=2026, quarter=1)
    submission, _ = submission_create(user=nanjing_reporter, plan=plan, period=running, region=nanjing)
    before = snapshot(submission)

    response = _post(client_for(nanjing_reporter), submission, "submit")

    assert response.status_code == 409
    assert response.json() == {
        "message": "2026Q1 尚未结束（2026-03-31 结束），季度结束后方可提交。",
        "errors": {"period": ["季度尚未结束。"]},
    }
    assert snapshot(submission) == before


def test_a_future_quarter_cannot_be_started(plan, future_period, nanjing_reporter, client_for, time_machine):
    time_machine.move_to(date(2026, 1, 5))
    response = client_for(nanjing_reporter).post(
        f"{API}/submissions/", {"period": "2099Q1", "region": "320100"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"period": ["2099Q1 尚未开始，不能填报未来季度。"]}
    assert Submission.objects.count() == 0


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (S.SUBMITTED, "该报表已提交，审核期间处于锁定状态；如需修改，请审核人退回。"),
        (S.CITY_APPROVED, "该报表已提交，审核期间处于锁定状态；如需修改，请审核人退回。"),
        (S.CONFIRMED, "该报表已由省级确认并锁定；如需修改，须由协调小组办公室说明原因后重新打开。"),
    ],
)
def test_a_locked_submission_refuses_edits_with_409_saying_why(filled, nanjing_reporter, client_for, state, message):
    Submission.objects.filter(pk=filled.pk).update(status=state)
    before = snapshot(filled)

    response = _put_values(client_for(nanjing_reporter), filled, [one_value(filled, "1")])

    assert (response.status_code, response.json()["message"]) == (409, message)
    assert list(response.json()["errors"]) == ["status"]
    assert snapshot(filled) == before


def test_a_closed_period_refuses_edits_until_a_coordinator_reopens_it(
    filled, nanjing_reporter, coordinator, client_for, period
):
    province = client_for(coordinator)
    assert province.post(f"{API}/periods/2025Q4/close/").status_code == 200
    before = snapshot(filled)

    response = _put_values(client_for(nanjing_reporter), filled, [one_value(filled, "1")])
    assert response.status_code == 409
    assert response.json() == {
        "message": "填报期 2025Q4 已关闭，须由协调小组办公室重新开放后方可修改。",
        "errors": {"period": ["填报期已关闭。"]},
    }
    assert snapshot(filled) == before
    assert client_for(nanjing_reporter).get(url(filled)).json()["allowed_actions"] == []

    assert province.post(f"{API}/periods/2025Q4/reopen/", {"reason": "南京补报"}, format="json").status_code == 200
    assert Period.objects.get(pk=period.pk).status == Period.Status.OPEN
    assert _put_values(client_for(nanjing_reporter), filled, [one_value(filled, "1")]).status_code == 200
