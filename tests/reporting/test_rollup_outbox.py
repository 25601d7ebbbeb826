"""The rollup outbox: approvals made while Redis is down are kept as requests and rolled up once it is back,
and a rollup takes its slice's requests with the figures it writes, or leaves them all."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import F

from indicators.models import Indicator
from measures.models import Region
from reporting.models import DataValue, Figure, RollupRequest, Submission
from reporting.services import rollups, workflow
from reporting.services.periods import period_ensure
from reporting.services.submissions import submission_create, submission_values_put
from tests.conftest import worker_argv
from tests.reporting.conftest import full_values

ROOT = Path(__file__).resolve().parents[2]
FLOW = "apprentices-trained"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, *, up: bool, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            answered = s.connect_ex(("127.0.0.1", port)) == 0
        if answered == up:
            return
        time.sleep(0.1)
    raise AssertionError(f"port {port} not {'up' if up else 'down'} within {timeout} s")


class PrivateRedis:
    """A redis-server of this test's own on a free port, stopped and started again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
        )
        _wait_port(self.port, up=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        _wait_port(self.port, up=False)


def _worker_env(redis_url: str) -> dict[str, str]:
    from tests.conftest import _worker_env as base

    # The dispatcher sends whatever is pending: the test does not wait out the production delay.
    return {**base(), "REDIS_URL": redis_url, "ROLLUP_DISPATCH_AFTER_SECONDS": "0"}


def _private_app(redis_url: str):
    from celery import Celery

    # Not the current app: the portal's shared tasks would follow it to this Redis in later tests.
    return Celery("outbox-test", broker=redis_url, backend=redis_url, set_as_current=False)


def _start_worker(redis_url: str, hostname: str) -> subprocess.Popen:
    process = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
        worker_argv(hostname),
        env=_worker_env(redis_url),
        cwd=ROOT,
    )
    app = _private_app(redis_url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited with {process.returncode}")
        if app.control.ping(destination=[hostname], timeout=0.5):
            return process
    process.kill()
    raise RuntimeError("celery worker did not answer a ping within a minute")


def _start_web(redis_url: str, port: int, log: Path) -> subprocess.Popen:
    env = {**_worker_env(redis_url), "DJANGO_SETTINGS_MODULE": "portal.test_settings"}
    process = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "60",
            # The default control socket is one path per machine: a second gunicorn (the benchmark's) would
            # take it over.
            "--no-control-socket",
            "portal.wsgi:application",
        ],
        env=env,
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    _wait_port(port, up=True, timeout=60)
    return process


def _stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def _submitted(plan, period, cities, django_user_model, apprentices):
    """One submitted report per city (through the services), with its city reviewer; the API does the rest."""
    from portal.accounts.services import membership_grant

    out = []
    for index, city in enumerate(cities):
        reporter = django_user_model.objects.create_user(username=f"ob-r{index}", password="x" * 14)
        reviewer = django_user_model.objects.create_user(username=f"ob-v{index}", password="x" * 14)
        membership_grant(user=reporter, role="city_reporter", region=city, valid_from=date(2018, 1, 1))
        membership_grant(user=reviewer, role="city_reviewer", region=city, valid_from=date(2018, 1, 1))
        draft, _ = submission_create(user=reporter, plan=plan, period=period, region=city)
        values = full_values(draft)
        for item in values:
            if item["indicator"] == FLOW:
                item["value"] = str(apprentices[index])
        submission, _ = submission_values_put(submission=draft, user=reporter, values=values)
        out.append((workflow.submission_submit(submission=submission, user=reporter), reviewer))
    return out


def _token(user) -> str:
    from knox.models import AuthToken

    return AuthToken.objects.create(user)[1]


def _province_flow(plan, period, basis="official"):
    return Figure.objects.filter(
        plan=plan, indicator__code=FLOW, region__code="320000", period=period, span="quarter", basis=basis
    ).first()


@pytest.mark.worker
def test_approvals_while_redis_is_down_are_rolled_up_when_it_is_back(
    plan, transactional_db, django_user_model, coordinator, tmp_path
):
    if connection.vendor != "postgresql":
        pytest.skip("a web server and a worker in other processes need the PostgreSQL test database")
    import requests

    # Real clock: the web server and the worker are other processes. 2025Q4 has ended whenever this runs.
    period = period_ensure(year=2025, quarter=4)
    cities = list(Region.objects.filter(level="city").order_by("sort_order")[:5])
    apprentices = [Decimal(n) for n in (1200, 860, 430, 2210, 75)]
    reports = _submitted(plan, period, cities, django_user_model, apprentices)
    redis = PrivateRedis(tmp_path)
    redis.start()
    web_port = _free_port()
    web = worker = None
    try:
        web = _start_web(redis.url, web_port, tmp_path / "web.log")
        base = f"http://127.0.0.1:{web_port}/api/v1/submissions"
        coordinator_auth = {"Authorization": f"Token {_token(coordinator)}"}
        # One untimed read first: the worker's first request (its database connection, the token path) is not
        # what the timing below is about, and on a loaded machine it alone can take seconds.
        warm = requests.get(f"{base}/{reports[0][0].public_id}/", headers=coordinator_auth, timeout=60)
        assert warm.status_code == 200, warm.text[:500]
        redis.stop()
        seconds = []
        for submission, reviewer in reports:
            reviewer_auth = {"Authorization": f"Token {_token(reviewer)}"}
            for action, auth in (("city-approve", reviewer_auth), ("confirm", coordinator_auth)):
                started = time.monotonic()
                response = requests.post(f"{base}/{submission.public_id}/{action}/", headers=auth, json={}, timeout=60)
                seconds.append(time.monotonic() - started)
                assert response.status_code == 200, (action, response.text[:500])
        assert list(Submission.objects.filter(plan=plan, period=period).values_list("status", flat=True)) == [
            "confirmed"
        ] * len(cities)
        # Two requests per report (the city approval moves the preview figure, the confirmation the
        # official one), none sent: the broker refused every prompt.
        requests_kept = list(RollupRequest.objects.values_list("province__code", "region_id", "dispatched_at"))
        assert sorted(requests_kept) == sorted(("320000", city.pk, None) for city in cities for _ in range(2))
        assert not Figure.objects.filter(plan=plan, period=period).exists()
        # The approvals did not wait on the broker that was down (a send that retried the connection would
        # hold every one of them for 6 s or more).
        assert max(seconds) < 3, seconds

        redis.start()
        worker = _start_worker(redis.url, f"outbox-{os.getpid()}@{socket.gethostname()}")
        dispatched = _private_app(redis.url).send_task("reporting.tasks.rollup_dispatch_task").get(timeout=60)
        # Ten requests of one province and quarter: one task.
        assert dispatched == 1
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and RollupRequest.objects.exists():
            time.sleep(0.2)
        assert RollupRequest.objects.count() == 0
    finally:
        _stop(worker)
        _stop(web)
        redis.stop()
    figure = _province_flow(plan, period)
    assert (figure.value, figure.reported_count, figure.expected_count) == (sum(apprentices), 5, 13)
    assert sorted(figure.coverage["reported"]) == sorted(c.code for c in cities)
    assert _province_flow(plan, period, basis="preview").value == sum(apprentices)
    city_values = dict(
        Figure.objects.filter(
            plan=plan, indicator__code=FLOW, period=period, span="quarter", basis="official", region__in=cities
        ).values_list("region_id", "value")
    )
    assert city_values == {city.pk: value for city, value in zip(cities, apprentices, strict=True)}
    # Nothing lost: every stored figure equals a recomputation from the confirmed data.
    assert rollups.rollup_consistency_check(repair=False) == {plan.code: 0}


def _confirmed(plan, period, region, value, user):
    submission = Submission.objects.create(plan=plan, period=period, region=region, status="confirmed", created_by=user)
    indicator = Indicator.objects.get(plan=plan, code=FLOW)
    DataValue.objects.create(submission=submission, indicator=indicator, value=value, updated_by=user)
    return submission


def test_the_rollup_takes_its_slice_requests_with_the_figures_it_writes(plan, coordinator):
    q3, q4 = period_ensure(year=2025, quarter=3), period_ensure(year=2025, quarter=4)
    home = Region.objects.get(code="320000")
    nanjing, wuxi = Region.objects.get(code="320100"), Region.objects.get(code="320200")
    _confirmed(plan, q4, nanjing, Decimal(30), coordinator)
    _confirmed(plan, q4, wuxi, Decimal(12), coordinator)
    for region in (nanjing, wuxi, nanjing):
        RollupRequest.objects.create(plan=plan, period=q4, province=home, region=region)
    other = RollupRequest.objects.create(plan=plan, period=q3, province=home, region=nanjing)
    summary = rollups.rollup_run(plan_id=plan.pk, period_id=q4.pk, province_id=home.pk, requested=True)
    assert summary.requests == 3
    assert list(RollupRequest.objects.values_list("pk", flat=True)) == [other.pk]
    assert _province_flow(plan, q4).value == Decimal(42)
    # Run again for the same slice: nothing is pending any more, so a queued duplicate does nothing.
    figures = list(Figure.objects.order_by("pk").values_list("pk", "computed_at"))
    again = rollups.rollup_run(plan_id=plan.pk, period_id=q4.pk, province_id=home.pk, requested=True)
    assert (again.requests, again.figures, again.written) == (0, 0, 0)
    assert list(Figure.objects.order_by("pk").values_list("pk", "computed_at")) == figures


def test_a_failure_inside_the_rollup_leaves_its_requests_for_the_next_run(plan, coordinator, monkeypatch):
    q4 = period_ensure(year=2025, quarter=4)
    home = Region.objects.get(code="320000")
    nanjing = Region.objects.get(code="320100")
    _confirmed(plan, q4, nanjing, Decimal(30), coordinator)
    kept = [RollupRequest.objects.create(plan=plan, period=q4, province=home, region=nanjing).pk for _ in range(2)]
    real_write = rollups._slice_write

    def write_then_fail(**kwargs):
        real_write(**kwargs)
        raise RuntimeError("worker died after writing the figures")

    monkeypatch.setattr(rollups, "_slice_write", write_then_fail)
    with pytest.raises(RuntimeError):
        rollups.rollup_run(plan_id=plan.pk, period_id=q4.pk, province_id=home.pk, requested=True)
    assert sorted(RollupRequest.objects.values_list("pk", flat=True)) == kept
    assert not Figure.objects.filter(plan=plan, period=q4).exists()
    monkeypatch.setattr(rollups, "_slice_write", real_write)
    summary = rollups.rollup_run(plan_id=plan.pk, period_id=q4.pk, province_id=home.pk, requested=True)
    assert (summary.requests, RollupRequest.objects.count()) == (2, 0)
    assert _province_flow(plan, q4).value == Decimal(30)


def test_an_approval_writes_its_request_in_its_own_transaction(plan, nanjing, nanjing_reporter, nanjing_reviewer):
    from django.db import transaction

    q4 = period_ensure(year=2025, quarter=4)
    draft, _ = submission_create(user=nanjing_reporter, plan=plan, period=q4, region=nanjing)
    submission, _ = submission_values_put(submission=draft, user=nanjing_reporter, values=full_values(draft))
    submission = workflow.submission_submit(submission=submission, user=nanjing_reporter)
    # Submitting moves no figure: no request.
    assert RollupRequest.objects.count() == 0
    # An approval whose transaction fails after it was made leaves neither the approval nor a request.
    seen_inside = []

    def approve_then_fail():
        with transaction.atomic():
            workflow.submission_city_approve(submission=submission, user=nanjing_reviewer)
            seen_inside.append(RollupRequest.objects.count())
            raise RuntimeError("the surrounding transaction fails")

    with pytest.raises(RuntimeError):
        approve_then_fail()
    assert seen_inside == [1]
    assert (Submission.objects.get(pk=submission.pk).status, RollupRequest.objects.count()) == ("submitted", 0)
    workflow.submission_city_approve(submission=Submission.objects.get(pk=submission.pk), user=nanjing_reviewer)
    assert list(RollupRequest.objects.values_list("plan_id", "period_id", "province__code", "region_id")) == [
        (plan.pk, q4.pk, "320000", nanjing.pk)
    ]


def test_the_dispatcher_sends_one_task_per_slice_not_taken_in_time(plan, monkeypatch, settings):
    from reporting.tasks import rollup_period_task

    sent = []
    monkeypatch.setattr(rollup_period_task, "apply_async", lambda args, **options: sent.append(args))
    settings.ROLLUP_DISPATCH_AFTER_SECONDS = 60
    q3, q4 = period_ensure(year=2025, quarter=3), period_ensure(year=2025, quarter=4)
    home = Region.objects.get(code="320000")
    nanjing, wuxi = Region.objects.get(code="320100"), Region.objects.get(code="320200")
    for period, region in ((q4, nanjing), (q4, wuxi), (q3, nanjing)):
        RollupRequest.objects.create(plan=plan, period=period, province=home, region=region)
    # Fresh requests are their prompts' business.
    assert rollups.rollup_requests_dispatch() == 0
    RollupRequest.objects.update(created_at=F("created_at") - timedelta(seconds=61))
    assert rollups.rollup_requests_dispatch() == 2
    assert sorted(sent) == sorted([(plan.pk, q4.pk, home.pk, True), (plan.pk, q3.pk, home.pk, True)])
    assert not RollupRequest.objects.filter(dispatched_at__isnull=True).exists()
    # Just sent: not again until another minute has passed without the work being done.
    assert rollups.rollup_requests_dispatch() == 0
    RollupRequest.objects.update(dispatched_at=F("dispatched_at") - timedelta(seconds=61))
    assert rollups.rollup_requests_dispatch() == 2
    assert len(sent) == 4
