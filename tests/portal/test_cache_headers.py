"""Signed-in answers stay out of shared and browser caches (等保 2.0: residual information)."""

import pytest
from knox.models import AuthToken


def test_a_signed_in_page_is_not_stored(client, nanjing_reporter):
    client.force_login(nanjing_reporter)

    response = client.get("/report/")

    assert response.status_code == 200
    assert set(response["Cache-Control"].replace(" ", "").split(",")) == {"private", "no-store"}


def test_an_api_answer_to_a_token_is_not_stored(client, nanjing_reporter, period):
    _, token = AuthToken.objects.create(nanjing_reporter)

    response = client.get("/api/v1/periods/", HTTP_AUTHORIZATION=f"Token {token}")

    assert response.status_code == 200
    assert set(response["Cache-Control"].replace(" ", "").split(",")) == {"private", "no-store"}


@pytest.mark.django_db
def test_an_anonymous_refusal_under_the_api_is_not_stored_either(client):
    response = client.get("/api/v1/periods/")

    assert response.status_code == 401
    assert "no-store" in response["Cache-Control"]
