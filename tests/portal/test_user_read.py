"""A session's user is read in one query with its demo flag and the memberships active today; the query is
built once per day and process (building it cost as much CPU as the rest of the read), never across days."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from portal.accounts.backends import PortalModelBackend, _users_annotated
from portal.accounts.selectors import user_scope
from portal.accounts.services import membership_grant

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_users_query_is_built_once_a_day_and_follows_the_day(user, nanjing, time_machine):
    time_machine.move_to(datetime(2026, 3, 31, 23, 59, tzinfo=SHANGHAI), tick=False)
    membership_grant(user=user, role="city_reporter", region=nanjing, valid_from=date(2026, 4, 1))
    backend = PortalModelBackend()
    _users_annotated.cache_clear()
    today = backend.get_user(user.pk)
    assert user_scope(user=today).roles == set()  # the membership starts tomorrow
    again = backend.get_user(user.pk)
    assert _users_annotated.cache_info().hits == 1  # built once, reused
    assert user_scope(user=again).roles == set()

    time_machine.shift(timedelta(minutes=2))  # past midnight in Shanghai
    tomorrow = backend.get_user(user.pk)
    assert _users_annotated.cache_info().misses == 2  # a new day, a new query
    assert user_scope(user=tomorrow).roles == {"city_reporter"}
    assert user_scope(user=tomorrow).cities("city_reporter") == frozenset({nanjing.pk})
    assert backend.get_user(user.pk + 1000) is None
