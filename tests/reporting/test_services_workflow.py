"""The submission workflow through the services: every transition allowed and refused, with the trail."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings

from common.errors import ApplicationError
from reporting.models import Submission, Transition
from reporting.services import workflow
from reporting.services.periods import period_close, period_reopen
from reporting.services.submissions import submission_create, submission_values_put
from tests.reporting.conftest import full_values

S = Submission.Status
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _snapshot(submission):
    row = Submission.objects.get(pk=submission.pk)
    return (
        row.status,
        row.version,
        row.return_reason,
        list(row.values.order_by("indicator_id").values_list("value", "numerator")),
    )


def test_full_bottom_up_path_records_every_transition(filled, nanjing_reporter, nanjing_reviewer, coordinator):
    s = workflow.submission_submit(submission=filled, user=nanjing_reporter)
    assert s.status == S.SUBMITTED
    assert s.is_late is False
    s = workflow.submission_city_approve(submission=s, user=nanjing_reviewer)
    assert s.status == S.CITY_APPROVED
    s = workflow.submission_confirm(submission=s, user=coordinator)
    assert s.status == S.CONFIRMED
    assert s.confirmed_by == coordinator
    actions = list(
        Transition.objects.filter(submission=s).values_list("action", "from_status", "to_status", "actor__username")
    )
    assert actions == [
        ("create", "", "draft", "nj-reporter"),
        ("submit", "draft", "submitted", "nj-reporter"),
        ("city_approve", "submitted", "city_approved", "nj-reviewer"),
        ("confirm", "city_approved", "confirmed", "coordinator"),
    ]


def test_submit_after_deadline_is_allowed_and_marked_late(filled, nanjing_reporter, time_machine):
    time_machine.move_to(datetime(2026, 1, 20, 9, tzinfo=SHANGHAI))
    s = workflow.submission_submit(submission=filled, user=nanjing_reporter)
    assert (s.status, s.is_late) == (S.SUBMITTED, True)


def test_submit_before_quarter_ends_is_refused(plan, nanjing, nanjing_reporter, time_machine):
    from reporting.services.periods import period_ensure

    time_machine.move_to(datetime(2026, 2, 1, 9, tzinfo=SHANGHAI))
    running = period_ensure(year=2026, quarter=1)
    s, _ = submission_create(user=nanjing_reporter, plan=plan, period=running, region=nanjing)
    submission_values_put(submission=s, user=nanjing_reporter, values=full_values(s))
    with pytest.raises(ApplicationError) as excinfo:
        workflow.submission_submit(submission=s, user=nanjing_reporter)
    assert "尚未结束" in excinfo.value.message
    assert Submission.objects.get(pk=s.pk).status == S.DRAFT


def test_future_quarter_is_refused(plan, nanjing, nanjing_reporter, future_period):
    with pytest.raises(ValidationError) as excinfo:
        submission_create(user=nanjing_reporter, plan=plan, period=future_period, region=nanjing)
    assert "period" in excinfo.value.message_dict
    assert Submission.objects.count() == 0


def test_submit_with_missing_values_names_each_missing_indicator(draft, nanjing_reporter):
    with pytest.raises(ValidationError) as excinfo:
        workflow.submission_submit(submission=draft, user=nanjing_reporter)
    errors = excinfo.value.message_dict
    assert errors
    assert all(key.startswith("values.") for key in errors)
    assert Submission.objects.get(pk=draft.pk).status == S.DRAFT


def test_duplicate_submit_is_refused_and_changes_nothing(filled, nanjing_reporter):
    s = workflow.submission_submit(submission=filled, user=nanjing_reporter)
    before = _snapshot(s)
    with pytest.raises(ApplicationError) as excinfo:
        workflow.submission_submit(submission=s, user=nanjing_reporter)
    assert excinfo.value.status_code == 409
    assert _snapshot(s) == before


@pytest.mark.parametrize("actor", ["suzhou_reviewer", "nanjing_reporter", "auditor", "coordinator"])
def test_only_the_citys_reviewer_approves_at_city_level(filled, nanjing_reporter, actor, request):
    s = workflow.submission_submit(submission=filled, user=nanjing_reporter)
    before = _snapshot(s)
    with pytest.raises(PermissionDenied):
        workflow.submission_city_approve(submission=s, user=request.getfixturevalue(actor))
    assert _snapshot(s) == before


def test_province_cannot_confirm_before_city_review(filled, nanjing_reporter, coordinator):
    s = workflow.submission_submit(submission=filled, user=nanjing_reporter)
    with pytest.raises(ApplicationError):
        workflow.submission_confirm(submission=s, user=coordinator)
    assert Submission.objects.get(pk=s.pk).status == S.SUBMITTED


@override_settings(REPORTING_CITY_REVIEW=False)
def test_without_city_review_the_province_confirms_directly(filled, nanjing_reporter, coordinator, nanjing_reviewer):
    s = workflow.submission_submit(submission=filled, user=nanjing_reporter)
    with pytest.raises(ApplicationError):
        workflow.submission_city_approve(submission=s, user=nanjing_reviewer)
    s = workflow.submission_confirm(submission=s, user=coordinator)
    assert s.status == S.CONFIRMED


def test_return_needs_a_reason_and_goes_back_to_the_reporter(filled, nanjing_reporter, nanjing_reviewer):
    s = workflow.submission_submit(submission=filled, user=nanjing_reporter)
    with pytest.raises(ValidationError) as excinfo:
        workflow.submission_return(submission=s, user=nanjing_reviewer, reason="  ")
    assert "reason" in excinfo.value.message_dict
    assert Submission.objects.get(pk=s.pk).status == S.SUBMITTED
    s = workflow.submission_return(submission=s, user=nanjing_reviewer, reason="高技能人才数口径有误")
    assert (s.status, s.return_reason) == (S.RETURNED, "高技能人才数口径有误")
    # The reporter edits: it becomes a draft again and can be resubmitted.
    s, _ = submission_values_put(submission=s, user=nanjing_reporter, values=full_values(s, scale=2))
    assert s.status == S.DRAFT
    s = workflow.submission_submit(submission=s, user=nanjing_reporter)
    assert (s.status, s.return_reason) == (S.SUBMITTED, "")
    assert Transition.objects.filter(submission=s, action="return", reason="高技能人才数口径有误").count() == 1


def test_province_returns_a_city_approved_submission(filled, nanjing_reporter, nanjing_reviewer, coordinator):
    s = workflow.submission_submit(submission=filled, user=nanjing_reporter)
    s = workflow.submission_city_approve(submission=s, user=nanjing_reviewer)
    with pytest.raises(PermissionDenied):
        workflow.submission_return(submission=s, user=nanjing_reviewer, reason="x")
    s = workflow.submission_return(submission=s, user=coordinator, reason="与统计年鉴不符")
    assert s.status == S.RETURNED


def test_confirmed_is_locked_until_reopened_with_a_reason(filled, nanjing_reporter, nanjing_reviewer, coordinator):
    s = workflow.submission_submit(submission=filled, user=nanjing_reporter)
    s = workflow.submission_city_approve(submission=s, user=nanjing_reviewer)
    s = workflow.submission_confirm(submission=s, user=coordinator)
    before = _snapshot(s)
    with pytest.raises(ApplicationError) as excinfo:
        submission_values_put(submission=s, user=nanjing_reporter, values=full_values(s, scale=3))
    assert "锁定" in excinfo.value.message
    assert _snapshot(s) == before
    with pytest.raises(ValidationError):
        workflow.submission_reopen(submission=s, user=coordinator, reason="")
    with pytest.raises(PermissionDenied):
        workflow.submission_reopen(submission=s, user=nanjing_reviewer, reason="更正")
    assert _snapshot(s) == before
    s = workflow.submission_reopen(submission=s, user=coordinator, reason="统计局更正了年末从业人员数")
    assert (s.status, s.return_reason) == (S.RETURNED, "统计局更正了年末从业人员数")
    s, _ = submission_values_put(submission=s, user=nanjing_reporter, values=full_values(s, scale=3))
    assert s.status == S.DRAFT


def test_closed_period_refuses_changes_until_a_coordinator_reopens_it(draft, nanjing_reporter, coordinator, period):
    period_close(period=period, user=coordinator)
    with pytest.raises(ApplicationError) as excinfo:
        submission_values_put(submission=draft, user=nanjing_reporter, values=full_values(draft))
    assert "已关闭" in excinfo.value.message
    assert Submission.objects.get(pk=draft.pk).values.count() == 0
    with pytest.raises(PermissionDenied):
        period_reopen(period=period, user=nanjing_reporter, reason="补报")
    period_reopen(period=period, user=coordinator, reason="南京市补报")
    submission_values_put(submission=draft, user=nanjing_reporter, values=full_values(draft))
    assert Submission.objects.get(pk=draft.pk).values.count() == len(full_values(draft))


def test_jump_from_last_quarter_needs_a_comment(
    plan, nanjing, nanjing_reporter, nanjing_reviewer, coordinator, previous_period, draft
):
    from indicators.models import Indicator

    before, _ = submission_create(user=nanjing_reporter, plan=plan, period=previous_period, region=nanjing)
    submission_values_put(submission=before, user=nanjing_reporter, values=full_values(before))
    values = full_values(draft)
    stock = next(v for v in values if "value" in v)
    stock["value"] = "5000"  # five times last quarter's 1000
    submission_values_put(submission=draft, user=nanjing_reporter, values=values)
    with pytest.raises(ValidationError) as excinfo:
        workflow.submission_submit(submission=draft, user=nanjing_reporter)
    assert list(excinfo.value.message_dict) == [f"values.{stock['indicator']}.comment"]
    stock["comment"] = "新认定一批高技能人才"
    submission_values_put(submission=draft, user=nanjing_reporter, values=values)
    assert workflow.submission_submit(submission=draft, user=nanjing_reporter).status == S.SUBMITTED
    assert Indicator.objects.filter(code=stock["indicator"]).exists()
