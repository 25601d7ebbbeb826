"""POST /api/v1/submissions/report/: a whole report (create, values, submit) in one call, all or nothing,
with the same rules as the three separate steps."""

from datetime import date

import pytest

from reporting.models import DataValue, IdempotencyRecord, Period, Submission, Transition
from reporting.selectors import indicators_expected
from reporting.services.submissions import submission_create, submission_values_put
from tests.reporting.conftest import first_of_kind, full_values
from tests.reporting.test_api_support import API, snapshot

REPORT = f"{API}/submissions/report/"


def _values(plan, nanjing) -> list[dict]:
    probe = Submission(plan=plan, region=nanjing)
    return full_values(probe)


def _body(plan, nanjing, **extra) -> dict:
    return {"period": "2025Q4", "region": "320100", "values": _values(plan, nanjing), **extra}


def _nothing_written() -> tuple:
    return (
        Submission.objects.count(),
        DataValue.objects.count(),
        DataValue.history.count(),
        Transition.objects.count(),
        IdempotencyRecord.objects.count(),
    )


@pytest.fixture
def today(time_machine):
    time_machine.move_to(date(2026, 1, 5))


def test_one_call_creates_writes_and_submits(plan, period, nanjing, nanjing_reporter, client_for, today):
    body = _body(plan, nanjing, submit=True)

    response = client_for(nanjing_reporter).post(REPORT, body, format="json")

    assert response.status_code == 201, response.json()
    submission = Submission.objects.get()
    assert response.json()["id"] == str(submission.public_id)
    assert response.json()["status"] == "submitted"
    assert response.json()["summary"] == {"created": len(body["values"]), "updated": 0, "unchanged": 0}
    assert response["ETag"] == f'"{submission.version}"' == '"3"'
    assert submission.status == Submission.Status.SUBMITTED
    assert submission.values.count() == len(body["values"])
    assert DataValue.history.filter(submission_id=submission.pk, history_type="+").count() == len(body["values"])
    assert set(DataValue.history.values_list("history_user__username", flat=True)) == {nanjing_reporter.username}
    assert list(submission.transitions.order_by("at", "id").values_list("action", flat=True)) == ["create", "submit"]
    # The report's own trail: created, its values written, submitted, each row by the request's user.
    trail = Submission.history.filter(id=submission.pk).order_by("history_id")
    assert list(trail.values_list("history_type", "status", "version", "history_change_reason")) == [
        ("+", "draft", 1, None),
        ("~", "draft", 2, None),
        ("~", "submitted", 3, "submit"),
    ]
    assert set(trail.values_list("history_user__username", flat=True)) == {nanjing_reporter.username}
    assert trail.last().updated_at == submission.updated_at


def test_without_submit_the_report_stays_a_draft(plan, period, nanjing, nanjing_reporter, client_for, today):
    response = client_for(nanjing_reporter).post(REPORT, _body(plan, nanjing), format="json")

    assert response.status_code == 201
    assert Submission.objects.get().status == Submission.Status.DRAFT
    assert response.json()["version"] == 2


def test_another_citys_report_is_not_found_and_nothing_is_written(
    plan, period, nanjing, suzhou_reporter, client_for, today
):
    response = client_for(suzhou_reporter).post(REPORT, _body(plan, nanjing, submit=True), format="json")

    assert response.status_code == 404
    assert _nothing_written() == (0, 0, 0, 0, 0)


@pytest.mark.parametrize("who", ["auditor", "coordinator", "nanjing_reviewer"])
def test_who_may_read_but_not_write_is_refused(plan, period, nanjing, client_for, today, request, who):
    response = client_for(request.getfixturevalue(who)).post(REPORT, _body(plan, nanjing), format="json")

    assert response.status_code == 403
    assert set(response.json()) == {"message", "errors"}
    assert _nothing_written() == (0, 0, 0, 0, 0)


def test_a_closed_period_is_refused(plan, period, nanjing, nanjing_reporter, client_for, today):
    Period.objects.filter(pk=period.pk).update(status=Period.Status.CLOSED)

    response = client_for(nanjing_reporter).post(REPORT, _body(plan, nanjing, submit=True), format="json")

    assert response.status_code == 409
    assert "period" in response.json()["errors"]
    assert _nothing_written() == (0, 0, 0, 0, 0)


def test_an_existing_report_needs_the_version_read(plan, period, nanjing, nanjing_reporter, client_for, today):
    draft, _ = submission_create(user=nanjing_reporter, plan=plan, period=period, region=nanjing)
    draft, _ = submission_values_put(submission=draft, user=nanjing_reporter, values=full_values(draft)[:3])
    before = snapshot(draft)
    client = client_for(nanjing_reporter)

    missing = client.post(REPORT, _body(plan, nanjing), format="json")
    stale = client.post(REPORT, _body(plan, nanjing, version=1), format="json")
    stale_header = client.post(REPORT, _body(plan, nanjing), format="json", HTTP_IF_MATCH='"1"')

    assert (missing.status_code, stale.status_code, stale_header.status_code) == (428, 412, 412)
    assert "version" in missing.json()["errors"]
    assert "version" in stale.json()["errors"]
    assert snapshot(draft) == before

    current = client.post(REPORT, _body(plan, nanjing, submit=True), format="json", HTTP_IF_MATCH='"2"')

    assert current.status_code == 200, current.json()
    assert current.json()["summary"] == {"created": len(full_values(draft)) - 3, "updated": 0, "unchanged": 3}
    assert Submission.objects.get().status == Submission.Status.SUBMITTED


def test_a_stale_if_match_refuses_even_a_new_report(plan, period, nanjing, nanjing_reporter, client_for, today):
    response = client_for(nanjing_reporter).post(REPORT, _body(plan, nanjing), format="json", HTTP_IF_MATCH='"4"')

    assert response.status_code == 412
    assert _nothing_written() == (0, 0, 0, 0, 0)


def test_the_same_key_twice_replays_the_first_answer(plan, period, nanjing, nanjing_reporter, client_for, today):
    client = client_for(nanjing_reporter)
    body = _body(plan, nanjing, submit=True)

    first = client.post(REPORT, body, format="json", HTTP_IDEMPOTENCY_KEY="nj-2025q4")
    second = client.post(REPORT, body, format="json", HTTP_IDEMPOTENCY_KEY="nj-2025q4")

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert second["ETag"] == first["ETag"] == '"3"'
    assert Submission.objects.count() == 1
    assert DataValue.objects.count() == len(body["values"])
    assert Transition.objects.count() == 2


def test_a_bad_value_names_its_field_and_writes_nothing(plan, period, nanjing, nanjing_reporter, client_for, today):
    body = _body(plan, nanjing, submit=True)
    stock = first_of_kind(Submission(plan=plan, region=nanjing), "stock")
    for item in body["values"]:
        if item["indicator"] == stock.code:
            item["value"] = "-5"

    response = client_for(nanjing_reporter).post(REPORT, body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {f"values.{stock.code}.value": ["数值不能为负数。"]}
    assert _nothing_written() == (0, 0, 0, 0, 0)


def test_an_incomplete_report_is_not_submitted_and_nothing_is_written(
    plan, period, nanjing, nanjing_reporter, client_for, today
):
    body = _body(plan, nanjing, submit=True)
    missing = body["values"].pop()["indicator"]

    response = client_for(nanjing_reporter).post(REPORT, body, format="json")

    assert response.status_code == 400
    assert f"values.{missing}" in response.json()["errors"]
    assert _nothing_written() == (0, 0, 0, 0, 0)


def test_a_submitted_report_is_locked(plan, period, nanjing, nanjing_reporter, client_for, today):
    client = client_for(nanjing_reporter)
    client.post(REPORT, _body(plan, nanjing, submit=True), format="json")
    before = snapshot(Submission.objects.get())

    again = client.post(REPORT, _body(plan, nanjing), format="json", HTTP_IF_MATCH="*")

    assert again.status_code == 409
    assert snapshot(Submission.objects.get()) == before


def test_the_city_system_sends_only_its_own_indicators(plan, period, nanjing, nanjing_reporter, client_for, today):
    expected = {i.code for i in indicators_expected(plan=plan, region=nanjing)}
    body = _body(plan, nanjing)
    body["values"].append({"indicator": "NO-SUCH-CODE", "value": "1"})

    response = client_for(nanjing_reporter).post(REPORT, body, format="json")

    assert "NO-SUCH-CODE" not in expected
    assert response.status_code == 400
    assert response.json()["errors"] == {"values.NO-SUCH-CODE": ["未知的指标代码“NO-SUCH-CODE”。"]}
    assert _nothing_written() == (0, 0, 0, 0, 0)


def test_a_jump_from_last_quarter_without_a_comment_stops_the_one_call(
    plan, period, previous_period, nanjing, nanjing_reporter, client_for, today
):
    # The submit checks the values this call has just written, without reading them back.
    before, _ = submission_create(user=nanjing_reporter, plan=plan, period=previous_period, region=nanjing)
    submission_values_put(submission=before, user=nanjing_reporter, values=full_values(before))
    counts = _nothing_written()
    body = _body(plan, nanjing, submit=True)
    stock = next(v for v in body["values"] if "value" in v)
    stock["value"] = "5000"  # five times last quarter's 1000
    client = client_for(nanjing_reporter)

    refused = client.post(REPORT, body, format="json")

    assert refused.status_code == 400
    assert list(refused.json()["errors"]) == [f"values.{stock['indicator']}.comment"]
    assert _nothing_written() == counts

    stock["comment"] = "新认定一批高技能人才"
    accepted = client.post(REPORT, body, format="json")
    assert accepted.status_code == 201, accepted.json()
    assert accepted.json()["status"] == "submitted"


def test_an_existing_report_is_complete_with_the_values_it_held_and_those_sent(
    plan, period, previous_period, nanjing, nanjing_reporter, client_for, today
):
    before, _ = submission_create(user=nanjing_reporter, plan=plan, period=previous_period, region=nanjing)
    submission_values_put(submission=before, user=nanjing_reporter, values=full_values(before))
    values = full_values(Submission(plan=plan, region=nanjing))
    stock = next(v for v in values if "value" in v)
    stock.update(value="5000", comment="新认定一批高技能人才")
    draft, _ = submission_create(user=nanjing_reporter, plan=plan, period=period, region=nanjing)
    draft, _ = submission_values_put(submission=draft, user=nanjing_reporter, values=values[:-1])
    client = client_for(nanjing_reporter)

    # The held stock loses its comment: the jump it explains needs one again.
    uncommented = client.post(
        REPORT,
        {**_body(plan, nanjing, submit=True), "values": [{**stock, "comment": ""}, values[-1]]},
        format="json",
        HTTP_IF_MATCH=f'"{draft.version}"',
    )
    assert uncommented.status_code == 400
    assert list(uncommented.json()["errors"]) == [f"values.{stock['indicator']}.comment"]

    # Only the missing value is sent: the report is complete with the ones it held.
    response = client.post(
        REPORT, {**_body(plan, nanjing, submit=True), "values": values[-1:]}, format="json", HTTP_IF_MATCH="*"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["summary"] == {"created": 1, "updated": 0, "unchanged": 0}
    assert Submission.objects.get(pk=draft.pk).status == Submission.Status.SUBMITTED

    # And one the draft lacked, not sent, still stops the submit.
    Submission.objects.filter(pk=draft.pk).update(status=Submission.Status.DRAFT)
    DataValue.objects.filter(submission=draft, indicator__code=values[0]["indicator"]).delete()
    incomplete = client.post(
        REPORT, {**_body(plan, nanjing, submit=True), "values": values[1:2]}, format="json", HTTP_IF_MATCH="*"
    )
    assert incomplete.status_code == 400
    assert f"values.{values[0]['indicator']}" in incomplete.json()["errors"]
