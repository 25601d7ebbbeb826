"""Language choice: web pages are Chinese first, English only when the user picks it (the choice is kept
in the language cookie); API clients get errors in the language of their Accept-Language header."""

import re
import uuid

from django.conf import settings
from django.http import HttpRequest
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

from portal.accounts.context import RequestInfo, current_request

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
        return response
