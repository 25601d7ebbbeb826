"""Evidence files through the API: attached with their SHA-256, streamed only to those who may read the
submission, removed with a reason and kept in the trail."""

import hashlib

from reporting.models import Evidence
from tests.reporting.test_api_support import PDF, pdf, url


def _upload(client, submission, **extra):
    return client.post(url(submission, "evidence/"), {"file": pdf(), **extra}, format="multipart")


def _body(response) -> bytes:
    # Reading the stream to its end closes the file; the test client does it without ending the request's
    # database connection (a direct response.close() would, and PostgreSQL's test transaction with it).
    return b"".join(response.streaming_content)


def test_an_upload_is_recorded_with_its_hash_and_linked_measure(draft, nanjing_reporter, client_for):
    response = _upload(client_for(nanjing_reporter), draft, description="培训签到表", measure=3)

    assert response.status_code == 201
    data = response.json()
    assert (data["original_name"], data["content_type"], data["size"]) == ("台账.pdf", "application/pdf", len(PDF))
    assert data["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert (data["description"], data["measure"], data["indicator"]) == ("培训签到表", 3, None)
    assert data["version"] == draft.version + 1
    assert response["ETag"] == f'"{draft.version + 1}"'
    detail = client_for(nanjing_reporter).get(url(draft)).json()
    assert [e["id"] for e in detail["evidence"]] == [data["id"]]


def test_the_file_is_streamed_as_an_attachment_to_readers_only(
    draft, nanjing_reporter, nanjing_reviewer, auditor, suzhou_reporter, admin_user, client_for
):
    evidence_id = _upload(client_for(nanjing_reporter), draft).json()["id"]
    path = url(draft, f"evidence/{evidence_id}/")

    for reader in (nanjing_reporter, nanjing_reviewer, auditor):
        response = client_for(reader).get(path)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert _body(response) == PDF
    for stranger in (suzhou_reporter, admin_user):
        response = client_for(stranger).get(path)
        assert response.status_code == 404
        assert set(response.json()) == {"message", "errors"}


def test_evidence_of_another_submission_is_not_found_through_this_one(
    draft, nanjing_reporter, client_for, plan, period, suzhou, suzhou_reporter
):
    from reporting.services.submissions import submission_create

    other, _ = submission_create(user=suzhou_reporter, plan=plan, period=period, region=suzhou)
    other_id = _upload(client_for(suzhou_reporter), other).json()["id"]

    response = client_for(nanjing_reporter).get(url(draft, f"evidence/{other_id}/"))

    assert response.status_code == 404


def test_removal_needs_a_reason_keeps_the_row_and_hides_the_file_from_reporters(
    draft, nanjing_reporter, auditor, coordinator, client_for
):
    client = client_for(nanjing_reporter)
    evidence_id = _upload(client, draft).json()["id"]
    path = url(draft, f"evidence/{evidence_id}/")

    refused = client.delete(path, {"reason": " "}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"reason": ["删除佐证材料须填写原因。"]}
    assert Evidence.objects.get(pk=evidence_id).removed_at is None

    removed = client.delete(path, {"reason": "上传错了文件"}, format="json")
    assert removed.status_code == 200
    assert (removed.json()["removal_reason"], removed.json()["removed_by"]) == ("上传错了文件", "nj-reporter")
    assert Evidence.objects.filter(pk=evidence_id).exists()
    assert client.get(url(draft)).json()["evidence"] == []
    assert client.get(path).status_code == 404
    for reviewer in (auditor, coordinator):
        response = client_for(reviewer).get(path)
        assert response.status_code == 200
        assert _body(response) == PDF
    again = client.delete(path, {"reason": "再删一次"}, format="json")
    assert (again.status_code, again.json()["message"]) == (409, "该佐证材料已删除。")


def test_the_reason_may_come_in_the_query_string(draft, nanjing_reporter, client_for):
    client = client_for(nanjing_reporter)
    evidence_id = _upload(client, draft).json()["id"]

    response = client.delete(url(draft, f"evidence/{evidence_id}/") + "?reason=重复上传")

    assert response.status_code == 200
    assert Evidence.objects.get(pk=evidence_id).removal_reason == "重复上传"
