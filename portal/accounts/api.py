"""Token login for machine clients: `POST /api/v1/auth/token/` and `POST /api/v1/auth/logout/`.

Tokens are django-rest-knox's: stored hashed, with the expiry of REST_KNOX["TOKEN_TTL"]. The password goes
through `django.contrib.auth.authenticate` with the plain Django request (`request._request`): django-axes
counts failures and flags a lockout on that object, and its middleware turns the flag into the 429 that
`lockout_response` writes. Handing it DRF's request instead would count nothing and never lock.
"""

from typing import Any

from axes.helpers import get_cool_off
from django.contrib.auth import authenticate, user_logged_in, user_login_failed
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.models import get_token_model
from knox.settings import knox_settings
from knox.views import LogoutView
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import ApplicationError
from common.parsers import body_refuse_unreadable
from measures.serializers import ErrorSerializer
from portal.accounts.authentication import PortalTokenAuthentication
from portal.accounts.models import SecurityEvent
from portal.accounts.security import security_event_record
from portal.accounts.selectors import second_factor_enrolled, second_factor_required, user_scope
from portal.accounts.serializers import TokenLoginSerializer, TokenSerializer
from portal.accounts.services import second_factor_check
from portal.accounts.validators import password_expired

LOCKED = OpenApiResponse(
    ErrorSerializer,
    description="登录失败次数过多，账号暂时锁定；Retry-After 为剩余秒数。 "
    "Too many failed logins: locked for a while; Retry-After gives the seconds.",
)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' answer to a locked-out login (settings.AXES_LOCKOUT_CALLABLE): 429 with Retry-After and
    a message that names no account. JSON in the API's error shape under /api/, plain text elsewhere."""
    username = (credentials or {}).get("username", "") if isinstance(credentials, dict) else ""
    security_event_record(event=SecurityEvent.Event.LOCKOUT, success=False, username=str(username)[:150])
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else 0
    message = _("登录失败次数过多，账号已暂时锁定，请 %(minutes)s 分钟后再试，或联系安全管理员解锁。") % {
        "minutes": max(1, seconds // 60)
    }
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {"message": message, "errors": {}},
            status=status.HTTP_429_TOO_MANY_REQUESTS,
            json_dumps_params={"ensure_ascii": False},
        )
    else:
        response = HttpResponse(
            message, status=status.HTTP_429_TOO_MANY_REQUESTS, content_type="text/plain; charset=utf-8"
        )
    if seconds:
        response["Retry-After"] = str(seconds)
    return response


class TokenLoginView(APIView):
    authentication_classes = ()
    permission_classes = (permissions.AllowAny,)

    @extend_schema(
        tags=["auth 登录"],
        summary="用户名和密码换取 API 令牌 · Exchange username and password for an API token",
        description=(
            "令牌以 `Authorization: Token <token>` 发送，到期时间见 expiry。连续失败 5 次锁定（429）；"
            "用户名不存在与密码错误返回同样的 400。管理员、协调小组办公室和督查审计账号还须在 otp_token 中"
            "提供动态验证码或恢复码，缺少或错误返回 401（错误的验证码也计入锁定次数）。"
            "演示账号仅在 DEBUG 开启时可用。\n\n"
            "Send the token as `Authorization: Token <token>` until `expiry`. Five failures in a row lock the "
            "account (429). An unknown username and a wrong password get the same 400. Administrators, "
            "coordinators and auditors also send `otp_token` (a TOTP code or a recovery code): missing or wrong "
            "gets 401, and a wrong code counts toward the lockout. Demo accounts work only with DEBUG on."
        ),
        request=TokenLoginSerializer,
        responses={
            200: TokenSerializer,
            400: OpenApiResponse(ErrorSerializer, description="用户名或密码错误。 Wrong username or password."),
            401: OpenApiResponse(
                ErrorSerializer,
                description="缺少或错误的第二因素验证码（otp_token）。 Missing or wrong second factor (otp_token).",
            ),
            415: OpenApiResponse(ErrorSerializer, description="Content-Type 不受支持。 Unsupported content type."),
            429: LOCKED,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = TokenLoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request=request._request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if user is None:
            security_event_record(
                event=SecurityEvent.Event.LOGIN_FAILED,
                success=False,
                username=serializer.validated_data["username"],
                detail={"via": "api"},
            )
            # The same answer whether the username exists, the password is wrong, the account is inactive or
            # a demo account with DEBUG off. A lockout is answered by axes' middleware (lockout_response).
            raise ApplicationError(
                _("用户名或密码错误。"),
                errors={"non_field_errors": [_("用户名或密码错误。")]},
                status_code=status.HTTP_400_BAD_REQUEST,
            )
        if password_expired(user):
            security_event_record(
                event=SecurityEvent.Event.LOGIN_FAILED,
                success=False,
                user=user,
                detail={"via": "api", "why": "expired"},
            )
            raise ApplicationError(
                _("密码已超过有效期，请先登录网页修改密码。"),
                errors={"password": [_("密码已过期。")]},
                status_code=status.HTTP_403_FORBIDDEN,
            )
        if second_factor_required(user=user):
            self._second_factor_pass(request, user, serializer.validated_data.get("otp_token", ""))
        security_event_record(event=SecurityEvent.Event.LOGIN, success=True, user=user, detail={"via": "api"})
        instance, token = get_token_model().objects.create(
            user=user, expiry=knox_settings.TOKEN_TTL, prefix=knox_settings.TOKEN_PREFIX
        )
        # Resets axes' failure count (AXES_RESET_ON_SUCCESS) and records last_login.
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        data = {
            "token": token,
            "expiry": instance.expiry,
            "username": user.get_username(),
            "roles": sorted(user_scope(user=user).roles),
        }
        return Response(TokenSerializer(data).data)

    def _second_factor_pass(self, request: Request, user: Any, otp_token: str) -> None:
        """Raise 401 unless `otp_token` is a current code of the user's authenticator or an unused recovery
        code. A wrong code is a failed login for django-axes as well (its middleware answers 429 once the
        account locks); a missing one is not, since the client may not have known to send it."""
        if not second_factor_enrolled(user=user):
            security_event_record(
                event=SecurityEvent.Event.LOGIN_FAILED,
                success=False,
                user=user,
                detail={"via": "api", "why": "second_factor_not_enrolled"},
            )
            message = _("该账号尚未绑定身份验证器：请先登录网页完成绑定，再在 otp_token 中提供动态验证码。")
            raise ApplicationError(message, errors={"otp_token": [message]}, status_code=status.HTTP_401_UNAUTHORIZED)
        if not otp_token.strip():
            security_event_record(
                event=SecurityEvent.Event.LOGIN_FAILED,
                success=False,
                user=user,
                detail={"via": "api", "why": "second_factor_missing"},
            )
            message = _("该账号需要第二因素：请在 otp_token 中提供 6 位动态验证码或一个恢复码。")
            raise ApplicationError(message, errors={"otp_token": [message]}, status_code=status.HTTP_401_UNAUTHORIZED)
        if second_factor_check(user=user, token=otp_token, via="api") is None:
            user_login_failed.send(
                sender=__name__, credentials={"username": user.get_username()}, request=request._request
            )
            message = _("otp_token 验证码不正确或已使用。")
            raise ApplicationError(message, errors={"otp_token": [message]}, status_code=status.HTTP_401_UNAUTHORIZED)


class TokenLogoutView(LogoutView):
    authentication_classes = (PortalTokenAuthentication,)

    @extend_schema(
        tags=["auth 登录"],
        summary="注销当前令牌 · End the token used for this request",
        request=None,
        responses={
            204: OpenApiResponse(description="令牌已失效。 The token no longer works."),
            401: OpenApiResponse(ErrorSerializer, description="未登录或令牌无效。 Not authenticated."),
        },
    )
    def post(self, request: Request, format: Any = None) -> Response:
        body_refuse_unreadable(request)
        security_event_record(event=SecurityEvent.Event.LOGOUT, success=True, user=request.user, detail={"via": "api"})
        return super().post(request, format)


urlpatterns = [
    path("auth/token/", TokenLoginView.as_view(), name="auth-token"),
    path("auth/logout/", TokenLogoutView.as_view(), name="auth-logout"),
]
