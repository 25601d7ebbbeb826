"""Rollups and notices through a real Celery worker on Redis (CI), or in-process without a broker."""

import threading
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, connections

from indicators.models import Indicator
from measures.models import Region
from reporting.models import DataValue, Figure, Notification, Submission
from reporting.services import workflow
from reporting.services.periods import period_ensure
from reporting.services.rollups import rollup_period
from reporting.services.submissions import submission_create, submission_values_put
from tests.reporting.conftest import full_values

pytestmark = pytest.mark.worker
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _province_value(plan, code, period, basis="official"):
    row = Figure.objects.filter(
        plan=plan, indicator__code=code, region__level="province", period=period, span="quarter", basis=basis
    ).first()
    return None if row is None else row


def _confirm_city(plan, period, city, reporter, reviewer, coordinator, values):
    s, _ = submission_create(user=reporter, plan=plan, period=period, region=city)
    submission_values_put(submission=s, user=reporter, values=values)
    s = workflow.submission_submit(submission=s, user=reporter)
    s = workflow.submission_city_approve(submission=s, user=reviewer)
    return workflow.submission_confirm(submission=s, user=coordinator)


def test_confirming_a_submission_updates_the_province_figure(
    plan, celery_worker_process, wait_for, nanjing, nanjing_reporter, nanjing_reviewer, coordinator
):
    # Real clock on purpose: the worker process cannot share a frozen one, and the rollup compares the
    # reports' change times with its own. 2025Q4 has ended whenever this runs.
    period = period_ensure(year=2025, quarter=4)
    draft, _ = submission_create(user=nanjing_reporter, plan=plan, period=period, region=nanjing)
    values = full_values(draft)
    for item in values:
        if item["indicator"] == "high-skill-workers-per-10000":
            item.update(numerator="450000", denominator="5500000")
    _confirm_city(plan, period, nanjing, nanjing_reporter, nanjing_reviewer, coordinator, values)
    # The city approval already triggered a recompute (preview figures); wait for the confirmed one.
    figure = wait_for(
        lambda: (f := _province_value(plan, "high-skill-workers-per-10000", period)) and f.reported_count == 1 and f
    )
    assert figure.value == (Decimal(450000) / Decimal(5500000) * 10000).quantize(Decimal("0.000001"))
    assert (figure.reported_count, figure.expected_count) == (1, 13)
    assert nanjing.code in figure.coverage["reported"]


def test_province_per_10000_ratio_is_the_ratio_of_the_sums(
    plan, celery_worker_process, wait_for, django_user_model, coordinator
):
    from portal.accounts.services import membership_grant

    period = period_ensure(year=2025, quarter=4)
    cities = list(Region.objects.filter(level="city").order_by("sort_order")[:4])
    workers = [Decimal(n) for n in (5200000, 4100000, 870000, 2300000)]
    skilled = [Decimal(n) for n in (470000, 300000, 40000, 150000)]
    for index, city in enumerate(cities):
        reporter = django_user_model.objects.create_user(username=f"r{index}", password="x" * 14)
        reviewer = django_user_model.objects.create_user(username=f"v{index}", password="x" * 14)
        membership_grant(user=reporter, role="city_reporter", region=city, valid_from=date(2018, 1, 1))
        membership_grant(user=reviewer, role="city_reviewer", region=city, valid_from=date(2018, 1, 1))
        draft, _ = submission_create(user=reporter, plan=plan, period=period, region=city)
        values = full_values(draft)
        for item in values:
            if item["indicator"] == "high-skill-workers-per-10000":
                item.update(numerator=str(skilled[index]), denominator=str(workers[index]))
        _confirm_city(plan, period, city, reporter, reviewer, coordinator, values)
    expected = (sum(skilled) / sum(workers) * 10000).quantize(Decimal("0.000001"))
    figure = wait_for(
        lambda: (f := _province_value(plan, "high-skill-workers-per-10000", period)) and f.reported_count == 4 and f
    )
    assert figure.value == expected
    mean_of_ratios = sum(s / w * 10000 for s, w in zip(skilled, workers, strict=True)) / 4
    assert figure.value != mean_of_ratios.quantize(Decimal("0.000001"))
    assert len(figure.coverage["missing"]) == 9


def _seed_confirmed(plan, period, user):
    cities = list(Region.objects.filter(level="city"))
    indicator = Indicator.objects.get(plan=plan, code="apprentices-trained")
    for index, city in enumerate(cities):
        s = Submission.objects.create(plan=plan, period=period, region=city, status="confirmed", created_by=user)
        DataValue.objects.create(submission=s, indicator=indicator, value=Decimal(100 + index), updated_by=user)
    return sum(Decimal(100 + i) for i in range(len(cities)))


def _snapshot(plan):
    return sorted(
        Figure.objects.filter(plan=plan).values_list(
            "indicator_id", "region_id", "period_id", "span", "basis", "value", "numerator", "denominator"
        )
    )


def test_two_rollups_at_once_give_the_same_figures_as_one(plan, transactional_db, coordinator):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises the whole database)")
    period = period_ensure(year=2025, quarter=2)
    total = _seed_confirmed(plan, period, coordinator)
    errors = []

    def run():
        try:
            rollup_period(plan_id=plan.pk, period_id=period.pk)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    concurrent = _snapshot(plan)
    rollup_period(plan_id=plan.pk, period_id=period.pk)
    assert _snapshot(plan) == concurrent
    assert _province_value(plan, "apprentices-trained", period).value == total


def test_a_worker_killed_mid_rollup_is_replaced_and_the_result_is_correct(
    plan, celery_worker_process, wait_for, coordinator
):
    if celery_worker_process is None:
        pytest.skip("needs a real worker process (REDIS_URL and PostgreSQL, as in CI)")
    from reporting.tasks import rollup_period_task
    from tests.conftest import Worker

    period = period_ensure(year=2025, quarter=3)
    total = _seed_confirmed(plan, period, coordinator)
    # Hold the period's row lock from another connection, so the worker's rollup starts and then waits.
    hold = threading.Event()
    release = threading.Event()

    def holder():
        from django.db import transaction

        with transaction.atomic():
            list(type(period).objects.select_for_update().filter(pk=period.pk))
            hold.set()
            release.wait(120)
        connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    assert hold.wait(30)
    rollup_period_task.delay(plan.pk, period.pk)

    def worker_waits_on_the_lock():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE %s",
                ["%reporting_period%FOR %"],
            )
            return cursor.fetchone()[0] > 0

    wait_for(worker_waits_on_the_lock, timeout=60)
    celery_worker_process.kill()
    release.set()
    thread.join(30)
    assert not Figure.objects.filter(plan=plan, period=period).exists()
    replacement = Worker().start()
    try:
        figure = wait_for(lambda: _province_value(plan, "apprentices-trained", period), timeout=90)
    finally:
        replacement.stop()
    assert figure.value == total
    assert figure.reported_count == 13


def test_reminders_and_overdue_notices_go_out_exactly_once(
    plan, celery_worker_process, nanjing_reporter, suzhou_reporter, coordinator, mailoutbox
):
    """Uses the real clock (a worker process cannot share a frozen one): the last ended quarter, its
    deadline moved by the coordinator into the reminder window, then into the past."""
    from django.utils import timezone

    from reporting.selectors import period_current
    from reporting.services.periods import period_set_deadline
    from reporting.tasks import email_pending_task, overdue_task, reminders_task

    today = timezone.localdate()
    quarter = (today.month - 1) // 3  # the last quarter that has ended
    period = (
        period_ensure(year=today.year, quarter=quarter) if quarter else period_ensure(year=today.year - 1, quarter=4)
    )
    assert period_current() == period
    nanjing_reporter.email = "nj@example.gov.cn"
    nanjing_reporter.save()
    period_set_deadline(period=period, user=coordinator, deadline=today + timedelta(days=2))
    for _ in range(3):
        reminders_task.delay().get(timeout=60)
    reminders = Notification.objects.filter(kind="reminder", period=period)
    assert sorted(reminders.values_list("user__username", flat=True)) == ["nj-reporter", "sz-reporter"]

    period_set_deadline(period=period, user=coordinator, deadline=max(period.end, today - timedelta(days=1)))
    for _ in range(2):
        overdue_task.delay().get(timeout=60)
    assert Notification.objects.filter(kind="overdue", period=period).count() == 2
    owing_bodies = (
        Indicator.objects.filter(plan=plan, reporter="body", is_active=True).values("lead_body").distinct().count()
    )
    escalations = Notification.objects.filter(kind="escalation", period=period, user=coordinator)
    assert escalations.filter(region__isnull=False).count() == 13
    assert escalations.filter(body__isnull=False).count() == owing_bodies

    for _ in range(2):
        email_pending_task.delay().get(timeout=60)
    assert Notification.objects.filter(emailed_at__isnull=True).count() == 0
    if celery_worker_process is None:
        # In-process, mail lands in the test outbox: one reminder and one overdue notice, once each.
        assert [m.to for m in mailoutbox] == [["nj@example.gov.cn"]] * 2
