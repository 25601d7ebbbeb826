"""Mass assignment: a client cannot set region, status, approver, version, timestamps, ids or authors.

The policy follows DRF's default, which every input serializer here keeps: top-level fields an endpoint does not
take are ignored, and the stored row shows the server's values. Inside a value or narrative item the service is
stricter and refuses an unknown key with a 400 naming it. Where a field is taken (`version` names the version the
client read; `region` names the city it reports for) a wrong value is refused with the field named (412, 403,
404), and nothing is written. Each test sends the forbidden fields beside a valid request.
"""

import hashlib
from datetime import date

import pytest
from django.contrib.auth.models import User
from knox.models import AuthToken

from reporting.models import DataValue, Evidence, ExportJob, Narrative, Notification, Period, Submission
from reporting.services import workflow
from reporting.services.exports import export_file_path
from tests.conftest import PASSWORD
from tests.reporting.test_api_support import API, PDF, one_narrative, one_value, pdf, snapshot, url

S = Submission.Status
FORGED = {
    "id": "00000000-0000-0000-0000-000000000001",
    "pk": 1,
    "public_id": "00000000-0000-0000-0000-000000000001",
    "status": "confirmed",
    "approved_by": 1,
    "approver": 1,
    "confirmed_by": 1,
    "city_approved_by": 1,
    "confirmed_at": "2020-01-01T00:00:00+08:00",
    "city_approved_at": "2020-01-01T00:00:00+08:00",
    "submitted_at": "2020-01-01T00:00:00+08:00",
    "created_at": "2020-01-01T00:00:00+08:00",
    "updated_at": "2020-01-01T00:00:00+08:00",
    "is_late": False,
    "return_reason": "伪造",
    "reporter": 1,
    "reporter_name": "苏州市",
    "created_by": 1,
    "updated_by": 1,
    "uploaded_by": 1,
}


def _row(submission: Submission) -> tuple:
    row = Submission.objects.get(pk=submission.pk)
    return (
        row.public_id,
        row.region_id,
        row.body_id,
        row.status,
        row.version,
        row.is_late,
        row.return_reason,
        row.created_at,
        row.submitted_at,
        row.city_approved_by_id,
        row.confirmed_by_id,
        row.confirmed_at,
    )


def test_creating_a_submission_ignores_status_author_and_timestamps(
    plan, period, nanjing, nanjing_reporter, client_for, time_machine
):
    time_machine.move_to(date(2026, 1, 5))
    response = client_for(nanjing_reporter).post(
        f"{API}/submissions/", {"period": "2025Q4", "region": nanjing.code, **FORGED, "version": 999}, format="json"
    )
    assert response.status_code == 201
    submission = Submission.objects.get()
    assert str(submission.public_id) == response.json()["id"] != FORGED["id"]
    assert (submission.region_id, submission.body_id, submission.status, submission.version) == (
        nanjing.pk,
        None,
        S.DRAFT,
        1,
    )
    assert (submission.submitted_at, submission.confirmed_at, submission.confirmed_by_id, submission.return_reason) == (
        None,
        None,
        None,
        "",
    )
    assert submission.created_at.date() == date(2026, 1, 5)


def test_creating_a_submission_for_another_city_is_refused_and_nothing_is_created(
    plan, period, suzhou, nanjing_reporter, client_for, time_machine
):
    time_machine.move_to(date(2026, 1, 5))
    response = client_for(nanjing_reporter).post(
        f"{API}/submissions/", {"period": "2025Q4", "region": suzhou.code, "status": "draft"}, format="json"
    )
    assert response.status_code == 403
    assert Submission.objects.count() == 0


def test_values_ignore_status_and_authors_and_a_forged_version_is_refused(filled, nanjing_reporter, client_for):
    before = snapshot(filled)
    client = client_for(nanjing_reporter)
    stale = client.put(
        url(filled, "values/"), {"values": [one_value(filled, "7")], **FORGED, "version": 999}, format="json"
    )
    assert stale.status_code == 412
    assert snapshot(filled) == before

    response = client.put(
        url(filled, "values/"), {"values": [one_value(filled, "7")], **FORGED, "version": filled.version}, format="json"
    )
    assert response.status_code == 200, response.json()
    row = Submission.objects.get(pk=filled.pk)
    assert (row.status, row.version, row.return_reason, row.confirmed_by_id) == (S.DRAFT, filled.version + 1, "", None)
    value = DataValue.objects.get(submission=row, indicator__code=one_value(filled)["indicator"])
    assert (value.value, value.updated_by_id) == (7, nanjing_reporter.pk)
    assert value.updated_at.year == 2026


def test_a_value_item_naming_its_author_or_submission_is_refused_field_by_field(filled, nanjing_reporter, client_for):
    """Inside an item the service is stricter than DRF: an unknown key is a 400 naming it, and nothing is written."""
    before = snapshot(filled)
    item = {**one_value(filled, "7"), "updated_by": 1, "updated_at": "2020-01-01T00:00:00+08:00", "submission": 1}
    response = client_for(nanjing_reporter).put(
        url(filled, "values/"), {"values": [item], "version": filled.version}, format="json"
    )
    assert response.status_code == 400
    code = item["indicator"]
    assert response.json()["errors"] == {
        f"values.{code}.submission": ["未知字段。"],
        f"values.{code}.updated_at": ["未知字段。"],
        f"values.{code}.updated_by": ["未知字段。"],
    }
    assert snapshot(filled) == before


def test_narratives_ignore_status_and_authors(filled, nanjing_reporter, client_for):
    item = one_narrative(filled, "按计划推进。")
    response = client_for(nanjing_reporter).put(
        url(filled, "narratives/"), {"narratives": [item], **FORGED, "version": filled.version}, format="json"
    )
    assert response.status_code == 200, response.json()
    row = Submission.objects.get(pk=filled.pk)
    assert (row.status, row.version) == (S.DRAFT, filled.version + 1)
    narrative = Narrative.objects.get(submission=row, measure__number=item["measure"])
    assert (narrative.progress, narrative.updated_by_id) == ("按计划推进。", nanjing_reporter.pk)


def test_a_narrative_item_naming_its_author_is_refused_field_by_field(filled, nanjing_reporter, client_for):
    before = snapshot(filled)
    item = {**one_narrative(filled, "按计划推进。"), "updated_by": 1, "submission": 1}
    response = client_for(nanjing_reporter).put(
        url(filled, "narratives/"), {"narratives": [item], "version": filled.version}, format="json"
    )
    assert response.status_code == 400
    number = item["measure"]
    assert response.json()["errors"] == {
        f"narratives.{number}.submission": ["未知字段。"],
        f"narratives.{number}.updated_by": ["未知字段。"],
    }
    assert snapshot(filled) == before


def test_submitting_cannot_skip_to_confirmed_or_name_an_approver(filled, nanjing_reporter, coordinator, client_for):
    body = {**FORGED, "confirmed_by": coordinator.pk, "approved_by": coordinator.pk}
    response = client_for(nanjing_reporter).post(url(filled, "submit/"), body, format="json")
    assert response.status_code == 200, response.json()
    row = Submission.objects.get(pk=filled.pk)
    assert (row.status, row.confirmed_by_id, row.city_approved_by_id, row.confirmed_at) == (
        S.SUBMITTED,
        None,
        None,
        None,
    )
    assert row.submitted_at.date() == date(2026, 1, 5)
    assert row.return_reason == ""


def test_a_workflow_step_with_a_forged_version_is_refused_and_nothing_changes(filled, nanjing_reporter, client_for):
    before = _row(filled)
    response = client_for(nanjing_reporter).post(url(filled, "submit/"), {"version": 999}, format="json")
    assert response.status_code == 412
    assert _row(filled) == before


def test_city_approval_records_the_reviewer_not_the_one_named(
    filled, nanjing_reporter, nanjing_reviewer, coordinator, client_for
):
    submitted = workflow.submission_submit(submission=filled, user=nanjing_reporter)
    body = {**FORGED, "city_approved_by": coordinator.pk, "status": "confirmed"}
    response = client_for(nanjing_reviewer).post(url(submitted, "city-approve/"), body, format="json")
    assert response.status_code == 200, response.json()
    row = Submission.objects.get(pk=filled.pk)
    assert (row.status, row.city_approved_by_id, row.confirmed_by_id) == (S.CITY_APPROVED, nanjing_reviewer.pk, None)


def test_returning_keeps_the_reason_given_not_a_forged_status(filled, nanjing_reporter, nanjing_reviewer, client_for):
    submitted = workflow.submission_submit(submission=filled, user=nanjing_reporter)
    body = {**FORGED, "reason": "分母口径有误", "status": "confirmed"}
    response = client_for(nanjing_reviewer).post(url(submitted, "return/"), body, format="json")
    assert response.status_code == 200, response.json()
    row = Submission.objects.get(pk=filled.pk)
    assert (row.status, row.return_reason, row.confirmed_by_id) == (S.RETURNED, "分母口径有误", None)


def test_evidence_ignores_hash_size_author_and_removal(filled, nanjing_reporter, suzhou_reporter, client_for):
    body = {
        "file": pdf(),
        "description": "照片",
        "sha256": "0" * 64,
        "size": 1,
        "uploaded_by": suzhou_reporter.pk,
        "removed_at": "2020-01-01T00:00:00+08:00",
        "removal_reason": "伪造",
        "submission": 999,
        "original_name": "伪造.exe",
        "content_type": "application/x-msdownload",
    }
    response = client_for(nanjing_reporter).post(url(filled, "evidence/"), body, format="multipart")
    assert response.status_code == 201, response.json()
    evidence = Evidence.objects.get(pk=response.json()["id"])
    assert (evidence.submission_id, evidence.uploaded_by_id, evidence.removed_at, evidence.removal_reason) == (
        filled.pk,
        nanjing_reporter.pk,
        None,
        "",
    )
    assert (evidence.original_name, evidence.content_type, evidence.size) == (
        "台账.pdf",
        "application/pdf",
        len(pdf().read()),
    )
    assert evidence.sha256 == hashlib.sha256(PDF).hexdigest()


def test_moving_a_deadline_cannot_close_or_renumber_the_period(period, coordinator, client_for):
    body = {"deadline": "2026-01-20", "status": "closed", "year": 2030, "quarter": 1, "code": "2030Q1", "version": 999}
    body |= {"start": "2020-01-01", "end": "2020-03-31"}
    response = client_for(coordinator).patch(f"{API}/periods/2025Q4/", body, format="json")
    assert response.status_code == 200, response.json()
    row = Period.objects.get(pk=period.pk)
    assert (row.year, row.quarter, row.status, str(row.deadline)) == (2025, 4, Period.Status.OPEN, "2026-01-20")
    assert (str(row.start), str(row.end)) == ("2025-10-01", "2025-12-31")
    assert row.version == period.version + 1


def test_an_export_cannot_be_created_done_or_in_someone_elses_name(filled, auditor, coordinator, client_for):
    body = {
        "period": "2025Q4",
        "format": "csv",
        "part": "summary",
        "status": "done",
        "created_by": coordinator.pk,
        "sha256": "0" * 64,
        "file_path": "../../etc/passwd",
        "mode": "queued",
        "attempts": 9,
        "error": "伪造",
        "id": FORGED["id"],
    }
    response = client_for(auditor).post(f"{API}/exports/", body, format="json")
    assert response.status_code == 201, response.json()
    job = ExportJob.objects.get()
    assert (job.created_by_id, job.attempts, job.error, str(job.public_id) != FORGED["id"]) == (auditor.pk, 1, "", True)
    assert ".." not in job.file_path
    assert job.sha256 == hashlib.sha256(export_file_path(job).read_bytes()).hexdigest()


def test_marking_a_notification_read_cannot_move_it_to_another_user(
    filled, nanjing_reporter, suzhou_reporter, client_for
):
    notification = Notification.objects.create(
        user=nanjing_reporter,
        kind=Notification.Kind.REMINDER,
        period=filled.period,
        dedupe_key="mass-assignment",
        title="填报提醒",
        message="请按时填报。",
    )
    body = {"user": suzhou_reporter.pk, "read_at": "2020-01-01T00:00:00+08:00", "title": "伪造"}
    response = client_for(nanjing_reporter).post(f"{API}/notifications/{notification.pk}/read/", body, format="json")
    assert response.status_code == 200, response.json()
    row = Notification.objects.get(pk=notification.pk)
    assert (row.user_id, row.title, row.read_at.year) == (nanjing_reporter.pk, "填报提醒", 2026)


@pytest.mark.parametrize("field", ["is_staff", "is_superuser", "roles", "user_id", "expiry"])
def test_a_token_login_cannot_raise_the_account_or_stretch_the_token(field, db, django_user_model):
    from rest_framework.test import APIClient

    user = django_user_model.objects.create_user(username="plain", password=PASSWORD)
    forged = {"is_staff": True, "is_superuser": True, "roles": ["coordinator"], "user_id": 1, "expiry": "2099-01-01"}
    body = {"username": "plain", "password": PASSWORD, field: forged[field]}
    response = APIClient().post(f"{API}/auth/token/", body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["roles"] == []
    row = User.objects.get(pk=user.pk)
    assert (row.is_staff, row.is_superuser, row.memberships.count()) == (False, False, 0)
    token = AuthToken.objects.get(user=user)
    assert token.expiry.year < 2099
