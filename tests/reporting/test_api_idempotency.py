"""Retries create nothing twice: `Idempotency-Key` replays the first answer; creating a submission is a
natural-key upsert even without a key."""

from datetime import date

from django.db import connection
from django.test.utils import CaptureQueriesContext

from reporting.models import DataValue, Evidence, IdempotencyRecord, Submission, Transition
from tests.reporting.conftest import first_of_kind, full_values
from tests.reporting.test_api_support import API, if_match, pdf, snapshot, url

CREATE = {"period": "2025Q4", "region": "320100"}


def test_creating_twice_without_a_key_makes_one_submission(
    plan, period, nanjing, nanjing_reporter, client_for, time_machine
):
    time_machine.move_to(date(2026, 1, 5))
    client = client_for(nanjing_reporter)

    first = client.post(f"{API}/submissions/", CREATE, format="json")
    second = client.post(f"{API}/submissions/", CREATE, format="json")

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert Submission.objects.count() == 1
    assert Transition.objects.filter(action="create").count() == 1


def test_the_same_key_twice_replays_the_first_answer(plan, period, nanjing, nanjing_reporter, client_for, time_machine):
    time_machine.move_to(date(2026, 1, 5))
    client = client_for(nanjing_reporter)

    first = client.post(f"{API}/submissions/", CREATE, format="json", HTTP_IDEMPOTENCY_KEY="q4-nj-1")
    second = client.post(f"{API}/submissions/", CREATE, format="json", HTTP_IDEMPOTENCY_KEY="q4-nj-1")

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert second["ETag"] == first["ETag"] == '"1"'
    assert Submission.objects.count() == 1
    assert IdempotencyRecord.objects.get().status_code == 201
    assert IdempotencyRecord.objects.get().response_body == first.json()


def test_a_retried_put_writes_once(filled, nanjing_reporter, client_for):
    stock = first_of_kind(filled, "stock")
    client = client_for(nanjing_reporter)
    headers = {**if_match(filled), "HTTP_IDEMPOTENCY_KEY": "put-1"}
    body = {"values": [{"indicator": stock.code, "value": "4321"}]}

    first = client.put(url(filled, "values/"), body, format="json", **headers)
    second = client.put(url(filled, "values/"), body, format="json", **headers)

    # Without the key the retry would have been refused as stale (412); with it, it gets the first answer.
    assert (first.status_code, second.status_code) == (200, 200)
    assert (
        second.json()
        == first.json()
        == {
            "id": str(filled.public_id),
            "status": "draft",
            "version": filled.version + 1,
            "summary": {"created": 0, "updated": 1, "unchanged": 0},
        }
    )
    assert Submission.objects.get(pk=filled.pk).version == filled.version + 1
    assert DataValue.history.filter(submission_id=filled.pk, indicator_id=stock.pk).count() == 2


def test_the_same_key_for_a_different_request_is_refused_with_422(filled, nanjing_reporter, client_for):
    stock = first_of_kind(filled, "stock")
    client = client_for(nanjing_reporter)
    headers = {**if_match(filled), "HTTP_IDEMPOTENCY_KEY": "put-2"}
    client.put(url(filled, "values/"), {"values": [{"indicator": stock.code, "value": "1"}]}, format="json", **headers)
    before = snapshot(filled)

    response = client.put(
        url(filled, "values/"), {"values": [{"indicator": stock.code, "value": "2"}]}, format="json", **headers
    )

    assert response.status_code == 422
    assert response.json()["errors"] == {"Idempotency-Key": ["键已用于不同的请求。"]}
    assert snapshot(filled) == before
    assert DataValue.objects.get(submission=filled, indicator=stock).value == 1


def test_a_refused_request_is_not_kept_so_a_corrected_retry_runs(filled, nanjing_reporter, client_for):
    stock = first_of_kind(filled, "stock")
    client = client_for(nanjing_reporter)
    body = {"values": [{"indicator": stock.code, "value": "77"}]}

    stale = client.put(url(filled, "values/"), body, format="json", HTTP_IF_MATCH='"1"', HTTP_IDEMPOTENCY_KEY="k")
    fresh = client.put(url(filled, "values/"), body, format="json", HTTP_IDEMPOTENCY_KEY="k", **if_match(filled))

    assert (stale.status_code, fresh.status_code) == (412, 200)
    assert DataValue.objects.get(submission=filled, indicator=stock).value == 77
    assert IdempotencyRecord.objects.filter(key="k").count() == 1


def test_a_whole_report_under_a_key_is_one_transaction_without_a_savepoint_of_its_own(
    plan, period, nanjing, nanjing_reporter, client_for, time_machine
):
    """Under a key any error ends the key's transaction whole, so the report adds no savepoint of its own (two
    statements a report): an incomplete report, refused at the submit after its draft and values were
    written, leaves nothing (no draft, no value, no transition, no key), and the whole report sent next under
    the same key runs."""
    time_machine.move_to(date(2026, 1, 5))
    client = client_for(nanjing_reporter)
    values = full_values(Submission(plan=plan, region=nanjing))
    body = {"period": period.code, "region": nanjing.code, "submit": True}
    path = f"{API}/submissions/report/"

    refused = client.post(path, {**body, "values": values[:5]}, format="json", HTTP_IDEMPOTENCY_KEY="quarter")
    assert refused.status_code == 400
    assert not Submission.objects.exists()
    assert not DataValue.objects.exists()
    assert not Transition.objects.exists()
    assert not IdempotencyRecord.objects.exists()

    with CaptureQueriesContext(connection) as queries:
        done = client.post(path, {**body, "values": values}, format="json", HTTP_IDEMPOTENCY_KEY="quarter")
    assert done.status_code == 201, done.json()
    assert Submission.objects.get().status == Submission.Status.SUBMITTED
    assert DataValue.objects.count() == len(values)
    # The test's own transaction turns the key's transaction into a savepoint: that one, and no other.
    assert len([q for q in queries if q["sql"].startswith("SAVEPOINT")]) == 1


def test_a_retried_upload_attaches_one_file(draft, nanjing_reporter, client_for):
    client = client_for(nanjing_reporter)

    first = client.post(url(draft, "evidence/"), {"file": pdf()}, format="multipart", HTTP_IDEMPOTENCY_KEY="up-1")
    second = client.post(url(draft, "evidence/"), {"file": pdf()}, format="multipart", HTTP_IDEMPOTENCY_KEY="up-1")

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert Evidence.objects.filter(submission=draft).count() == 1


def test_a_retried_workflow_step_is_replayed_not_refused(filled, nanjing_reporter, client_for):
    client = client_for(nanjing_reporter)

    first = client.post(url(filled, "submit/"), HTTP_IDEMPOTENCY_KEY="submit-1")
    second = client.post(url(filled, "submit/"), HTTP_IDEMPOTENCY_KEY="submit-1")
    without_key = client.post(url(filled, "submit/"))

    assert (first.status_code, second.status_code, without_key.status_code) == (200, 200, 409)
    assert Transition.objects.filter(submission=filled, action="submit").count() == 1


def test_keys_belong_to_their_user(
    plan, period, nanjing, suzhou, nanjing_reporter, suzhou_reporter, client_for, time_machine
):
    time_machine.move_to(date(2026, 1, 5))

    nj = client_for(nanjing_reporter).post(f"{API}/submissions/", CREATE, format="json", HTTP_IDEMPOTENCY_KEY="same")
    sz = client_for(suzhou_reporter).post(
        f"{API}/submissions/", {"period": "2025Q4", "region": "320500"}, format="json", HTTP_IDEMPOTENCY_KEY="same"
    )

    assert (nj.status_code, sz.status_code) == (201, 201)
    assert nj.json()["id"] != sz.json()["id"]
    assert Submission.objects.count() == 2


def test_an_overlong_key_is_refused(plan, period, nanjing, nanjing_reporter, client_for, time_machine):
    time_machine.move_to(date(2026, 1, 5))
    response = client_for(nanjing_reporter).post(
        f"{API}/submissions/", CREATE, format="json", HTTP_IDEMPOTENCY_KEY="k" * 129
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["Idempotency-Key"]
    assert Submission.objects.count() == 0


def test_a_json_bodys_fingerprint_ignores_key_order_and_matches_the_canonical_form():
    """A JSON body is hashed without the generic canonical walk (its keys are strings, so sorting them is
    enough): the fingerprint is the one the walk gives, so keys stored before still match."""
    import hashlib
    import json as json_module

    from rest_framework.parsers import JSONParser
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory
    from rest_framework.utils.encoders import JSONEncoder

    from reporting.idempotency import _canonical, request_fingerprint

    body = {"period": "2025Q4", "values": [{"indicator": "a", "value": "1", "comment": "说明"}], "submit": True}
    reordered = {"submit": True, "values": [{"comment": "说明", "value": "1", "indicator": "a"}], "period": "2025Q4"}

    def fingerprint(data):
        raw = APIRequestFactory().post("/api/v1/submissions/report/", data, format="json")
        return request_fingerprint(Request(raw, parsers=[JSONParser()]))

    walked = json_module.dumps(_canonical(body), sort_keys=True, cls=JSONEncoder, ensure_ascii=False)
    expected = hashlib.sha256(f"POST\n/api/v1/submissions/report/\n{walked}".encode()).hexdigest()
    assert fingerprint(body) == fingerprint(reordered) == expected
    assert fingerprint({**body, "submit": False}) != expected
