"""State changes of a submission: draft → submitted → city-approved → confirmed (locked), returned
with a reason from either review step, reopened by a coordinator with a reason.

Every change writes a Transition row (who, when, from, to, why) in the same transaction."""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from common.errors import ApplicationError
from indicators.models import Indicator
from portal.accounts.models import SecurityEvent
from portal.accounts.security import security_event_record
from reporting.models import DataValue, Submission, Transition
from reporting.selectors import indicators_expected, value_as_number, values_previous_numbers
from reporting.services.notifications import transition_notices_create
from reporting.services.rollups import rollup_enqueue
from reporting.services.submissions import (
    ValuesWritten,
    ensure_period_open,
    jump_exceeds,
    submission_lock,
    submission_save,
)

S = Submission.Status
MAX_REASON = 2000


# Approvals, returns and reopenings are security events (等保 audit), written in the same transaction.
SECURITY_EVENTS: dict[str, str] = {
    Transition.Action.CITY_APPROVE: SecurityEvent.Event.APPROVAL,
    Transition.Action.CONFIRM: SecurityEvent.Event.APPROVAL,
    Transition.Action.RETURN: SecurityEvent.Event.RETURN,
    Transition.Action.REOPEN: SecurityEvent.Event.REOPEN,
}
# Moves into or out of these states change a figure (official or preview), so they trigger a recompute.
COUNTED = {S.CITY_APPROVED, S.CONFIRMED}


def _record(submission: Submission, *, user: User, action: str, old: str, reason: str = "") -> None:
    submission.version += 1
    submission._change_reason = reason or action  # type: ignore[attr-defined]
    transition = Transition(
        submission=submission, action=action, from_status=old, to_status=submission.status, actor=user, reason=reason
    )
    submission_save(submission=submission, transition=transition)
    transition_notices_create(transition=transition)
    event = SECURITY_EVENTS.get(action)
    if event is not None:
        security_event_record(
            event=event,
            success=True,
            user=user,
            obj=submission,
            detail={"action": action, "from": old, "to": submission.status, "reason": reason},
        )
    if old in COUNTED or submission.status in COUNTED:
        rollup_enqueue(plan_id=submission.plan_id, period_id=submission.period_id, region_id=submission.region_id)


def _clean_reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError({"reason": [_("必须填写原因。")]})
    if len(reason) > MAX_REASON:
        raise ValidationError({"reason": [_("原因不能超过 %(n)s 个字符。") % {"n": MAX_REASON}]})
    return reason.strip()


def _uses_city_review(submission: Submission) -> bool:
    return submission.region_id is not None and settings.REPORTING_CITY_REVIEW


def submission_completeness_errors(
    *, submission: Submission, written: ValuesWritten | None = None
) -> dict[str, list[str]]:
    """What stops a submit: missing required values, milestones without a date, and large moves from
    last quarter that carry no comment (a warning the reporter must answer, as in DHIS2).

    `written`: the values write this transaction just made under the same row lock; its indicators and
    the submission's values after it are what the database holds now, so they are not read again."""
    errors: dict[str, list[str]] = {}
    values: dict[int, Any]
    if written is None:
        values = {v.indicator_id: v for v in DataValue.objects.filter(submission=submission)}
        indicators: Any = indicators_expected(plan=submission.plan, region=submission.region, body=submission.body)
    else:
        values, indicators = written.values, written.indicators
    previous = values_previous_numbers(submission=submission)
    for indicator in indicators:
        key = f"values.{indicator.code}"
        value = values.get(indicator.pk)
        if indicator.kind == Indicator.Kind.MILESTONE:
            if value is None or value.done is None:
                errors[key] = [_("请填写“%(name)s”是否完成。") % {"name": indicator.name}]
            elif value.done and value.done_on is None:
                errors[f"{key}.done_on"] = [_("已完成的事项须填写完成日期。")]
            continue
        if indicator.has_parts:
            if value is None or value.numerator is None or value.denominator is None:
                errors[key] = [_("请填写“%(name)s”的分子和分母。") % {"name": indicator.name}]
                continue
        elif value is None or value.value is None:
            errors[key] = [_("请填写“%(name)s”。") % {"name": indicator.name}]
            continue
        last = previous.get(indicator.pk)
        if last is not None and not value.comment:
            now, before = value_as_number(value, indicator), value_as_number(last, indicator)
            if jump_exceeds(current=now, previous=before):
                errors[f"{key}.comment"] = [
                    _("与上季度（%(before)s）相比变化幅度超过 %(pct)s%%，请在说明中解释原因。")
                    % {"before": before, "pct": int(settings.REPORTING_JUMP_THRESHOLD * 100)}
                ]
    return errors


@transaction.atomic
def submission_submit(*, submission: Submission, user: User, expected_version: int | None = None) -> Submission:
    submission = submission_lock(submission=submission, expected_version=expected_version)
    return submission_submit_locked(submission=submission, user=user)


def submission_submit_locked(*, submission: Submission, user: User, written: ValuesWritten | None = None) -> Submission:
    """The submit step for a submission the caller has locked (and checked the version of) in its transaction;
    `written` is the values write made just before in that transaction, if any."""
    if not user.has_perm("reporting.submit_submission", submission):
        raise PermissionDenied(_("您无权提交该报表。"))
    if submission.status in (S.SUBMITTED, S.CITY_APPROVED, S.CONFIRMED):
        raise ApplicationError(
            _("该报表已提交（当前状态：%(status)s），请勿重复提交。") % {"status": submission.get_status_display()},
            errors={"status": [_("已提交。")]},
        )
    ensure_period_open(submission.period)
    now = timezone.now()
    if submission.period.end >= timezone.localdate(now):
        raise ApplicationError(
            _("%(period)s 尚未结束（%(end)s 结束），季度结束后方可提交。")
            % {"period": submission.period.code, "end": submission.period.end},
            errors={"period": [_("季度尚未结束。")]},
        )
    errors = submission_completeness_errors(submission=submission, written=written)
    if errors:
        raise ValidationError(errors)
    old = submission.status
    submission.status = S.SUBMITTED
    submission.submitted_at = now
    submission.submitted_by = user
    submission.is_late = timezone.localdate(now) > submission.period.deadline
    submission.return_reason = ""
    _record(submission, user=user, action=Transition.Action.SUBMIT, old=old)
    return submission


@transaction.atomic
def submission_city_approve(*, submission: Submission, user: User, expected_version: int | None = None) -> Submission:
    submission = submission_lock(submission=submission, expected_version=expected_version)
    if not user.has_perm("reporting.city_review_submission", submission):
        raise PermissionDenied(_("只有本市审核员可以进行市级审核。"))
    if not _uses_city_review(submission):
        raise ApplicationError(_("本报表不经过市级审核。"))
    if submission.status != S.SUBMITTED:
        raise ApplicationError(
            _("只有“已提交”的报表可以市级审核，当前状态：%(status)s。") % {"status": submission.get_status_display()},
            errors={"status": [_("状态不允许此操作。")]},
        )
    old = submission.status
    submission.status = S.CITY_APPROVED
    submission.city_approved_at = timezone.now()
    submission.city_approved_by = user
    _record(submission, user=user, action=Transition.Action.CITY_APPROVE, old=old)
    return submission


@transaction.atomic
def submission_confirm(*, submission: Submission, user: User, expected_version: int | None = None) -> Submission:
    submission = submission_lock(submission=submission, expected_version=expected_version)
    if not user.has_perm("reporting.confirm_submission", submission):
        raise PermissionDenied(_("只有协调小组办公室可以进行省级确认。"))
    ready = S.CITY_APPROVED if _uses_city_review(submission) else S.SUBMITTED
    if submission.status != ready:
        raise ApplicationError(
            _("当前状态“%(status)s”不能省级确认，需先为“%(ready)s”。")
            % {"status": submission.get_status_display(), "ready": S(ready).label},
            errors={"status": [_("状态不允许此操作。")]},
        )
    old = submission.status
    submission.status = S.CONFIRMED
    submission.confirmed_at = timezone.now()
    submission.confirmed_by = user
    _record(submission, user=user, action=Transition.Action.CONFIRM, old=old)
    return submission


@transaction.atomic
def submission_return(
    *, submission: Submission, user: User, reason: Any, expected_version: int | None = None
) -> Submission:
    reason = _clean_reason(reason)
    submission = submission_lock(submission=submission, expected_version=expected_version)
    is_coordinator = user.has_perm("reporting.confirm_submission", submission)
    is_city_reviewer = user.has_perm("reporting.city_review_submission", submission)
    if not (is_coordinator or is_city_reviewer):
        raise PermissionDenied(_("您无权退回该报表。"))
    if submission.status == S.SUBMITTED:
        allowed = is_city_reviewer if _uses_city_review(submission) else is_coordinator
    elif submission.status == S.CITY_APPROVED:
        allowed = is_coordinator
    else:
        raise ApplicationError(
            _("当前状态“%(status)s”不能退回。") % {"status": submission.get_status_display()},
            errors={"status": [_("状态不允许此操作。")]},
        )
    if not allowed:
        raise PermissionDenied(_("当前审核环节不由您负责。"))
    old = submission.status
    submission.status = S.RETURNED
    submission.return_reason = reason
    _record(submission, user=user, action=Transition.Action.RETURN, old=old, reason=reason)
    return submission


@transaction.atomic
def submission_reopen(
    *, submission: Submission, user: User, reason: Any, expected_version: int | None = None
) -> Submission:
    """A coordinator reopens a confirmed submission for correction; it goes back to the reporter as returned."""
    reason = _clean_reason(reason)
    submission = submission_lock(submission=submission, expected_version=expected_version)
    if not user.has_perm("reporting.reopen_submission", submission):
        raise PermissionDenied(_("只有协调小组办公室可以重新打开已确认的报表。"))
    if submission.status != S.CONFIRMED:
        raise ApplicationError(
            _("只有已确认的报表可以重新打开，当前状态：%(status)s。") % {"status": submission.get_status_display()},
            errors={"status": [_("状态不允许此操作。")]},
        )
    old = submission.status
    submission.status = S.RETURNED
    submission.return_reason = reason
    _record(submission, user=user, action=Transition.Action.REOPEN, old=old, reason=reason)
    return submission
