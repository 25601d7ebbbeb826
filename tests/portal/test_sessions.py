"""Sessions end after 30 idle minutes (15 for auditors and administrators) and 8 hours after login."""

from datetime import timedelta

import time_machine
from django.utils import timezone


def _still_logged_in(client) -> bool:
    return client.get("/report/").status_code == 200


def test_login_through_the_form_starts_the_clock(client, nanjing_reporter):
    from tests.conftest import PASSWORD

    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.post("/accounts/login/", {"username": "nj-reporter", "password": PASSWORD})
        clock.shift(timedelta(minutes=31))
        assert not _still_logged_in(client)


def test_reporter_idle_limit_is_30_minutes(client, nanjing_reporter):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        client.force_login(nanjing_reporter)
        assert _still_logged_in(client)
        clock.shift(timedelta(minutes=25))
        assert _still_logged_in(client)
        clock.shift(timedelta(minutes=31))
        assert not _still_logged_in(client)


def test_auditor_idle_limit_is_15_minutes(client, auditor):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.force_login(auditor)
        assert client.get("/report/review/").status_code == 200
        clock.shift(timedelta(minutes=16))
        assert client.get("/report/review/").status_code == 302


def test_absolute_limit_is_8_hours_however_active(client, nanjing_reporter):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.force_login(nanjing_reporter)
        assert _still_logged_in(client)
        # Active every 29 minutes: still in after 16 × 29 = 464 minutes, out at 17 × 29 = 493 > 480.
        survived = 0
        while survived < 20:
            clock.shift(timedelta(minutes=29))
            if not _still_logged_in(client):
                break
            survived += 1
        assert survived == 16
