"""Approvals, returns and reopenings land in the security log in the same transaction as the change."""

import pytest
from django.core.exceptions import PermissionDenied

from portal.accounts.models import SecurityEvent
from reporting.services import workflow


def test_approvals_returns_and_reopenings_are_logged(filled, nanjing_reporter, nanjing_reviewer, coordinator):
    s = workflow.submission_submit(submission=filled, user=nanjing_reporter)
    s = workflow.submission_city_approve(submission=s, user=nanjing_reviewer)
    s = workflow.submission_confirm(submission=s, user=coordinator)
    workflow.submission_reopen(submission=s, user=coordinator, reason="统计口径更正")
    events = list(SecurityEvent.objects.filter(object_id=str(s.public_id)).values_list("event", "username"))
    assert events == [("approval", "nj-reviewer"), ("approval", "coordinator"), ("reopen", "coordinator")]
    assert SecurityEvent.objects.get(event="reopen").detail["reason"] == "统计口径更正"


def test_a_refused_action_logs_no_approval(filled, nanjing_reporter, suzhou_reviewer):
    s = workflow.submission_submit(submission=filled, user=nanjing_reporter)
    with pytest.raises(PermissionDenied):
        workflow.submission_city_approve(submission=s, user=suzhou_reviewer)
    assert not SecurityEvent.objects.filter(event="approval").exists()
