"""A whole quarterly report in one call: what a city's system sends when it uploads its quarter.

Get or create the (reporter, period) submission, write its values and, if asked, submit it, in one
transaction under the submission's row lock: the same rules as the three separate steps (create, values
with If-Match, submit), and all or nothing: a refused value or an incomplete report leaves no trace, not
even the draft this call would have created."""

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

from common.errors import ApplicationError
from indicators.models import Indicator
from measures.models import Plan, Region, ResponsibleBody
from reporting.models import Period, Submission
from reporting.services.submissions import (
    WriteSummary,
    ensure_editable,
    submission_get_or_create_in_transaction,
    submission_lock,
    values_write_locked,
    version_check,
)
from reporting.services.workflow import submission_submit_locked


def report_upload(
    *,
    user: User,
    plan: Plan,
    period: Period,
    values: Any,
    region: Region | None = None,
    body: ResponsibleBody | None = None,
    submit: bool = False,
    expected_version: int | None = None,
    version_stated: bool = False,
    indicators: list[Indicator] | None = None,
    savepoint: bool = True,
) -> tuple[Submission, bool, WriteSummary]:
    """Returns the submission, whether this call created it, and what the values write changed.

    A report that already existed is overwritten only by a caller who says which version it read
    (`expected_version`, or `version_stated` with None for "any version"): otherwise 428, and a stale
    version 412, as for `submission_values_put`. A report created by this call needs no version.

    A report this call created is not read back under a lock: the row is this transaction's own and not yet
    visible to anyone else (an identical request waits on the unique index until this one ends), and it
    has no values yet; it carries the plan, period and reporter objects it was created with.

    `indicators`: the reporter's expected indicators (`indicators_for_values` of this plan and reporter) when
    the caller has them already; read here otherwise.

    `savepoint=False` when the caller's transaction ends whole on any error raised here (the API's
    Idempotency-Key transaction, `reporting.idempotency.whole_transaction`): nested in it, this call's
    savepoint would never be rolled back to alone, and costs two statements (SAVEPOINT, RELEASE) on every
    report. Called on its own, the call is its own transaction either way."""
    with transaction.atomic(savepoint=savepoint):
        submission, created = submission_get_or_create_in_transaction(
            user=user, plan=plan, period=period, region=region, body=body
        )
        if not created and not version_stated:
            raise ApplicationError(
                _(
                    "该报表已存在（版本 %(version)s）：请在 If-Match 请求头或 version 字段中提供读取时的版本号，"
                    "以免覆盖他人的修改。"
                )
                % {"version": submission.version},
                errors={"version": [_("缺少版本号（If-Match 或 version）。")]},
                status_code=428,
            )
        if created:
            version_check(submission=submission, expected_version=expected_version)
        else:
            submission = submission_lock(submission=submission, expected_version=expected_version)
        ensure_editable(submission=submission, user=user)
        written = values_write_locked(
            submission=submission, user=user, values=values, fresh=created, indicators=indicators
        )
        if submit:
            submission = submission_submit_locked(submission=submission, user=user, written=written)
        return submission, created, written.summary
