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

# Schedules are added by the issues that own them (rollups, reminders); one beat process runs them.
app.conf.beat_schedule = {}
