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


def _submission_trail(submission):
    """The submission's historical rows and Transitions, without what differs between two reports (ids,
    times, the public id; the period and so whether it was late)."""
    skip = {"history_id", "history_date", "id", "public_id", "period_id", "is_late", "created_at", "updated_at"}
    skip |= {"submitted_at", "city_approved_at", "confirmed_at"}
    history = [
        sorted((k, v) for k, v in row.items() if k not in skip)
        for row in Submission.history.filter(id=submission.pk).order_by("history_id").values()
    ]
    transitions = list(
        Transition.objects.filter(submission=submission)
        .order_by("id")
        .values_list("action", "from_status", "to_status", "actor_id", "reason")
    )
    return history, transitions


def test_the_one_statement_writes_leave_the_rows_save_and_simple_history_leave(
    plan, period, previous_period, nanjing, nanjing_reporter, nanjing_reviewer, monkeypatch, time_machine
):
    """On PostgreSQL a submission's row, its historical row and its Transition are written by one statement
    (create, every values write, every workflow step); with that path switched off, by save(), simple-history
    and Transition.save(). Both leave the same rows, and the same trail."""
    from reporting.services import submissions

    time_machine.move_to(datetime(2026, 1, 5, 10, tzinfo=SHANGHAI))

    def walk(period_):
        submission, created = submission_create(user=nanjing_reporter, plan=plan, period=period_, region=nanjing)
        assert created
        assert submission_create(user=nanjing_reporter, plan=plan, period=period_, region=nanjing) == (
            submission,
            False,
        )
        submission_values_put(submission=submission, user=nanjing_reporter, values=full_values(submission)[:10])
        submission_values_put(submission=submission, user=nanjing_reporter, values=full_values(submission))
        submission = workflow.submission_submit(submission=submission, user=nanjing_reporter)
        submission = workflow.submission_return(submission=submission, user=nanjing_reviewer, reason="请核实")
        submission_values_put(submission=submission, user=nanjing_reporter, values=full_values(submission, scale=2))
        submission = workflow.submission_submit(submission=submission, user=nanjing_reporter)
        return workflow.submission_city_approve(submission=submission, user=nanjing_reviewer)

    fast = walk(period)
    monkeypatch.setattr(submissions, "_history_sql", lambda model: None)
    slow = walk(previous_period)

    fast_history, fast_transitions = _submission_trail(fast)
    assert (fast_history, fast_transitions) == _submission_trail(slow)
    assert [dict(row)["history_type"] for row in fast_history] == ["+"] + ["~"] * 7
    assert [dict(row)["history_change_reason"] for row in fast_history] == [
        None, None, None, "submit", "请核实", None, "submit", "city_approve"
    ]  # fmt: skip
    assert [dict(row)["version"] for row in fast_history] == list(range(1, 9))
    assert [t[0] for t in fast_transitions] == ["create", "submit", "return", "submit", "city_approve"]
    stored = Submission.objects.get(pk=fast.pk)
    assert (stored.status, stored.version, stored.updated_at) == (S.CITY_APPROVED, 8, fast.updated_at)
    assert Submission.history.filter(id=fast.pk).latest("history_id").updated_at == stored.updated_at


def test_last_quarters_numbers_come_from_the_reporters_latest_earlier_report(
    plan, nanjing, suzhou, nanjing_reporter, suzhou_reporter, edu_body, edu_reporter, time_machine
):
    """The submit's jump check reads last quarter's numbers with SQL of its own on PostgreSQL: the same
    report `values_previous` (the ORM) picks — the reporter's latest earlier quarter, across a year, not
    another reporter's nor a later quarter's."""
    from reporting.selectors import values_previous, values_previous_numbers
    from reporting.services.periods import period_ensure

    time_machine.move_to(datetime(2026, 1, 5, 10, tzinfo=SHANGHAI))
    reports = {}
    for scale, (year, quarter), reporter, where in [
        (2, (2024, 4), nanjing_reporter, {"region": nanjing}),
        (3, (2025, 1), nanjing_reporter, {"region": nanjing}),
        (4, (2025, 3), nanjing_reporter, {"region": nanjing}),
        (5, (2025, 4), nanjing_reporter, {"region": nanjing}),
        (6, (2025, 3), suzhou_reporter, {"region": suzhou}),
        (7, (2025, 2), edu_reporter, {"body": edu_body}),
        (8, (2025, 4), edu_reporter, {"body": edu_body}),
    ]:
        period = period_ensure(year=year, quarter=quarter)
        submission, _ = submission_create(user=reporter, plan=plan, period=period, **where)
        submission_values_put(submission=submission, user=reporter, values=full_values(submission, scale=scale))
        reports[(year, quarter, next(iter(where.values())).pk)] = submission

    def numbers(submission):
        return {
            k: (v.value, v.numerator, v.denominator) for k, v in values_previous_numbers(submission=submission).items()
        }

    def orm(submission):
        return {k: (v.value, v.numerator, v.denominator) for k, v in values_previous(submission=submission).items()}

    chosen = {key: numbers(s) for key, s in reports.items()}
    assert chosen == {key: orm(s) for key, s in reports.items()}
    values_of = {
        key: {v.indicator_id: (v.value, v.numerator, v.denominator) for v in s.values.all()}
        for key, s in reports.items()
    }
    assert chosen[(2025, 4, nanjing.pk)] == values_of[(2025, 3, nanjing.pk)]
    assert chosen[(2025, 3, nanjing.pk)] == values_of[(2025, 1, nanjing.pk)]
    assert chosen[(2025, 1, nanjing.pk)] == values_of[(2024, 4, nanjing.pk)]
    assert chosen[(2024, 4, nanjing.pk)] == {} == chosen[(2025, 3, suzhou.pk)]
    assert chosen[(2025, 4, edu_body.pk)] == values_of[(2025, 2, edu_body.pk)] != {}


def test_saving_a_submission_whose_row_is_gone_fails_loudly(draft):
    """The one-statement save updates the row it was given; one that is gone is an error, as
    save(force_update=True) would raise, not a silent no-op (the services hold the row's lock, so it cannot
    happen there)."""
    from django.db import DatabaseError

    from reporting.services.submissions import submission_save

    Submission.objects.filter(pk=draft.pk).delete()
    draft.version += 1
    with pytest.raises(DatabaseError):
        submission_save(submission=draft)
    assert not Submission.objects.filter(pk=draft.pk).exists()
    assert not Submission.history.filter(id=draft.pk, version=draft.version).exists()
