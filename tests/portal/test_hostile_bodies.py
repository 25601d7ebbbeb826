"""Hostile request bodies against every write operation of the API, and crashes answered in the right form.

The operations come from the OpenAPI schema, so a new write endpoint joins the matrix by itself; it must
also be given the actors allowed to call it (WRITERS), or `test_every_write_operation_has_its_writers`
fails. Each (operation, actor) gets every body of HOSTILE_BODIES and must answer its expected 400, 413 or
415 in the house JSON shape, never a 5xx or HTML, and write nothing.
"""

import io
import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.test import Client, override_settings
from django.urls import path
from drf_spectacular.generators import SchemaGenerator
from knox.models import AuthToken
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.test import APIClient

from portal import urls as portal_urls
from reporting.models import Notification, Period, Submission
from reporting.services import evidence as evidence_services
from reporting.services import workflow
from reporting.services.submissions import submission_create, submission_values_put
from tests.reporting.conftest import full_values
from tests.reporting.test_api_support import PDF

WRITE_METHODS = ("post", "put", "patch", "delete")
LIMIT = 2 * 1024 * 1024
NOT_JSON = "请求体不是有效的 JSON。"
TOO_BIG = {"message": "请求体过大，上限为 2 MB。", "errors": {"body": ["超过 2 MB。"]}}

# Who may call each write operation, and the state the submission must be in for them to reach it.
WRITERS: dict[tuple[str, str], list[str]] = {
    ("POST", "/api/v1/auth/logout/"): ["token_holder"],
    ("POST", "/api/v1/auth/token/"): ["anonymous"],
    ("POST", "/api/v1/exports/"): ["auditor", "coordinator"],
    ("POST", "/api/v1/notifications/{id}/read/"): ["nanjing_reporter"],
    ("PATCH", "/api/v1/periods/{code}/"): ["coordinator"],
    ("POST", "/api/v1/periods/{code}/close/"): ["coordinator"],
    ("POST", "/api/v1/periods/{code}/reopen/"): ["coordinator"],
    ("POST", "/api/v1/security/second-factor-reset/"): ["security_admin"],
    ("POST", "/api/v1/security/unlock/"): ["security_admin"],
    ("POST", "/api/v1/submissions/"): ["nanjing_reporter"],
    ("POST", "/api/v1/submissions/report/"): ["nanjing_reporter"],
    ("POST", "/api/v1/submissions/{id}/city-approve/"): ["nanjing_reviewer"],
    ("POST", "/api/v1/submissions/{id}/confirm/"): ["coordinator"],
    ("POST", "/api/v1/submissions/{id}/evidence/"): ["nanjing_reporter"],
    ("DELETE", "/api/v1/submissions/{id}/evidence/{evidence_id}/"): ["nanjing_reporter"],
    ("PUT", "/api/v1/submissions/{id}/narratives/"): ["nanjing_reporter"],
    ("POST", "/api/v1/submissions/{id}/reopen/"): ["coordinator"],
    ("POST", "/api/v1/submissions/{id}/return/"): ["nanjing_reviewer", "coordinator"],
    ("POST", "/api/v1/submissions/{id}/submit/"): ["nanjing_reporter"],
    ("PUT", "/api/v1/submissions/{id}/values/"): ["nanjing_reporter"],
}
# The submission's state in which each actor may act on it (the body must be refused, not the state).
STATE_FOR = {
    "/api/v1/submissions/{id}/city-approve/": "submitted",
    "/api/v1/submissions/{id}/return/": "submitted",
    "/api/v1/submissions/{id}/confirm/": "city_approved",
    "/api/v1/submissions/{id}/reopen/": "confirmed",
}


def _write_operations() -> dict[tuple[str, str], dict]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    out = {}
    for route, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in WRITE_METHODS:
                continue
            content = operation.get("requestBody", {}).get("content", {})
            # No request body in the schema: the view still reads one with the default (JSON-first) parsers.
            accepts_json = not content or "application/json" in content
            required = any(
                _required_fields(schema, media.get("schema", {})) for media in content.values()
            ) or operation.get("requestBody", {}).get("required", False)
            out[(method.upper(), route)] = {"accepts_json": accepts_json, "required": required}
    return out


def _required_fields(schema: dict, body: dict) -> list[str]:
    ref = body.get("$ref", "")
    if ref:
        body = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return body.get("required", [])


OPERATIONS = _write_operations()


def _deep(depth: int) -> bytes:
    return ('{"values": ' + "[" * depth + "]" * depth + "}").encode()


# (name, content type, body, (status, the reasons under errors.body)) for an operation that takes JSON;
# one that does not answers 415 to everything but the empty body.
HOSTILE_BODIES = [
    ("malformed JSON", "application/json", b'{"values": [', (400, ["第 1 行第 13 列附近有语法错误。"])),
    ("10,000-deep nesting", "application/json", _deep(10_000), (400, ["嵌套层数超过 32 层。"])),
    ("40-deep nesting", "application/json", _deep(40), (400, ["嵌套层数超过 32 层。"])),
    ("text/plain", "text/plain", b"values=1", (415, None)),
    ("application/xml", "application/xml", b"<values><value>1</value></values>", (415, None)),
    ("3 MB body", "application/json", json.dumps({"values": [], "pad": "x" * (3 * 1024 * 1024)}).encode(), (413, None)),
    (
        "invalid UTF-8",
        "application/json",
        b'{"reason": "\xff\xfe\xe4\xb8"}',
        (400, ["含有无效的 UTF-8 字节（第 13 个字节）。"]),
    ),
    ("NaN literal", "application/json", b'{"version": NaN}', (400, ["不接受 NaN：JSON 中没有这种数值。"])),
    (
        "Infinity literal",
        "application/json",
        b'{"version": -Infinity}',
        (400, ["不接受 -Infinity：JSON 中没有这种数值。"]),
    ),
    ("JSON array", "application/json", b'[{"reason": "x"}]', (400, ["应为 JSON 对象（{…}），收到的是数组。"])),
    ("JSON string", "application/json", b'"x"', (400, ["应为 JSON 对象（{…}），收到的是字符串。"])),
    ("5,000-digit number", "application/json", b'{"version": ' + b"9" * 5000 + b"}", (400, ["含有无法解析的数值。"])),
    ("empty body", "application/json", b"", (400, "required")),
]


def _expected(operation: dict, content_type: str, outcome: tuple) -> tuple[int, dict | None] | None:
    """The status and exact body expected (None: any field errors), or no expectation at all when the
    body is a legitimate request: an empty body to an operation that needs no input."""
    status, reasons = outcome
    if reasons == "required":
        # DRF parses no empty body, whatever its type: the input serializer names the missing fields.
        return (400, None) if operation["required"] else None
    if status == 415 or not operation["accepts_json"]:
        return 415, {"message": f"不支持请求中的媒体类型 “{content_type}”。", "errors": {}}
    if status == 413:
        return 413, TOO_BIG
    return 400, {"message": NOT_JSON, "errors": {"body": reasons}}


def _world() -> dict:
    """Every row count of every model, and the state that a write without new rows would change."""
    counts = {model._meta.label: model._default_manager.count() for model in apps.get_models()}
    states = {
        "submissions": sorted(Submission.objects.values_list("public_id", "status", "version")),
        "periods": sorted(Period.objects.values_list("year", "quarter", "status", "deadline")),
        "notifications": sorted(Notification.objects.values_list("pk", "read_at")),
        "tokens": sorted(AuthToken.objects.values_list("digest", flat=True)),
    }
    return {"counts": counts, **states}


@pytest.fixture
def security_admin(plan, django_user_model):
    from portal.accounts.services import membership_grant

    user = django_user_model.objects.create_user(username="secadmin", password="a-long-test-password")
    membership_grant(user=user, role="security_admin", valid_from=date(2020, 1, 1))
    return user


@pytest.fixture
def filled(plan, period, nanjing, nanjing_reporter, time_machine):
    """Nanjing's 2025Q4 report with every value, on a day when it may be submitted."""
    time_machine.move_to(datetime(2026, 1, 5, 10, tzinfo=ZoneInfo("Asia/Shanghai")))
    draft, _created = submission_create(user=nanjing_reporter, plan=plan, period=period, region=nanjing)
    submission, _summary = submission_values_put(submission=draft, user=nanjing_reporter, values=full_values(draft))
    return submission


@pytest.fixture
def stage(filled, period, nanjing_reporter, nanjing_reviewer, coordinator, auditor, security_admin):
    """The submission brought to a state, its evidence, a notification and the actors' clients."""

    def make(route: str, actor: str) -> tuple[APIClient, str]:
        submission = filled
        state = STATE_FOR.get(route, "draft")
        if state != "draft":
            submission = workflow.submission_submit(submission=submission, user=nanjing_reporter)
        if state in ("city_approved", "confirmed"):
            submission = workflow.submission_city_approve(submission=submission, user=nanjing_reviewer)
        if state == "confirmed":
            submission = workflow.submission_confirm(submission=submission, user=coordinator)
        evidence = None
        if state == "draft":
            evidence = evidence_services.evidence_attach(
                submission=submission, user=nanjing_reporter, upload=io.BytesIO(PDF), filename="台账.pdf"
            )
        if route.startswith("/api/v1/periods/{code}/reopen/"):
            Period.objects.filter(pk=period.pk).update(status=Period.Status.CLOSED)
        notification = Notification.objects.create(
            user=nanjing_reporter, kind="reminder", period=period, dedupe_key="hostile", title="提醒", message="请填报"
        )
        url = (
            route.replace("{id}", str(notification.pk) if "notifications" in route else str(submission.public_id))
            .replace("{evidence_id}", str(evidence.pk if evidence else 0))
            .replace("{code}", period.code)
        )
        users = {
            "nanjing_reporter": nanjing_reporter,
            "nanjing_reviewer": nanjing_reviewer,
            "coordinator": coordinator,
            "auditor": auditor,
            "security_admin": security_admin,
        }
        client = APIClient()
        if actor == "token_holder":
            _instance, token = AuthToken.objects.create(user=nanjing_reporter)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        elif actor != "anonymous":
            client.force_authenticate(users[actor])
        return client, url

    return make


def test_every_write_operation_has_its_writers():
    missing = sorted(set(OPERATIONS) - set(WRITERS))
    assert missing == [], "a new write operation: list in WRITERS who may call it"


CASES = [(method, route, actor) for (method, route), actors in sorted(WRITERS.items()) for actor in actors]
# An entry of WRITERS for an operation the schema does not (or no longer) have is skipped.
CASES = [case for case in CASES if (case[0], case[1]) in OPERATIONS]


@pytest.mark.parametrize(("method", "route", "actor"), CASES, ids=[f"{m} {r} as {a}" for m, r, a in CASES])
def test_hostile_bodies_are_refused_in_the_house_shape_and_write_nothing(stage, method, route, actor):
    operation = OPERATIONS[(method, route)]
    client, url = stage(route, actor)
    tried = 0
    for name, content_type, body, outcome in HOSTILE_BODIES:
        expected = _expected(operation, content_type, outcome)
        if expected is None:
            continue
        before = _world()

        response = client.generic(
            method, url, body, content_type=content_type, HTTP_ACCEPT_LANGUAGE="zh-hans", HTTP_IF_MATCH="*"
        )

        status, answer = expected
        assert response.status_code == status, (name, response.status_code, response.content[:300])
        assert response["Content-Type"] == "application/json", name
        assert response["Content-Language"] == "zh-hans", name
        if answer is None:
            assert set(response.json()) == {"message", "errors"}, name
            assert response.json()["message"] == "提交的数据有误，请按字段修改后重试。", name
            assert response.json()["errors"], name
        else:
            assert response.json() == answer, name
        assert _world() == before, name
        tried += 1
    assert tried >= len(HOSTILE_BODIES) - 1


def test_an_unknown_api_address_is_a_json_404_and_a_page_address_a_chinese_page(client):
    api = client.get("/api/v1/no-such-thing/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    page = client.get("/no-such-page/")

    assert (api.status_code, api["Content-Type"]) == (404, "application/json")
    assert api.json() == {"message": "未找到您要访问的地址，请检查链接是否正确。", "errors": {}}
    assert (page.status_code, page["Content-Type"]) == (404, "text/html; charset=utf-8")
    html = page.content.decode()
    assert "<title>404 页面不存在 · 产业工人队伍建设改革 推进平台</title>" in html
    assert "未找到您要访问的地址，请检查链接是否正确。" in html
    assert 'lang="zh-hans"' in html


def test_the_error_answers_follow_the_requests_language(client):
    client.cookies["django_language"] = "en"
    english_page = client.get("/no-such-page/")
    del client.cookies["django_language"]
    english_api = client.get("/api/v1/no-such-thing/", HTTP_ACCEPT_LANGUAGE="en")
    chinese_api = client.get("/api/v1/no-such-thing/", HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert "The address you asked for was not found; please check the link." in english_page.content.decode()
    assert english_api.json()["message"] == "The address you asked for was not found; please check the link."
    assert chinese_api.json()["message"] == "未找到您要访问的地址，请检查链接是否正确。"


# A test-only URLconf: views that fail on purpose, beside the real routes so the pages can link home.
@api_view(["GET"])
@permission_classes([AllowAny])
def _api_crash(request):
    raise RuntimeError("boom")


def _page_crash(request):
    raise RuntimeError("boom")


def _page_forbidden(request):
    from django.core.exceptions import PermissionDenied

    raise PermissionDenied("只有协调小组办公室可以查看。")


def _page_form(request):
    from django.http import HttpResponse

    return HttpResponse(str(len(request.POST)))


urlpatterns = [
    path("api/v1/test-crash/", _api_crash),
    path("test-crash/", _page_crash),
    path("test-forbidden/", _page_forbidden),
    path("test-form/", _page_form),
]
urlpatterns += portal_urls.urlpatterns
# Django takes the error handlers from the root URLconf, so the test one names the real ones.
handler400 = portal_urls.handler400
handler403 = portal_urls.handler403
handler404 = portal_urls.handler404
handler500 = portal_urls.handler500


@pytest.mark.urls(__name__)
def test_a_crash_is_a_json_500_under_the_api_and_a_chinese_page_elsewhere(db):
    client = Client(raise_request_exception=False)

    api = client.get("/api/v1/test-crash/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    page = client.get("/test-crash/")

    assert (api.status_code, api["Content-Type"]) == (500, "application/json")
    assert api.json() == {"message": "系统出现内部错误，已记录在案。请稍后重试。", "errors": {}}
    assert (page.status_code, page["Content-Type"]) == (500, "text/html; charset=utf-8")
    html = page.content.decode()
    assert '<h1 id="error-title">服务器内部错误</h1>' in html
    assert "系统出现内部错误，已记录在案。请稍后重试。" in html
    assert f"<code>{page['X-Request-ID']}</code>" in html
    assert "boom" not in html
    assert "Traceback" not in html


@pytest.mark.urls(__name__)
def test_a_refusal_on_a_page_is_a_chinese_403_page_with_the_reason(db):
    response = Client(raise_request_exception=False).get("/test-forbidden/")

    assert response.status_code == 403
    assert "只有协调小组办公室可以查看。" in response.content.decode()


@pytest.mark.urls(__name__)
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=LIMIT)
def test_an_oversized_form_on_a_page_is_a_chinese_413_page(db):
    client = Client(raise_request_exception=False, enforce_csrf_checks=False)

    response = client.post("/test-form/", "a=" + "x" * (LIMIT + 1), content_type="application/x-www-form-urlencoded")

    assert response.status_code == 413
    assert "请求体过大，上限为 2 MB。" in response.content.decode()


@override_settings(REQUEST_BODY_MAX_BYTES=LIMIT)
def test_a_body_over_the_portal_limit_is_refused_before_anything_reads_it(db):
    # Anonymous, no CSRF token: without the limit the CSRF check reads (spools) the whole multipart body first
    # and answers 403; with it the body is refused from its declared length.
    client = Client(raise_request_exception=False, enforce_csrf_checks=True)
    big = io.BytesIO(b"x" * (LIMIT + 1))
    big.name = "big.pdf"

    page = client.post("/accounts/login/", {"username": "x", "file": big})
    big.seek(0)
    api = client.post("/api/v1/auth/token/", {"username": "x", "file": big})

    assert page.status_code == 413
    assert "请求体过大，上限为 2 MB。" in page.content.decode()
    assert api.status_code == 413
    assert api.json() == TOO_BIG


def test_the_body_limit_covers_the_largest_upload():
    from django.conf import settings

    assert settings.REQUEST_BODY_MAX_BYTES >= settings.EVIDENCE_MAX_BYTES + LIMIT


def test_a_failed_csrf_check_is_a_chinese_403_page(db):
    client = Client(enforce_csrf_checks=True)

    response = client.post("/accounts/login/", {"username": "x", "password": "y"})

    assert response.status_code == 403
    html = response.content.decode()
    assert "表单已过期或来源无法验证（CSRF 校验失败）。请返回上一页，刷新后重新提交。" in html
    assert "CSRF verification failed" not in html


def test_the_upload_limit_is_deliberate():
    from django.conf import settings

    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == LIMIT
