"""Django's error handlers (handler400/403/404/500 and the CSRF failure view): JSON in the API's error shape
under /api/, a Chinese page (or the user's chosen language) elsewhere; never Django's English HTML.

A lost database connection (PostgreSQL restarted, the backend terminated, a failover) reaches handler500
as an OperationalError or InterfaceError: it answers 503 with Retry-After, since the next request opens a
new connection and will most likely work. The pages are rendered from the template alone, without context
processors or the session, because the database they would read may be the thing that failed.
"""

import logging
import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils import translation
from django.utils.translation import gettext as _

from common.parsers import body_too_big
from portal.accounts.context import current_request

logger = logging.getLogger(__name__)

# Long enough for a restarted PostgreSQL or a failover to come back, short enough for a person to wait.
RETRY_AFTER_SECONDS = 30


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _language(request: HttpRequest) -> str:
    """The language the request asked for, worked out again here: the failure may have come before the
    locale middleware ran, and the thread may still hold the language of an earlier request."""
    supported = {code for code, _name in settings.LANGUAGES}
    if _is_api(request):
        return translation.get_language_from_request(request)
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    return chosen if chosen in supported else settings.LANGUAGE_CODE


def _respond(
    request: HttpRequest,
    status: int,
    title: str,
    message: str,
    *,
    errors: dict[str, list[str]] | None = None,
    retry_after: int | None = None,
) -> HttpResponse:
    response: HttpResponse
    if _is_api(request):
        response = JsonResponse(
            {"message": message, "errors": errors or {}}, status=status, json_dumps_params={"ensure_ascii": False}
        )
    else:
        info = current_request.get(None)
        html = loader.get_template("portal/error.html").render(
            {
                "status": status,
                "title": title,
                "message": message,
                "request_id": getattr(info, "request_id", ""),
                "retry_after": retry_after,
            }
        )
        response = HttpResponse(html, status=status, content_type="text/html; charset=utf-8")
    response["Content-Language"] = translation.get_language()
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    # An error page must not be stored and replayed by a proxy once the fault is gone.
    response["Cache-Control"] = "no-store"
    return response


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    with translation.override(_language(request)):
        if isinstance(exception, RequestDataTooBig):
            error = body_too_big()
            return _respond(request, 413, _("请求体过大"), error.message, errors=error.errors)
        if isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
            message = _("请求中的字段或文件过多。")
            return _respond(request, 400, _("请求有误"), message, errors={"body": [message]})
        return _respond(request, 400, _("请求有误"), _("请求格式有误，服务器无法处理。"))


def body_over_limit(request: HttpRequest, limit: int) -> HttpResponse:
    """413 for a body declared larger than the portal takes anywhere (BodyLimitMiddleware)."""
    with translation.override(_language(request)):
        error = body_too_big(limit)
        return _respond(request, 413, _("请求体过大"), error.message, errors=error.errors)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    with translation.override(_language(request)):
        # The services word their refusals for the person refused ("只有本市审核员可以进行市级审核。").
        detail = str(exception) if exception is not None and exception.args else ""
        return _respond(request, 403, _("无权访问"), detail or _("您无权执行此操作或查看此页面。"))


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    with translation.override(_language(request)):
        return _respond(
            request,
            403,
            _("页面已过期"),
            _("表单已过期或来源无法验证（CSRF 校验失败）。请返回上一页，刷新后重新提交。"),
        )


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    with translation.override(_language(request)):
        return _respond(request, 404, _("页面不存在"), _("未找到您要访问的地址，请检查链接是否正确。"))


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls handler500 while handling the exception, so it is still the current one.
    exc = sys.exc_info()[1]
    with translation.override(_language(request)):
        if isinstance(exc, OperationalError | InterfaceError):
            return _respond(
                request,
                503,
                _("服务暂时不可用"),
                _("数据库连接暂时中断，请稍后重试。"),
                retry_after=RETRY_AFTER_SECONDS,
            )
        return _respond(request, 500, _("服务器内部错误"), _("系统出现内部错误，已记录在案。请稍后重试。"))
