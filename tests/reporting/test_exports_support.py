"""Data and helpers shared by the export tests (this module holds no tests).

`build_world` makes a 2025Q4 through the real services: 南京 and 苏州 confirmed (苏州 returned once with a
formula-like reason, and a comment changed after submission), 无锡 submitted but not approved, 徐州
returned, the other nine cities missing after the deadline; then the rollup."""

import io
import subprocess
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from openpyxl import load_workbook

from measures.models import Region
from portal.accounts.services import membership_grant
from reporting.models import ExportJob, Figure, Period, Submission
from reporting.services import workflow
from reporting.services.evidence import evidence_attach
from reporting.services.rollups import rollup_period
from reporting.services.submissions import submission_create, submission_values_put
from tests.reporting.conftest import full_values

SHANGHAI = ZoneInfo("Asia/Shanghai")
RATIO = "high-skill-workers-per-10000"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
INJECTED_REASON = '=HYPERLINK("http://evil.example/x","点我")'
INJECTED_COMMENT = "@SUM(1+1)*cmd|' /C calc'!A0"
INJECTED_DESCRIPTION = "+1 附件"
UNAPPROVED_NUMERATOR = "77777"


def person(django_user_model: Any, username: str, role: str, *, region: Any = None, body: Any = None) -> Any:
    user = django_user_model.objects.create_user(username=username, password="a-long-test-password")
    membership_grant(user=user, role=role, region=region, body=body, valid_from=date(2018, 1, 1))
    return user


def city(code: str) -> Region:
    return Region.objects.get(code=code)


def values_with_ratio(submission: Submission, numerator: str, denominator: str = "1000000") -> list[dict]:
    values = full_values(submission)
    for item in values:
        if item["indicator"] == RATIO:
            item.update(numerator=numerator, denominator=denominator)
    return values


def confirm(submission: Submission, *, reporter: Any, reviewer: Any, coordinator: Any) -> Submission:
    submission = workflow.submission_submit(submission=submission, user=reporter)
    submission = workflow.submission_city_approve(submission=submission, user=reviewer)
    return workflow.submission_confirm(submission=submission, user=coordinator)


@dataclass
class World:
    plan: Any
    period: Period
    nanjing: Submission
    suzhou: Submission
    wuxi: Submission
    xuzhou: Submission
    users: dict[str, Any] = field(default_factory=dict)

    def refresh(self) -> None:
        for name in ("nanjing", "suzhou", "wuxi", "xuzhou"):
            setattr(self, name, Submission.objects.get(pk=getattr(self, name).pk))


def build_world(
    *,
    plan: Any,
    period: Period,
    django_user_model: Any,
    time_machine: Any,
    coordinator: Any,
    nanjing_reporter: Any,
    nanjing_reviewer: Any,
    suzhou_reporter: Any,
    suzhou_reviewer: Any,
) -> World:
    time_machine.move_to(datetime(2026, 1, 8, 10, tzinfo=SHANGHAI), tick=True)
    nanjing, suzhou = nanjing_reporter.memberships.get().region, suzhou_reporter.memberships.get().region
    wuxi, xuzhou = city("320200"), city("320300")
    wuxi_reporter = person(django_user_model, "wx-reporter", "city_reporter", region=wuxi)
    xuzhou_reporter = person(django_user_model, "xz-reporter", "city_reporter", region=xuzhou)
    xuzhou_reviewer = person(django_user_model, "xz-reviewer", "city_reviewer", region=xuzhou)

    nj, _ = submission_create(user=nanjing_reporter, plan=plan, period=period, region=nanjing)
    nj, _ = submission_values_put(submission=nj, user=nanjing_reporter, values=values_with_ratio(nj, "90000"))
    evidence_attach(
        submission=nj,
        user=nanjing_reporter,
        upload=io.BytesIO(PDF),
        filename="台账.pdf",
        description=INJECTED_DESCRIPTION,
    )
    nj = confirm(
        Submission.objects.get(pk=nj.pk), reporter=nanjing_reporter, reviewer=nanjing_reviewer, coordinator=coordinator
    )

    sz, _ = submission_create(user=suzhou_reporter, plan=plan, period=period, region=suzhou)
    sz, _ = submission_values_put(submission=sz, user=suzhou_reporter, values=values_with_ratio(sz, "60000"))
    sz = workflow.submission_submit(submission=sz, user=suzhou_reporter)
    sz = workflow.submission_return(submission=sz, user=suzhou_reviewer, reason=INJECTED_REASON)
    sz, _ = submission_values_put(
        submission=sz,
        user=suzhou_reporter,
        values=[{"indicator": RATIO, "numerator": "60000", "denominator": "1000000", "comment": INJECTED_COMMENT}],
    )
    sz = confirm(sz, reporter=suzhou_reporter, reviewer=suzhou_reviewer, coordinator=coordinator)

    wx, _ = submission_create(user=wuxi_reporter, plan=plan, period=period, region=wuxi)
    wx, _ = submission_values_put(submission=wx, user=wuxi_reporter, values=values_with_ratio(wx, UNAPPROVED_NUMERATOR))
    wx = workflow.submission_submit(submission=wx, user=wuxi_reporter)

    xz, _ = submission_create(user=xuzhou_reporter, plan=plan, period=period, region=xuzhou)
    xz, _ = submission_values_put(submission=xz, user=xuzhou_reporter, values=values_with_ratio(xz, "50000"))
    xz = workflow.submission_submit(submission=xz, user=xuzhou_reporter)
    xz = workflow.submission_return(submission=xz, user=xuzhou_reviewer, reason="分母口径有误，请核实。")

    # After the deadline (2026-01-10): the nine cities that sent nothing are overdue.
    time_machine.move_to(datetime(2026, 1, 20, 9, tzinfo=SHANGHAI), tick=True)
    rollup_period(plan_id=plan.pk, period_id=period.pk)
    return World(
        plan=plan,
        period=period,
        nanjing=nj,
        suzhou=sz,
        wuxi=wx,
        xuzhou=xz,
        users={
            "wuxi_reporter": wuxi_reporter,
            "xuzhou_reporter": xuzhou_reporter,
            "xuzhou_reviewer": xuzhou_reviewer,
        },
    )


def job_path(job: ExportJob) -> Path:
    return Path(settings.PRIVATE_FILES_ROOT) / job.file_path


def sheet_rows(path: Path, title: str) -> list[dict[str, Any]]:
    """A sheet's records keyed by header (row 2), from row 3 on."""
    workbook = load_workbook(path, read_only=True)
    rows = list(workbook[title].iter_rows(values_only=True))
    workbook.close()
    headers = rows[1]
    return [dict(zip(headers, row, strict=False)) for row in rows[2:]]


def all_cells(path: Path) -> list[Any]:
    """Every cell of every sheet (openpyxl in full mode, so data types are real)."""
    workbook = load_workbook(path)
    out = [cell for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row]
    workbook.close()
    return out


def official(plan: Any, period: Period, span: str = "quarter") -> dict[str, Figure]:
    """The official figures of the period, keyed as the report keys them."""
    return {
        f"figure:{f.indicator.code}:{f.region.code}": f
        for f in Figure.objects.filter(plan=plan, period=period, basis="official", span=span).select_related(
            "indicator", "region"
        )
    }


def pdf_text(path: Path) -> str:
    result = subprocess.run(  # noqa: S603 - fixed argv
        ["pdftotext", "-enc", "UTF-8", str(path), "-"],  # noqa: S607 - Debian's poppler-utils on PATH
        capture_output=True,
        check=True,
    )
    return result.stdout.decode("utf-8")


def zip_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def as_decimal(value: Any) -> Decimal:
    return Decimal(str(value))
