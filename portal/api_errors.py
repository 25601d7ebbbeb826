"""The API's single exception handler: every error is `{"message": ..., "errors": {field: [...]}}`.

Services raise Django's ValidationError for bad input and `ApplicationError` for an illegal state
change; DRF raises its own exceptions. All three come out in the same shape, in the request's language.
"""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common.errors import ApplicationError
from common.parsers import body_too_big
from portal.accounts.models import SecurityEvent
from portal.accounts.security import security_event_record


def _as_field_errors(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub_key, sub_value in _as_field_errors(value).items():
                    out[f"{key}.{sub_key}"] = sub_value
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for index, item in enumerate(value):
                    for sub_key, sub_value in _as_field_errors(item).items():
                        out[f"{key}[{index}].{sub_key}"] = sub_value
            elif isinstance(value, list):
                out[str(key)] = [str(v) for v in value]
            else:
                out[str(key)] = [str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            by_field = {key: [str(m) for err in errs for m in err.messages] for key, errs in exc.error_dict.items()}
            exc = exceptions.ValidationError(detail=by_field)
        else:
            exc = exceptions.ValidationError(detail={"non_field_errors": exc.messages})
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        # The services say who may do it ("只有本市审核员可以进行市级审核。"); a 403 goes only to someone who
        # may already read the object, so the message reveals nothing new.
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        # Raised by Django's multipart parser for form fields over DATA_UPLOAD_MAX_MEMORY_SIZE; left to
        # Django it would become an HTML 400.
        exc = body_too_big()
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        message = _("请求中的字段或文件过多。")
        exc = ApplicationError(message, errors={"body": [message]}, status_code=400)
    elif isinstance(exc, exceptions.ParseError):
        # A multipart or form body that cannot be parsed (the JSON parser words its own errors).
        exc = ApplicationError(_("请求体格式有误，无法解析。"), errors={"body": [str(exc.detail)]}, status_code=400)

    if isinstance(exc, ApplicationError):
        return Response({"message": exc.message, "errors": exc.errors}, status=exc.status_code)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.PermissionDenied):
        request = context.get("request")
        security_event_record(
            event=SecurityEvent.Event.ACCESS_DENIED,
            success=False,
            user=getattr(request, "user", None),
            detail={"method": getattr(request, "method", ""), "path": getattr(request, "path", "")[:255]},
        )

    errors: dict[str, list[str]]
    if isinstance(exc, exceptions.ValidationError):
        errors = _as_field_errors(exc.detail)
        message = _("提交的数据有误，请按字段修改后重试。")
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        message = str(detail.get("detail", detail)) if isinstance(detail, dict) else str(detail)
        errors = {}
    response.data = {"message": message, "errors": errors}
    return response
