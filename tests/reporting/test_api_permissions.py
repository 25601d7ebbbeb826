"""The permission matrix of the reporting API: every role × every endpoint × three submissions (南京, 苏州,
省教育厅), each cell the expected status.

Reading rule: another city's (or body's) submission answers 404, as if it did not exist; a role that may
read a submission but not do this to it answers 403; anonymous is 401. Each row is one endpoint; each
cell runs in a savepoint that is rolled back, so every cell starts from the same state.
"""

from datetime import date

import pytest
from django.db import transaction
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from reporting.models import Period, Submission
from reporting.services.evidence import evidence_attach
from reporting.services.submissions import submission_create, submission_values_put
from tests.reporting.conftest import full_values
from tests.reporting.test_api_support import API, if_match, one_narrative, one_value, pdf, snapshot, url

S = Submission.Status
ROLES = [
    "anonymous",
    "coordinator",
    "auditor",
    "admin_user",
    "outsider",
    "nanjing_reporter",
    "nanjing_reviewer",
    "suzhou_reporter",
    "edu_reporter",
]


def per_target(ok: int) -> dict:
    """Who reads a submission: its own reporters and reviewers, coordinators and auditors (南京, 苏州, 省教育厅)."""
    return {
        "anonymous": (401, 401, 401),
        "coordinator": (200, 200, 200),
        "auditor": (200, 200, 200),
        "admin_user": (404, 404, 404),
        "outsider": (404, 404, 404),
        "nanjing_reporter": (ok, 404, 404),
        "nanjing_reviewer": (ok, 404, 404),
        "suzhou_reporter": (404, ok, 404),
        "edu_reporter": (404, 404, ok),
    }


def reporter_writes(ok: int) -> dict:
    """Only the submission's own reporter may change it; those who only read it get 403."""
    return {
        "anonymous": (401, 401, 401),
        "coordinator": (403, 403, 403),
        "auditor": (403, 403, 403),
        "admin_user": (404, 404, 404),
        "outsider": (404, 404, 404),
        "nanjing_reporter": (ok, 404, 404),
        "nanjing_reviewer": (403, 404, 404),
        "suzhou_reporter": (404, ok, 404),
        "edu_reporter": (404, 404, ok),
    }


def reviewers(*, coordinator: tuple, nanjing_reviewer: tuple) -> dict:
    return {
        "anonymous": (401, 401, 401),
        "coordinator": coordinator,
        "auditor": (403, 403, 403),
        "admin_user": (404, 404, 404),
        "outsider": (404, 404, 404),
        "nanjing_reporter": (403, 404, 404),
        "nanjing_reviewer": nanjing_reviewer,
        "suzhou_reporter": (404, 403, 404),
        "edu_reporter": (404, 404, 403),
    }


def everyone(status: int) -> dict:
    return {role: (401 if role == "anonymous" else status) for role in ROLES}


def coordinators_only() -> dict:
    return {role: {"anonymous": 401, "coordinator": 200}.get(role, 403) for role in ROLES}


# endpoint: (state the three submissions are put in first, expected status per role)
MATRIX = {
    "GET periods/": (None, everyone(200)),
    "GET periods/{code}/": (None, everyone(200)),
    "PATCH periods/{code}/": (None, coordinators_only()),
    "POST periods/{code}/close/": (None, coordinators_only()),
    "POST periods/{code}/reopen/": ("period closed", coordinators_only()),
    "GET due/": (None, everyone(200)),
    "GET submissions/": (None, everyone(200)),
    "POST submissions/": (
        None,
        {
            "anonymous": (401, 401, 401),
            "coordinator": (403, 403, 403),
            "auditor": (403, 403, 403),
            "admin_user": (403, 403, 403),
            "outsider": (403, 403, 403),
            "nanjing_reporter": (200, 403, 403),
            "nanjing_reviewer": (403, 403, 403),
            "suzhou_reporter": (403, 200, 403),
            "edu_reporter": (403, 403, 200),
        },
    ),
    # The whole report, addressed by its natural key, answers as its detail URL does (404 outside the scope).
    "POST submissions/report/": (S.DRAFT, reporter_writes(200)),
    "GET submissions/{id}/": (S.DRAFT, per_target(200)),
    "PUT submissions/{id}/values/": (S.DRAFT, reporter_writes(200)),
    "PUT submissions/{id}/narratives/": (S.DRAFT, reporter_writes(200)),
    "POST submissions/{id}/evidence/": (S.DRAFT, reporter_writes(201)),
    "GET submissions/{id}/evidence/{evidence_id}/": (S.DRAFT, per_target(200)),
    "DELETE submissions/{id}/evidence/{evidence_id}/": (S.DRAFT, reporter_writes(200)),
    "POST submissions/{id}/submit/": (S.DRAFT, reporter_writes(200)),
    "POST submissions/{id}/city-approve/": (
        S.SUBMITTED,
        reviewers(coordinator=(403, 403, 403), nanjing_reviewer=(200, 404, 404)),
    ),
    # Cities wait for the province after their own review; a body goes straight to the province.
    "POST submissions/{id}/confirm/": (
        "awaiting province",
        reviewers(coordinator=(200, 200, 200), nanjing_reviewer=(403, 404, 404)),
    ),
    "POST submissions/{id}/return/ (awaiting province)": (
        "awaiting province",
        reviewers(coordinator=(200, 200, 200), nanjing_reviewer=(403, 404, 404)),
    ),
    "POST submissions/{id}/return/ (awaiting city review)": (
        S.SUBMITTED,
        reviewers(coordinator=(403, 403, 200), nanjing_reviewer=(200, 404, 404)),
    ),
    "POST submissions/{id}/reopen/": (
        S.CONFIRMED,
        reviewers(coordinator=(200, 200, 200), nanjing_reviewer=(403, 404, 404)),
    ),
    "GET submissions/{id}/history/": (S.DRAFT, per_target(200)),
}


@pytest.fixture
def world(plan, period, nanjing, suzhou, edu_body, nanjing_reporter, suzhou_reporter, edu_reporter, time_machine):
    """Three complete drafts for 2025Q4, each with one evidence file, seen on 5 January 2026."""
    time_machine.move_to(date(2026, 1, 5))
    submissions = []
    reporters = [(nanjing_reporter, {"region": nanjing}), (suzhou_reporter, {"region": suzhou})]
    reporters.append((edu_reporter, {"body": edu_body}))
    for user, scope in reporters:
        submission, _ = submission_create(user=user, plan=plan, period=period, **scope)
        submission, _ = submission_values_put(submission=submission, user=user, values=full_values(submission))
        evidence = evidence_attach(submission=submission, user=user, upload=pdf(), filename="台账.pdf")
        submissions.append((submission, evidence))
    return submissions


def _prepare(state, submission: Submission, period: Period) -> None:
    if state == "period closed":
        Period.objects.filter(pk=period.pk).update(status=Period.Status.CLOSED)
    elif state == "awaiting province":
        ready = S.CITY_APPROVED if submission.region_id else S.SUBMITTED
        Submission.objects.filter(pk=submission.pk).update(status=ready)
    elif state is not None:
        Submission.objects.filter(pk=submission.pk).update(status=state)


def _call(endpoint: str, client: APIClient, submission: Submission, evidence):
    method, path = endpoint.split()[:2]
    if not path.startswith("submissions/{id}"):
        if endpoint == "POST submissions/":
            reporter = {"region": submission.region.code} if submission.region_id else {"body": submission.body.code}
            return client.post(f"{API}/submissions/", {"period": "2025Q4", **reporter}, format="json")
        if endpoint == "POST submissions/report/":
            reporter = {"region": submission.region.code} if submission.region_id else {"body": submission.body.code}
            body = {"period": "2025Q4", **reporter, "values": [one_value(submission)]}
            return client.post(f"{API}/submissions/report/", body, format="json", **if_match(submission))
        path = path.replace("{code}", "2025Q4")
        body = {"PATCH": {"deadline": "2026-01-20"}, "POST": {"reason": "补报"}}.get(method)
        return getattr(client, method.lower())(f"{API}/{path}", body, format="json")
    suffix = path.removeprefix("submissions/{id}/").replace("{evidence_id}", str(evidence.pk))
    if suffix == "values/":
        return client.put(
            url(submission, suffix), {"values": [one_value(submission)]}, format="json", **if_match(submission)
        )
    if suffix == "narratives/":
        body = {"narratives": [one_narrative(submission)]}
        return client.put(url(submission, suffix), body, format="json", **if_match(submission))
    if suffix == "evidence/":
        return client.post(url(submission, suffix), {"file": pdf(), "description": "照片"}, format="multipart")
    if method == "DELETE":
        return client.delete(url(submission, suffix), {"reason": "传错了文件"}, format="json")
    if method == "GET":
        return client.get(url(submission, suffix))
    return client.post(url(submission, suffix), {"reason": "数据口径需核实"}, format="json")


def _targets_a_submission(endpoint: str) -> bool:
    return "{id}" in endpoint or endpoint in ("POST submissions/", "POST submissions/report/")


@pytest.mark.parametrize(("endpoint", "row"), MATRIX.items(), ids=list(MATRIX))
def test_permission_matrix(endpoint, row, request, world, period):
    state, expected = row
    targets = world if _targets_a_submission(endpoint) else world[:1]
    actual = {}
    for role in ROLES:
        client = APIClient()
        if role != "anonymous":
            client.force_authenticate(request.getfixturevalue(role))
        cells = []
        for submission, evidence in targets:
            with transaction.atomic():
                _prepare(state, submission, period)
                response = _call(endpoint, client, submission, evidence)
                cells.append(response.status_code)
                if response.streaming:
                    b"".join(response.streaming_content)  # closes the evidence file
                transaction.set_rollback(True)
        actual[role] = tuple(cells) if _targets_a_submission(endpoint) else cells[0]
    assert actual == expected


def test_every_reporting_endpoint_has_a_row_in_the_matrix(db):
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    operations = {
        f"{method.upper()} {path.removeprefix('/api/v1/')}"
        for path, item in paths.items()
        if path.startswith(("/api/v1/periods", "/api/v1/due", "/api/v1/submissions"))
        for method in item
    }
    assert operations == {key.split(" (")[0] for key in MATRIX}


def test_lists_show_each_role_exactly_its_scope(world, request):
    names = {}
    for role in ROLES[1:]:
        client = APIClient()
        client.force_authenticate(request.getfixturevalue(role))
        response = client.get(f"{API}/submissions/")
        assert response.status_code == 200
        names[role] = sorted(item["reporter_name"] for item in response.json()["results"])
    assert names == {
        "coordinator": ["南京市", "省教育厅", "苏州市"],
        "auditor": ["南京市", "省教育厅", "苏州市"],
        "admin_user": [],
        "outsider": [],
        "nanjing_reporter": ["南京市"],
        "nanjing_reviewer": ["南京市"],
        "suzhou_reporter": ["苏州市"],
        "edu_reporter": ["省教育厅"],
    }


def test_a_read_only_role_is_told_no_and_nothing_changes(world, auditor, client_for):
    submission, _ = world[0]
    before = snapshot(submission)
    response = client_for(auditor).put(
        url(submission, "values/"), {"values": [one_value(submission, "1")]}, format="json", **if_match(submission)
    )
    assert response.status_code == 403
    assert response.json() == {"message": "您无权修改该报表。", "errors": {}}
    assert snapshot(submission) == before


def test_another_citys_submission_is_not_found_and_nothing_changes(world, suzhou_reporter, client_for):
    submission, _ = world[0]
    before = snapshot(submission)
    response = client_for(suzhou_reporter).put(
        url(submission, "values/"), {"values": [one_value(submission, "1")]}, format="json", **if_match(submission)
    )
    assert response.status_code == 404
    assert set(response.json()) == {"message", "errors"}
    assert snapshot(submission) == before
