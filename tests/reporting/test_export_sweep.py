"""No export job waits for ever: a job whose task the broker refused (or lost) is sent again by the sweep
and built, and a job whose worker died is failed with a reason its author reads on the job's page."""

import socket
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from kombu import Connection

from reporting.models import ExportJob
from reporting.services.exports import export_job_create
from reporting.services.housekeeping import export_jobs_sweep
from reporting.tasks import export_job_task

API = "/api/v1"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _broker_stop(monkeypatch) -> None:
    """Every send from here on goes to a port where no Redis listens, as when Redis is stopped."""
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    monkeypatch.setattr(export_job_task.app, "connection_for_write", lambda *a, **k: Connection(url))


@pytest.fixture
def broker_down(monkeypatch):
    _broker_stop(monkeypatch)


def _job_at(user, period, *, status, minutes_ago, started_minutes_ago=None):
    with time_machine.travel(timezone.now() - timedelta(minutes=minutes_ago)):
        job = export_job_create(user=user, format="xlsx", period=period.code, background=True)
    ExportJob.objects.filter(pk=job.pk).update(
        status=status,
        sent_at=timezone.now() - timedelta(minutes=minutes_ago),
        started_at=None if started_minutes_ago is None else timezone.now() - timedelta(minutes=started_minutes_ago),
    )
    return ExportJob.objects.get(pk=job.pk)


@pytest.mark.worker
def test_an_export_asked_for_while_the_broker_is_down_is_accepted_then_sent_by_the_sweep_and_built(
    plan, period, auditor, client_for, monkeypatch, celery_worker_process, wait_for
):
    # Stopped once the worker is up (starting it talks to the broker).
    _broker_stop(monkeypatch)
    response = client_for(auditor).post(
        f"{API}/exports/", {"period": period.code, "format": "pdf", "measures": [6]}, format="json"
    )
    # The request is not failed for a broker outage: the job is recorded and waits.
    assert response.status_code == 202, response.content
    job = ExportJob.objects.get(public_id=response.json()["id"])
    assert (job.status, job.sent_at) == ("queued", None)

    # Too early: a job just asked for is left to its own send.
    monkeypatch.undo()
    assert export_jobs_sweep() == {"failed": 0, "resent": 0, "not_sent": 0}

    with time_machine.travel(timezone.now() + timedelta(minutes=11), tick=True):
        assert export_jobs_sweep() == {"failed": 0, "resent": 1, "not_sent": 0}
    job = wait_for(lambda: (j := ExportJob.objects.get(pk=job.pk)).status in ("done", "failed") and j, timeout=120)
    assert job.status == "done", job.error
    assert job.attempts == 1
    assert job.sha256


def test_the_sweep_sends_nothing_while_the_broker_is_still_down_and_keeps_the_job(plan, period, auditor, broker_down):
    job = _job_at(auditor, period, status="queued", minutes_ago=15)
    ExportJob.objects.filter(pk=job.pk).update(sent_at=None)
    assert export_jobs_sweep() == {"failed": 0, "resent": 0, "not_sent": 1}
    job.refresh_from_db()
    assert (job.status, job.sent_at, job.error) == ("queued", None, "")


def test_a_job_whose_worker_died_is_failed_with_a_reason_its_author_reads(
    plan, period, auditor, coordinator, client, broker_down
):
    dead = _job_at(auditor, period, status="running", minutes_ago=60, started_minutes_ago=36)
    busy = _job_at(auditor, period, status="running", minutes_ago=60, started_minutes_ago=20)
    forgotten = _job_at(coordinator, period, status="queued", minutes_ago=25 * 60)
    done = _job_at(auditor, period, status="done", minutes_ago=48 * 60, started_minutes_ago=48 * 60)

    result = export_jobs_sweep()

    assert result["failed"] == 2
    statuses = dict(ExportJob.objects.values_list("pk", "status"))
    assert statuses == {dead.pk: "failed", busy.pk: "running", forgotten.pk: "failed", done.pk: "done"}
    dead.refresh_from_db()
    assert "生成中断" in dead.error
    assert "35 分钟" in dead.error
    assert dead.finished_at is not None
    forgotten.refresh_from_db()
    assert "未能开始生成" in forgotten.error
    assert "24 小时" in forgotten.error

    client.force_login(auditor)
    page = client.get(f"/exports/{dead.public_id}/")
    assert page.status_code == 200
    assert "生成中断" in page.content.decode()
    client.force_login(coordinator)
    assert "未能开始生成" in client.get(f"/exports/{forgotten.public_id}/").content.decode()
    # A second sweep changes nothing more.
    assert export_jobs_sweep()["failed"] == 0
