"""Personas and shared fixtures. Tests are flat functions with exact assertions."""

import pytest
from django.core.management import call_command

PLAN_DIR = "fixtures/plans/js-2018-28"


@pytest.fixture
def plan(db):
    """The whole of 苏发〔2018〕28号, loaded through the same command `make run` uses."""
    call_command("load_plan", PLAN_DIR, verbosity=0)
    from measures.models import Plan

    return Plan.objects.get(code="js-2018-28")


@pytest.fixture
def user(db, django_user_model):
    return django_user_model.objects.create_user(username="reader", password="a-long-test-password")


@pytest.fixture
def api_client(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client
