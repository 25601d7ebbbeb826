"""Request body parsers for the API: refuse hostile bodies with a 400 or 413 in the house error shape.

DRF's own parsers read the whole stream whatever its size (Django's DATA_UPLOAD_MAX_MEMORY_SIZE guards
only `request.body` and `request.POST`, which DRF bypasses), let a RecursionError from deeply nested JSON
become a 500, and word their errors in English. These parsers bound the body by
DATA_UPLOAD_MAX_MEMORY_SIZE before reading it, and turn every way a JSON body can be bad into one Chinese
message with the reason under `errors.body`.
"""

import json
from typing import IO, Any

from django.conf import settings
from django.http import QueryDict
from django.utils.translation import gettext as _
from rest_framework import parsers, status

from common.errors import ApplicationError

# Our requests nest three levels at most ({"values": [{...}]}); a much deeper body is an attack on
# whatever walks it next (serializers, the idempotency fingerprint, the error renderer), not data.
JSON_MAX_DEPTH = 32


class _RefusedConstant(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are JavaScript, not JSON (RFC 8259); Python's json module accepts them by default.
    raise _RefusedConstant(name)


def _declared_length(request: Any) -> int:
    """The body's length as the client declared it (0 when absent or not a number)."""
    try:
        return int(getattr(request, "META", {}).get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _too_big(limit: int) -> ApplicationError:
    return ApplicationError(
        _("请求体过大，上限为 %(size)s。") % {"size": _size_text(limit)},
        errors={"body": [_("超过 %(size)s。") % {"size": _size_text(limit)}]},
        status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


def _size_text(limit: int) -> str:
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MB"
    return f"{limit} B" if limit < 1024 else f"{limit // 1024} KB"


def _not_json(reason: str) -> ApplicationError:
    return ApplicationError(
        _("请求体不是有效的 JSON。"), errors={"body": [reason]}, status_code=status.HTTP_400_BAD_REQUEST
    )


def body_too_big(limit: int | None = None) -> ApplicationError:
    """The answer to an oversized body (Django's RequestDataTooBig by default, over
    DATA_UPLOAD_MAX_MEMORY_SIZE), so that every one says the same thing."""
    return _too_big(settings.DATA_UPLOAD_MAX_MEMORY_SIZE if limit is None else limit)


def body_declared_length(request: Any) -> int:
    """The body's length as the client declared it (0 when absent or not a number)."""
    return _declared_length(request)


def _read_bounded(stream: IO[bytes], parser_context: dict[str, Any] | None) -> bytes:
    """The body, refused (413) before it is read when its declared length is over the limit, and
    refused after reading at most one byte past the limit when it lied."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    request = (parser_context or {}).get("request")
    if limit is None:
        return stream.read()
    if _declared_length(request) > limit:
        raise _too_big(limit)
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise _too_big(limit)
    return data


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, walked without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, level = stack.pop()
        # Only containers are walked: a scalar adds no level (a report's values are mostly scalars).
        children = item.values() if isinstance(item, dict) else item
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


class StrictJSONParser(parsers.JSONParser):
    """JSON objects only, UTF-8 only (RFC 8259), no NaN or Infinity, bounded in size and depth."""

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None) -> Any:
        data = _read_bounded(stream, parser_context)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _not_json(_("含有无效的 UTF-8 字节（第 %(n)s 个字节）。") % {"n": exc.start + 1}) from None
        try:
            value = json.loads(text, parse_constant=_refuse_constant)
        except RecursionError:
            raise _not_json(_("嵌套层数超过 %(n)s 层。") % {"n": JSON_MAX_DEPTH}) from None
        except _RefusedConstant as exc:
            raise _not_json(_("不接受 %(name)s：JSON 中没有这种数值。") % {"name": str(exc)}) from None
        except json.JSONDecodeError as exc:
            raise _not_json(
                _("第 %(line)s 行第 %(col)s 列附近有语法错误。") % {"line": exc.lineno, "col": exc.colno}
            ) from None
        except ValueError:
            # e.g. an integer of more digits than Python converts (sys.get_int_max_str_digits)
            raise _not_json(_("含有无法解析的数值。")) from None
        if not isinstance(value, dict):
            raise _not_json(_("应为 JSON 对象（{…}），收到的是%(kind)s。") % {"kind": _json_kind(value)})
        if _depth(value) > JSON_MAX_DEPTH:
            raise _not_json(_("嵌套层数超过 %(n)s 层。") % {"n": JSON_MAX_DEPTH})
        return value


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return _("数组")
    if isinstance(value, str):
        return _("字符串")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return _("布尔值")
    return _("数字")


class StrictFormParser(parsers.FormParser):
    """A form body bounded like a JSON one (DRF's FormParser reads whatever it is sent)."""

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None) -> Any:
        data = _read_bounded(stream, parser_context)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        return QueryDict(data, encoding=encoding)


class StrictMultiPartParser(parsers.MultiPartParser):
    """A multipart body refused (413) from its declared length, before a byte is spooled to disk, when it
    is larger than the largest file the API takes plus the form fields' own limit."""

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.EVIDENCE_MAX_BYTES + (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0)
        if _declared_length((parser_context or {}).get("request")) > limit:
            raise _too_big(limit)
        return super().parse(stream, media_type, parser_context)


def body_refuse_unreadable(request: Any) -> None:
    """For a write that takes no input: parse the body all the same, so that a malformed, oversized or
    wrongly typed one is refused (400, 413, 415) instead of ignored while the write goes ahead."""
    _ = request.data
