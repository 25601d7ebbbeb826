"""A PostgreSQL connection dropped in the middle of a request, for real: the request waits on a table lock
held by another connection, the test terminates its backend (pg_terminate_backend), and the live server
must answer 503 (JSON with Retry-After under /api/, a Chinese page elsewhere); the next request works."""

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg2
import pytest
from django.db import connection
from django.test import Client
from knox.models import AuthToken

from reporting.services.submissions import submission_create

TABLE = "reporting_submission"


@pytest.fixture
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("terminating a backend needs PostgreSQL; SQLite has no server connection to drop")


def _connect():
    db = connection.settings_dict
    return psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"] or None, host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
    )  # fmt: skip


def _get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - the test's own live server
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _while_locked_terminate(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """Send the request while another connection holds an exclusive lock on the submissions table; once
    the request's backend waits on that lock, terminate it from a third connection."""
    holder = _connect()
    monitor = _connect()
    monitor.autocommit = True
    try:
        with holder.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")  # holder stays in its transaction
            cursor.execute("SELECT pg_backend_pid()")
            holder_pid = cursor.fetchone()[0]
        result: list = []
        thread = threading.Thread(target=lambda: result.append(_get(url, headers)))
        thread.start()
        victim = None
        deadline = time.monotonic() + 30
        with monitor.cursor() as cursor:
            while victim is None and time.monotonic() < deadline:
                # A fresh view of pg_stat_activity each round (the statistics are a per-transaction snapshot).
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> %s "
                    "AND wait_event_type = 'Lock' AND query ILIKE %s",
                    [holder_pid, f"%{TABLE}%"],
                )
                row = cursor.fetchone()
                victim = row[0] if row else None
                if victim is None:
                    time.sleep(0.05)
            assert victim is not None, "the request never waited on the lock"
            cursor.execute("SELECT pg_terminate_backend(%s)", [victim])
            assert cursor.fetchone()[0] is True
        thread.join(60)
        assert result, "the request did not finish"
        return result[0]
    finally:
        holder.rollback()
        holder.close()
        monitor.close()


@pytest.fixture
def report(postgres, live_server, plan, period, nanjing, nanjing_reporter, time_machine):
    time_machine.move_to(datetime(2026, 1, 5, 10, tzinfo=ZoneInfo("Asia/Shanghai")), tick=True)
    submission, _created = submission_create(user=nanjing_reporter, plan=plan, period=period, region=nanjing)
    return submission


def test_the_api_answers_503_with_retry_after_when_the_connection_drops_and_then_recovers(
    report, live_server, nanjing_reporter
):
    _instance, token = AuthToken.objects.create(user=nanjing_reporter)
    url = f"{live_server.url}/api/v1/submissions/{report.public_id}/"
    headers = {"Authorization": f"Token {token}", "Accept-Language": "zh-hans"}

    status, answer_headers, body = _while_locked_terminate(url, headers)

    assert status == 503
    assert answer_headers["Content-Type"] == "application/json"
    assert answer_headers["Retry-After"] == "30"
    assert json.loads(body) == {"message": "数据库连接暂时中断，请稍后重试。", "errors": {}}
    status, _headers, body = _get(url, headers)
    assert status == 200
    assert json.loads(body)["id"] == str(report.public_id)


def test_a_page_answers_a_chinese_503_page_when_the_connection_drops_and_then_recovers(
    report, live_server, nanjing_reporter
):
    browser = Client()
    browser.force_login(nanjing_reporter)
    url = f"{live_server.url}/report/{report.public_id}/"
    headers = {"Cookie": f"sessionid={browser.cookies['sessionid'].value}", "Accept-Language": "en"}

    status, answer_headers, body = _while_locked_terminate(url, headers)

    assert status == 503
    assert answer_headers["Content-Type"] == "text/html; charset=utf-8"
    assert answer_headers["Retry-After"] == "30"
    html = body.decode()
    # A browser asking for English still gets the portal's Chinese unless the user chose English.
    assert '<h1 id="error-title">服务暂时不可用</h1>' in html
    assert "数据库连接暂时中断，请稍后重试。" in html
    assert "请约 30 秒后刷新页面。" in html
    status, _headers, body = _get(url, headers)
    assert status == 200
    assert "南京市" in body.decode()
