"""Concurrency on PostgreSQL: identical creates make one submission; editors racing with versions lose
nothing — each write either lands on the version it read or is refused, never silently overwritten."""

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, connections

from common.errors import ApplicationError
from indicators.models import Indicator
from reporting.models import DataValue, Submission
from reporting.services.submissions import submission_create, submission_values_put

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="real concurrent writers need PostgreSQL (SQLite has one writer)"
)


def _in_threads(count, work):
    errors, results = [], []
    barrier = threading.Barrier(count)

    def run(index):
        try:
            barrier.wait(10)
            results.append(work(index))
        except Exception as exc:  # collected and asserted on by the caller
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


def test_twenty_identical_creates_make_one_submission(
    transactional_db, plan, period, nanjing, nanjing_reporter, time_machine
):
    time_machine.move_to(datetime(2026, 1, 5, 10, tzinfo=ZoneInfo("Asia/Shanghai")))
    results, errors = _in_threads(
        20, lambda _i: submission_create(user=nanjing_reporter, plan=plan, period=period, region=nanjing)
    )
    assert errors == []
    assert Submission.objects.filter(period=period, region=nanjing).count() == 1
    assert sum(1 for _submission, created in results if created) == 1
    assert len({submission.pk for submission, _created in results}) == 1


def test_two_editors_fifty_edits_each_lose_nothing(
    transactional_db, plan, period, nanjing, nanjing_reporter, time_machine
):
    time_machine.move_to(datetime(2026, 1, 5, 10, tzinfo=ZoneInfo("Asia/Shanghai")))
    submission, _ = submission_create(user=nanjing_reporter, plan=plan, period=period, region=nanjing)
    stocks = [i.code for i in Indicator.objects.filter(plan=plan, kind="stock", reporter__in=["city", "both"])][:2]
    landed: dict[str, list[int]] = {code: [] for code in stocks}

    def editor(index):
        code = stocks[index]
        refused = 0
        for n in range(1, 51):
            while True:
                seen = Submission.objects.get(pk=submission.pk).version
                try:
                    submission_values_put(
                        submission=submission,
                        user=nanjing_reporter,
                        values=[{"indicator": code, "value": str(n)}],
                        expected_version=seen,
                    )
                    landed[code].append(n)
                    break
                except ApplicationError as exc:
                    if exc.status_code != 412:
                        raise
                    refused += 1
        return refused

    results, errors = _in_threads(2, editor)
    assert errors == []
    final = Submission.objects.get(pk=submission.pk)
    # 100 accepted writes, each bumping the version once: none was lost or applied twice.
    assert final.version == 1 + 100
    for code in stocks:
        assert landed[code] == list(range(1, 51))
        value = DataValue.objects.get(submission=submission, indicator__code=code)
        assert value.value == 50
        assert value.history.count() == 50
    assert len(results) == 2


def test_eight_identical_reports_with_one_key_write_once_and_replay(
    transactional_db, plan, period, nanjing, nanjing_reporter, time_machine
):
    """A client's retries racing its first request: the key's INSERT … ON CONFLICT waits for the first to
    commit, then every other request replays its answer; the report and its values are written once."""
    from rest_framework.test import APIClient

    from reporting.models import IdempotencyRecord, Transition
    from tests.reporting.conftest import full_values

    time_machine.move_to(datetime(2026, 1, 5, 10, tzinfo=ZoneInfo("Asia/Shanghai")))
    body = {"period": period.code, "region": nanjing.code, "submit": True}
    body["values"] = full_values(Submission(plan=plan, region=nanjing))

    def post(_index):
        client = APIClient()
        client.force_authenticate(nanjing_reporter)
        response = client.post("/api/v1/submissions/report/", body, format="json", HTTP_IDEMPOTENCY_KEY="q4")
        return response.status_code, response.get("Idempotent-Replayed"), response.json()

    results, errors = _in_threads(8, post)
    assert errors == []
    assert [status for status, _replayed, _body in results] == [201] * 8
    assert sum(1 for _status, replayed, _body in results if replayed != "true") == 1
    answers = [answer for _status, _replayed, answer in results]
    assert all(a == answers[0] for a in answers), [
        {k: (a[k], answers[0][k]) for k in a if a[k] != answers[0][k]} for a in answers
    ]
    submission = Submission.objects.get(period=period, region=nanjing)
    assert submission.values.count() == len(body["values"])
    assert Transition.objects.filter(submission=submission).count() == 2
    assert IdempotencyRecord.objects.count() == 1
