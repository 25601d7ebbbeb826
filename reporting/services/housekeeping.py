"""Housekeeping: stored idempotent answers only need to outlive a client's retries."""

from datetime import timedelta

from django.utils import timezone

from reporting.models import IdempotencyRecord

# Clients retry within minutes; a week covers a weekend outage of a city's batch client.
IDEMPOTENCY_KEEP = timedelta(days=7)


def idempotency_records_purge() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - IDEMPOTENCY_KEEP).delete()
    return deleted
