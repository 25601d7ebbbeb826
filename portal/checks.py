"""The portal's own deployment checks (`manage.py check --deploy`), beside Django's.

Each guards a setting that 等保 2.0 level 3 fixes and that an environment variable can loosen: the checks
make a loosened production setting fail the deployment instead of going unnoticed. They run only with
`--deploy`, so development and the test suite may shorten timeouts or use a local cache.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

# The limits the issue and 等保 2.0 set; settings may be stricter, never looser.
MAX_IDLE_MINUTES = 30
MAX_IDLE_MINUTES_PRIVILEGED = 15
MAX_ABSOLUTE_HOURS = 8
MAX_FAILURES = 5
MIN_COOLOFF_MINUTES = 30
MIN_PASSWORD_LENGTH = 12
SAFE_SOURCES = {"'self'", "'none'", "data:"}


def _session_errors() -> list[Error]:
    limits = [
        ("SESSION_IDLE_MINUTES", MAX_IDLE_MINUTES),
        ("SESSION_IDLE_MINUTES_PRIVILEGED", MAX_IDLE_MINUTES_PRIVILEGED),
        ("SESSION_ABSOLUTE_HOURS", MAX_ABSOLUTE_HOURS),
    ]
    errors = []
    for name, limit in limits:
        value = getattr(settings, name, None)
        if value is None or value <= 0 or value > limit:
            errors.append(
                Error(
                    f"{name} is {value}; a production session may last at most {limit}.",
                    hint=f"Unset the environment variable {name} or set it to 1..{limit}.",
                    id="portal.E001",
                )
            )
    return errors


def _lockout_errors() -> list[Error]:
    errors = []
    if "axes" not in settings.INSTALLED_APPS or "axes.middleware.AxesMiddleware" not in settings.MIDDLEWARE:
        errors.append(Error("django-axes is not installed: logins are never locked out.", id="portal.E002"))
    failures = getattr(settings, "AXES_FAILURE_LIMIT", None)
    if failures is None or failures <= 0 or failures > MAX_FAILURES:
        errors.append(
            Error(
                f"AXES_FAILURE_LIMIT is {failures}; lock out after at most {MAX_FAILURES} failures.",
                id="portal.E002",
            )
        )
    cooloff = getattr(settings, "AXES_COOLOFF_TIME", None)
    if cooloff is None or cooloff.total_seconds() < MIN_COOLOFF_MINUTES * 60:
        errors.append(
            Error(
                f"AXES_COOLOFF_TIME is {cooloff}; a lockout lasts at least {MIN_COOLOFF_MINUTES} minutes.",
                id="portal.E002",
            )
        )
    return errors


def _csp_errors() -> list[Error]:
    if "csp.middleware.CSPMiddleware" not in settings.MIDDLEWARE:
        return [Error("django-csp's middleware is missing: pages go out without a CSP.", id="portal.E003")]
    directives: dict[str, Any] = getattr(settings, "CONTENT_SECURITY_POLICY", {}).get("DIRECTIVES", {})
    errors = []
    for name in ("default-src", "script-src", "style-src", "frame-ancestors", "object-src"):
        if name not in directives and name != "default-src":
            continue
        sources: Iterable[str] = directives.get(name) or []
        loose = sorted(set(sources) - SAFE_SOURCES)
        if name == "default-src" and not directives.get(name):
            loose = ["(missing)"]
        if loose:
            errors.append(
                Error(
                    f"CSP {name} allows {', '.join(loose)}; the portal loads everything from its own origin.",
                    id="portal.E003",
                )
            )
    return errors


def _api_docs_errors() -> list[Error]:
    from rest_framework.permissions import AllowAny

    spectacular = getattr(settings, "SPECTACULAR_SETTINGS", {})
    names = spectacular.get("SERVE_PERMISSIONS", ["rest_framework.permissions.AllowAny"])
    if spectacular.get("SERVE_PUBLIC", True) is False:
        return []
    if not names or any(name in ("rest_framework.permissions.AllowAny", AllowAny) for name in names):
        return [
            Error(
                "The OpenAPI schema and its docs are public: SPECTACULAR_SETTINGS['SERVE_PERMISSIONS'] allows anyone.",
                hint="Serve them to signed-in users only (rest_framework.permissions.IsAuthenticated).",
                id="portal.E004",
            )
        ]
    return []


def _cache_errors() -> list[Error]:
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend.endswith(("LocMemCache", "DummyCache", "FileBasedCache")):
        return [
            Error(
                f"The default cache is {backend.rsplit('.', 1)[-1]}: each process keeps its own, so what the "
                "portal shares between processes (idempotency keys, rate limits, dashboard caches) is not shared.",
                hint="Set REDIS_URL: production also needs it as the Celery broker.",
                id="portal.E005",
            )
        ]
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        return [Error("Celery tasks run inside web requests (no broker).", hint="Set REDIS_URL.", id="portal.E005")]
    return []


def _password_errors() -> list[Error]:
    errors = []
    if not settings.PASSWORD_HASHERS or not settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher"):
        errors.append(Error("Passwords are not hashed with Argon2 first.", id="portal.E006"))
    validators = cast(list[dict[str, Any]], settings.AUTH_PASSWORD_VALIDATORS)
    lengths = [
        (validator.get("OPTIONS") or {}).get("min_length", 8)
        for validator in validators
        if validator["NAME"].endswith("MinimumLengthValidator")
    ]
    if not lengths or max(lengths) < MIN_PASSWORD_LENGTH:
        errors.append(Error(f"Passwords may be shorter than {MIN_PASSWORD_LENGTH} characters.", id="portal.E006"))
    if not any(v["NAME"].endswith("CommonPasswordValidator") for v in validators):
        errors.append(Error("Common passwords are not refused.", id="portal.E006"))
    return errors


def _policy_warnings() -> list[Warning]:
    warnings = []
    if not getattr(settings, "PASSWORD_COMPLEXITY", False) or not getattr(settings, "PASSWORD_MAX_AGE_DAYS", 0):
        warnings.append(
            Warning(
                "Password complexity or 90-day rotation is off; 等保 2.0 asks for both.",
                hint="Unset PASSWORD_COMPLEXITY / PASSWORD_MAX_AGE_DAYS, or record the deviation.",
                id="portal.W007",
            )
        )
    if not getattr(settings, "PORTAL_OTP_REQUIRED", False):
        warnings.append(
            Warning(
                "The second factor is not required of administrators, coordinators and auditors.",
                hint="Unset PORTAL_OTP_REQUIRED.",
                id="portal.W007",
            )
        )
    return warnings


@register(Tags.security, deploy=True)
def portal_deploy_check(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    return [
        *_session_errors(),
        *_lockout_errors(),
        *_csp_errors(),
        *_api_docs_errors(),
        *_cache_errors(),
        *_password_errors(),
        *_policy_warnings(),
    ]
