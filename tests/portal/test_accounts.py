"""Memberships: the single source of scope, constrained by the database, and demo accounts off in production."""

from datetime import date

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.test import RequestFactory, override_settings

from portal.accounts.backends import DEMO_GROUP
from portal.accounts.models import Membership
from portal.accounts.selectors import user_scope


def test_city_role_without_a_city_is_refused_by_the_database(user):
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=user, role="city_reporter", valid_from=date(2020, 1, 1))
    assert Membership.objects.count() == 0


def test_expired_membership_grants_nothing(user, nanjing):
    Membership.objects.create(
        user=user, role="city_reporter", region=nanjing, valid_from=date(2019, 1, 1), valid_to=date(2020, 12, 31)
    )
    assert user_scope(user=user).cities() == frozenset()
    assert user_scope(user=user, on=date(2020, 6, 1)).cities() == frozenset({nanjing.pk})


@pytest.mark.django_db
def test_demo_accounts_log_in_only_with_debug_on(django_user_model):
    demo = django_user_model.objects.create_user(username="demo-x", password="Demo-Jiangsu-2026")
    demo.groups.add(Group.objects.create(name=DEMO_GROUP))
    with override_settings(DEBUG=True):
        assert (
            authenticate(RequestFactory().post("/accounts/login/"), username="demo-x", password="Demo-Jiangsu-2026")
            == demo
        )
    with override_settings(DEBUG=False):
        assert (
            authenticate(RequestFactory().post("/accounts/login/"), username="demo-x", password="Demo-Jiangsu-2026")
            is None
        )
