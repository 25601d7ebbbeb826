"""Language choice: web pages are Chinese first, English only when the user picks it (the choice is kept
in the language cookie); API clients get errors in the language of their Accept-Language header."""

import re
import time
import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.http import HttpRequest, JsonResponse
from django.middleware.locale import LocaleMiddleware
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _

from common.parsers import body_declared_length
from portal.accounts.context import RequestInfo, current_request
from portal.accounts.validators import password_valid_until
from portal.errors import body_over_limit

SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


class PortalLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        if request.path.startswith("/api/"):
            super().process_request(request)
            return
        # A browser's own language (often English on office machines) must not switch the portal.
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        supported = {code for code, _name in settings.LANGUAGES}
        translation.activate(chosen if chosen in supported else settings.LANGUAGE_CODE)
        request.LANGUAGE_CODE = translation.get_language()


class RequestContextMiddleware:
    """Gives every request an id (kept from a sane incoming X-Request-ID, else new) and makes it and the
    client address available to the security log; the id goes back in the response header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = current_request.set(RequestInfo(ip=request.META.get("REMOTE_ADDR") or None, request_id=request_id))
        try:
            response = self.get_response(request)
        finally:
            current_request.reset(token)
        response["X-Request-ID"] = request_id
        # What a signed-in user sees (figures, submissions, names) must not stay in a shared or browser cache
        # after logout; views that set their own policy (static files, downloads) keep it.
        if "Cache-Control" not in response and (
            request.path.startswith("/api/") or getattr(getattr(request, "user", None), "is_authenticated", False)
        ):
            patch_cache_control(response, private=True, no_store=True)
        return response


class BodyLimitMiddleware:
    """Refuses (413) a request whose declared body is over REQUEST_BODY_MAX_BYTES before a byte of it is read.

    Django reads a body only when asked, but the CSRF check asks for every form POST, signed in or not,
    and its multipart parser spools files of any size to disk; the API's parsers and the forms' own limits
    come after that. A body without a declared length is read as empty by Django's WSGI handler."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.REQUEST_BODY_MAX_BYTES
        if limit is not None and body_declared_length(request) > limit:
            return body_over_limit(request, limit)
        return self.get_response(request)


class SessionTimeoutMiddleware:
    """Idle and absolute session limits (等保 2.0): SESSION_IDLE_MINUTES of inactivity (fewer for
    administrators and auditors), SESSION_ABSOLUTE_HOURS after login whatever the activity.

    The last activity (`_seen`) is written at most every SESSION_TOUCH_SECONDS, not on every request: a
    session is saved (and its cookie and database expiry renewed) only when something in it changed, so
    a reader clicking through the dashboards costs no write per page. Idle time is counted from the last
    written activity, so a session can end up to SESSION_TOUCH_SECONDS early, never late."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _session_login(request):
            user = request.user
            now = int(time.time())
            started = request.session.setdefault("_started", now)
            last = request.session.get("_seen", now)
            if now - started > settings.SESSION_ABSOLUTE_HOURS * 3600 or now - last > _idle_seconds(user):
                logout(request)
            elif "_seen" not in request.session or now - last >= settings.SESSION_TOUCH_SECONDS:
                request.session["_seen"] = now
        response = self.get_response(request)
        # A login during this request (the login view) starts the clock now, not at the next request.
        if _session_login(request) and "_started" not in request.session:
            request.session["_started"] = request.session["_seen"] = int(time.time())
        return response


def _session_login(request) -> bool:
    """A browser session login; token and API clients carry no session and are left alone."""
    session = getattr(request, "session", None)
    return session is not None and SESSION_KEY in session


def _idle_seconds(user) -> int:
    from portal.accounts.models import Role
    from portal.accounts.selectors import user_scope

    strict = user.is_staff or bool(user_scope(user=user).roles & {Role.ADMIN, Role.AUDITOR})
    minutes = settings.SESSION_IDLE_MINUTES_PRIVILEGED if strict else settings.SESSION_IDLE_MINUTES
    return minutes * 60


class PasswordExpiryMiddleware:
    """A browser user whose password is older than PASSWORD_MAX_AGE_DAYS can only change it (or leave)."""

    ALLOWED = ("/accounts/password_change/", "/accounts/logout/", "/static/", "/i18n/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _session_login(request) and not request.path.startswith(self.ALLOWED):
            # The expiry is looked up once and kept in the session, not queried on every page.
            now = time.time()
            until = request.session.get("_password_valid_until")
            if until is None or now > until:
                expiry = password_valid_until(request.user)
                if expiry is not None and now > expiry.timestamp():
                    return redirect("password_change")
                request.session["_password_valid_until"] = expiry.timestamp() if expiry else 4102444800  # 2100
        return self.get_response(request)


class SecondFactorMiddleware:
    """A browser session of someone who needs the second factor (SECOND_FACTOR_ROLES, staff) and has not
    passed it this session may only verify, enrol, leave or switch language. Pages redirect to the code
    form (or to enrolment when no device exists yet); the API answers 403 in its error shape, since a
    script cannot follow a redirect to a form. Token clients carry no session and are checked at token
    login instead."""

    ALLOWED = ("/accounts/2fa/", "/accounts/logout/", "/accounts/login/", "/static/", "/i18n/", "/api/v1/auth/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _session_login(request) and not request.path.startswith(self.ALLOWED):
            from portal.accounts.selectors import second_factor_enrolled, second_factor_required

            user = request.user
            if second_factor_required(user=user) and not user.is_verified():
                if request.path.startswith("/api/"):
                    message = _("请先完成第二因素验证（动态验证码或恢复码）再使用 API。")
                    return JsonResponse(
                        {"message": message, "errors": {"otp_token": [message]}},
                        status=403,
                        json_dumps_params={"ensure_ascii": False},
                    )
                target = "second_factor_verify" if second_factor_enrolled(user=user) else "second_factor_setup"
                return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
