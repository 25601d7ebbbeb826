"""Web login and logout, recording each attempt in the security log; the second factor after the password."""

from base64 import b32encode

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib.auth import logout, user_login_failed
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login

from common.requests import AuthenticatedRequest
from portal.accounts.forms import SecondFactorForm
from portal.accounts.models import SecurityEvent
from portal.accounts.security import security_event_record
from portal.accounts.selectors import second_factor_enrolled, second_factor_required
from portal.accounts.services import second_factor_check, second_factor_enrol_confirm, second_factor_enrol_start


class LoginView(auth_views.LoginView):
    def form_valid(self, form):
        security_event_record(
            event=SecurityEvent.Event.LOGIN, success=True, user=form.get_user(), detail={"via": "web"}
        )
        # Signing in again as the same user keeps the session's data; a code passed before must not carry over.
        self.request.session.pop(DEVICE_ID_SESSION_KEY, None)
        return super().form_valid(form)

    def form_invalid(self, form):
        security_event_record(
            event=SecurityEvent.Event.LOGIN_FAILED,
            success=False,
            username=str(form.data.get("username", ""))[:150],
            detail={"via": "web"},
        )
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            security_event_record(
                event=SecurityEvent.Event.LOGOUT, success=True, user=request.user, detail={"via": "web"}
            )
        return super().post(request, *args, **kwargs)


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    if safe:
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _with_next(name: str, request: HttpRequest) -> str:
    return f"{reverse(name)}?{urlencode({'next': _next_url(request)})}"


def _code_refused(request: HttpRequest, form: SecondFactorForm) -> None:
    """A wrong code is a failed login for django-axes too: wrong passwords and wrong codes together lock
    the account after AXES_FAILURE_LIMIT. When that happens the half-signed-in session ends, and axes'
    middleware answers with the lockout page."""
    user_login_failed.send(sender=__name__, credentials={"username": request.user.get_username()}, request=request)
    if getattr(request, "axes_locked_out", False):
        logout(request)
    form.add_error("otp_token", _("验证码不正确或已使用，请重新输入。"))


@login_required
@require_http_methods(["GET", "POST"])
def second_factor_verify(request: AuthenticatedRequest) -> HttpResponse:
    user = request.user
    if not second_factor_enrolled(user=user):
        return redirect(_with_next("second_factor_setup", request))
    if getattr(user, "is_verified", lambda: False)():
        return redirect(_next_url(request))
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = second_factor_check(user=user, token=form.cleaned_data["otp_token"], via="web")
        if device is not None:
            # A new session key once the session is worth more, as Django does at password login.
            request.session.cycle_key()
            otp_login(request, device)
            return redirect(_next_url(request))
        _code_refused(request, form)
    return render(request, "registration/second_factor_verify.html", {"form": form, "next": _next_url(request)})


def _qr_svg(data: str) -> str:
    # Drawn here as inline SVG paths: the secret never leaves the portal for a QR service, and the CSP
    # (self only) needs no exception. The SVG holds only path data, never the text it encodes.
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return image.to_string(encoding="unicode")


@login_required
@require_http_methods(["GET", "POST"])
def second_factor_setup(request: AuthenticatedRequest) -> HttpResponse:
    user = request.user
    if not second_factor_required(user=user):
        return redirect(_next_url(request))
    if second_factor_enrolled(user=user):
        return redirect(_with_next("second_factor_verify", request))
    device = second_factor_enrol_start(user=user)
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = second_factor_enrol_confirm(user=user, device=device, token=form.cleaned_data["otp_token"])
        if codes is not None:
            request.session.cycle_key()
            otp_login(request, device)
            return render(
                request, "registration/second_factor_codes.html", {"codes": codes, "next": _next_url(request)}
            )
        _code_refused(request, form)
    secret = b32encode(device.bin_key).decode()
    context = {
        "form": form,
        "next": _next_url(request),
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "qr_svg": mark_safe(_qr_svg(device.config_url)),  # noqa: S308 - generated above, path data only
    }
    return render(request, "registration/second_factor_setup.html", context)
