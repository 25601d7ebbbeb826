"""The security log: events for logins, denials, role changes and approvals, written in the action's
transaction, append-only on PostgreSQL, chained by hash so tampering shows."""

from datetime import date

import pytest
from django.db import DatabaseError, connection, transaction

from portal.accounts.models import SecurityEvent
from portal.accounts.security import security_chain_verify, security_event_record
from portal.accounts.services import membership_grant
from tests.conftest import PASSWORD


def test_web_login_success_and_failure_are_logged_with_ip_and_request_id(client, nanjing_reporter):
    client.post("/accounts/login/", {"username": "nj-reporter", "password": "wrong"}, REMOTE_ADDR="10.1.2.3")
    client.post("/accounts/login/", {"username": "nj-reporter", "password": PASSWORD}, REMOTE_ADDR="10.1.2.3")
    failed, ok = SecurityEvent.objects.filter(event__in=["login_failed", "login"]).order_by("id")
    assert (failed.event, failed.success, failed.username, failed.ip) == (
        "login_failed",
        False,
        "nj-reporter",
        "10.1.2.3",
    )
    assert (ok.event, ok.success, ok.user, ok.roles) == ("login", True, nanjing_reporter, "city_reporter")
    assert ok.region == "南京市"
    assert len(ok.request_id) == 32
    assert security_chain_verify() is None


def test_api_login_failure_and_denied_access_are_logged(client, client_for, auditor, period):
    client.post("/api/v1/auth/token/", {"username": "nobody", "password": "x" * 12}, format="json")
    assert SecurityEvent.objects.filter(event="login_failed", username="nobody").count() == 1
    response = client_for(auditor).post(f"/api/v1/periods/{period.code}/close/")
    assert response.status_code == 403
    denied = SecurityEvent.objects.get(event="access_denied")
    assert (denied.user, denied.success, denied.detail["path"]) == (
        auditor,
        False,
        f"/api/v1/periods/{period.code}/close/",
    )


def test_role_change_is_logged(django_user_model, nanjing):
    newcomer = django_user_model.objects.create_user(username="newcomer", password=PASSWORD)
    membership_grant(user=newcomer, role="city_reviewer", region=nanjing, valid_from=date(2026, 1, 1))
    change = SecurityEvent.objects.filter(event="role_change", user=newcomer).get()
    assert change.detail["role"] == "city_reviewer"
    assert change.detail["region"] == nanjing.code


def test_event_lives_and_dies_with_its_transaction(user):
    before = SecurityEvent.objects.count()

    def action_that_fails_after_logging():
        with transaction.atomic():
            security_event_record(event="export", success=True, user=user)
            raise RuntimeError("the action failed after logging")

    with pytest.raises(RuntimeError):
        action_that_fails_after_logging()
    assert SecurityEvent.objects.count() == before


def test_tampering_breaks_the_chain(user):
    for index in range(3):
        security_event_record(event="export", success=True, user=user, detail={"n": index})
    assert security_chain_verify() is None
    middle = SecurityEvent.objects.order_by("id")[1]
    if connection.vendor == "postgresql":
        # The application cannot change a row at all…
        with pytest.raises(DatabaseError), transaction.atomic():
            SecurityEvent.objects.filter(pk=middle.pk).update(username="someone-else")
        # …so play an attacker with the table owner's rights, who switches the trigger off first.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE accounts_securityevent DISABLE TRIGGER accounts_securityevent_no_change")
    SecurityEvent.objects.filter(pk=middle.pk).update(username="someone-else")
    assert security_chain_verify() == middle.pk


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the append-only trigger exists on PostgreSQL only")
def test_deleting_a_logged_row_is_refused_by_the_database(user):
    event = security_event_record(event="export", success=True, user=user)
    with pytest.raises(DatabaseError), transaction.atomic():
        SecurityEvent.objects.filter(pk=event.pk).delete()
    assert SecurityEvent.objects.filter(pk=event.pk).exists()
