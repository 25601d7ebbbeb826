"""等保 2.0 password rules: complexity, and a change every 90 days before anything else."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils import timezone

from tests.conftest import PASSWORD


@pytest.mark.parametrize("password", ["abcdefghijklmn", "ABCDEFGHIJKL1", "aaaaaaaaaaaa"])
def test_simple_passwords_are_refused(password):
    with pytest.raises(ValidationError) as excinfo:
        validate_password(password)
    assert "password_too_simple" in [e.code for e in excinfo.value.error_list]


def test_three_classes_are_enough():
    validate_password("Jiangsu-reform-2026")


def test_an_old_password_must_be_changed_first(client, nanjing_reporter):
    with time_machine.travel(timezone.now() + timedelta(days=91), tick=False):
        client.force_login(nanjing_reporter)
        response = client.get("/report/")
        assert response.status_code == 302
        assert response["Location"] == "/accounts/password_change/"
        assert client.get("/accounts/password_change/").status_code == 200
        changed = client.post(
            "/accounts/password_change/",
            {
                "old_password": PASSWORD,
                "new_password1": "Nanjing-Reporter-2027",
                "new_password2": "Nanjing-Reporter-2027",
            },
        )
        assert changed.status_code == 302
        assert client.get("/report/").status_code == 200


def test_an_expired_password_gets_no_api_token(client, nanjing_reporter):
    with time_machine.travel(timezone.now() + timedelta(days=91), tick=False):
        response = client.post(
            "/api/v1/auth/token/", {"username": "nj-reporter", "password": PASSWORD}, content_type="application/json"
        )
    assert response.status_code == 403
    assert "password" in response.json()["errors"]
