"""Reminders, overdue notices, escalations and workflow notices.

Each notice has a dedupe key (kind, period, reporter, user[, transition]) with a unique constraint, so a
beat job may run any number of times — or twice at once — and each notice still exists once. E-mail
goes out separately: a sender claims unsent rows with SELECT … FOR UPDATE SKIP LOCKED, so two senders
never mail the same row; a crash between sending and committing can repeat one mail, never lose one."""

from datetime import date, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from indicators.models import Indicator
from measures.models import Region, ResponsibleBody
from portal.accounts.models import Membership, Role
from reporting.models import Notification, Period, Submission, Transition

DONE_STATUSES = ["submitted", "city_approved", "confirmed"]


def _active_members(*, day: date):
    return Membership.objects.filter(valid_from__lte=day, user__is_active=True).filter(
        Q(valid_to__isnull=True) | Q(valid_to__gte=day)
    )


def _reporters_without_submission(*, period: Period) -> tuple[list[Region], list[ResponsibleBody]]:
    """Cities and bodies that owe a report for the period and have not submitted one."""
    done = Submission.objects.filter(period=period, status__in=DONE_STATUSES)
    cities = list(
        Region.objects.filter(level=Region.Level.CITY).exclude(
            id__in=done.filter(region__isnull=False).values("region_id")
        )
    )
    bodies = list(
        ResponsibleBody.objects.filter(indicators__reporter=Indicator.Reporter.BODY, indicators__is_active=True)
        .exclude(id__in=done.filter(body__isnull=False).values("body_id"))
        .distinct()
    )
    return cities, bodies


def _create(notices: list[Notification]) -> int:
    """Insert the notices whose key is new; return how many were new."""
    if not notices:
        return 0
    keys = [n.dedupe_key for n in notices]
    existing = set(Notification.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True))
    fresh = [n for n in notices if n.dedupe_key not in existing]
    # ignore_conflicts covers a concurrent run that inserted the same key in between.
    Notification.objects.bulk_create(fresh, ignore_conflicts=True)
    return len(fresh)


def _notices_for_reporters(*, kind: str, period: Period, cities, bodies, day: date, title: str, message: str):
    members = _active_members(day=day)
    notices = []
    city_members = members.filter(role=Role.CITY_REPORTER, region__in=cities).select_related("region")
    for m in city_members:
        notices.append(
            Notification(
                user_id=m.user_id,
                kind=kind,
                period=period,
                region=m.region,
                dedupe_key=f"{kind}:{period.code}:r{m.region_id}:u{m.user_id}",
                title=title % {"period": period.code, "reporter": m.region.name},
                message=message % {"period": period.code, "reporter": m.region.name, "deadline": period.deadline},
            )
        )
    body_members = members.filter(role=Role.BODY_REPORTER, body__in=bodies).select_related("body")
    for m in body_members:
        notices.append(
            Notification(
                user_id=m.user_id,
                kind=kind,
                period=period,
                body=m.body,
                dedupe_key=f"{kind}:{period.code}:b{m.body_id}:u{m.user_id}",
                title=title % {"period": period.code, "reporter": m.body.name},
                message=message % {"period": period.code, "reporter": m.body.name, "deadline": period.deadline},
            )
        )
    return notices


@transaction.atomic
def reminders_create(*, today: date | None = None) -> int:
    """Remind reporters with nothing submitted, REMINDER_DAYS_BEFORE days before (and up to) a deadline."""
    day = today or timezone.localdate()
    horizon = day + timedelta(days=settings.REMINDER_DAYS_BEFORE)
    created = 0
    for period in Period.objects.filter(
        status=Period.Status.OPEN, end__lt=day, deadline__gte=day, deadline__lte=horizon
    ):
        cities, bodies = _reporters_without_submission(period=period)
        created += _create(
            _notices_for_reporters(
                kind=Notification.Kind.REMINDER,
                period=period,
                cities=cities,
                bodies=bodies,
                day=day,
                title=_("%(period)s 季度报表将于截止日前到期：%(reporter)s"),
                message=_("%(reporter)s 的 %(period)s 季度报表尚未提交，截止日期为 %(deadline)s，请及时填报。"),
            )
        )
    return created


@transaction.atomic
def overdue_create(*, today: date | None = None) -> int:
    """After a deadline: an overdue notice to each reporter with nothing submitted and an escalation
    about each of them to every coordinator."""
    day = today or timezone.localdate()
    created = 0
    coordinators = list(_active_members(day=day).filter(role=Role.COORDINATOR).values_list("user_id", flat=True))
    for period in Period.objects.filter(status=Period.Status.OPEN, deadline__lt=day):
        cities, bodies = _reporters_without_submission(period=period)
        notices = _notices_for_reporters(
            kind=Notification.Kind.OVERDUE,
            period=period,
            cities=cities,
            bodies=bodies,
            day=day,
            title=_("%(period)s 季度报表已逾期：%(reporter)s"),
            message=_("%(reporter)s 的 %(period)s 季度报表已超过截止日期 %(deadline)s 仍未提交，请尽快填报。"),
        )
        for user_id in coordinators:
            for reporter, key in [(c, f"r{c.pk}") for c in cities] + [(b, f"b{b.pk}") for b in bodies]:
                notices.append(
                    Notification(
                        user_id=user_id,
                        kind=Notification.Kind.ESCALATION,
                        period=period,
                        region=reporter if isinstance(reporter, Region) else None,
                        body=reporter if isinstance(reporter, ResponsibleBody) else None,
                        dedupe_key=f"escalation:{period.code}:{key}:u{user_id}",
                        title=_("逾期督办：%(reporter)s 未提交 %(period)s 季度报表")
                        % {"reporter": reporter.name, "period": period.code},
                        message=_("截止日期 %(deadline)s 已过，%(reporter)s 仍未提交 %(period)s 季度报表。")
                        % {"deadline": period.deadline, "reporter": reporter.name, "period": period.code},
                    )
                )
        created += _create(notices)
    return created


def transition_notices_create(*, transition: Transition) -> int:
    """A notice to the reporter's users when their submission is returned or confirmed (once per transition)."""
    kinds: dict[str, str] = {
        Transition.Action.RETURN: Notification.Kind.RETURNED,
        Transition.Action.REOPEN: Notification.Kind.RETURNED,
        Transition.Action.CONFIRM: Notification.Kind.CONFIRMED,
    }
    kind = kinds.get(transition.action)
    if kind is None:
        return 0
    submission = transition.submission
    members = _active_members(day=timezone.localdate())
    if submission.region_id is not None:
        members = members.filter(role=Role.CITY_REPORTER, region_id=submission.region_id)
    else:
        members = members.filter(role=Role.BODY_REPORTER, body_id=submission.body_id)
    if kind == Notification.Kind.RETURNED:
        title = _("%(period)s 季度报表被退回") % {"period": submission.period.code}
        message = _("退回原因：%(reason)s") % {"reason": transition.reason}
    else:
        title = _("%(period)s 季度报表已经省级确认") % {"period": submission.period.code}
        message = _("%(reporter)s 的 %(period)s 季度报表已确认并锁定。") % {
            "reporter": submission.reporter_name,
            "period": submission.period.code,
        }
    return _create(
        [
            Notification(
                user_id=user_id,
                kind=kind,
                period_id=submission.period_id,
                region_id=submission.region_id,
                body_id=submission.body_id,
                submission=submission,
                dedupe_key=f"{kind}:t{transition.pk}:u{user_id}",
                title=title,
                message=message,
            )
            for user_id in members.values_list("user_id", flat=True).distinct()
        ]
    )


def notifications_email_pending(*, batch: int = 200) -> int:
    """Mail notices not yet mailed. Rows are claimed with SKIP LOCKED so concurrent senders split the work."""
    sent = 0
    with transaction.atomic():
        rows = list(
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(emailed_at__isnull=True)
            .select_related("user")
            .order_by("id")[:batch]
        )
        for row in rows:
            if row.user.email:
                send_mail(row.title, row.message, settings.DEFAULT_FROM_EMAIL, [row.user.email])
                sent += 1
            row.emailed_at = timezone.now()
        Notification.objects.bulk_update(rows, ["emailed_at"])
    return sent


def notification_mark_read(*, notification: Notification) -> Notification:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification
