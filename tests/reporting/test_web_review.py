"""The review queue (city reviewers, coordinators) and the history page."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from indicators.models import Indicator
from measures.models import Region
from portal.accounts.services import membership_grant
from reporting.models import Submission, Transition
from reporting.services import workflow
from reporting.services.submissions import submission_create, submission_values_put
from tests.reporting.conftest import first_of_kind, full_values

S = Submission.Status
SHANGHAI = ZoneInfo("Asia/Shanghai")
QUEUE = "/report/review/"


def _url(name, submission):
    return reverse(f"reporting:{name}", kwargs={"public_id": submission.public_id})


def _submitted(plan, period, city, reporter):
    submission, _ = submission_create(user=reporter, plan=plan, period=period, region=city)
    submission, _ = submission_values_put(submission=submission, user=reporter, values=full_values(submission))
    return workflow.submission_submit(submission=submission, user=reporter)


def _city_people(django_user_model, name):
    city = Region.objects.get(name=name, level="city")
    reporter = django_user_model.objects.create_user(username=f"{city.code}-reporter")
    reviewer = django_user_model.objects.create_user(username=f"{city.code}-reviewer")
    membership_grant(user=reporter, role="city_reporter", region=city, valid_from=date(2018, 1, 1))
    membership_grant(user=reviewer, role="city_reviewer", region=city, valid_from=date(2018, 1, 1))
    return city, reporter, reviewer


@pytest.fixture
def today(time_machine):
    time_machine.move_to(datetime(2026, 1, 5, 10, tzinfo=SHANGHAI))


def test_city_reviewer_queue_lists_own_city_submitted_only(
    client, plan, period, today, nanjing, suzhou, nanjing_reporter, suzhou_reporter, nanjing_reviewer
):
    own = _submitted(plan, period, nanjing, nanjing_reporter)
    other = _submitted(plan, period, suzhou, suzhou_reporter)
    client.force_login(nanjing_reviewer)
    response = client.get(QUEUE)
    assert response.status_code == 200
    assert [row.submission.pk for row in response.context["rows"]] == [own.pk]
    assert response.context["rows"][0].actions == {"city_approve", "return"}
    content = response.content.decode()
    assert _url("city_approve", own) in content
    assert _url("report", other) not in content
    assert "苏州市" not in content


def test_reporters_and_outsiders_have_no_queue(client, plan, period, nanjing_reporter, outsider):
    for user in (nanjing_reporter, outsider):
        client.force_login(user)
        assert client.get(QUEUE).status_code == 403


def test_city_approve_then_coordinator_confirms_from_the_queue(
    client, plan, period, today, nanjing, nanjing_reporter, nanjing_reviewer, coordinator
):
    submission = _submitted(plan, period, nanjing, nanjing_reporter)
    client.force_login(nanjing_reviewer)
    response = client.post(
        _url("city_approve", submission), {"version": submission.version, "next": QUEUE}, follow=True
    )
    assert response.redirect_chain == [(QUEUE, 302)]
    assert "南京市 2025Q4 已通过市级审核。" in response.content.decode()
    submission.refresh_from_db()
    assert (submission.status, submission.city_approved_by) == (S.CITY_APPROVED, nanjing_reviewer)

    client.force_login(coordinator)
    response = client.get(QUEUE)
    assert [(row.submission.pk, row.actions) for row in response.context["rows"]] == [
        (submission.pk, {"confirm", "return"})
    ]
    response = client.post(_url("confirm", submission), {"version": submission.version}, follow=True)
    assert "南京市 2025Q4 已省级确认。" in response.content.decode()
    submission.refresh_from_db()
    assert (submission.status, submission.confirmed_by) == (S.CONFIRMED, coordinator)
    # Confirmed ones are listed for the period with a reopen button, no longer in the queue.
    response = client.get(QUEUE + "?period=2025Q4")
    assert response.context["rows"] == []
    assert [(row.submission.pk, row.actions) for row in response.context["confirmed_rows"]] == [
        (submission.pk, {"reopen"})
    ]


def test_coordinator_queue_holds_submitted_body_reports(
    client, plan, period, today, edu_body, edu_reporter, coordinator
):
    submission = _submitted_body(plan, period, edu_body, edu_reporter)
    client.force_login(coordinator)
    rows = client.get(QUEUE).context["rows"]
    assert [(row.submission.pk, row.actions) for row in rows] == [(submission.pk, {"confirm", "return"})]


def _submitted_body(plan, period, body, reporter):
    submission, _ = submission_create(user=reporter, plan=plan, period=period, body=body)
    submission, _ = submission_values_put(submission=submission, user=reporter, values=full_values(submission))
    return workflow.submission_submit(submission=submission, user=reporter)


def test_return_needs_a_reason_and_the_reporter_sees_it(
    client, plan, period, today, nanjing, nanjing_reporter, nanjing_reviewer
):
    submission = _submitted(plan, period, nanjing, nanjing_reporter)
    client.force_login(nanjing_reviewer)
    response = client.post(_url("return", submission), {"version": submission.version, "reason": "  "}, follow=True)
    assert "请填写原因。" in response.content.decode()
    assert Submission.objects.get(pk=submission.pk).status == S.SUBMITTED
    assert Transition.objects.filter(submission=submission, action="return").count() == 0

    reason = "高技能人才数与统计年鉴不一致，请核对后重报"
    response = client.post(_url("return", submission), {"version": submission.version, "reason": reason}, follow=True)
    assert "南京市 2025Q4 已退回填报单位。" in response.content.decode()
    submission.refresh_from_db()
    assert (submission.status, submission.return_reason) == (S.RETURNED, reason)

    client.force_login(nanjing_reporter)
    page = client.get(_url("report", submission)).content.decode()
    assert "本报表已被退回，请修改后重新提交" in page
    assert reason in page
    assert "保存草稿" in page
    assert reason in client.get(reverse("reporting:due")).content.decode()


def test_a_stale_review_action_is_refused_with_a_message(
    client, plan, period, today, nanjing, nanjing_reporter, nanjing_reviewer
):
    submission = _submitted(plan, period, nanjing, nanjing_reporter)
    client.force_login(nanjing_reviewer)
    response = client.post(_url("city_approve", submission), {"version": submission.version - 1}, follow=True)
    assert "该报表已被他人修改" in response.content.decode()
    assert Submission.objects.get(pk=submission.pk).status == S.SUBMITTED


def test_review_actions_refused_for_the_wrong_role_and_city(
    client, plan, period, today, nanjing, nanjing_reporter, suzhou_reviewer, auditor, coordinator
):
    submission = _submitted(plan, period, nanjing, nanjing_reporter)
    data = {"version": submission.version, "reason": "理由"}
    client.force_login(suzhou_reviewer)
    for name in ("city_approve", "return", "confirm", "reopen"):
        assert client.post(_url(name, submission), data).status_code == 404
    client.force_login(auditor)
    for name in ("city_approve", "return", "confirm", "reopen"):
        assert client.post(_url(name, submission), data).status_code == 403
    client.force_login(nanjing_reporter)
    assert client.post(_url("city_approve", submission), data).status_code == 403
    # The coordinator may not skip the city step.
    client.force_login(coordinator)
    response = client.post(_url("confirm", submission), data, follow=True)
    assert "不能省级确认" in response.content.decode()
    row = Submission.objects.get(pk=submission.pk)
    assert (row.status, row.version) == (S.SUBMITTED, submission.version)


def test_coordinator_reopens_a_confirmed_submission_with_a_reason(
    client, plan, period, today, nanjing, nanjing_reporter, nanjing_reviewer, coordinator
):
    s = _submitted(plan, period, nanjing, nanjing_reporter)
    s = workflow.submission_city_approve(submission=s, user=nanjing_reviewer)
    s = workflow.submission_confirm(submission=s, user=coordinator)
    client.force_login(coordinator)
    response = client.post(_url("reopen", s), {"version": s.version, "reason": ""}, follow=True)
    assert "请填写原因。" in response.content.decode()
    assert Submission.objects.get(pk=s.pk).status == S.CONFIRMED
    response = client.post(_url("reopen", s), {"version": s.version, "reason": "督查发现口径错误"}, follow=True)
    assert "南京市 2025Q4 已重新打开。" in response.content.decode()
    row = Submission.objects.get(pk=s.pk)
    assert (row.status, row.return_reason) == (S.RETURNED, "督查发现口径错误")


def test_review_queue_query_count_does_not_grow_with_submissions(
    client, django_user_model, plan, period, today, coordinator
):
    client.force_login(coordinator)

    def approve(name):
        city, reporter, reviewer = _city_people(django_user_model, name)
        s = _submitted(plan, period, city, reporter)
        return workflow.submission_city_approve(submission=s, user=reviewer)

    approve("南京市")
    client.get(QUEUE)
    with CaptureQueriesContext(connection) as few:
        response = client.get(QUEUE)
    assert len(response.context["rows"]) == 1
    for name in ("苏州市", "无锡市", "徐州市"):
        approve(name)
    with CaptureQueriesContext(connection) as many:
        response = client.get(QUEUE)
    assert len(response.context["rows"]) == 4
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


# -- history -------------------------------------------------------------------------------------------


def test_history_shows_transitions_and_value_changes_to_auditors(
    client, filled, nanjing_reporter, nanjing_reviewer, auditor
):
    stock = first_of_kind(filled, Indicator.Kind.STOCK)
    client.force_login(nanjing_reporter)
    data = {"version": filled.version, "action": "save", f"v-{stock.code}-value": "1200"}
    assert client.post(_url("report", filled), data).status_code == 302
    s = Submission.objects.get(pk=filled.pk)
    s = workflow.submission_submit(submission=s, user=nanjing_reporter)
    workflow.submission_return(submission=s, user=nanjing_reviewer, reason="请补充说明")

    client.force_login(auditor)
    response = client.get(_url("history", filled))
    assert response.status_code == 200
    transitions = [(t.action, t.actor.username, t.reason) for t in response.context["transitions"]]
    assert transitions == [
        ("return", "nj-reviewer", "请补充说明"),
        ("submit", "nj-reporter", ""),
        ("create", "nj-reporter", ""),
    ]
    changes = [
        (c.subject, c.field, c.old, c.new, c.who.username if c.who else None) for c in response.context["changes"]
    ]
    assert (f"{stock.name}（{stock.code}）", "数值", "1000", "1200", "nj-reporter") in changes
    assert ("报表", "退回原因", "—", "请补充说明") in [c[:4] for c in changes]
    assert ("报表", "状态", "已提交", "已退回") in [c[:4] for c in changes]
    content = response.content.decode()
    assert "请补充说明" in content
    assert "已提交 → 已退回" in content


def test_history_of_another_city_answers_404(client, filled, suzhou_reporter):
    client.force_login(suzhou_reporter)
    assert client.get(_url("history", filled)).status_code == 404


def test_a_small_decimal_is_stored_exactly_through_the_form(client, filled, nanjing_reporter):
    stock = first_of_kind(filled, Indicator.Kind.STOCK)
    client.force_login(nanjing_reporter)
    data = {"version": filled.version, "action": "save", f"v-{stock.code}-value": "0.0001"}
    assert client.post(_url("report", filled), data).status_code == 302
    assert filled.values.get(indicator=stock).value == Decimal("0.0001")
