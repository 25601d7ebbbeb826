"""Helpers shared by the reporting API tests (this module holds no tests)."""

from django.core.files.uploadedfile import SimpleUploadedFile

from reporting.models import Submission
from reporting.selectors import indicators_expected, measures_for_narrative

API = "/api/v1"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def url(submission: Submission, suffix: str = "") -> str:
    return f"{API}/submissions/{submission.public_id}/{suffix}"


def pdf(name: str = "台账.pdf", content: bytes = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def one_value(submission: Submission, value: str = "1234") -> dict:
    """A valid value for the first stock or flow indicator the submission's reporter reports."""
    indicator = next(
        i
        for i in indicators_expected(plan=submission.plan, region=submission.region, body=submission.body)
        if i.kind in ("stock", "flow")
    )
    return {"indicator": indicator.code, "value": value}


def one_narrative(submission: Submission, text: str = "按计划推进。") -> dict:
    measure = measures_for_narrative(plan=submission.plan, body=submission.body).first()
    return {"measure": measure.number, "progress": text, "problems": "", "next_steps": ""}


def snapshot(submission: Submission) -> tuple:
    """Everything a refused request must leave as it was."""
    row = Submission.objects.get(pk=submission.pk)
    return (
        row.status,
        row.version,
        row.return_reason,
        list(
            row.values.order_by("indicator__code").values_list(
                "indicator__code", "value", "numerator", "denominator", "done", "done_on", "comment"
            )
        ),
        list(row.narratives.order_by("measure__number").values_list("measure__number", "progress")),
        list(row.evidence.order_by("id").values_list("id", "removed_at")),
        row.transitions.count(),
    )


def if_match(submission: Submission) -> dict:
    version = Submission.objects.get(pk=submission.pk).version
    return {"HTTP_IF_MATCH": f'"{version}"'}
