"""A large export runs as a Celery job: a real worker on Redis (CI), or in-process without a broker. The
job moves to done with a file whose SHA-256 matches, and running it again rebuilds nothing."""

import hashlib
from datetime import datetime

import pytest

from reporting.models import ExportJob, Figure
from reporting.tasks import export_job_task
from tests.reporting.test_exports_support import SHANGHAI, confirm, job_path, pdf_text, values_with_ratio

pytestmark = pytest.mark.worker
API = "/api/v1"


def test_a_background_export_runs_as_a_celery_job_and_its_file_matches_its_sha256(
    plan,
    period,
    celery_worker_process,
    wait_for,
    auditor,
    coordinator,
    nanjing,
    nanjing_reporter,
    nanjing_reviewer,
    client_for,
    time_machine,
):
    from reporting.services.rollups import rollup_period
    from reporting.services.submissions import submission_create, submission_values_put

    time_machine.move_to(datetime(2026, 1, 8, 10, tzinfo=SHANGHAI), tick=True)
    s, _ = submission_create(user=nanjing_reporter, plan=plan, period=period, region=nanjing)
    s, _ = submission_values_put(submission=s, user=nanjing_reporter, values=values_with_ratio(s, "90000"))
    confirm(s, reporter=nanjing_reporter, reviewer=nanjing_reviewer, coordinator=coordinator)
    rollup_period(plan_id=plan.pk, period_id=period.pk)
    province = Figure.objects.get(
        plan=plan,
        indicator__code="high-skill-workers-per-10000",
        region__level="province",
        period=period,
        span="quarter",
        basis="official",
    )

    response = client_for(auditor).post(
        f"{API}/exports/", {"period": "2025Q4", "format": "pdf", "measures": [6]}, format="json"
    )
    assert response.status_code == 202, response.json()
    assert response.json()["mode"] == "queued"
    public_id = response.json()["id"]
    job = wait_for(
        lambda: (j := ExportJob.objects.get(public_id=public_id)).status in ("done", "failed") and j, timeout=120
    )
    assert job.status == "done", job.error
    assert job.attempts == 1
    data = job_path(job).read_bytes()
    assert hashlib.sha256(data).hexdigest() == job.sha256
    assert len(data) == job.size
    assert (
        job.snapshot.content["figures"][f"figure:high-skill-workers-per-10000:{province.region.code}"]["value"] == "900"
    )
    assert "全省每万名劳动者中高技能人才数为900.0人/万人" in "".join(pdf_text(job_path(job)).split())

    # A second delivery of the same task (a retry, a redelivered message) rebuilds nothing.
    before = (job.file_path, job.sha256, job.size, job.snapshot_id, job.finished_at)
    export_job_task.delay(job.pk).get(timeout=60)
    job.refresh_from_db()
    assert (job.file_path, job.sha256, job.size, job.snapshot_id, job.finished_at) == before
    assert job.attempts == 1
