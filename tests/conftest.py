"""Personas and shared fixtures. Tests are flat functions with exact assertions.

The `plan` fixture loads the plan through the same command `make run` uses."""

import contextlib
from datetime import date

import pytest
from django.core.management import call_command

PLAN_DIR = "fixtures/plans/js-2018-28"
PLAN_CODE = "js-2018-28"
PASSWORD = "a-long-test-password"


def _ensure_plan():
    from measures.models import Plan

    plan = Plan.objects.filter(code=PLAN_CODE).first()
    if plan is None:
        call_command("load_plan", PLAN_DIR, verbosity=0)
        plan = Plan.objects.get(code=PLAN_CODE)
    return plan


@pytest.fixture
def plan(db):
    """The whole of 苏发〔2018〕28号."""
    return _ensure_plan()


def _person(django_user_model, username, role=None, *, region=None, body=None):
    from portal.accounts.services import membership_grant

    user = django_user_model.objects.create_user(username=username, password=PASSWORD)
    if role is not None:
        membership_grant(user=user, role=role, region=region, body=body, valid_from=date(2018, 1, 1))
    return user


def _city(name):
    from measures.models import Region

    return Region.objects.get(name=name, level="city")


def _body(name):
    from measures.models import ResponsibleBody

    return ResponsibleBody.objects.get(name=name)


@pytest.fixture
def user(db, django_user_model):
    """An authenticated user with no role at all (an outsider)."""
    return django_user_model.objects.create_user(username="reader", password=PASSWORD)


outsider = user


@pytest.fixture
def coordinator(plan, django_user_model):
    return _person(django_user_model, "coordinator", "coordinator")


@pytest.fixture
def auditor(plan, django_user_model):
    return _person(django_user_model, "auditor", "auditor")


@pytest.fixture
def admin_user(plan, django_user_model):
    user = _person(django_user_model, "sysadmin", "admin")
    user.is_staff = True
    user.save()
    return user


@pytest.fixture
def nanjing(plan):
    return _city("南京市")


@pytest.fixture
def suzhou(plan):
    return _city("苏州市")


@pytest.fixture
def edu_body(plan):
    return _body("省教育厅")


@pytest.fixture
def nanjing_reporter(django_user_model, nanjing):
    return _person(django_user_model, "nj-reporter", "city_reporter", region=nanjing)


@pytest.fixture
def nanjing_reviewer(django_user_model, nanjing):
    return _person(django_user_model, "nj-reviewer", "city_reviewer", region=nanjing)


@pytest.fixture
def suzhou_reporter(django_user_model, suzhou):
    return _person(django_user_model, "sz-reporter", "city_reporter", region=suzhou)


@pytest.fixture
def suzhou_reviewer(django_user_model, suzhou):
    return _person(django_user_model, "sz-reviewer", "city_reviewer", region=suzhou)


@pytest.fixture
def edu_reporter(django_user_model, edu_body):
    return _person(django_user_model, "edu-reporter", "body_reporter", body=edu_body)


@pytest.fixture
def period(db):
    """A quarter that has ended, with its deadline still ahead or behind depending on today's date."""
    from reporting.services.periods import period_ensure

    return period_ensure(year=2025, quarter=4)


@pytest.fixture
def previous_period(db):
    from reporting.services.periods import period_ensure

    return period_ensure(year=2025, quarter=3)


@pytest.fixture
def future_period(db):
    from reporting.services.periods import period_ensure

    return period_ensure(year=2099, quarter=1)


def _second_factor_pass(client, user):
    """Mark the client's session as having passed the second factor, with a recovery-code device kept
    for the purpose (no codes: nothing can sign in with it). Only for users who need it, as in real use:
    a verified session costs one query per request (the device), which query-count tests pin."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_static.models import StaticDevice

    from portal.accounts.selectors import second_factor_required

    # A fresh instance: the role lookup caches on the user object, and the test's own object may gain roles later.
    if not second_factor_required(user=type(user).objects.get(pk=user.pk)):
        return
    device, _created = StaticDevice.objects.get_or_create(user=user, name="tests", defaults={"confirmed": True})
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


def _verified_client_class():
    from django.test import Client

    class VerifiedClient(Client):
        """A test client whose force_login also passes the second factor, so that every role reaches its
        pages as after a full sign-in. Tests of the second factor itself use `unverified_client`."""

        def force_login(self, user, backend=None):
            super().force_login(user, backend)
            _second_factor_pass(self, user)

    return VerifiedClient


@pytest.fixture
def client():
    """pytest-django's `client`, with force_login passing the second factor too."""
    return _verified_client_class()()


@pytest.fixture
def unverified_client():
    """A plain Django test client: force_login gives a session that has not passed the second factor."""
    from django.test import Client

    return Client()


@pytest.fixture
def api_client(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def client_for():
    """An API client authenticated as the given user: `client_for(nanjing_reporter).get(...)`."""
    from rest_framework.test import APIClient

    def make(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


def _worker_env():
    import os

    from django.db import connection

    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "portal.test_settings",
        # A killed worker's unacknowledged task comes back after this many seconds, not the default hour.
        "CELERY_VISIBILITY_TIMEOUT": "5",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
    }


def worker_argv(hostname):
    """The command line of one real `celery worker` process: one prefork child, nothing chatty."""
    import sys

    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal",
        "worker",
        "--loglevel",
        "WARNING",
        "--concurrency",
        "1",
        "--pool",
        "prefork",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--hostname",
        hostname,
    ]


class Worker:
    """A real `celery worker` process on the Redis broker, pointed at the test database."""

    def __init__(self):
        import os
        import socket

        self.process = None
        self.hostname = f"test-{os.getpid()}-{id(self)}@{socket.gethostname()}"

    def start(self):
        import subprocess
        from pathlib import Path

        self.process = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
            worker_argv(self.hostname),
            env=_worker_env(),
            cwd=Path(__file__).resolve().parent.parent,
        )
        self.wait_ready()
        return self

    def wait_ready(self, timeout=60):
        import time

        from portal.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited with {self.process.returncode}")
            if app.control.ping(destination=[self.hostname], timeout=0.5):
                return
        raise RuntimeError("celery worker did not answer a ping within a minute")

    def kill(self):
        import signal

        if self.process and self.process.poll() is None:
            # SIGKILL the whole process group of the worker: parent and its pool child die mid-task.
            import os

            for pid in [*_children(self.process.pid), self.process.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except Exception:
                self.kill()


def _children(pid):
    from pathlib import Path

    out = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(status.parent.name))
    return out


@pytest.fixture
def celery_worker_process(transactional_db, settings):
    """A real worker when REDIS_URL is set (CI); without a broker tasks run in-process (eager) and this
    yields None, so the same tests check the same behaviour either way."""
    if not settings.REDIS_URL:
        yield None
        return
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.fail("A real Celery worker needs the PostgreSQL test database (set DATABASE_URL).")
    from portal.celery import app

    app.control.purge()
    worker = Worker().start()
    yield worker
    worker.stop()
    app.control.purge()


@pytest.fixture
def wait_for():
    """Poll a condition (a real worker works asynchronously) for up to `timeout` seconds."""
    import time

    def wait(condition, timeout=60, interval=0.2):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = condition()
            if result:
                return result
            time.sleep(interval)
        raise AssertionError(f"condition not met within {timeout} s")

    return wait
