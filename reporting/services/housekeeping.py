"""Housekeeping: stored idempotent answers only need to outlive a client's retries, and no export job is
left waiting for a worker that will never come."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from reporting.models import ExportJob, IdempotencyRecord

# Clients retry within minutes; a week covers a weekend outage of a city's batch client.
IDEMPOTENCY_KEEP = timedelta(days=7)


def idempotency_records_purge() -> int:
    deleted, _count = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - IDEMPOTENCY_KEEP).delete()
    return deleted


def export_jobs_sweep() -> dict[str, int]:
    """Export jobs nobody is building any more.

    - Queued and never sent (Redis refused the send) for EXPORT_RESEND_AFTER_SECONDS, or sent that long ago
      and still queued (Redis restarted and lost its queue, which it does here: it keeps nothing on disk):
      sent again (an inline job still queued that long lost its request before it began: a worker builds
      it). A job is built at most once whatever the number of sends (`export_job_run`).
    - Running longer than EXPORT_STALE_AFTER_SECONDS (beyond the task's hard time limit, so its worker is
      gone or was killed), or queued longer than EXPORT_GIVE_UP_AFTER_SECONDS: failed, with a reason the
      user reads on the job's page, so nobody waits on "生成中" for ever. The user can export again.
    """
    from reporting.services.exports import export_job_send

    now = timezone.now()
    resend_before = now - timedelta(seconds=settings.EXPORT_RESEND_AFTER_SECONDS)
    stale_before = now - timedelta(seconds=settings.EXPORT_STALE_AFTER_SECONDS)
    give_up_before = now - timedelta(seconds=settings.EXPORT_GIVE_UP_AFTER_SECONDS)
    failed = 0
    with transaction.atomic():
        stuck = ExportJob.objects.select_for_update(skip_locked=True).filter(
            Q(status=ExportJob.Status.RUNNING, started_at__lt=stale_before)
            | Q(status=ExportJob.Status.QUEUED, created_at__lt=give_up_before)
        )
        for job in stuck:
            if job.status == ExportJob.Status.RUNNING:
                job.error = _("生成中断：超过 %(minutes)d 分钟仍未完成（后台进程可能已停止）。请重新导出。") % {
                    "minutes": settings.EXPORT_STALE_AFTER_SECONDS // 60
                }
            else:
                job.error = _("未能开始生成：超过 %(hours)d 小时仍在排队（后台任务服务不可用）。请重新导出。") % {
                    "hours": settings.EXPORT_GIVE_UP_AFTER_SECONDS // 3600
                }
            job.status = ExportJob.Status.FAILED
            job.finished_at = now
            job.save(update_fields=["status", "error", "finished_at"])
            failed += 1
    waiting = list(
        ExportJob.objects.filter(status=ExportJob.Status.QUEUED, created_at__lt=resend_before)
        .filter(Q(sent_at__isnull=True) | Q(sent_at__lt=resend_before))
        .values_list("pk", flat=True)
    )
    resent = sum(1 for pk in waiting if export_job_send(pk))
    return {"failed": failed, "resent": resent, "not_sent": len(waiting) - resent}
