"""Production settings pass Django's deployment checks, and fail loud without their secrets."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DJANGO_SECRET_KEY": "k" * 30 + "-production-key-0123456789",
    "DJANGO_ALLOWED_HOSTS": "portal.example.gov.cn",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def _check(env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update({"DJANGO_SETTINGS_MODULE": "portal.settings", **env_extra})
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_check_deploy():
    result = _check(PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_without_a_secret_key_refuses_to_start():
    result = _check({"DJANGO_ALLOWED_HOSTS": "portal.example.gov.cn"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


@pytest.mark.parametrize(
    ("loosened", "check_id", "words"),
    [
        ({"SESSION_IDLE_MINUTES": "120"}, "portal.E001", "SESSION_IDLE_MINUTES is 120"),
        ({"SESSION_IDLE_MINUTES_PRIVILEGED": "30"}, "portal.E001", "SESSION_IDLE_MINUTES_PRIVILEGED is 30"),
        ({"SESSION_ABSOLUTE_HOURS": "24"}, "portal.E001", "SESSION_ABSOLUTE_HOURS is 24"),
        ({"AXES_FAILURE_LIMIT": "50"}, "portal.E002", "AXES_FAILURE_LIMIT is 50"),
        ({"AXES_COOLOFF_MINUTES": "5"}, "portal.E002", "AXES_COOLOFF_TIME is 0:05:00"),
        ({"REDIS_URL": ""}, "portal.E005", "LocMemCache"),
        ({"PASSWORD_MAX_AGE_DAYS": "0"}, "portal.W007", "rotation is off"),
        ({"PORTAL_OTP_REQUIRED": "false"}, "portal.W007", "second factor is not required"),
    ],
)
def test_a_loosened_production_setting_fails_the_deploy_check(loosened, check_id, words):
    result = _check({**PRODUCTION, **loosened})

    assert result.returncode != 0
    assert check_id in result.stderr
    assert words in result.stderr


def test_each_portal_check_passes_with_the_production_defaults():
    result = _check(PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert "portal." not in result.stderr


@pytest.mark.parametrize(
    ("override", "check_id"),
    [
        (
            {
                "CONTENT_SECURITY_POLICY": {
                    "DIRECTIVES": {"default-src": ["'self'"], "script-src": ["'self'", "https://cdn.example.com"]}
                }
            },
            "portal.E003",
        ),
        (
            {"CONTENT_SECURITY_POLICY": {"DIRECTIVES": {"default-src": ["'self'"], "style-src": ["'unsafe-inline'"]}}},
            "portal.E003",
        ),
        ({"SPECTACULAR_SETTINGS": {"SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"]}}, "portal.E004"),
        ({"PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"]}, "portal.E006"),
        ({"AUTH_PASSWORD_VALIDATORS": []}, "portal.E006"),
    ],
)
def test_settings_no_environment_variable_reaches_are_checked_too(settings, override, check_id):
    from portal.checks import portal_deploy_check

    for name, value in override.items():
        setattr(settings, name, value)

    assert check_id in {message.id for message in portal_deploy_check()}
