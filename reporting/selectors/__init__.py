"""Reads for quarterly reporting: what a reporter must report, what is due, previous values, history."""

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.db.models import Q, QuerySet, Subquery
from django.utils import timezone

from indicators.models import Indicator
from measures.models import Measure, Plan, Region, ResponsibleBody
from portal.accounts.models import Role
from portal.accounts.selectors import user_scope
from reporting.models import DataValue, Period, Submission


def indicators_expected(
    *, plan: Plan, region: Region | None = None, body: ResponsibleBody | None = None
) -> QuerySet[Indicator]:
    """The indicators a reporter reports: a city those marked for cities; a body the province-level
    ones it leads."""
    base = Indicator.objects.filter(plan=plan, is_active=True).select_related("measure", "task", "lead_body")
    if region is not None:
        return base.filter(reporter__in=[Indicator.Reporter.CITY, Indicator.Reporter.BOTH])
    if body is not None:
        return base.filter(reporter__in=[Indicator.Reporter.BODY, Indicator.Reporter.BOTH], lead_body=body)
    return base.none()


def measures_for_narrative(*, plan: Plan, body: ResponsibleBody | None = None) -> QuerySet[Measure]:
    """Measures a reporter writes a narrative for: all of them for a city, the ones it leads for a body."""
    measures = Measure.objects.filter(plan=plan).select_related("programme")
    if body is not None:
        measures = measures.filter(responsibilities__body=body, responsibilities__role="lead").distinct()
    return measures.order_by("number")


def periods_ended(*, today: date | None = None) -> QuerySet[Period]:
    """The periods that have ended, latest first: the first is the one being reported on."""
    day = today or timezone.localdate()
    return Period.objects.filter(end__lt=day).order_by("-year", "-quarter")


def period_current(*, today: date | None = None) -> Period | None:
    """The latest period that has ended (the one being reported on), or None."""
    return periods_ended(today=today).first()


def plans_chosen(*, code: str | None) -> QuerySet[Plan]:
    """The plan a request names by its code, or without one every plan, the first issued first: the first
    row is the plan the request means (none: an unknown code, or no plan loaded)."""
    return Plan.objects.filter(code=code) if code else Plan.objects.order_by("issued_on", "code")


def periods_chosen(*, code: str | None) -> QuerySet[Period] | None:
    """The period a request names by its code (2025Q4), or without one the ended periods, latest first: the
    first row is the period the request means. None for a code that is not a quarter's."""
    if not code:
        return periods_ended()
    parsed = period_code_parse(code=code)
    if parsed is None:
        return None
    return Period.objects.filter(year=parsed[0], quarter=parsed[1]).order_by("pk")


def period_code_parse(*, code: str) -> tuple[int, int] | None:
    """(year, quarter) of a code such as 2025Q4 (any case, spaces around), or None."""
    text = code.strip().upper()
    if len(text) != 6 or text[4] != "Q" or not text[:4].isdigit() or text[5] not in "1234":
        return None
    return int(text[:4]), int(text[5])


def period_get_by_code(*, code: str) -> Period | None:
    periods = periods_chosen(code=code) if code.strip() else None
    return periods.first() if periods is not None else None


def submission_list(*, user: User | AnonymousUser) -> QuerySet[Submission]:
    return Submission.objects.visible_to(user).with_related()


def submission_previous(*, submission: Submission) -> Submission | None:
    """The same reporter's submission for the latest earlier period, whatever its state."""
    return submission_previous_queryset(submission=submission).first()


def submission_previous_queryset(*, submission: Submission) -> QuerySet[Submission]:
    """The same reporter's submissions for earlier periods, latest first, whatever their state."""
    return (
        Submission.objects.filter(plan_id=submission.plan_id)
        .filter(Q(region_id=submission.region_id) if submission.region_id else Q(region__isnull=True))
        .filter(Q(body_id=submission.body_id) if submission.body_id else Q(body__isnull=True))
        .filter(
            Q(period__year__lt=submission.period.year)
            | Q(period__year=submission.period.year, period__quarter__lt=submission.period.quarter)
        )
        .order_by("-period__year", "-period__quarter")
    )


def values_previous(*, submission: Submission) -> dict[int, DataValue]:
    """Last period's values for the same reporter, keyed by indicator id (one query: the previous
    submission is a subquery)."""
    latest = submission_previous_queryset(submission=submission).values("pk")[:1]
    return {v.indicator_id: v for v in DataValue.objects.filter(submission=Subquery(latest))}


def values_previous_numbers(*, submission: Submission) -> dict[int, SimpleNamespace]:
    """`values_previous` reduced to what `value_as_number` reads (value, numerator, denominator), without
    building a model instance per value: for the submit's jump check. On PostgreSQL the same choice of
    the previous submission as `submission_previous_queryset`, written as SQL: the ORM spent longer
    compiling that query than PostgreSQL spends running it, once for every submitted report."""
    if connection.vendor == "postgresql":
        return _values_previous_numbers_sql(submission=submission)
    latest = submission_previous_queryset(submission=submission).values("pk")[:1]
    rows = DataValue.objects.filter(submission=Subquery(latest)).values_list(
        "indicator_id", "value", "numerator", "denominator"
    )
    return {
        indicator_id: SimpleNamespace(value=value, numerator=numerator, denominator=denominator)
        for indicator_id, value, numerator, denominator in rows.order_by()
    }


def _values_previous_numbers_sql(*, submission: Submission) -> dict[int, SimpleNamespace]:
    quote = connection.ops.quote_name
    region = "s.region_id = %s" if submission.region_id else "s.region_id IS NULL"
    body = "s.body_id = %s" if submission.body_id else "s.body_id IS NULL"
    params = [submission.plan_id, *[r for r in (submission.region_id, submission.body_id) if r]]
    year, quarter = submission.period.year, submission.period.quarter
    values, submissions, periods = (quote(m._meta.db_table) for m in (DataValue, Submission, Period))
    sql = (
        f"SELECT v.indicator_id, v.value, v.numerator, v.denominator FROM {values} v "  # noqa: S608 - the models' tables
        f"WHERE v.submission_id = (SELECT s.id FROM {submissions} s JOIN {periods} p ON p.id = s.period_id "
        f"WHERE s.plan_id = %s AND {region} AND {body} AND (p.year < %s OR (p.year = %s AND p.quarter < %s)) "
        "ORDER BY p.year DESC, p.quarter DESC LIMIT 1)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, year, year, quarter])
        rows = cursor.fetchall()
    return {
        indicator_id: SimpleNamespace(value=value, numerator=numerator, denominator=denominator)
        for indicator_id, value, numerator, denominator in rows
    }


def value_as_number(value: DataValue | SimpleNamespace, indicator: Indicator) -> Decimal | None:
    """The figure a value stands for: the value itself, or numerator / denominator × scale."""
    if indicator.kind in (Indicator.Kind.RATIO, Indicator.Kind.SHARE):
        if value.numerator is None or not value.denominator:
            return None
        return value.numerator / value.denominator * indicator.scale
    if indicator.kind == Indicator.Kind.MILESTONE:
        return None
    return value.value


def reporters_for_user(*, user: User | AnonymousUser) -> tuple[list[Region], list[ResponsibleBody]]:
    """The cities and bodies this user reports for."""
    scope = user_scope(user=user)
    cities = list(Region.objects.filter(id__in=scope.cities(Role.CITY_REPORTER)).order_by("sort_order"))
    bodies = (
        list(ResponsibleBody.objects.filter(id__in=scope.body_ids).order_by("code"))
        if scope.has(Role.BODY_REPORTER)
        else []
    )
    return cities, bodies
