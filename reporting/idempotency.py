"""`Idempotency-Key` for the API's writes: a client that lost an answer may send the same request again
and gets the first answer back, while the write happens once.

The record is inserted before the write, in the same transaction, and completed with the answer after it.
Two identical requests racing each other therefore queue on the (user, key) unique index: the second
waits until the first commits, then replays its answer. Only successful answers (2xx) are kept: a refused
request wrote nothing, so sending it again (say, with a fresh If-Match) must be allowed to run.
"""

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from common.errors import ApplicationError
from reporting.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 128
# Set on a replayed answer so a client (and a test) can tell it apart from a fresh one.
REPLAYED_HEADER = "Idempotent-Replayed"
# Set on the request while its view method runs inside the key's transaction (`whole_transaction`).
_WHOLE = "_idempotency_transaction_whole"


def whole_transaction(request: Request) -> bool:
    """True while the view method runs inside its request's Idempotency-Key transaction. Any error the method
    raises ends that transaction whole: nothing between catches it to go on writing, the record is rolled
    back with everything else, and the key is free for a retry. So a service the method calls there need not
    guard its own part with a savepoint (SAVEPOINT and RELEASE: two statements on every write)."""
    return bool(getattr(request, _WHOLE, False))


def _canonical(value: Any) -> Any:
    """The request's data in a form that does not depend on how the client encoded it: a multipart
    boundary or a JSON key order changes nothing, a file is its SHA-256."""
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return {"file": value.name, "size": value.size, "sha256": digest.hexdigest()}
    if hasattr(value, "lists"):  # QueryDict / MultiValueDict: keep every value of a repeated field
        return {key: [_canonical(v) for v in values] for key, values in sorted(value.lists())}
    if isinstance(value, dict):
        return {str(key): _canonical(v) for key, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def request_fingerprint(request: Request) -> str:
    """SHA-256 of method, path and body (as parsed, so the same content always gives the same hash)."""
    data = request.data
    # A JSON body parses to a plain dict of JSON values: keys are strings, so sort_keys alone gives what
    # `_canonical` would (a form's QueryDict, a dict subclass, and uploaded files still go through it).
    canonical = data if type(data) is dict else _canonical(data)
    body = json.dumps(canonical, sort_keys=True, cls=JSONEncoder, ensure_ascii=False)
    text = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _replay(record: IdempotencyRecord) -> Response:
    response = Response(record.response_body, status=record.status_code)
    response[REPLAYED_HEADER] = "true"
    body = record.response_body
    if isinstance(body, dict) and isinstance(body.get("version"), int):
        # Every submission-shaped answer carries its version; restore the ETag the first answer had.
        response["ETag"] = f'"{body["version"]}"'
    return response


def _mismatch() -> ApplicationError:
    return ApplicationError(
        _("该 Idempotency-Key 已用于另一个请求（方法、路径或内容不同）；请为新的请求使用新的键。"),
        errors={HEADER: [_("键已用于不同的请求。")]},
        status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
    )


def _claim(*, user: Any, key: str, method: str, path: str, digest: str) -> IdempotencyRecord | None:
    """Insert the (user, key) record, or None when one exists. On PostgreSQL one INSERT … ON CONFLICT DO
    NOTHING: it waits, like a plain INSERT, for a racing transaction holding the same key to end, and
    then inserts (that one rolled back) or does nothing (it committed). Elsewhere a plain INSERT in a
    savepoint, the IntegrityError meaning the same."""
    record = IdempotencyRecord(
        user=user, key=key, method=method, path=path, request_hash=digest, status_code=0, response_body={}
    )
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        try:
            with transaction.atomic():
                record.save(force_insert=True)
        except IntegrityError:
            return None
        return record
    record.created_at = timezone.now()
    table = IdempotencyRecord._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (user_id, key, method, path, request_hash, status_code, response_body, created_at) "  # noqa: S608 - the model's own table name
            "VALUES (%s, %s, %s, %s, %s, 0, '{}'::jsonb, %s) ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
            [user.pk, key, method, path, digest, record.created_at],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    record.pk = row[0]
    record._state.adding = False
    return record


def _complete(*, record: IdempotencyRecord, status_code: int, data: Any) -> None:
    """Store the answer on the claimed record. On PostgreSQL one UPDATE with the answer's JSON text, which
    jsonb reads back as the same value the model's save() would have stored (a JSONField stores the same
    text, after a round trip through Python that changes nothing)."""
    body = json.dumps(data, cls=JSONEncoder)
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        record.status_code, record.response_body = status_code, json.loads(body)
        record.save(update_fields=["status_code", "response_body"])
        return
    table = IdempotencyRecord._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status_code = %s, response_body = %s::jsonb WHERE id = %s",  # noqa: S608 - the model's own table name
            [status_code, body, record.pk],
        )


def idempotent(method: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate a view(set) method that writes. Without the header the method runs as usual."""

    @wraps(method)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER, "").strip()
        if not key:
            return method(self, request, *args, **kwargs)
        if len(key) > MAX_KEY_LENGTH:
            raise ApplicationError(
                _("Idempotency-Key 不能超过 %(n)s 个字符。") % {"n": MAX_KEY_LENGTH},
                errors={HEADER: [_("过长。")]},
                status_code=status.HTTP_400_BAD_REQUEST,
            )
        fingerprint = request_fingerprint(request)
        user: Any = request.user  # authenticated: the view's permissions ran before this method
        with transaction.atomic():
            record = _claim(
                user=user, key=key, method=request.method or "", path=request.path[:255], digest=fingerprint
            )
            if record is None:
                existing = IdempotencyRecord.objects.get(user=user, key=key)
                if existing.request_hash != fingerprint:
                    raise _mismatch()
                return _replay(existing)
            setattr(request, _WHOLE, True)
            try:
                response = method(self, request, *args, **kwargs)
            finally:
                setattr(request, _WHOLE, False)
            if status.is_success(response.status_code):
                _complete(record=record, status_code=response.status_code, data=response.data)
            else:
                record.delete()
        return response

    return wrapper
