"""Every beat entry names a registered task, and housekeeping keeps recent idempotent answers."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from portal.celery import app
from reporting.models import IdempotencyRecord
from reporting.services.housekeeping import idempotency_records_purge


def test_every_scheduled_task_exists():
    app.loader.import_default_modules()
    assert app.conf.beat_schedule
    for name, entry in app.conf.beat_schedule.items():
        assert entry["task"] in app.tasks, name


def test_old_idempotency_records_are_purged_and_recent_ones_kept(user):
    with time_machine.travel(timezone.now() - timedelta(days=8)):
        IdempotencyRecord.objects.create(
            user=user, key="old", method="POST", path="/x", request_hash="h", status_code=201, response_body={}
        )
    IdempotencyRecord.objects.create(
        user=user, key="new", method="POST", path="/x", request_hash="h", status_code=201, response_body={}
    )
    assert idempotency_records_purge() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
