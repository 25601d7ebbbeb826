"""Reads for a submission's API and pages: what a user may do with it, its detail prefetched, and what
a reporter has due."""

from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, PermissionsMixin, User
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from measures.models import Plan, Region, ResponsibleBody
from reporting.models import DataValue, Evidence, Narrative, Period, Submission
from reporting.selectors import reporters_for_user, submission_list


def submission_actions_allowed(*, submission: Submission, user: PermissionsMixin | AnonymousUser) -> list[str]:
    """What the user may do with the submission now, for buttons and API clients. The services check
    again on every write; this only spares a client from offering what would be refused."""
    status = submission.status
    period_open = submission.period.status == Period.Status.OPEN
    actions: list[str] = []
    if (
        period_open
        and status in (Submission.Status.DRAFT, Submission.Status.RETURNED)
        and user.has_perm("reporting.edit_submission", submission)
    ):
        actions.append("edit")
        if submission.period.end < timezone.localdate():
            actions.append("submit")
    city_review = submission.region_id is not None and settings.REPORTING_CITY_REVIEW
    if status == Submission.Status.SUBMITTED:
        if city_review and user.has_perm("reporting.city_review_submission", submission):
            actions += ["city_approve", "return"]
        elif not city_review and user.has_perm("reporting.confirm_submission", submission):
            actions += ["confirm", "return"]
    elif status == Submission.Status.CITY_APPROVED and user.has_perm("reporting.confirm_submission", submission):
        actions += ["confirm", "return"]
    elif status == Submission.Status.CONFIRMED and user.has_perm("reporting.reopen_submission", submission):
        actions.append("reopen")
    return actions


def submission_detail_list(*, user: User | AnonymousUser) -> QuerySet[Submission]:
    """Visible submissions with everything their detail shows prefetched: values, narratives, evidence
    still attached. Five queries whatever the number of values."""
    return submission_list(user=user).prefetch_related(
        Prefetch(
            "values",
            queryset=DataValue.objects.select_related("indicator", "updated_by").order_by(
                "indicator__sort_order", "indicator__code"
            ),
        ),
        Prefetch(
            "narratives", queryset=Narrative.objects.select_related("measure", "updated_by").order_by("measure__number")
        ),
        Prefetch(
            "evidence",
            queryset=Evidence.objects.filter(removed_at__isnull=True)
            .select_related("measure", "indicator", "uploaded_by")
            .order_by("uploaded_at", "id"),
        ),
    )


@dataclass(frozen=True)
class DueItem:
    """One (reporter, period) a user must report on, with the submission if one exists."""

    plan: Plan
    period: Period
    region: Region | None
    body: ResponsibleBody | None
    submission: Submission | None
    days_left: int


OUTSTANDING = (Submission.Status.DRAFT, Submission.Status.RETURNED)


def due_list(*, user: User | AnonymousUser, today: date | None = None, include_done: bool = False) -> list[DueItem]:
    """What the user reports and has not yet sent: every (reporter, ended open period) pair with no
    submission, a draft, or a returned one; with `include_done`, the submitted and confirmed ones too.

    Only reporters have anything due: coordinators, reviewers and auditors get an empty list (they work
    from the submissions list). Periods count from the plan's first year. Five queries whatever the size."""
    day = today or timezone.localdate()
    cities, bodies = reporters_for_user(user=user)
    if not cities and not bodies:
        return []
    plans = list(Plan.objects.order_by("issued_on", "code"))
    periods = list(Period.objects.filter(end__lt=day, status=Period.Status.OPEN).order_by("-year", "-quarter"))
    existing = {
        (s.plan_id, s.period_id, s.region_id, s.body_id): s
        for s in Submission.objects.filter(period__in=periods, plan__in=plans).filter(
            Q(region__in=cities) | Q(body__in=bodies)
        )
    }
    items: list[DueItem] = []
    for period in periods:
        for plan in plans:
            if period.year < plan.start_year:
                continue
            reporters: list[tuple[Region | None, ResponsibleBody | None]] = [(c, None) for c in cities]
            reporters += [(None, b) for b in bodies]
            for region, body in reporters:
                submission = existing.get(
                    (plan.pk, period.pk, region.pk if region else None, body.pk if body else None)
                )
                if not include_done and submission is not None and submission.status not in OUTSTANDING:
                    continue
                items.append(
                    DueItem(
                        plan=plan,
                        period=period,
                        region=region,
                        body=body,
                        submission=submission,
                        days_left=(period.deadline - day).days,
                    )
                )
    return items
