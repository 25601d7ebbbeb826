"""Schemathesis against /api/v1/schema/: every operation, sent as each role, must answer without a 5xx, with a
documented status code, content type and body, and must reject data the schema forbids.

Run alone with `pytest tests/portal/test_schemathesis.py`. Each failure it found has its own regression test
beside the code it concerns; this module is the net that catches the next one.

The schema is loaded when the module is imported (pytest-django has set Django up by then): schemathesis's lazy
`from_fixture` loader does not work on pytest 9. Requests go straight into the WSGI application, so the test's
database transaction sees them and rolls them back."""

import io
import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.django_db

EXAMPLES = 3
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
ROLES = ("coordinator", "nanjing_reporter", "auditor", "user")
# Schemathesis's default list for the negative-data check.
REFUSALS = [400, 401, 403, 404, 405, 406, 409, 415, 422, 428, 429, "5xx"]


def _load_schema():
    document = SchemaGenerator().get_schema(request=None, public=True)
    config = SchemathesisConfig.from_dict(
        {
            "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True},
            # 412 is a refusal too: a precondition (If-Match) is judged before the body is read, as RFC 9110
            # section 13.2.1 allows, so an invalid body sent with a stale ETag is refused with 412.
            "checks": {"negative_data_rejection": {"expected-statuses": [*REFUSALS, 412]}},
        }
    )
    return schemathesis.openapi.from_dict(json.loads(json.dumps(document, default=str)), config=config)


schema = _load_schema()


@pytest.fixture(scope="module")
def app():
    return get_wsgi_application()


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Django closes "old" connections at the start and end of each request; in-process that would be the
    test's own connection, and its transaction with it."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Rows for every path parameter to point at: the plan, the four personas, a filled Nanjing draft with a
    piece of evidence, an export and its snapshot. Built once for the module inside a transaction that is
    rolled back at the end; each test runs in a savepoint inside it, so what one operation changes the next
    does not see."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from indicators.models import Indicator, Target
    from measures.models import Programme, Task
    from reporting.services.evidence import evidence_attach
    from reporting.services.exports import export_job_create, export_job_run
    from reporting.services.periods import period_ensure
    from reporting.services.submissions import submission_create, submission_values_put
    from tests.conftest import _city, _ensure_plan, _person
    from tests.reporting.conftest import full_values
    from tests.reporting.test_api_support import PDF

    outer = transaction.atomic()
    # The services open durable atomic blocks; Django lets them nest only inside a test case's own block.
    outer._from_testcase = True
    with django_db_blocker.unblock(), outer:
        user_model = get_user_model()
        plan = _ensure_plan()
        period = period_ensure(year=2025, quarter=4)
        nanjing = _city("南京市")
        users = {
            "coordinator": _person(user_model, "coordinator", "coordinator"),
            "nanjing_reporter": _person(user_model, "nj-reporter", "city_reporter", region=nanjing),
            "auditor": _person(user_model, "auditor", "auditor"),
            "user": _person(user_model, "reader"),
        }
        reporter = users["nanjing_reporter"]
        submission, _ = submission_create(user=reporter, plan=plan, period=period, region=nanjing)
        submission, _ = submission_values_put(submission=submission, user=reporter, values=full_values(submission))
        evidence = evidence_attach(submission=submission, user=reporter, upload=io.BytesIO(PDF), filename="台账.pdf")
        job = export_job_run(
            job_id=export_job_create(user=users["coordinator"], format="xlsx", period=period.code, plan=plan).pk
        )
        measure = plan.measures.get(number=6)
        path_values = {
            ("/api/v1/submissions/", "id"): str(submission.public_id),
            ("/api/v1/submissions/", "evidence_id"): evidence.pk,
            ("/api/v1/periods/", "code"): period.code,
            ("/api/v1/plans/", "code"): plan.code,
            ("/api/v1/bodies/", "code"): "js-trade-unions",
            ("/api/v1/regions/", "code"): nanjing.code,
            ("/api/v1/programmes/", "id"): Programme.objects.filter(plan=plan).first().pk,
            ("/api/v1/measures/", "id"): measure.pk,
            ("/api/v1/tasks/", "id"): Task.objects.filter(measure=measure).first().pk,
            ("/api/v1/indicators/", "id"): Indicator.objects.filter(plan=plan).first().pk,
            ("/api/v1/targets/", "id"): Target.objects.filter(indicator__plan=plan).first().pk,
            ("/api/v1/exports/", "id"): str(job.public_id),
            ("/api/v1/report-snapshots/", "id"): str(job.snapshot.public_id),
        }
        yield path_values, users
        transaction.set_rollback(True)


def _point_at_real_rows(case, path_values):
    """A valid path parameter is swapped for a row that exists; a deliberately invalid one is left alone.
    Schemathesis re-validates the case after the change, so the negative-data check still knows what it sent."""
    meta = case.meta
    path = meta.components.get(ParameterLocation.PATH) if meta is not None else None
    if path is None or not path.mode.is_positive:
        return
    for (prefix, name), value in path_values.items():
        if case.path.startswith(prefix) and name in case.path_parameters:
            case.path_parameters[name] = value


def _current_etag(case, path_values):
    """A valid If-Match is sent as the submission's current ETag, so a write gets past its precondition to the
    body and the service; an If-Match that schemathesis made invalid on purpose is sent as it is."""
    from reporting.models import Submission

    meta = case.meta
    headers = meta.components.get(ParameterLocation.HEADER) if meta is not None else None
    if headers is None or not headers.mode.is_positive or "If-Match" not in (case.headers or {}):
        return {}
    submission_id = path_values[("/api/v1/submissions/", "id")]
    if (case.path_parameters or {}).get("id") != submission_id:
        return {}
    return {"If-Match": f'"{Submission.objects.get(public_id=submission_id).version}"'}


def _token(user):
    from knox.models import AuthToken

    return AuthToken.objects.create(user)[1]


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=EXAMPLES, derandomize=True)
def test_api_conforms_to_its_schema_for_every_role(case, world, app, db):
    path_values, users = world
    _point_at_real_rows(case, path_values)
    for role in ROLES:
        headers = {"Authorization": f"Token {_token(users[role])}", **_current_etag(case, path_values)}
        response = case.call(app=app, headers=headers)
        case.validate_response(response, checks=CHECKS)


def test_schemathesis_loads_every_operation_of_the_schema():
    document = SchemaGenerator().get_schema(request=None, public=True)
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}

    loaded = {(result.ok().method.upper(), result.ok().path) for result in schema.get_all_operations()}

    assert loaded == documented
