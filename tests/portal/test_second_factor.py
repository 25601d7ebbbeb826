"""The second factor (等保 2.0 level 3): administrators, coordinators and auditors pass a TOTP code or a
recovery code after the password, on the web and at token login; the security administrator resets a lost
one; disabling an account and logging out end sessions and tokens at once."""

from binascii import unhexlify
from datetime import date

import pytest
from axes.models import AccessAttempt
from django.contrib.sessions.models import Session
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken
from rest_framework.test import APIClient

from portal.accounts.models import SecurityEvent
from portal.accounts.services import membership_grant, user_active_set
from tests.conftest import PASSWORD

KEY = "48656c6c6f21deadbeef48656c6c6f21deadbeef"  # JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP, the demo key
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
TOKEN = "/api/v1/auth/token/"
NOT_VERIFIED = "请先完成第二因素验证（动态验证码或恢复码）再使用 API。"
WRONG_CODE = "验证码不正确或已使用，请重新输入。"


def _app(user):
    return TOTPDevice.objects.create(user=user, name="身份验证器", key=KEY, confirmed=True)


def _code(device):
    return f"{totp(unhexlify(KEY), step=device.step, t0=device.t0, digits=6):06d}"


def _recovery(user, *codes):
    device = StaticDevice.objects.create(user=user, name="恢复码", confirmed=True)
    for code in codes:
        device.token_set.create(token=code)
    return device


def _wrong_code(device):
    return "000000" if _code(device) != "000000" else "111111"


@pytest.fixture
def security_admin(plan, django_user_model):
    user = django_user_model.objects.create_user(username="secadmin", password=PASSWORD)
    membership_grant(user=user, role="security_admin", valid_from=date(2018, 1, 1))
    return user


@pytest.fixture
def audit_admin(plan, django_user_model):
    user = django_user_model.objects.create_user(username="auditadmin", password=PASSWORD)
    membership_grant(user=user, role="audit_admin", valid_from=date(2018, 1, 1))
    return user


def test_coordinator_without_a_device_is_sent_to_enrol(unverified_client, coordinator):
    unverified_client.force_login(coordinator)
    response = unverified_client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/setup/?next=%2Fdashboard%2F"


def test_coordinator_with_a_device_is_sent_to_verify_and_cannot_reach_a_dashboard(unverified_client, coordinator):
    _app(coordinator)
    unverified_client.force_login(coordinator)
    response = unverified_client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/?next=%2Fdashboard%2F"
    assert unverified_client.get("/admin/").status_code == 302
    assert unverified_client.get("/accounts/2fa/").status_code == 200


def test_unverified_session_gets_a_403_json_from_the_api(unverified_client, auditor):
    _app(auditor)
    unverified_client.force_login(auditor)
    response = unverified_client.get("/api/v1/periods/", **ZH)
    assert response.status_code == 403
    assert response.json() == {"message": NOT_VERIFIED, "errors": {"otp_token": [NOT_VERIFIED]}}


def test_logout_and_the_language_switch_stay_reachable(unverified_client, coordinator):
    unverified_client.force_login(coordinator)
    switched = unverified_client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/2fa/setup/"})
    assert (switched.status_code, switched["Location"]) == (302, "/accounts/2fa/setup/")
    assert unverified_client.post("/accounts/logout/").status_code == 302
    assert "_auth_user_id" not in unverified_client.session


def test_a_correct_code_passes_and_is_logged(unverified_client, coordinator):
    device = _app(coordinator)
    unverified_client.force_login(coordinator)
    response = unverified_client.post("/accounts/2fa/", {"otp_token": _code(device), "next": "/dashboard/"})
    assert (response.status_code, response["Location"]) == (302, "/dashboard/")
    assert unverified_client.get("/dashboard/").status_code == 200
    assert unverified_client.get("/api/v1/periods/").status_code == 200
    event = SecurityEvent.objects.get(event="second_factor")
    assert (event.user, event.success, event.detail) == (
        coordinator,
        True,
        {"action": "verify", "via": "web", "kind": "totp"},
    )


def test_full_width_digits_are_the_same_code(unverified_client, coordinator):
    device = _app(coordinator)
    unverified_client.force_login(coordinator)
    full_width = _code(device).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    response = unverified_client.post("/accounts/2fa/", {"otp_token": full_width})
    assert (response.status_code, response["Location"]) == (302, "/")


def test_a_wrong_code_is_refused_logged_and_counted_toward_the_lockout(unverified_client, coordinator):
    device = _app(coordinator)
    unverified_client.force_login(coordinator)
    response = unverified_client.post("/accounts/2fa/", {"otp_token": _wrong_code(device)}, **ZH)
    assert response.status_code == 200
    assert WRONG_CODE in response.content.decode()
    assert unverified_client.get("/dashboard/").status_code == 302
    event = SecurityEvent.objects.get(event="second_factor")
    assert (event.user, event.success) == (coordinator, False)
    assert AccessAttempt.objects.get(username="coordinator").failures_since_start == 1


def test_five_wrong_codes_lock_the_account_and_end_the_session(unverified_client, coordinator):
    device = _app(coordinator)
    unverified_client.force_login(coordinator)
    statuses = [
        unverified_client.post("/accounts/2fa/", {"otp_token": _wrong_code(device)}, **ZH).status_code
        for _attempt in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 429]
    assert "_auth_user_id" not in unverified_client.session
    assert SecurityEvent.objects.filter(event="lockout", username="coordinator").count() == 1
    again = unverified_client.post("/accounts/login/", {"username": "coordinator", "password": PASSWORD})
    assert again.status_code == 429


def test_a_recovery_code_works_once(coordinator):
    _app(coordinator)
    _recovery(coordinator, "abcd2345", "efgh6723")
    first = Client()
    first.force_login(coordinator)
    assert first.post("/accounts/2fa/", {"otp_token": "ABCD 2345"}).status_code == 302
    assert first.get("/dashboard/").status_code == 200
    assert list(StaticToken.objects.values_list("token", flat=True)) == ["efgh6723"]

    second = Client()
    second.force_login(coordinator)
    response = second.post("/accounts/2fa/", {"otp_token": "abcd2345"}, **ZH)
    assert response.status_code == 200
    assert WRONG_CODE in response.content.decode()
    assert second.get("/dashboard/").status_code == 302


def test_signing_in_again_asks_for_the_code_again(unverified_client, coordinator):
    device = _app(coordinator)
    unverified_client.force_login(coordinator)
    unverified_client.post("/accounts/2fa/", {"otp_token": _code(device)})
    assert unverified_client.get("/dashboard/").status_code == 200
    unverified_client.post("/accounts/login/", {"username": "coordinator", "password": PASSWORD})
    assert unverified_client.get("/dashboard/").status_code == 302


def test_a_city_reporter_is_not_asked(unverified_client, nanjing_reporter):
    unverified_client.force_login(nanjing_reporter)
    assert unverified_client.get("/report/").status_code == 200
    assert unverified_client.get("/api/v1/periods/").status_code == 200
    assert unverified_client.get("/accounts/2fa/setup/").status_code == 302
    assert TOTPDevice.objects.count() == 0


def test_the_requirement_can_be_switched_off(unverified_client, coordinator, settings):
    settings.PORTAL_OTP_REQUIRED = False
    unverified_client.force_login(coordinator)
    assert unverified_client.get("/dashboard/").status_code == 200


def test_enrolment_shows_a_local_qr_code_then_recovery_codes_once(unverified_client, coordinator):
    unverified_client.force_login(coordinator)
    page = unverified_client.get("/accounts/2fa/setup/?next=/dashboard/", **ZH)
    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html
    assert "<img" not in html
    device = TOTPDevice.objects.get(user=coordinator)
    assert device.confirmed is False
    # The same unconfirmed device on a second visit, so a code from the app scanned first still works.
    unverified_client.get("/accounts/2fa/setup/")
    assert TOTPDevice.objects.filter(user=coordinator).count() == 1

    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=6):06d}"
    done = unverified_client.post("/accounts/2fa/setup/", {"otp_token": code, "next": "/dashboard/"}, **ZH)
    assert done.status_code == 200
    codes = list(StaticToken.objects.filter(device__user=coordinator).values_list("token", flat=True))
    assert len(codes) == 10
    assert all(code in done.content.decode() for code in codes)
    assert TOTPDevice.objects.get(user=coordinator).confirmed is True
    assert unverified_client.get("/dashboard/").status_code == 200
    # Enrolled once, enrolled for good: the setup page now sends to verification.
    assert unverified_client.get("/accounts/2fa/setup/").status_code == 302


def test_enrolment_refuses_a_wrong_code(unverified_client, coordinator):
    unverified_client.force_login(coordinator)
    unverified_client.get("/accounts/2fa/setup/")
    device = TOTPDevice.objects.get(user=coordinator)
    right = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=6):06d}"
    response = unverified_client.post(
        "/accounts/2fa/setup/", {"otp_token": "000000" if right != "000000" else "1"}, **ZH
    )
    assert response.status_code == 200
    assert WRONG_CODE in response.content.decode()
    assert TOTPDevice.objects.get(user=coordinator).confirmed is False
    assert StaticToken.objects.count() == 0
    assert unverified_client.get("/dashboard/").status_code == 302


def test_token_login_needs_otp_token(coordinator):
    device = _app(coordinator)
    body = {"username": "coordinator", "password": PASSWORD}
    missing = APIClient().post(TOKEN, body, format="json", **ZH)
    message = "该账号需要第二因素：请在 otp_token 中提供 6 位动态验证码或一个恢复码。"
    assert missing.status_code == 401
    assert missing.json() == {"message": message, "errors": {"otp_token": [message]}}

    wrong = APIClient().post(TOKEN, {**body, "otp_token": _wrong_code(device)}, format="json", **ZH)
    assert wrong.status_code == 401
    assert wrong.json() == {
        "message": "otp_token 验证码不正确或已使用。",
        "errors": {"otp_token": ["otp_token 验证码不正确或已使用。"]},
    }
    assert AccessAttempt.objects.get(username="coordinator").failures_since_start == 1
    assert AuthToken.objects.count() == 0


def test_token_login_with_the_right_otp_token(auditor):
    device = _app(auditor)
    response = APIClient().post(
        TOKEN, {"username": "auditor", "password": PASSWORD, "otp_token": _code(device)}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["roles"] == ["auditor"]
    assert AuthToken.objects.filter(user=auditor).count() == 1


def test_token_login_without_a_device_says_to_enrol_first(coordinator):
    response = APIClient().post(
        TOKEN, {"username": "coordinator", "password": PASSWORD, "otp_token": "123456"}, format="json", **ZH
    )
    message = "该账号尚未绑定身份验证器：请先登录网页完成绑定，再在 otp_token 中提供动态验证码。"
    assert response.status_code == 401
    assert response.json() == {"message": message, "errors": {"otp_token": [message]}}
    assert AuthToken.objects.count() == 0


def test_token_login_of_a_city_reporter_needs_no_otp_token(nanjing_reporter):
    response = APIClient().post(TOKEN, {"username": "nj-reporter", "password": PASSWORD}, format="json")
    assert response.status_code == 200


def test_the_security_administrator_resets_a_second_factor(client_for, security_admin, coordinator):
    device = _app(coordinator)
    _recovery(coordinator, "abcd2345")
    browser = Client()
    browser.force_login(coordinator)
    browser.post("/accounts/2fa/", {"otp_token": _code(device)})
    assert browser.get("/dashboard/").status_code == 200

    response = client_for(security_admin).post("/api/v1/security/second-factor-reset/", {"username": "coordinator"})
    assert response.status_code == 200
    assert response.json() == {"username": "coordinator", "devices_removed": 2}
    assert TOTPDevice.objects.count() == StaticDevice.objects.count() == 0
    event = SecurityEvent.objects.get(event="second_factor", user=security_admin)
    assert event.detail == {"action": "reset", "target": "coordinator", "devices_removed": 2}
    # The session verified with the removed device is sent to enrol again.
    assert browser.get("/dashboard/")["Location"] == "/accounts/2fa/setup/?next=%2Fdashboard%2F"


def test_only_the_security_administrator_resets(client_for, coordinator, audit_admin, admin_user, auditor):
    _app(coordinator)
    for other in (audit_admin, admin_user, auditor, coordinator):
        response = client_for(other).post("/api/v1/security/second-factor-reset/", {"username": "coordinator"}, **ZH)
        assert response.status_code == 403
        assert response.json() == {"message": "只有安全管理员可以重置第二因素。", "errors": {}}
    assert TOTPDevice.objects.filter(user=coordinator).count() == 1
    assert not SecurityEvent.objects.filter(event="second_factor").exists()


def test_resetting_an_unknown_username_is_a_400(client_for, security_admin):
    response = client_for(security_admin).post("/api/v1/security/second-factor-reset/", {"username": "nobody"}, **ZH)
    assert response.status_code == 400
    assert response.json()["errors"] == {"username": ["没有该用户名的账号。"]}
    assert not SecurityEvent.objects.filter(event="second_factor").exists()


def test_disabling_an_account_ends_its_sessions_and_tokens(client, nanjing_reporter, suzhou_reporter, admin_user):
    client.force_login(nanjing_reporter)
    other = Client()
    other.force_login(suzhou_reporter)
    _instance, token = AuthToken.objects.create(user=nanjing_reporter)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/periods/").status_code == 200

    user_active_set(user=nanjing_reporter, active=False, by=admin_user)
    # Enabled again at once: nothing issued before comes back to life.
    user_active_set(user=nanjing_reporter, active=True, by=admin_user)

    assert client.get("/report/")["Location"] == "/accounts/login/?next=/report/"
    assert api.get("/api/v1/periods/").status_code == 401
    assert AuthToken.objects.filter(user=nanjing_reporter).count() == 0
    assert other.get("/report/").status_code == 200
    assert Session.objects.count() == 1
    disabled, enabled = SecurityEvent.objects.filter(event="account_active").order_by("id")
    assert (disabled.user, disabled.detail) == (
        admin_user,
        {"target": "nj-reporter", "active": False, "sessions_ended": 1, "tokens_deleted": 1},
    )
    assert enabled.detail == {"target": "nj-reporter", "active": True, "sessions_ended": 0, "tokens_deleted": 0}


def test_disabling_in_the_admin_goes_through_the_service(client, admin_user, nanjing_reporter):
    from django.contrib.auth.models import Permission

    admin_user.user_permissions.add(*Permission.objects.filter(codename__in=["view_user", "change_user"]))
    browser = Client()
    browser.force_login(nanjing_reporter)
    client.force_login(admin_user)
    form = {
        "username": "nj-reporter",
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_staff": "",
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    response = client.post(f"/admin/auth/user/{nanjing_reporter.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    nanjing_reporter.refresh_from_db()
    assert nanjing_reporter.is_active is False
    assert browser.get("/report/").status_code == 302
    event = SecurityEvent.objects.get(event="account_active")
    assert (event.user, event.detail["target"], event.detail["sessions_ended"]) == (admin_user, "nj-reporter", 1)


def test_logout_ends_this_session(client, nanjing_reporter):
    client.force_login(nanjing_reporter)
    key = client.session.session_key
    assert client.post("/accounts/logout/").status_code == 302
    assert not Session.objects.filter(session_key=key).exists()
    replay = Client()
    replay.cookies["sessionid"] = key
    assert replay.get("/report/")["Location"] == "/accounts/login/?next=/report/"
    assert client.get("/report/").status_code == 302


def test_demo_accounts_that_need_it_get_the_published_key_and_recovery_codes(plan, settings):
    from io import StringIO

    from django.core.management import call_command

    settings.DEBUG = True
    out = StringIO()
    call_command("load_demo", stdout=out)
    keys = dict(TOTPDevice.objects.filter(confirmed=True).values_list("user__username", "key"))
    needing = ("demo-coordinator", "demo-auditor", "demo-admin", "demo-security-admin", "demo-audit-admin")
    assert keys == dict.fromkeys(needing, KEY)
    codes = StaticToken.objects.filter(device__user__username="demo-auditor").values_list("token", flat=True)
    assert sorted(codes) == ["demo-rc-1", "demo-rc-2", "demo-rc-3", "demo-rc-4", "demo-rc-5"]
    assert "oathtool --totp -b JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" in out.getvalue()

    # A used recovery code comes back when load_demo runs again; nothing is added twice.
    StaticToken.objects.filter(token="demo-rc-1", device__user__username="demo-auditor").delete()
    call_command("load_demo", stdout=StringIO())
    assert StaticToken.objects.filter(device__user__username="demo-auditor").count() == 5
    assert TOTPDevice.objects.count() == 5
    assert not StaticToken.objects.filter(device__user__username="demo-nanjing-reporter").exists()


@pytest.mark.parametrize("path", ["/admin/otp_totp/totpdevice/", "/admin/otp_static/staticdevice/"])
def test_the_admin_site_shows_no_second_factor_devices(client, django_user_model, path):
    # A superuser could otherwise read TOTP keys or delete a device without the logged reset.
    root = django_user_model.objects.create_superuser(username="root", password="a-long-test-password-1A")
    client.force_login(root)

    assert client.get(path).status_code == 404
    assert path not in client.get("/admin/").content.decode()
