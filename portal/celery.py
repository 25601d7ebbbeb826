"""The Celery app and the beat schedule.

With no REDIS_URL the settings turn on `task_always_eager`, so tasks run in-process and the
zero-set-up default needs no broker. Each beat entry carries a comment saying why it runs when it does.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from celery.schedules import crontab  # noqa: E402

# One beat process runs these (times are Asia/Shanghai, CELERY_TIMEZONE).
app.conf.beat_schedule = {
    # Full rebuild at night, when nobody reports: repairs anything an incremental recompute missed.
    "rollup-nightly": {"task": "reporting.tasks.rollup_all_task", "schedule": crontab(hour=2, minute=0)},
    # Every minute: queue the rollups whose requests nobody took (a broker that was down, a lost task); a
    # request waits at most ROLLUP_DISPATCH_AFTER_SECONDS plus this minute after Redis is back.
    "rollup-dispatch": {"task": "reporting.tasks.rollup_dispatch_task", "schedule": crontab()},
    # After the rebuild: recompute and compare, so drift introduced during the day is reported.
    "rollup-consistency": {"task": "reporting.tasks.rollup_consistency_task", "schedule": crontab(hour=3, minute=30)},
    # Morning, before office hours: reminders for deadlines within REMINDER_DAYS_BEFORE days.
    "reminders": {"task": "reporting.tasks.reminders_task", "schedule": crontab(hour=8, minute=0)},
    # Overdue notices and escalations once a day, after the reminders.
    "overdue": {"task": "reporting.tasks.overdue_task", "schedule": crontab(hour=9, minute=0)},
    # Mail out in-app notices every five minutes; each notice is mailed once.
    "email-pending": {"task": "reporting.tasks.email_pending_task", "schedule": crontab(minute="*/5")},
    # Stored answers to Idempotency-Key requests older than a week: no client retries that late.
    "idempotency-purge": {"task": "reporting.tasks.idempotency_purge_task", "schedule": crontab(hour=4, minute=0)},
    # API tokens past their expiry (they sign nothing in; the one presented is deleted at once).
    "tokens-purge": {"task": "reporting.tasks.tokens_purge_task", "schedule": crontab(hour=4, minute=10)},
}
