"""Fixtures for reporting tests: a draft for Nanjing and a payload that fills every expected value."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from indicators.models import Indicator
from reporting.selectors import indicators_expected
from reporting.services.submissions import submission_create


def full_values(submission, *, scale: int = 1) -> list[dict]:
    """A valid value for every indicator the submission's reporter must report."""
    out = []
    for indicator in indicators_expected(plan=submission.plan, region=submission.region, body=submission.body):
        if indicator.kind == Indicator.Kind.MILESTONE:
            out.append({"indicator": indicator.code, "done": True, "done_on": "2025-10-15"})
        elif indicator.kind in (Indicator.Kind.RATIO, Indicator.Kind.SHARE):
            out.append({"indicator": indicator.code, "numerator": str(40 * scale), "denominator": str(100 * scale)})
        else:
            out.append({"indicator": indicator.code, "value": str(1000 * scale)})
    return out


def first_of_kind(submission, kind: str) -> Indicator:
    return next(
        i
        for i in indicators_expected(plan=submission.plan, region=submission.region, body=submission.body)
        if i.kind == kind
    )


@pytest.fixture
def draft(plan, period, nanjing, nanjing_reporter, time_machine):
    time_machine.move_to(datetime(2026, 1, 5, 10, tzinfo=ZoneInfo("Asia/Shanghai")))
    submission, _ = submission_create(user=nanjing_reporter, plan=plan, period=period, region=nanjing)
    return submission


@pytest.fixture
def filled(draft, nanjing_reporter):
    from reporting.services.submissions import submission_values_put

    submission, _ = submission_values_put(submission=draft, user=nanjing_reporter, values=full_values(draft))
    return submission
