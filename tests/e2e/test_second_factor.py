"""A coordinator's first sign-in in Chromium: password, then enrolment with the QR code the portal draws
itself (nothing fetched from elsewhere, nothing blocked by the CSP), the first code, the recovery codes,
and on to the dashboard."""

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_first_sign_in_enrols_an_authenticator(page, live_server, watch, coordinator):
    from base64 import b32decode

    base = live_server.url
    page.goto(f"{base}/accounts/login/?next=/dashboard/")
    page.fill("#id_username", "coordinator")
    page.fill("#id_password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert page.url == f"{base}/accounts/2fa/setup/?next=%2Fdashboard%2F"
    expect(page.locator("figure.otp-qr svg")).to_be_visible()

    secret = page.locator("#otp-secret").inner_text().replace(" ", "")
    page.fill("#id_otp_token", f"{totp(b32decode(secret), digits=6):06d}")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    expect(page.locator("ul.recovery-codes li")).to_have_count(10)
    codes = sorted(page.locator("ul.recovery-codes code").all_inner_texts())
    assert codes == sorted(StaticToken.objects.filter(device__user=coordinator).values_list("token", flat=True))

    page.click("main a.button")
    page.wait_for_load_state()
    assert page.url == f"{base}/dashboard/"
    expect(page.locator("#dashboard h1")).to_be_visible()
    assert watch.foreign() == []
    assert watch.unexpected_errors() == []
