"""Celery tasks of the accounts layer."""

from celery import shared_task


@shared_task(soft_time_limit=240, time_limit=300)
def api_tokens_purge_task() -> int:
    from portal.accounts.services import api_tokens_expired_purge

    return api_tokens_expired_purge()
