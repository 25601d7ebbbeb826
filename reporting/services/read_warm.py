"""Warming the read cache after a rollup changed figures (issue 7).

A rollup that changes figures gives them a new version, and every kept answer is computed again by its
first reader: under load, the first readers of each page after a rollup waited for the whole computation,
several at once. The answers that are the same for every reader (settings.READ_CACHE_WARMERS: the overview's
judged part, the status API) are computed by a task instead, as soon as the rollups have quietened down.

Warming is an optimisation: an answer it did not keep is computed by its reader as before, and a warming
that fails or never runs changes nothing a reader sees (the key, not the warming, decides what is shown)."""

import logging

from django.conf import settings
from django.core.cache import cache
from django.utils.module_loading import import_string

from reporting.services.broker import task_send

logger = logging.getLogger(__name__)


def _flag(plan_id: int) -> str:
    return f"read-warm:{plan_id}"


def read_cache_warm_request(*, plan_id: int) -> bool:
    """After a rollup that changed the plan's figures commits: queue one warming, unless one is queued and
    not yet started (it will read the figures as they are when it starts). True when a task was sent. The
    flag that says one is queued lapses a minute after the task was due, should the task be lost."""
    from reporting.tasks import read_cache_warm_task

    after = settings.READ_CACHE_WARM_AFTER_SECONDS
    try:
        if not cache.add(_flag(plan_id), 1, timeout=int(after) + 60):
            return False
    except Exception:  # the cache is down: there is nothing to warm
        logger.warning("read cache unreachable; no warming", exc_info=True)
        return False
    if task_send(read_cache_warm_task, plan_id, countdown=after):
        return True
    cache.delete(_flag(plan_id))
    return False


def read_cache_warm(*, plan_id: int) -> list[str]:
    """Run every warmer for the plan; returns the ones that kept something. The flag goes first: a rollup
    that commits while this runs asks for another warming."""
    cache.delete(_flag(plan_id))
    warmed = []
    for path in settings.READ_CACHE_WARMERS:
        if import_string(path)(plan_id=plan_id):
            warmed.append(path)
    return warmed
