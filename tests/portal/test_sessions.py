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


def _session_writes(client) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/report/").status_code == 200
    return sum(1 for q in queries.captured_queries if q["sql"].startswith('UPDATE "django_session"'))


def test_the_last_activity_is_written_at_most_once_a_minute(client, nanjing_reporter, settings):
    assert settings.SESSION_TOUCH_SECONDS == 60
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.force_login(nanjing_reporter)
        assert _session_writes(client) == 1  # the first request after login records the activity
        assert _session_writes(client) == 0
        clock.shift(timedelta(seconds=59))
        assert _session_writes(client) == 0
        clock.shift(timedelta(seconds=1))
        assert _session_writes(client) == 1
        assert _session_writes(client) == 0


def test_idle_time_counts_from_the_last_written_activity(client, nanjing_reporter):
    """Within the minute's granularity a session ends early, never late: a request 59 s after the last
    written one is not written, so the 30 minutes run from the earlier one."""
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.force_login(nanjing_reporter)
        assert _still_logged_in(client)  # written: t = 0
        clock.shift(timedelta(seconds=59))
        assert _still_logged_in(client)  # not written
        clock.shift(timedelta(minutes=29))
        assert _still_logged_in(client)  # 29 min 59 s after the written activity: still in (and written)
        clock.shift(timedelta(seconds=59))
        assert _still_logged_in(client)  # not written
        clock.shift(timedelta(minutes=29, seconds=2))
        # 30 min 1 s after the last written activity, 29 min 2 s after the last request: out.
        assert not _still_logged_in(client)


def test_a_session_active_every_50_seconds_never_idles_out(client, nanjing_reporter):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.force_login(nanjing_reporter)
        for _ in range(60):  # 50 minutes
            clock.shift(timedelta(seconds=50))
            assert _still_logged_in(client)


def test_auditor_idle_limit_holds_to_the_minute(client, auditor):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.force_login(auditor)
        assert client.get("/report/review/").status_code == 200  # written: t = 0
        clock.shift(timedelta(seconds=30))
        assert client.get("/report/review/").status_code == 200  # not written
        clock.shift(timedelta(minutes=15) - timedelta(seconds=29))
        # 14 min 31 s after the last request, 15 min 1 s after the last written one: out.
        assert client.get("/report/review/").status_code == 302


def test_the_memberships_read_with_the_session_user_are_todays_and_fresh(client, plan, nanjing, django_user_model):
    """A session's user comes with its memberships in the same query: a role granted, ended or not yet
    valid shows at the next request, exactly as when they were read on their own."""
    from datetime import date

    from portal.accounts.services import membership_end, membership_grant

    indicator = "/dashboard/indicators/high-skill-workers-per-10000/"
    person = django_user_model.objects.create_user(username="later-reporter", password="a-long-test-password")
    today = timezone.localdate()
    membership_grant(user=person, role="city_reporter", region=nanjing, valid_from=today + timedelta(days=1))
    client.force_login(person)
    assert "您尚未获得任何角色授权" in client.get(indicator).content.decode()  # valid from tomorrow
    granted = membership_grant(user=person, role="city_reviewer", region=nanjing, valid_from=date(2018, 1, 1))
    page = client.get(indicator)
    assert page.status_code == 200
    assert "您尚未获得任何角色授权" not in page.content.decode()
    assert client.get("/dashboard/city/").status_code == 200  # Nanjing's home page
    membership_end(membership=granted, on=today - timedelta(days=1))
    assert "您尚未获得任何角色授权" in client.get(indicator).content.decode()
    assert client.get("/dashboard/city/").status_code == 403
