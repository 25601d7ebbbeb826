"""Celery wrappers only: each task loads by id and calls one service that is harmless to run twice."""

import logging

from celery import shared_task
from django.db import OperationalError

from reporting.services import read_warm, rollups

logger = logging.getLogger(__name__)

# Transient failures worth a retry: the database went away or was busy. Anything else is a bug and fails loudly.
TRANSIENT = (OperationalError,)
RETRYING = {"acks_late": True, "autoretry_for": TRANSIENT, "retry_backoff": True, "max_retries": 3}
# A rollup task: more retries (a failover takes a while) and five minutes.
ROLLUP = {**RETRYING, "max_retries": 5, "soft_time_limit": 300, "time_limit": 360}


@shared_task(**ROLLUP)
def rollup_period_task(plan_id: int, period_id: int, province_id: int | None = None, requested: bool = False) -> dict:
    summary = rollups.rollup_run(plan_id=plan_id, period_id=period_id, province_id=province_id, requested=requested)
    return {
        "figures": summary.figures,
        "written": summary.written,
        "periods": summary.periods,
        "requests": summary.requests,
        "handed_on": summary.handed_on,
    }


@shared_task(**RETRYING, soft_time_limit=120, time_limit=130)
def read_cache_warm_task(plan_id: int) -> list[str]:
    return read_warm.read_cache_warm(plan_id=plan_id)


@shared_task(**RETRYING, soft_time_limit=50, time_limit=55)
def rollup_dispatch_task() -> int:
    return rollups.rollup_requests_dispatch()


@shared_task(**ROLLUP)
def rollup_slice_task(plan_id: int, period_id: int, province_id: int, force: bool = False) -> dict:
    summary = rollups.rollup_slice(plan_id=plan_id, period_id=period_id, province_id=province_id, force=force)
    return {"figures": summary.figures, "written": summary.written}


@shared_task(**ROLLUP)
def rollup_province_task(plan_id: int, province_id: int, period_ids: list[int], force: bool = False) -> dict:
    found = rollups.rollup_province_rebuild(
        plan_id=plan_id, province_id=province_id, period_ids=period_ids, force=force
    )
    return {"checked": len(found.checked), "figures": found.figures, "queued": found.queued}


@shared_task(**RETRYING, soft_time_limit=3500, time_limit=3600)
def rollup_all_task() -> dict:
    # Fans out one task per (plan, province), which checks its slices and queues one task per slice to recompute,
    # so every worker takes a share.
    return {"queued": rollups.rollup_rebuild_enqueue()}


@shared_task(**RETRYING, soft_time_limit=3500, time_limit=3600)
def rollup_consistency_task() -> dict:
    return rollups.rollup_consistency_check()


@shared_task(**RETRYING, soft_time_limit=540, time_limit=600)
def reminders_task() -> int:
    from reporting.services.notifications import reminders_create

    return reminders_create()


@shared_task(**RETRYING, soft_time_limit=540, time_limit=600)
def overdue_task() -> int:
    from reporting.services.notifications import overdue_create

    return overdue_create()


@shared_task(**RETRYING, soft_time_limit=240, time_limit=300)
def email_pending_task() -> int:
    from reporting.services.notifications import notifications_email_pending

    return notifications_email_pending()


@shared_task(**RETRYING, soft_time_limit=1700, time_limit=1800)
def export_job_task(job_id: int) -> str:
    from reporting.services.exports import export_job_run

    return export_job_run(job_id=job_id).status


@shared_task(**RETRYING, soft_time_limit=240, time_limit=300)
def idempotency_purge_task() -> int:
    from reporting.services.housekeeping import idempotency_records_purge

    return idempotency_records_purge()


@shared_task(**RETRYING, soft_time_limit=240, time_limit=300)
def export_sweep_task() -> dict:
    from reporting.services.housekeeping import export_jobs_sweep

    return export_jobs_sweep()
