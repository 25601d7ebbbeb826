"""Writing and checking the security log. `security_event_record` is the only writer."""

import hashlib
import json
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, transaction
from django.utils import timezone

from portal.accounts.context import request_info
from portal.accounts.models import Membership, SecurityEvent

GENESIS = "0" * 64
# Any constant: every writer takes this transaction-scoped advisory lock, so the chain has one order.
CHAIN_LOCK = 22_239_2019


def _digest(prev_hash: str, fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}|{canonical}".encode()).hexdigest()


def _fields(event: SecurityEvent) -> dict[str, Any]:
    return {
        "at": event.at.isoformat(),
        "user": event.user_id,
        "username": event.username,
        "roles": event.roles,
        "region": event.region,
        "event": event.event,
        "success": event.success,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "ip": event.ip,
        "request_id": event.request_id,
        "detail": event.detail,
    }


def _who(user: User | AnonymousUser | None, username: str) -> tuple[User | None, str, str, str]:
    if user is None or not user.is_authenticated:
        return None, username, "", ""
    rows = Membership.objects.filter(user=user).select_related("region", "body").order_by("role")
    roles = ",".join(sorted({m.role for m in rows}))
    scope = ",".join(sorted({str(m.region or m.body) for m in rows if m.region_id or m.body_id}))
    return user, user.get_username(), roles, scope


@transaction.atomic
def security_event_record(
    *,
    event: str,
    success: bool,
    user: User | AnonymousUser | None = None,
    username: str = "",
    obj: Any = None,
    detail: dict[str, Any] | None = None,
) -> SecurityEvent:
    """Append one event to the chain, inside the caller's transaction (fail closed)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])
    who, name, roles, scope = _who(user, username)
    info = request_info()
    row = SecurityEvent(
        at=timezone.now(),
        user=who,
        username=name[:150],
        roles=roles[:255],
        region=scope[:255],
        event=event,
        success=success,
        object_type=type(obj).__name__ if obj is not None else "",
        object_id=str(getattr(obj, "public_id", None) or getattr(obj, "pk", "") or "")[:64] if obj is not None else "",
        ip=info.ip,
        request_id=info.request_id,
        detail=detail or {},
    )
    last = SecurityEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    row.prev_hash = last or GENESIS
    row.hash = _digest(row.prev_hash, _fields(row))
    row.save()
    return row


def security_chain_verify() -> int | None:
    """The id of the first row whose hash or link does not match, or None when the chain is whole."""
    previous = GENESIS
    for row in SecurityEvent.objects.order_by("id").iterator(chunk_size=2000):
        if row.prev_hash != previous or row.hash != _digest(row.prev_hash, _fields(row)):
            return row.pk
        previous = row.hash
    return None
