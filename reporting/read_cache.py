"""The read cache: dashboards and the progress API keep what they computed from the figures in the shared
cache, under a key that names everything the answer depends on, starting with the figures' version.

The version is read from the database on every request (one query): the rollup writes a fresh
`FiguresVersion.token` in the transaction that writes the figures, so no reader can pair new figures with an
old key or old figures with a new one, and an answer is never older than the last committed rollup. A rollup
that changed no figure row keeps the token (every kept answer stays valid); the one answer that shows when a
slice was last checked, the figures API, keys on those check times too. The same
query reads the latest history id of each plan table a page shows (targets, indicators, measures, tasks,
bodies, regions), so a coordinator's edit of a target shows at once too; every write of those goes through a
service and leaves a history row. What depends on submissions (completeness, returned reports, overdue)
is not cached at all.

The cache is an optimisation: when it cannot be reached, the answer is computed as if nothing were cached."""

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils import timezone, translation
from rest_framework.compat import SHORT_SEPARATORS
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from reporting.models import FiguresVersion

log = logging.getLogger(__name__)
T = TypeVar("T")

# A backstop only: entries are found by version, so an old one is never read; this bounds the memory they hold.
TIMEOUT_SECONDS = 6 * 3600

_PLAN_TABLES = (
    "indicators_historicaltarget",
    "indicators_historicalindicator",
    "measures_historicalplan",
    "measures_historicalprogramme",
    "measures_historicalmeasure",
    "measures_historicaltask",
    "measures_historicalresponsiblebody",
    "measures_historicalresponsibility",
    "measures_historicalregion",
)


def figures_version_bump(*, plan_id: int) -> None:
    """Call inside the transaction that writes the plan's figures, as its last statement (the row stays
    locked until the commit, so concurrent rollups queue here only for their commits)."""
    FiguresVersion.objects.bulk_create(
        [FiguresVersion(plan_id=plan_id, token=uuid.uuid4().hex, changed_at=timezone.now())],
        update_conflicts=True,
        unique_fields=["plan"],
        update_fields=["token", "changed_at"],
    )


def _version_columns(plan: str) -> str:
    """The columns the figures' version is made of, for the plan whose id the SQL `plan` gives: the figures'
    token, then each plan table's latest history id."""
    parts = ", ".join(f"(SELECT MAX(history_id) FROM {table})" for table in _PLAN_TABLES)  # noqa: S608 - fixed names
    return f"(SELECT token FROM reporting_figuresversion WHERE plan_id = {plan}), {parts}"  # noqa: S608 - same


def _version_text(values: Sequence[Any]) -> str:
    return ".".join("" if value is None else str(value) for value in values)


def read_version(*, plan_id: int) -> str:
    """The figures' token and the plan tables' latest history ids, in one query."""
    return read_version_and_digest(plan_id=plan_id)[0]


def read_version_and_digest(*, plan_id: int, rows: Sequence[tuple[str, Sequence[Any]]] = ()) -> tuple[str, str]:
    """`read_version`, and a digest of every row that the queries `rows` (SQL and parameters) select: what a
    page shows from tables the version does not cover, such as submissions. On PostgreSQL in the same query
    (one more each elsewhere). The rows are read, not built: the digest changes whenever any value in them
    does."""
    params: list[Any] = [plan_id]
    digests = ""
    postgres = connection.vendor == "postgresql"
    if postgres:
        for sql, more in rows:
            # The ORM's own SQL, its parameters passed apart.
            digests += f", (SELECT md5(string_agg(r::text, '|' ORDER BY r::text)) FROM ({sql}) r)"  # noqa: S608
            params.extend(more)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_version_columns('%s')}{digests}",
            params,
        )
        row = cursor.fetchone()
        size = 1 + len(_PLAN_TABLES)
        version, digest = _version_text(row[:size]), _version_text(row[size:])
        if rows and not postgres:
            found = []
            for sql, more in rows:
                cursor.execute(sql, more)
                found.append(sorted(map(repr, cursor.fetchall())))
            digest = hashlib.sha256(repr(found).encode()).hexdigest()
    return version, digest


def read_ids_and_version(
    *, plan: QuerySet, period: QuerySet | None, checks: bool = False
) -> tuple[int | None, int | None, str]:
    """For an API answer: the id of the plan `plan` selects and of the period `period` selects (querysets
    of one id column and at most one row; `period` None for none), and that plan's `read_version`, in one
    query instead of three. `checks`: the version also names when each slice of that plan and period was
    last checked (`SliceCheck`), for answers that show it: a rollup that changed no figure records a new
    check time but keeps the figures' version."""
    plan_sql, plan_params = plan.query.sql_with_params()
    period_sql, period_params = period.query.sql_with_params() if period is not None else ("SELECT NULL", ())
    checked, checked_params = "", []
    if checks and period is not None:
        # Every slice's time, not the latest: two rollups may commit in the other order than they began.
        slices = (
            "SELECT province_id || '@' || checked_at AS slice FROM reporting_slicecheck"  # noqa: S608
            f" WHERE plan_id = ({plan_sql}) AND period_id = ({period_sql}) ORDER BY province_id"
        )
        concat = "string_agg(slice, ',')" if connection.vendor == "postgresql" else "group_concat(slice, ',')"
        checked = f", (SELECT {concat} FROM ({slices}) checks)"  # noqa: S608 - fixed text and the ORM's SQL
        checked_params = [*plan_params, *period_params]
    with connection.cursor() as cursor:
        cursor.execute(
            # The ORM's own SQL for the two selections, their parameters passed apart.
            f"SELECT ({plan_sql}), ({period_sql}), {_version_columns(f'({plan_sql})')}{checked}",
            [*plan_params, *period_params, *plan_params, *checked_params],
        )
        plan_id, period_id, *row = cursor.fetchone()
    return plan_id, period_id, _version_text(row)


def read_key(*parts: Any) -> str:
    """A cache key from the parts an answer depends on; the active language is always one of them."""
    text = "|".join(str(p) for p in (*parts, translation.get_language() or ""))
    return "read:" + hashlib.sha256(text.encode()).hexdigest()


def read_cached(key: str, compute: Callable[[], T]) -> T:
    """The cached value under `key`, or `compute()` stored there.

    A miss is computed once at a time: readers who miss a key while another process computes it wait for
    that value (`_computed_elsewhere`) instead of computing it beside it. After a new figures' version the
    first readers of a page arrive together (the benchmark's eight clients: two of each page at once), and
    on a machine of two cores the duplicate computations slowed every request in flight."""
    try:
        found = cache.get(key)
    except Exception:  # the cache is down: compute, as if nothing were cached
        log.warning("read cache unreachable", exc_info=True)
        return compute()
    if found is not None:
        return found
    claimed, found = _computed_elsewhere(key)
    if found is not None:
        return found
    try:
        value = compute()
        try:
            cache.set(key, value, TIMEOUT_SECONDS)
        except Exception:
            log.warning("read cache unreachable", exc_info=True)
    finally:
        if claimed:
            try:
                cache.delete(_computing(key))
            except Exception:
                log.warning("read cache unreachable", exc_info=True)
    return value


# While one process computes a missing answer, its key's `_computing` flag is set (for at most
# COMPUTING_SECONDS, should that process die); others wait up to COMPUTING_WAIT_SECONDS for the value,
# looking every COMPUTING_POLL_SECONDS, then compute it themselves. A cold answer takes 10-60 ms alone.
COMPUTING_SECONDS = 10
COMPUTING_WAIT_SECONDS = 2.0
COMPUTING_POLL_SECONDS = 0.005


def _computing(key: str) -> str:
    return f"{key}:computing"


def _computed_elsewhere(key: str) -> tuple[bool, Any]:
    """(claimed, value) for a key just missed: claimed True when this process is to compute it (it set the
    flag); otherwise the value another process computed meanwhile, or None when it did not come within the
    wait (or that process failed, clearing its flag without a value): the caller computes it then."""
    flag = _computing(key)
    try:
        if cache.add(flag, 1, COMPUTING_SECONDS):
            return True, None
        deadline = time.monotonic() + COMPUTING_WAIT_SECONDS
        while time.monotonic() < deadline:
            time.sleep(COMPUTING_POLL_SECONDS)
            found = cache.get_many([key, flag])
            if found.get(key) is not None:
                return False, found[key]
            if flag not in found:
                break
    except Exception:
        log.warning("read cache unreachable", exc_info=True)
    return False, None


def _body_kept(body_key: str, render: Callable[[], bytes]) -> bytes:
    """The rendered body kept under `body_key`, or `render()` kept there (rendered anyway when the cache is
    down)."""
    try:
        body = cache.get(body_key)
    except Exception:
        log.warning("read cache unreachable", exc_info=True)
        body = None
    if body is None:
        body = render()
        try:
            cache.set(body_key, body, TIMEOUT_SECONDS)
        except Exception:
            log.warning("read cache unreachable", exc_info=True)
    return body


def read_cached_answer(request: Request, key: str, compute: Callable[[], Any]) -> HttpResponse:
    """A DRF answer from the read cache: for JSON, the rendered body itself (kept beside the data, under
    the same key and the media type asked for), so that a hit neither serialises nor encodes anything;
    the browsable API renders the cached data as usual. The headers are those DRF would send."""
    renderer = getattr(request, "accepted_renderer", None)
    if type(renderer) is not JSONRenderer:
        return Response(read_cached(key, compute))
    media_type = request.accepted_media_type
    context = {"request": request, "view": request.parser_context.get("view")}
    body = _body_kept(
        read_key(key, "body", media_type), lambda: renderer.render(read_cached(key, compute), media_type, context)
    )
    charset = renderer.charset
    content_type = f"{renderer.media_type}; charset={charset}" if charset else renderer.media_type
    return HttpResponse(body, content_type=content_type)


def read_cached_page(
    request: Request, key: str, compute: Callable[[], tuple[int, Any]], paginator: LimitOffsetPagination
) -> HttpResponse:
    """A limit/offset page from the read cache: `compute()` gives (count, the page's serialised rows). What
    is kept is the page itself (for JSON its rows rendered too); the links to the next and previous pages
    name the request's own scheme, host and query and are built for each request. So the key need not name
    the host, one kept page serves every client that asks for it, and a request's links are never another's.
    The envelope is the one `paginator.get_paginated_response` gives; a kept JSON body is the same bytes as
    rendering that envelope whole."""
    paginator.request = request
    paginator.limit = paginator.get_limit(request)
    paginator.offset = paginator.get_offset(request)
    renderer = getattr(request, "accepted_renderer", None)
    media_type: str = getattr(request, "accepted_media_type", "")
    count, rows = read_cached(key, compute)
    paginator.count = count
    envelope = paginator.get_paginated_response(rows).data
    if type(renderer) is not JSONRenderer:
        return Response(envelope)
    context = {"request": request, "view": request.parser_context.get("view")}
    if list(envelope)[-1] != "results" or not renderer.compact or renderer.get_indent(media_type, context):
        body = renderer.render(envelope, media_type, context)  # indented, say: rendered whole
    else:
        # The envelope without its rows, as DRF's compact JSON renders it (`{...,"results":[]}`): its count
        # and two links, so a hit renders no row (tests compare the result with DRF's own rendering).
        text = json.dumps(
            {**envelope, "results": []},
            cls=renderer.encoder_class,
            ensure_ascii=renderer.ensure_ascii,
            allow_nan=not renderer.strict,
            separators=SHORT_SEPARATORS,
        )
        frame = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()
        kept = _body_kept(read_key(key, "rows", media_type), lambda: renderer.render(rows, media_type, context))
        body = frame.removesuffix(b"[]}") + kept + b"}"
    charset = renderer.charset
    content_type = f"{renderer.media_type}; charset={charset}" if charset else renderer.media_type
    return HttpResponse(body, content_type=content_type)


def read_cache_page_keep(key: str, compute: Callable[[], tuple[int, Any]]) -> None:
    """Keep under `key` what `read_cached_page` keeps for a JSON request, without a request: to warm a page
    before anyone asks."""
    renderer = JSONRenderer()
    body_key = read_key(key, "rows", renderer.media_type)
    try:
        if cache.get(body_key) is not None:
            return
        _count, rows = read_cached(key, compute)
        cache.set(body_key, renderer.render(rows, renderer.media_type, {}), TIMEOUT_SECONDS)
    except Exception:
        log.warning("read cache unreachable", exc_info=True)


def read_cache_json_keep(key: str, compute: Callable[[], Any]) -> None:
    """Keep under `key` what `read_cached_answer` keeps for a JSON request (the data and its rendered body),
    without a request: to warm an answer before anyone asks. The body is the same bytes: DRF's JSON
    renderer reads nothing from the request but the indent a client may ask for in its Accept header."""
    renderer = JSONRenderer()
    body_key = read_key(key, "body", renderer.media_type)
    try:
        if cache.get(body_key) is not None:
            return
        data = read_cached(key, compute)
        cache.set(body_key, renderer.render(data, renderer.media_type, {}), TIMEOUT_SECONDS)
    except Exception:
        log.warning("read cache unreachable", exc_info=True)
