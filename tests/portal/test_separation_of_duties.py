"""三员分立: system, security and audit administrators are different accounts; only the security
administrator unlocks, only the audit administrator reads the security log."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from portal.accounts.models import Membership, SecurityEvent
from portal.accounts.services import membership_grant
from tests.conftest import PASSWORD

TOKEN = "/api/v1/auth/token/"


@pytest.fixture
def security_admin(plan, django_user_model):
    user = django_user_model.objects.create_user(username="secadmin", password=PASSWORD)
    membership_grant(user=user, role="security_admin", valid_from=date(2020, 1, 1))
    return user


@pytest.fixture
def audit_admin(plan, django_user_model):
    user = django_user_model.objects.create_user(username="auditadmin", password=PASSWORD)
    membership_grant(user=user, role="audit_admin", valid_from=date(2020, 1, 1))
    return user


def test_one_account_never_holds_two_administrator_roles(admin_user):
    with pytest.raises(ValidationError) as excinfo:
        membership_grant(user=admin_user, role="security_admin", valid_from=date(2020, 1, 1))
    assert "三员分立" in excinfo.value.message_dict["role"][0]
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=admin_user, role="audit_admin", valid_from=date(2020, 1, 1))
    assert list(Membership.objects.filter(user=admin_user).values_list("role", flat=True)) == ["admin"]


def test_only_the_security_administrator_unlocks(client, client_for, nanjing_reporter, security_admin, admin_user):
    for attempt in range(5):
        client.post(TOKEN, {"username": "nj-reporter", "password": f"wrong-{attempt}"}, content_type="application/json")
    locked = client.post(TOKEN, {"username": "nj-reporter", "password": PASSWORD}, content_type="application/json")
    assert locked.status_code == 429
    assert client_for(admin_user).post("/api/v1/security/unlock/", {"username": "nj-reporter"}).status_code == 403
    assert client_for(nanjing_reporter).post("/api/v1/security/unlock/", {"username": "nj-reporter"}).status_code == 403
    response = client_for(security_admin).post("/api/v1/security/unlock/", {"username": "nj-reporter"})
    assert response.status_code == 200
    assert response.json()["cleared_attempts"] >= 1
    again = client.post(TOKEN, {"username": "nj-reporter", "password": PASSWORD}, content_type="application/json")
    assert again.status_code == 200
    unlock = SecurityEvent.objects.get(event="unlock")
    assert (unlock.user, unlock.detail["unlocked"]) == (security_admin, "nj-reporter")


def test_only_the_audit_administrator_reads_the_security_log(client_for, audit_admin, auditor, admin_user):
    for outsider in (auditor, admin_user):
        assert client_for(outsider).get("/api/v1/security/events/").status_code == 403
    body = client_for(audit_admin).get("/api/v1/security/events/").json()
    assert {row["event"] for row in body["results"]} >= {"role_change"}
    chain = client_for(audit_admin).get("/api/v1/security/events/chain/").json()
    assert chain == {"intact": True, "first_broken_id": None}
