"""Sending a task without letting a broker outage reach the user.

A change that needs a worker is recorded in the database first (a rollup request, an export job); the send
after commit only prompts a worker. When Redis is down the send is refused at once, logged, and the beat job
that sweeps the recorded work sends it later.
"""

import logging
from typing import Any

logger = logging.getLogger(__name__)


def task_send(task: Any, *args: Any, countdown: float | None = None) -> bool:
    """Queue `task(*args)` (to start `countdown` seconds from now, if given); False (logged, never raised)
    when the broker cannot take it."""
    try:
        # One connection attempt, no publish retries: the shared producer pool would retry the connection
        # for 6 s, and a request must not wait on a broker that is down. No result either: nobody reads it
        # (the database row is the state), and subscribing to it would make the sender reconnect to a Redis
        # that is down for 20 seconds before giving up.
        with task.app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
            task.apply_async(args, connection=conn, retry=False, ignore_result=True, countdown=countdown)
    except Exception:
        logger.warning("task %s%r not sent; the sweeper will send it", task.name, args, exc_info=True)
        return False
    return True
