"""Browser tests: headless Chromium from Debian's package (never a downloaded browser) driven by
pytest-playwright against pytest-django's live_server.

Playwright's sync API runs an event loop in the test thread, so Django would refuse database access
from it; the tests only touch the database between browser steps, never concurrently with a request."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
# Root in a closed network: no sandbox (root), no GPU, and nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
]
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """Where the browser tests put their screenshots: a temporary folder, so a test run changes no tracked
    file; with SCREENSHOTS_UPDATE=1 the ones kept in docs/screenshots/ (then review and commit them)."""
    folder = DOCS_SCREENSHOTS if os.environ.get("SCREENSHOTS_UPDATE") == "1" else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pytest_collection_modifyitems(config, items):
    # CI installs Chromium (.ci/run) and must run these tests: there a missing browser fails at launch.
    if CHROMIUM.exists() or os.environ.get("CI"):
        return
    marker = pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(marker)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {
        **browser_context_args,
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
        "viewport": {"width": 1280, "height": 900},
    }


class Watch:
    """Everything the page asked for and every console error, to prove nothing leaves the portal and
    the CSP blocks nothing."""

    def __init__(self, page, origin):
        self.origin = origin
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))

    def _console(self, message):
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        self.errors.append(f"{message.text} @ {where}")

    def unexpected_errors(self, *expected_urls: str) -> list[str]:
        """Console errors, less the failed loads of pages a test opened on purpose to see a 403 or 404."""
        return [e for e in self.errors if not any(e.endswith(f"@ {url}") for url in expected_urls)]

    def foreign(self) -> list[str]:
        return [url for url in self.requests if not url.startswith((self.origin, "data:", "blob:", "about:"))]


@pytest.fixture
def watch(page, live_server):
    return Watch(page, live_server.url)


@pytest.fixture
def log_in(page, live_server):
    """Log in through the login form, as a person would; when the portal asks for the second factor, type
    a recovery code made for this login."""
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    from tests.conftest import PASSWORD

    def go(user):
        device, _created = StaticDevice.objects.get_or_create(user=user, name="e2e", defaults={"confirmed": True})
        code = StaticToken.random_token()
        device.token_set.create(token=code)
        page.context.clear_cookies()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_load_state()
        assert "/accounts/login/" not in page.url, page.content()[:2000]
        if "/accounts/2fa/" in page.url:
            page.fill("#id_otp_token", code)
            page.click("main form button[type=submit]")
            page.wait_for_load_state()
            assert "/accounts/2fa/" not in page.url, page.content()[:2000]

    return go
