"""Token login for machine clients: knox tokens (hashed, expiring), axes lockout as a Chinese JSON 429,
the same answer for an unknown user and a wrong password, demo accounts refused with DEBUG off."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from portal.accounts.backends import DEMO_GROUP
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
TOKEN = "/api/v1/auth/token/"
WRONG = {"message": "用户名或密码错误。", "errors": {"non_field_errors": ["用户名或密码错误。"]}}


def _login(client, username, password, **extra):
    return client.post(TOKEN, {"username": username, "password": password}, format="json", **extra)


def test_a_token_is_issued_hashed_with_an_expiry_and_works(user):
    client = APIClient()
    response = _login(client, "reader", PASSWORD)

    assert response.status_code == 200
    data = response.json()
    assert (data["username"], data["roles"]) == ("reader", [])
    stored = AuthToken.objects.get(user=user)
    assert data["token"] not in (stored.digest, stored.token_key)
    assert stored.digest != data["token"]
    assert abs(stored.expiry - (timezone.now() + timedelta(hours=8))) < timedelta(minutes=1)

    client.credentials(HTTP_AUTHORIZATION=f"Token {data['token']}")
    assert client.get("/api/v1/periods/").status_code == 200


def test_roles_are_reported(nanjing_reporter):
    assert _login(APIClient(), "nj-reporter", PASSWORD).json()["roles"] == ["city_reporter"]


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(user):
    wrong_password = _login(APIClient(), "reader", "not-the-password")
    unknown_user = _login(APIClient(), "nobody-at-all", "not-the-password")

    assert wrong_password.status_code == unknown_user.status_code == 400
    assert wrong_password.json() == unknown_user.json() == WRONG
    assert AuthToken.objects.count() == 0


def test_missing_fields_are_named(db):
    response = APIClient().post(TOKEN, {}, format="json")
    assert response.status_code == 400
    assert sorted(response.json()["errors"]) == ["password", "username"]


def test_five_failures_lock_the_account_with_a_chinese_json_429(user):
    client = APIClient()
    answers = [_login(client, "reader", f"wrong-{n}").status_code for n in range(5)]

    assert answers == [400, 400, 400, 400, 429]
    locked = _login(client, "reader", PASSWORD)
    assert locked.status_code == 429
    assert locked["Content-Type"] == "application/json"
    assert locked["Retry-After"] == str(30 * 60)
    assert locked.json() == {
        "message": "登录失败次数过多，账号已暂时锁定，请 30 分钟后再试，或联系安全管理员解锁。",
        "errors": {},
    }
    assert AuthToken.objects.count() == 0
    assert AccessAttempt.objects.get(username="reader").failures_since_start == 6


def test_the_lockout_is_per_username_and_a_success_resets_the_count(user, django_user_model):
    django_user_model.objects.create_user(username="colleague", password=PASSWORD)
    client = APIClient()
    for n in range(4):
        _login(client, "reader", f"wrong-{n}")

    assert _login(client, "colleague", PASSWORD).status_code == 200
    assert _login(client, "reader", PASSWORD).status_code == 200
    assert [_login(client, "reader", f"again-{n}").status_code for n in range(4)] == [400] * 4


def test_demo_accounts_are_refused_with_debug_off(db, django_user_model, settings):
    demo = django_user_model.objects.create_user(username="demo-nanjing-reporter", password="Demo-Jiangsu-2026")
    demo.groups.add(Group.objects.create(name=DEMO_GROUP))
    settings.DEBUG = False

    response = _login(APIClient(), "demo-nanjing-reporter", "Demo-Jiangsu-2026")

    assert response.status_code == 400
    assert response.json() == WRONG
    assert AuthToken.objects.count() == 0
    settings.DEBUG = True
    assert _login(APIClient(), "demo-nanjing-reporter", "Demo-Jiangsu-2026").status_code == 200


def test_an_inactive_account_gets_the_same_answer(user):
    user.is_active = False
    user.save()
    response = _login(APIClient(), "reader", PASSWORD)
    assert (response.status_code, response.json()) == (400, WRONG)


def test_logout_ends_the_token(user):
    client = APIClient()
    token = _login(client, "reader", PASSWORD).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    assert client.post("/api/v1/auth/logout/").status_code == 204
    assert AuthToken.objects.count() == 0
    after = client.get("/api/v1/periods/")
    assert after.status_code == 401
    assert set(after.json()) == {"message", "errors"}


def test_an_expired_token_is_refused(user):
    client = APIClient()
    token = _login(client, "reader", PASSWORD).json()["token"]
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/periods/").status_code == 401


def test_login_takes_json_only_as_a_post(db):
    assert APIClient().get(TOKEN).status_code == 405
    response = APIClient().post(TOKEN, "username=reader", content_type="text/plain")
    assert response.status_code == 415
    assert set(response.json()) == {"message", "errors"}


def test_a_request_reads_only_the_token_presented_and_the_night_purges_expired_ones(user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portal.accounts.tasks import api_tokens_purge_task

    client = APIClient()
    token = _login(client, "reader", PASSWORD).json()["token"]
    old, _old_token = AuthToken.objects.create(user=user)
    AuthToken.objects.filter(pk=old.pk).update(expiry=timezone.now() - timedelta(hours=1))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/periods/").status_code == 200
    token_reads = [q["sql"] for q in queries if "knox_authtoken" in q["sql"]]
    assert len(token_reads) == 1
    assert AuthToken.objects.filter(pk=old.pk).exists()  # left for the nightly purge

    assert api_tokens_purge_task() == 1
    assert list(AuthToken.objects.filter(user=user)) == [AuthToken.objects.get(token_key=token[:15])]
    assert client.get("/api/v1/periods/").status_code == 200


def test_an_expired_token_presented_is_refused_and_deleted(user):
    client = APIClient()
    token = _login(client, "reader", PASSWORD).json()["token"]
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    assert client.get("/api/v1/periods/").status_code == 401
    assert AuthToken.objects.count() == 0


def test_the_token_read_by_hand_is_the_querysets(user):
    """The presented key's tokens and users are read by one hand-written query: the same instances, every
    field converted, as `filter(token_key=…).select_related("user")` returns."""
    from portal.accounts.auth import _tokens_with_users

    AuthToken.objects.create(user=user)
    stored = AuthToken.objects.get()
    by_hand = _tokens_with_users(stored.token_key)
    by_orm = list(AuthToken.objects.filter(token_key=stored.token_key).select_related("user"))

    def fields(obj):
        return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}

    assert [(fields(t), fields(t.user)) for t in by_hand] == [(fields(t), fields(t.user)) for t in by_orm]
    assert by_hand[0].expiry.tzinfo is not None
    assert _tokens_with_users("no-such") == []
