"""The declarative permission matrix (docs/permissions.yaml): every API operation of the OpenAPI schema and
every web page, for every role, against an object of the user's own city or body and one of another.

The file is the contract; this module holds only how to call each operation. An operation or page without a
row fails, and so does a row naming one that no longer exists. Each role is one test: its user is logged in
once, then every cell runs in a savepoint that is rolled back, so every cell starts from the same world.
A refused write must leave the database as it was; an allowed one must have written.

Every response is also checked for the security headers, and every HTML page for references to other origins.

PERMISSIONS_OBSERVE=1 prints what each role actually gets, as YAML rows (run with -s), instead of asserting:
a help for writing new rows, which are then reviewed against PRODUCT.md, never pasted unread.
"""

import io
import os
import re
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml
from axes.models import AccessAttempt
from django.db import transaction
from django.urls import URLResolver, get_resolver
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from drf_spectacular.generators import SchemaGenerator
from knox.models import AuthToken
from rest_framework.test import APIClient

from indicators.models import Indicator, Target
from measures.models import Measure, Programme, Region, ResponsibleBody, Task
from reporting.models import (
    DataValue,
    Evidence,
    ExportJob,
    Narrative,
    Notification,
    Period,
    ReportSnapshot,
    Submission,
    Transition,
)
from reporting.services.evidence import evidence_attach
from reporting.services.exports import export_job_create
from reporting.services.periods import period_ensure
from reporting.services.submissions import submission_create, submission_values_put
from tests.conftest import PASSWORD, _person
from tests.reporting.conftest import full_values
from tests.reporting.test_api_support import PDF, one_narrative, one_value, pdf

MATRIX_FILE = Path(__file__).resolve().parents[2] / "docs" / "permissions.yaml"
OBSERVE = os.environ.get("PERMISSIONS_OBSERVE") == "1"
API = "/api/v1"
S = Submission.Status

ROLES = [
    "anonymous",
    "outsider",
    "city_reporter",
    "city_reviewer",
    "body_reporter",
    "coordinator",
    "auditor",
    "admin",
    "security_admin",
    "audit_admin",
]
OUTCOMES = {"allow", "redirect", "refused", "invalid", "deny", "hidden", "login"}
TARGETS = {"none", "submission", "evidence", "export", "snapshot", "notification", "scope", "token", "locked_account"}
# Targets with an object of the user's own and of another city or body; the others are one cell per role.
SCOPED = {"submission", "evidence", "export", "snapshot", "notification", "scope"}
STATES = {"draft", "submitted", "awaiting_province", "confirmed", "period_closed"}
# POSTs that change no row of ours: the language cookie, and a web logout (the session is the framework's).
NOT_WRITES = {"POST /i18n/setlang/", "POST /accounts/logout/"}
EXTERNAL = re.compile(
    r"""(?:src|href|action|srcset)\s*=\s*["']?\s*((?:https?:)?//[^"'\s>]+)|url\(\s*["']?((?:https?:)?//[^)"']+)""", re.I
)


def _load() -> dict:
    if not MATRIX_FILE.exists():
        return {"api": {}, "pages": {}}
    return yaml.safe_load(MATRIX_FILE.read_text(encoding="utf-8"))


MATRIX = _load()
ROWS: dict[str, dict] = {**MATRIX["api"], **MATRIX["pages"]}


def _operation(key: str) -> str:
    """ "POST /x/ (variant)" → "POST /x/": a row may be repeated for a second state of the same operation."""
    return key.split(" (", maxsplit=1)[0]


# --- (a) the matrix and the code name the same operations ------------------------------------------------


def _schema_operations() -> set[str]:
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return {f"{method.upper()} {path}" for path, item in paths.items() for method in item}


def _page_routes(patterns: Any = None, prefix: str = "") -> set[str]:
    """Every URL pattern outside the API and the admin site, as "/route/" (the admin index has its own row)."""
    out: set[str] = set()
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if route.startswith(("api/", "admin/", "static/")):
            continue
        if isinstance(pattern, URLResolver):
            out |= _page_routes(pattern.url_patterns, route)
        else:
            out.add("/" + route)
    return out


def test_every_api_operation_has_a_row_and_every_row_an_operation(db):
    assert {_operation(key) for key in MATRIX["api"]} == _schema_operations()


def test_every_page_has_a_row_and_every_row_a_page(db):
    rows = {_operation(key).split(" ", 1)[1] for key in MATRIX["pages"]}
    assert rows == _page_routes() | {"/admin/"}


def test_every_row_gives_every_role_a_known_outcome():
    problems = []
    for key, row in ROWS.items():
        if set(row) - {"target", "state", "expect", "note"}:
            problems.append((key, "unknown keys", sorted(set(row) - {"target", "state", "expect", "note"})))
        if row.get("target", "none") not in TARGETS or row.get("state", "draft") not in STATES:
            problems.append((key, "target or state", row.get("target"), row.get("state")))
        if list(row["expect"]) != ROLES:
            problems.append((key, "roles", list(row["expect"])))
        for role, cell in row["expect"].items():
            if not set(_cells(cell)) <= OUTCOMES:
                problems.append((key, role, cell))
            if row.get("target", "none") not in SCOPED and " / " in cell:
                problems.append((key, role, "own / other needs a target"))
    assert problems == []


def _cells(cell: str) -> tuple[str, str]:
    """ "allow / hidden" → (own, other); "deny" → ("deny", "deny")."""
    own, _, other = cell.partition(" / ")
    return own.strip(), (other or own).strip()


# --- the world every cell starts from --------------------------------------------------------------------


class World:
    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)


@pytest.fixture
def world(plan, period, django_user_model, time_machine):
    """Four drafts for 2025Q4 (南京, 苏州, 省教育厅, 省人力资源社会保障厅) with values and one evidence file each,
    one user per role (city roles in 南京, the body reporter in 省教育厅), and one finished CSV export with its
    snapshot; seen on 5 January 2026, before the deadline."""
    time_machine.move_to(date(2026, 1, 5))
    # An earlier quarter with no submissions yet, for the cells that create one.
    period_ensure(year=2025, quarter=3)
    nanjing = Region.objects.get(name="南京市", level="city")
    suzhou = Region.objects.get(name="苏州市", level="city")
    edu = ResponsibleBody.objects.get(name="省教育厅")
    hrss = ResponsibleBody.objects.get(name="省人力资源社会保障厅")
    users = {
        "outsider": _person(django_user_model, "m-outsider"),
        "city_reporter": _person(django_user_model, "m-nj-reporter", "city_reporter", region=nanjing),
        "city_reviewer": _person(django_user_model, "m-nj-reviewer", "city_reviewer", region=nanjing),
        "body_reporter": _person(django_user_model, "m-edu-reporter", "body_reporter", body=edu),
        "coordinator": _person(django_user_model, "m-coordinator", "coordinator"),
        "auditor": _person(django_user_model, "m-auditor", "auditor"),
        "admin": _person(django_user_model, "m-sysadmin", "admin"),
        "security_admin": _person(django_user_model, "m-secadmin", "security_admin"),
        "audit_admin": _person(django_user_model, "m-auditadmin", "audit_admin"),
    }
    # The system administrator works in the admin site; the two other administrators work through the API.
    django_user_model.objects.filter(pk=users["admin"].pk).update(is_staff=True)
    users["admin"].refresh_from_db()
    locked = _person(django_user_model, "m-locked", "city_reporter", region=suzhou)
    sz_reporter = _person(django_user_model, "m-sz-reporter", "city_reporter", region=suzhou)
    hrss_reporter = _person(django_user_model, "m-hrss-reporter", "body_reporter", body=hrss)
    submissions = {}
    for key, user, scope in [
        ("nanjing", users["city_reporter"], {"region": nanjing}),
        ("suzhou", sz_reporter, {"region": suzhou}),
        ("edu", users["body_reporter"], {"body": edu}),
        ("hrss", hrss_reporter, {"body": hrss}),
    ]:
        submission, _ = submission_create(user=user, plan=plan, period=period, **scope)
        submission, _ = submission_values_put(submission=submission, user=user, values=full_values(submission))
        evidence = evidence_attach(submission=submission, user=user, upload=io.BytesIO(PDF), filename="台账.pdf")
        submissions[key] = (Submission.objects.get(pk=submission.pk), evidence)
    job = export_job_create(user=users["coordinator"], format="csv", period="2025Q4", part="summary")
    assert job.status == ExportJob.Status.DONE
    return World(
        plan=plan,
        period=period,
        users=users,
        others={"city": sz_reporter, "body": hrss_reporter},
        regions={"own": nanjing, "other": suzhou},
        bodies={"own": edu, "other": hrss},
        submissions=submissions,
        job=job,
        locked=locked,
    )


def _own_key(role: str) -> tuple[str, str]:
    return ("edu", "hrss") if role == "body_reporter" else ("nanjing", "suzhou")


def _prepare_submission(state: str, submission: Submission, period: Period) -> None:
    if state == "period_closed":
        Period.objects.filter(pk=period.pk).update(status=Period.Status.CLOSED)
    elif state == "awaiting_province":
        ready = S.CITY_APPROVED if submission.region_id else S.SUBMITTED
        Submission.objects.filter(pk=submission.pk).update(status=ready)
    elif state == "submitted":
        Submission.objects.filter(pk=submission.pk).update(status=S.SUBMITTED)
    elif state == "confirmed":
        Submission.objects.filter(pk=submission.pk).update(status=S.CONFIRMED)


def _clone(row: Any, **changes: Any) -> Any:
    row.pk = None
    row.public_id = uuid.uuid4()
    for name, value in changes.items():
        setattr(row, name, value)
    row.save()
    return row


class Cell:
    """What one request is about: the role's user and the object (own or other) it is sent to."""

    def __init__(self, world: World, role: str, side: str, row: dict) -> None:
        self.world = world
        self.role = role
        self.side = side
        self.user = world.users.get(role)
        own, other = _own_key(role)
        key = own if side == "own" else other
        self.submission, self.evidence = world.submissions[key]
        _prepare_submission(row.get("state", "draft"), self.submission, world.period)
        self.submission.refresh_from_db()
        # Someone of another city owns the "other" export, snapshot and notification.
        owner = self.user if side == "own" and self.user is not None else world.others["city"]
        target = row.get("target", "none")
        if target in ("export", "snapshot"):
            self.snapshot = _clone(ReportSnapshot.objects.get(pk=world.job.snapshot_id), created_by=owner)
            self.job = _clone(ExportJob.objects.get(pk=world.job.pk), created_by=owner, snapshot=self.snapshot)
        if target == "notification":
            self.notification = Notification.objects.create(
                user=owner,
                kind=Notification.Kind.REMINDER,
                period=world.period,
                dedupe_key=f"matrix-{uuid.uuid4()}",
                title="填报提醒",
                message="2025Q4 报表将于 1 月 10 日截止。",
            )
        if target == "token" and self.user is not None:
            _, self.token = AuthToken.objects.create(user=self.user)
        if target == "locked_account":
            # What the security administrator's two operations clear: failed logins and a lost phone.
            AccessAttempt.objects.create(
                username="m-locked", ip_address="10.0.0.1", user_agent="matrix", failures_since_start=5
            )
            StaticDevice.objects.create(user=world.locked, name="lost phone", confirmed=True)
        scoped_body = role == "body_reporter"
        self.scope_field = "bodies" if scoped_body else "cities"
        self.scope_code = (world.bodies if scoped_body else world.regions)[side].code


# --- how each operation is called ------------------------------------------------------------------------


def _sub(cell: Cell, suffix: str = "") -> str:
    return f"{API}/submissions/{cell.submission.public_id}/{suffix}"


def _page(cell: Cell, suffix: str = "") -> str:
    return f"/report/{cell.submission.public_id}/{suffix}"


def _version(cell: Cell) -> dict:
    return {"HTTP_IF_MATCH": f'"{cell.submission.version}"'}


def _first(model: Any, field: str) -> str:
    return str(getattr(model.objects.order_by("pk").first(), field))


def _web_form(cell: Cell) -> dict:
    """The report form as the page posts it: one value and one narrative, saved as a draft."""
    value, narrative = one_value(cell.submission, "4321"), one_narrative(cell.submission, "按计划推进（矩阵）。")
    return {
        "version": str(cell.submission.version),
        "action": "save",
        f"v-{value['indicator']}-value": value["value"],
        f"n-{narrative['measure']}-progress": narrative["progress"],
        f"n-{narrative['measure']}-problems": "",
        f"n-{narrative['measure']}-next_steps": "",
    }


def _token_logout(cell: Cell, api: APIClient) -> Any:
    client = APIClient()
    if cell.user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {cell.token}")
    return client.post(f"{API}/auth/logout/")


def _token_login(cell: Cell, api: APIClient) -> Any:
    user = cell.user or cell.world.users["outsider"]
    return APIClient().post(f"{API}/auth/token/", {"username": user.username, "password": PASSWORD}, format="json")


def _unlock(cell: Cell, api: APIClient) -> Any:
    return api.post(f"{API}/security/unlock/", {"username": "m-locked"}, format="json")


def _second_factor_reset(cell: Cell, api: APIClient) -> Any:
    return api.post(f"{API}/security/second-factor-reset/", {"username": "m-locked"}, format="json")


def _report(cell: Cell) -> dict:
    """A whole 2025Q3 report (no submission exists for it yet) of the own or the other city or body."""
    scope = {"body": cell.scope_code} if cell.scope_field == "bodies" else {"region": cell.scope_code}
    probe = Submission(
        plan=cell.world.plan,
        body=ResponsibleBody.objects.get(code=scope["body"]) if "body" in scope else None,
        region=Region.objects.get(code=scope["region"]) if "region" in scope else None,
    )
    return {"period": "2025Q3", **scope, "values": full_values(probe)}


def _export_body(cell: Cell) -> dict:
    return {"period": "2025Q4", "format": "csv", "part": "summary", cell.scope_field: [cell.scope_code]}


API_CALLS: dict[str, Any] = {
    "POST /api/v1/auth/logout/": _token_logout,
    "POST /api/v1/auth/token/": _token_login,
    "GET /api/v1/bodies/": lambda c, api: api.get(f"{API}/bodies/"),
    "GET /api/v1/bodies/{code}/": lambda c, api: api.get(f"{API}/bodies/{c.world.bodies['own'].code}/"),
    "GET /api/v1/completeness/": lambda c, api: api.get(f"{API}/completeness/?period=2025Q4"),
    "GET /api/v1/due/": lambda c, api: api.get(f"{API}/due/"),
    "GET /api/v1/exports/": lambda c, api: api.get(f"{API}/exports/"),
    "POST /api/v1/exports/": lambda c, api: api.post(f"{API}/exports/", _export_body(c), format="json"),
    "GET /api/v1/exports/{id}/": lambda c, api: api.get(f"{API}/exports/{c.job.public_id}/"),
    "GET /api/v1/exports/{id}/file/": lambda c, api: api.get(f"{API}/exports/{c.job.public_id}/file/"),
    "GET /api/v1/figures/": lambda c, api: api.get(f"{API}/figures/?period=2025Q4"),
    "GET /api/v1/indicators/": lambda c, api: api.get(f"{API}/indicators/"),
    "GET /api/v1/indicators/{id}/": lambda c, api: api.get(f"{API}/indicators/{_first(Indicator, 'pk')}/"),
    "GET /api/v1/measures/": lambda c, api: api.get(f"{API}/measures/"),
    "GET /api/v1/measures/{id}/": lambda c, api: api.get(f"{API}/measures/{_first(Measure, 'pk')}/"),
    "GET /api/v1/notifications/": lambda c, api: api.get(f"{API}/notifications/"),
    "POST /api/v1/notifications/{id}/read/": lambda c, api: api.post(f"{API}/notifications/{c.notification.pk}/read/"),
    "GET /api/v1/periods/": lambda c, api: api.get(f"{API}/periods/"),
    "GET /api/v1/periods/{code}/": lambda c, api: api.get(f"{API}/periods/2025Q4/"),
    "PATCH /api/v1/periods/{code}/": lambda c, api: api.patch(
        f"{API}/periods/2025Q4/", {"deadline": "2026-01-20"}, format="json"
    ),
    "POST /api/v1/periods/{code}/close/": lambda c, api: api.post(f"{API}/periods/2025Q4/close/"),
    "POST /api/v1/periods/{code}/reopen/": lambda c, api: api.post(
        f"{API}/periods/2025Q4/reopen/", {"reason": "补报"}, format="json"
    ),
    "GET /api/v1/plans/": lambda c, api: api.get(f"{API}/plans/"),
    "GET /api/v1/plans/{code}/": lambda c, api: api.get(f"{API}/plans/{c.world.plan.code}/"),
    "GET /api/v1/programmes/": lambda c, api: api.get(f"{API}/programmes/"),
    "GET /api/v1/programmes/{id}/": lambda c, api: api.get(f"{API}/programmes/{_first(Programme, 'pk')}/"),
    "GET /api/v1/regions/": lambda c, api: api.get(f"{API}/regions/"),
    "GET /api/v1/regions/{code}/": lambda c, api: api.get(f"{API}/regions/{c.world.regions['own'].code}/"),
    "GET /api/v1/report-snapshots/": lambda c, api: api.get(f"{API}/report-snapshots/"),
    "GET /api/v1/report-snapshots/{id}/": lambda c, api: api.get(f"{API}/report-snapshots/{c.snapshot.public_id}/"),
    "GET /api/v1/report-snapshots/{id}/diff/": lambda c, api: api.get(
        f"{API}/report-snapshots/{c.snapshot.public_id}/diff/?against={c.snapshot.public_id}"
    ),
    "GET /api/v1/security/events/": lambda c, api: api.get(f"{API}/security/events/"),
    "GET /api/v1/security/events/chain/": lambda c, api: api.get(f"{API}/security/events/chain/"),
    "POST /api/v1/security/unlock/": _unlock,
    "POST /api/v1/security/second-factor-reset/": _second_factor_reset,
    "GET /api/v1/status/": lambda c, api: api.get(f"{API}/status/?period=2025Q4"),
    "GET /api/v1/submissions/": lambda c, api: api.get(f"{API}/submissions/"),
    "POST /api/v1/submissions/": lambda c, api: api.post(
        f"{API}/submissions/",
        {"period": "2025Q3", **({"body": c.scope_code} if c.scope_field == "bodies" else {"region": c.scope_code})},
        format="json",
    ),
    "POST /api/v1/submissions/report/": lambda c, api: api.post(
        f"{API}/submissions/report/", _report(c), format="json"
    ),
    "GET /api/v1/submissions/{id}/": lambda c, api: api.get(_sub(c)),
    "POST /api/v1/submissions/{id}/city-approve/": lambda c, api: api.post(_sub(c, "city-approve/"), {}, format="json"),
    "POST /api/v1/submissions/{id}/confirm/": lambda c, api: api.post(_sub(c, "confirm/"), {}, format="json"),
    "POST /api/v1/submissions/{id}/evidence/": lambda c, api: api.post(
        _sub(c, "evidence/"), {"file": pdf(), "description": "照片"}, format="multipart"
    ),
    "GET /api/v1/submissions/{id}/evidence/{evidence_id}/": lambda c, api: api.get(
        _sub(c, f"evidence/{c.evidence.pk}/")
    ),
    "DELETE /api/v1/submissions/{id}/evidence/{evidence_id}/": lambda c, api: api.delete(
        _sub(c, f"evidence/{c.evidence.pk}/"), {"reason": "传错了文件"}, format="json"
    ),
    "GET /api/v1/submissions/{id}/history/": lambda c, api: api.get(_sub(c, "history/")),
    "PUT /api/v1/submissions/{id}/narratives/": lambda c, api: api.put(
        _sub(c, "narratives/"), {"narratives": [one_narrative(c.submission, "矩阵")]}, format="json", **_version(c)
    ),
    "POST /api/v1/submissions/{id}/reopen/": lambda c, api: api.post(
        _sub(c, "reopen/"), {"reason": "数据口径需核实"}, format="json"
    ),
    "POST /api/v1/submissions/{id}/return/": lambda c, api: api.post(
        _sub(c, "return/"), {"reason": "数据口径需核实"}, format="json"
    ),
    "POST /api/v1/submissions/{id}/submit/": lambda c, api: api.post(_sub(c, "submit/"), {}, format="json"),
    "PUT /api/v1/submissions/{id}/values/": lambda c, api: api.put(
        _sub(c, "values/"), {"values": [one_value(c.submission, "4321")]}, format="json", **_version(c)
    ),
    "GET /api/v1/targets/": lambda c, api: api.get(f"{API}/targets/"),
    "GET /api/v1/targets/{id}/": lambda c, api: api.get(f"{API}/targets/{_first(Target, 'pk')}/"),
    "GET /api/v1/tasks/": lambda c, api: api.get(f"{API}/tasks/"),
    "GET /api/v1/tasks/{id}/": lambda c, api: api.get(f"{API}/tasks/{_first(Task, 'pk')}/"),
}


def _export_form(cell: Cell) -> dict:
    return {"period": "2025Q4", "format": "csv", "part": "summary", cell.scope_field: [cell.scope_code]}


def _start_form(cell: Cell) -> dict:
    side = cell.side
    region = cell.world.regions[side] if cell.scope_field == "cities" else None
    body = cell.world.bodies[side] if cell.scope_field == "bodies" else None
    return {
        "plan": cell.world.plan.pk,
        "period": "2025Q3",
        "region": region.pk if region else "",
        "body": body.pk if body else "",
    }


PAGE_CALLS: dict[str, Any] = {
    "GET /": lambda c, web: web.get("/"),
    "POST /i18n/setlang/": lambda c, web: web.post("/i18n/setlang/", {"language": "en", "next": "/"}),
    "GET /accounts/login/": lambda c, web: web.get("/accounts/login/"),
    "GET /accounts/2fa/": lambda c, web: web.get("/accounts/2fa/"),
    "GET /accounts/2fa/setup/": lambda c, web: web.get("/accounts/2fa/setup/"),
    "POST /accounts/logout/": lambda c, web: web.post("/accounts/logout/"),
    "GET /accounts/password_change/": lambda c, web: web.get("/accounts/password_change/"),
    "GET /accounts/password_change/done/": lambda c, web: web.get("/accounts/password_change/done/"),
    "GET /accounts/password_reset/": lambda c, web: web.get("/accounts/password_reset/"),
    "GET /accounts/password_reset/done/": lambda c, web: web.get("/accounts/password_reset/done/"),
    "GET /accounts/reset/<uidb64>/<token>/": lambda c, web: web.get("/accounts/reset/MQ/set-password/"),
    "GET /accounts/reset/done/": lambda c, web: web.get("/accounts/reset/done/"),
    "GET /admin/": lambda c, web: web.get("/admin/"),
    "GET /report/": lambda c, web: web.get("/report/"),
    "POST /report/start/": lambda c, web: web.post("/report/start/", _start_form(c)),
    "GET /report/review/": lambda c, web: web.get("/report/review/"),
    "GET /report/<uuid:public_id>/": lambda c, web: web.get(_page(c)),
    "POST /report/<uuid:public_id>/": lambda c, web: web.post(_page(c), _web_form(c)),
    "GET /report/<uuid:public_id>/history/": lambda c, web: web.get(_page(c, "history/")),
    "GET /report/<uuid:public_id>/template.xlsx": lambda c, web: web.get(_page(c, "template.xlsx")),
    "POST /report/<uuid:public_id>/upload/": lambda c, web: web.post(
        _page(c, "upload/"), {"file": c.template, "version": str(c.submission.version)}
    ),
    "POST /report/<uuid:public_id>/evidence/": lambda c, web: web.post(
        _page(c, "evidence/"), {"file": pdf(), "description": "照片", "version": str(c.submission.version)}
    ),
    "GET /report/<uuid:public_id>/evidence/<int:evidence_id>/": lambda c, web: web.get(
        _page(c, f"evidence/{c.evidence.pk}/")
    ),
    "POST /report/<uuid:public_id>/evidence/<int:evidence_id>/remove/": lambda c, web: web.post(
        _page(c, f"evidence/{c.evidence.pk}/remove/"), {"reason": "传错了文件"}
    ),
    "POST /report/<uuid:public_id>/city-approve/": lambda c, web: web.post(
        _page(c, "city-approve/"), {"version": str(c.submission.version)}
    ),
    "POST /report/<uuid:public_id>/confirm/": lambda c, web: web.post(
        _page(c, "confirm/"), {"version": str(c.submission.version)}
    ),
    "POST /report/<uuid:public_id>/return/": lambda c, web: web.post(
        _page(c, "return/"), {"version": str(c.submission.version), "reason": "数据口径需核实"}
    ),
    "POST /report/<uuid:public_id>/reopen/": lambda c, web: web.post(
        _page(c, "reopen/"), {"version": str(c.submission.version), "reason": "数据口径需核实"}
    ),
    "GET /exports/": lambda c, web: web.get("/exports/"),
    "POST /exports/": lambda c, web: web.post("/exports/", _export_form(c)),
    "GET /exports/<uuid:public_id>/": lambda c, web: web.get(f"/exports/{c.job.public_id}/"),
    "GET /exports/<uuid:public_id>/download/": lambda c, web: web.get(f"/exports/{c.job.public_id}/download/"),
    "GET /exports/snapshots/<uuid:public_id>/": lambda c, web: web.get(f"/exports/snapshots/{c.snapshot.public_id}/"),
    "POST /exports/snapshots/<uuid:public_id>/export/": lambda c, web: web.post(
        f"/exports/snapshots/{c.snapshot.public_id}/export/", {"format": "csv"}
    ),
    "GET /dashboard/": lambda c, web: web.get("/dashboard/"),
    "GET /dashboard/measures/<int:number>/": lambda c, web: web.get("/dashboard/measures/1/"),
    "GET /dashboard/indicators/<slug:code>/": lambda c, web: web.get(
        f"/dashboard/indicators/{_first(Indicator, 'code')}/"
    ),
    "GET /dashboard/completeness/": lambda c, web: web.get("/dashboard/completeness/"),
    "GET /dashboard/city/": lambda c, web: web.get("/dashboard/city/"),
}


# --- what a response means -------------------------------------------------------------------------------


def _fingerprint() -> tuple:
    """Every row a request of the matrix can write (the security log and idempotency records aside: a refusal
    is logged on purpose)."""
    return (
        list(Submission.objects.order_by("pk").values_list("pk", "status", "version", "return_reason")),
        list(Period.objects.order_by("pk").values_list("pk", "status", "deadline", "version")),
        DataValue.objects.count(),
        Narrative.objects.count(),
        list(Evidence.objects.order_by("pk").values_list("pk", "removed_at")),
        Transition.objects.count(),
        ExportJob.objects.count(),
        ReportSnapshot.objects.count(),
        Notification.objects.filter(read_at__isnull=True).count(),
        AuthToken.objects.count(),
        AccessAttempt.objects.count(),
        StaticDevice.objects.count(),
        TOTPDevice.objects.count(),
    )


def _body(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)  # also closes the file
    return response.content


def _outcome(response: Any, *, write: bool, wrote: bool) -> str:
    code = response.status_code
    location = response.get("Location", "")
    if code == 401 or (300 <= code < 400 and location.startswith(("/accounts/login/", "/admin/login/"))):
        outcome = "login"
    elif code == 403:
        outcome = "deny"
    elif code == 404:
        outcome = "hidden"
    elif code == 400:
        outcome = "invalid"
    elif 200 <= code < 300:
        outcome = "allow"
    elif 300 <= code < 400:
        outcome = ("allow" if wrote else "refused") if write else "redirect"
    else:
        return f"status {code}"
    if write and outcome == "allow" and not wrote:
        return "allow without writing"
    if wrote and outcome != "allow":
        return f"{outcome} but wrote"
    return outcome


def _header_problems(key: str, response: Any, body: bytes, authenticated: bool) -> list[tuple]:
    problems = []
    expected = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}
    for header, value in expected.items():
        if response.get(header) != value:
            problems.append((key, header, response.get(header)))
    content_type = response.get("Content-Type", "")
    if content_type.startswith("text/html"):
        policy = response.get("Content-Security-Policy", "")
        if "default-src 'self'" not in policy or "frame-ancestors 'none'" not in policy:
            problems.append((key, "Content-Security-Policy", policy))
        text = body.decode("utf-8", errors="replace")
        for match in EXTERNAL.finditer(text):
            found = match.group(1) or match.group(2)
            if not found.removeprefix("http:").removeprefix("https:").startswith("//testserver/"):
                problems.append((key, "external reference", found))
    # Files carry the data itself: no shared or browser cache may keep one after the user leaves.
    attachment = "attachment" in response.get("Content-Disposition", "")
    if authenticated and attachment and "no-store" not in response.get("Cache-Control", ""):
        problems.append((key, "Cache-Control", response.get("Cache-Control")))
    return problems


def _xlsx_template(web: Any, cell: Cell) -> io.BytesIO:
    """The submission's own template, downloaded by its reporter: what an allowed upload sends back."""
    from reporting.services.xlsx import submission_template_build

    workbook = openpyxl.load_workbook(io.BytesIO(submission_template_build(submission=cell.submission)))
    sheet = workbook["指标数据"]
    code = one_value(cell.submission)["indicator"]
    row = next(r for r in range(2, sheet.max_row + 1) if sheet.cell(r, 1).value == code)
    sheet.cell(row, 6).value = 4321  # column F: the value of a stock or flow
    upload = io.BytesIO()
    workbook.save(upload)
    upload.seek(0)
    upload.name = "填报模板.xlsx"
    return upload


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(role, world, client):
    user = world.users.get(role)
    api = APIClient()
    if user is not None:
        api.force_authenticate(user)
        client.force_login(user)
    actual: dict[str, str] = {}
    expected: dict[str, str] = {}
    problems: list[tuple] = []
    for key, row in ROWS.items():
        operation = _operation(key)
        is_api = key in MATRIX["api"]
        call = API_CALLS[operation] if is_api else PAGE_CALLS[operation]
        write = operation.split()[0] != "GET" and operation not in NOT_WRITES
        sides = ("own", "other") if row.get("target", "none") in SCOPED else ("own",)
        seen = []
        for side in sides:
            with transaction.atomic():
                cell = Cell(world, role, side, row)
                if operation.endswith("/upload/"):
                    cell.template = _xlsx_template(client, cell)
                before = _fingerprint()
                response = call(cell, api if is_api else client)
                body = _body(response)
                wrote = _fingerprint() != before
                seen.append(_outcome(response, write=write, wrote=wrote))
                problems += _header_problems(f"{key} [{side}]", response, body, user is not None)
                transaction.set_rollback(True)
            if operation == "POST /accounts/logout/" and user is not None:
                client.force_login(user)
        actual[key] = seen[0] if len(set(seen)) == 1 else " / ".join(seen)
        own, other = _cells(row["expect"][role])
        expected[key] = own if own == other else f"{own} / {other}"
    if OBSERVE:
        print(  # noqa: T201 - the observe mode's whole purpose (run with -s)
            f"\n# observed for {role}\n" + yaml.safe_dump(actual, allow_unicode=True, sort_keys=False, width=200)
        )
        return
    assert actual == expected
    assert problems == []


def test_an_export_file_is_refused_to_its_author_once_their_role_has_ended(world, client_for):
    """Regression: the author of an export could still download its data after their membership ended."""
    reporter = world.users["city_reporter"]
    job = export_job_create(user=reporter, format="csv", period="2025Q4", part="summary")
    first = client_for(reporter).get(f"{API}/exports/{job.public_id}/file/")
    assert first.status_code == 200
    _body(first)
    reporter.memberships.update(valid_to=date(2026, 1, 1))
    before = _fingerprint()
    # A fresh user object: the scope is cached on the instance for the length of a request.
    reporter = type(reporter).objects.get(pk=reporter.pk)
    response = client_for(reporter).get(f"{API}/exports/{job.public_id}/file/")
    assert response.status_code == 403
    assert response.json() == {
        "message": "导出文件只能由导出人或督查人员下载；系统管理员只能查看导出日志。",
        "errors": {},
    }
    assert _fingerprint() == before


def test_web_downloads_of_a_submission_are_not_cached(world, client):
    """Regression: the evidence file and the prefilled XLSX template of the web pages had no Cache-Control."""
    submission, evidence = world.submissions["nanjing"]
    client.force_login(world.users["city_reporter"])
    download = client.get(f"/report/{submission.public_id}/evidence/{evidence.pk}/")
    template = client.get(f"/report/{submission.public_id}/template.xlsx")
    assert (download.status_code, template.status_code) == (200, 200)
    _body(download)
    assert (download["Cache-Control"], template["Cache-Control"]) == ("private, no-store", "private, no-store")
