"""Personas and shared fixtures. Tests are flat functions with exact assertions.

The `plan` fixture loads the plan through the same command `make run` uses."""

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
