"""Who is asking, from where: set per request by the project's middleware and read by the security log,
so services can record IP and request id without taking the request as an argument."""

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestInfo:
    ip: str | None = None
    request_id: str = ""


current_request: ContextVar[RequestInfo | None] = ContextVar("current_request", default=None)


def request_info() -> RequestInfo:
    return current_request.get() or RequestInfo()
