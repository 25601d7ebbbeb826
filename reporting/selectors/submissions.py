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
    """One (reporter, period) on a reporter's list, with the submission if one exists."""

    plan: Plan
    period: Period
    region: Region | None
    body: ResponsibleBody | None
    submission: Submission | None
    days_left: int

    @property
    def reporter(self) -> Region | ResponsibleBody:
        reporter = self.region or self.body
        if reporter is None:  # the constructor below always sets one of the two
            raise ValueError("a due item belongs to a city or a body")
        return reporter

    @property
    def is_city(self) -> bool:
        return self.region is not None

    @property
    def is_pending(self) -> bool:
        """Still the reporter's to send: not started, a draft, or returned."""
        return self.submission is None or self.submission.status in OUTSTANDING

    @property
    def is_returned(self) -> bool:
        return self.submission is not None and self.submission.status == Submission.Status.RETURNED

    @property
    def is_due(self) -> bool:
        """Pending in a period still open: something the reporter can and must do."""
        return self.is_pending and self.period.status == Period.Status.OPEN

    @property
    def overdue(self) -> bool:
        return self.is_pending and self.days_left < 0

    @property
    def days_overdue(self) -> int:
        return -self.days_left

    @property
    def can_start(self) -> bool:
        return self.submission is None and self.period.status == Period.Status.OPEN


OUTSTANDING = (Submission.Status.DRAFT, Submission.Status.RETURNED)


def due_list(
    *,
    user: User | AnonymousUser,
    today: date | None = None,
    include_done: bool = False,
    done_recent: int | None = None,
) -> list[DueItem]:
    """What the user reports, one item per (plan, ended period from the plan's first year, city or body).

    Due (always listed): not started, a draft or returned, in a period still open — whatever its age. With
    `include_done` the rest too: sent, approved, and anything in a closed period (a draft there can no longer
    be sent; the coordinator reopens the period if it must be); `done_recent` keeps those to the latest N
    ended periods. The web's due page and `GET /api/v1/due/` both read this, so they agree on what is due.

    Returned first, then the newest period, plan, cities before bodies. Only reporters have anything due:
    coordinators, reviewers and auditors get an empty list (they work from the submissions list). Five
    queries whatever the size."""
    day = today or timezone.localdate()
    cities, bodies = reporters_for_user(user=user)
    if not cities and not bodies:
        return []
    plans = list(Plan.objects.order_by("issued_on", "code"))
    periods = list(Period.objects.filter(end__lt=day).order_by("-year", "-quarter"))
    recent = {p.pk for p in periods[:done_recent]} if done_recent is not None else {p.pk for p in periods}
    existing = {
        (s.plan_id, s.period_id, s.region_id, s.body_id): s
        for s in Submission.objects.filter(period__in=periods, plan__in=plans).filter(
            Q(region__in=cities) | Q(body__in=bodies)
        )
    }
    reporters: list[tuple[Region | None, ResponsibleBody | None]] = [(c, None) for c in cities]
    reporters += [(None, b) for b in bodies]
    items: list[DueItem] = []
    for period in periods:
        for plan in plans:
            if period.year < plan.start_year:
                continue
            for region, body in reporters:
                key = (plan.pk, period.pk, region.pk if region else None, body.pk if body else None)
                item = DueItem(
                    plan=plan,
                    period=period,
                    region=region,
                    body=body,
                    submission=existing.get(key),
                    days_left=(period.deadline - day).days,
                )
                if item.is_due or (include_done and period.pk in recent):
                    items.append(item)
    # Stable sort: the loops above already give newest period, plan order, cities (in order) before bodies.
    items.sort(key=lambda item: not item.is_returned)
    return items
