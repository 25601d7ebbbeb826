"""`manage.py load_demo`: demo accounts for every role and clearly-labelled synthetic quarterly data.

Refuses to run with DEBUG off. Safe to run again: accounts are matched by username, submissions by
their natural key, so a second run adds nothing. Every figure it writes is synthetic (演示数据)."""

import random
from base64 import b32decode
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from indicators.models import Indicator, Target
from measures.models import Plan, Region, ResponsibleBody
from portal.accounts.backends import DEMO_GROUP
from portal.accounts.models import SECOND_FACTOR_ROLES, Role
from portal.accounts.services import membership_grant, second_factor_device_set
from reporting.models import DataValue, Figure, Narrative, Submission, Transition
from reporting.selectors import indicators_expected, measures_for_narrative
from reporting.services.periods import periods_ensure_range
from reporting.services.rollups import rollup_everything

# Published on purpose: the demo accounts only log in while DEBUG is on (PortalModelBackend).
DEMO_PASSWORD = "Demo-Jiangsu-2026"  # noqa: S105
DEMO_NOTE = "【演示数据 DEMO】"
# Published too, for the same reason: the demo's second factor. Every demo account that needs one (the three
# administrators, the coordinator, the auditor) shares this authenticator key and these recovery codes.
DEMO_TOTP_KEY = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
DEMO_RECOVERY_CODES = ["demo-rc-1", "demo-rc-2", "demo-rc-3", "demo-rc-4", "demo-rc-5"]
FIRST_YEAR = 2019

# (username, role, city name or body name, label)
DEMO_ACCOUNTS = [
    ("demo-coordinator", Role.COORDINATOR, None, "协调小组办公室 coordinator"),
    ("demo-auditor", Role.AUDITOR, None, "督查审计 auditor"),
    ("demo-admin", Role.ADMIN, None, "系统管理员 system admin (accounts)"),
    ("demo-security-admin", Role.SECURITY_ADMIN, None, "安全管理员 security admin (roles, unlocking)"),
    ("demo-audit-admin", Role.AUDIT_ADMIN, None, "审计管理员 audit admin (security log)"),
    ("demo-nanjing-reporter", Role.CITY_REPORTER, "南京市", "南京市填报员 city reporter"),
    ("demo-nanjing-reviewer", Role.CITY_REVIEWER, "南京市", "南京市审核员 city reviewer"),
    ("demo-suzhou-reporter", Role.CITY_REPORTER, "苏州市", "苏州市填报员 city reporter"),
    ("demo-suzhou-reviewer", Role.CITY_REVIEWER, "苏州市", "苏州市审核员 city reviewer"),
    ("demo-xuzhou-reporter", Role.CITY_REPORTER, "徐州市", "徐州市填报员 city reporter"),
    ("demo-edu-reporter", Role.BODY_REPORTER, "省教育厅", "省教育厅填报员 body reporter"),
    ("demo-hrss-reporter", Role.BODY_REPORTER, "省人力资源社会保障厅", "省人社厅填报员 body reporter"),
    ("demo-union-reporter", Role.BODY_REPORTER, "省总工会", "省总工会填报员 body reporter"),
]


class Command(BaseCommand):
    help = "Create demo accounts and clearly-labelled synthetic quarterly data (DEBUG only)."

    def add_arguments(self, parser):
        parser.add_argument("--plan", default="js-2018-28")
        parser.add_argument("--seed", type=int, default=2018)

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("load_demo creates accounts with published passwords and runs only with DEBUG on.")
        plan = Plan.objects.filter(code=options["plan"]).first()
        if plan is None:
            raise CommandError(f"Plan {options['plan']!r} is not loaded; run load_plan first.")
        with transaction.atomic():
            users = self._accounts()
            # Synthetic figures, seeded so every demo database is the same.
            rng = random.Random(options["seed"])  # noqa: S311
            created = self._data(plan=plan, users=users, rng=rng)
        self.stdout.write(self.style.SUCCESS(f"Demo data: {created} new submissions (all figures synthetic)."))
        if created or not Figure.objects.filter(plan=plan).exists():
            # Build the province figures now, so the dashboards have something to show straight away.
            rebuilt = rollup_everything()
            self.stdout.write(f"Rolled up {len(rebuilt['rebuilt'])} slices of figures (plan, quarter, province).")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}), refused whenever DEBUG is off:")
        for username, role, _scope, label in DEMO_ACCOUNTS:
            self.stdout.write(
                f"  {username:24} {label}{' + 第二因素 second factor' if role in SECOND_FACTOR_ROLES else ''}"
            )
        self.stdout.write(
            "Second factor (演示 DEMO) for the accounts marked so: a 6-digit code from "
            f"`oathtool --totp -b {DEMO_TOTP_KEY}` (or any authenticator app given that key), "
            f"or one of the recovery codes {', '.join(DEMO_RECOVERY_CODES)} (each works once; load_demo restores them)."
        )

    def _accounts(self) -> dict[str, User]:
        user_model = get_user_model()
        group, _ = Group.objects.get_or_create(name=DEMO_GROUP)
        start = date(FIRST_YEAR, 1, 1)
        users = {}
        for username, role, scope, _label in DEMO_ACCOUNTS:
            user = user_model.objects.filter(username=username).first()
            if user is None:
                user = user_model.objects.create_user(username=username, password=DEMO_PASSWORD)
                user.groups.add(group)
            if role == Role.COORDINATOR and not user.is_staff:
                # Coordinators manage targets, the division of labour and periods in the admin.
                user.is_staff = True
                user.save(update_fields=["is_staff"])
                user.user_permissions.add(
                    *Permission.objects.filter(
                        content_type__app_label__in=["measures", "indicators", "reporting"],
                        codename__regex=r"^(view_.*|(add|change)_(target|responsibility|indicator)|change_period)$",
                    )
                )
            # 三员分立 in the admin too: accounts / roles / the security log, one each.
            staff_permissions = {
                Role.ADMIN: r"^(add|change|view)_user$",
                Role.SECURITY_ADMIN: r"^((add|change|view)_membership|view_user)$",
                Role.AUDIT_ADMIN: r"^view_securityevent$",
            }
            if role in staff_permissions and not user.is_staff:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
                user.user_permissions.add(
                    *Permission.objects.filter(
                        content_type__app_label__in=["auth", "accounts"], codename__regex=staff_permissions[role]
                    )
                )
            region = Region.objects.filter(name=scope, level=Region.Level.CITY).first() if scope else None
            body = ResponsibleBody.objects.filter(name=scope).first() if scope else None
            if role in (Role.CITY_REPORTER, Role.CITY_REVIEWER) and region is None:
                continue
            if role == Role.BODY_REPORTER and body is None:
                continue
            membership_grant(
                user=user,
                role=role,
                valid_from=start,
                region=region if role in (Role.CITY_REPORTER, Role.CITY_REVIEWER) else None,
                body=body if role == Role.BODY_REPORTER else None,
            )
            if role in SECOND_FACTOR_ROLES:
                second_factor_device_set(
                    user=user,
                    key_hex=b32decode(DEMO_TOTP_KEY).hex(),
                    recovery_codes=DEMO_RECOVERY_CODES,
                )
            users[username] = user
        return users

    def _bodies(self, *, plan: Plan, periods, targets, user, rng: random.Random) -> int:
        """Every provincial body that reports province-level indicators, every quarter: confirmed, but
        the latest quarter is still in review for some."""
        bodies = list(
            ResponsibleBody.objects.filter(indicators__plan=plan, indicators__reporter=Indicator.Reporter.BODY)
            .distinct()
            .order_by("code")
        )
        existing = set(Submission.objects.filter(plan=plan, body__isnull=False).values_list("period_id", "body_id"))
        created = 0
        for body_index, body in enumerate(bodies):
            indicators = list(indicators_expected(plan=plan, body=body))
            for step, period in enumerate(periods):
                if (period.id, body.id) in existing:
                    continue
                in_review = period == periods[-1] and body_index % 3 == 0
                status = Submission.Status.SUBMITTED if in_review else Submission.Status.CONFIRMED
                submission = Submission.objects.create(
                    plan=plan,
                    period=period,
                    body=body,
                    status=status,
                    created_by=user,
                    submitted_by=user,
                    submitted_at=timezone.make_aware(datetime.combine(period.deadline, time(10))),
                    confirmed_by=None if in_review else user,
                    confirmed_at=None
                    if in_review
                    else timezone.make_aware(datetime.combine(period.deadline, time(16))),
                )
                Transition.objects.create(
                    submission=submission, action="create", to_status=status, actor=user, reason=DEMO_NOTE
                )
                bulk_create_with_history(
                    [
                        _demo_value(
                            submission=submission,
                            indicator=indicator,
                            target=targets.get(indicator.pk),
                            share=Decimal(1),
                            step=step,
                            rng=rng,
                            user=user,
                        )
                        for indicator in indicators
                    ],
                    DataValue,
                    default_user=user,
                    default_change_reason=DEMO_NOTE,
                )
                created += 1
        return created

    def _data(self, *, plan: Plan, users: dict[str, User], rng: random.Random) -> int:
        today = timezone.localdate()
        periods = [p for p in periods_ensure_range(first_year=FIRST_YEAR, last_year=today.year) if p.end < today]
        if not periods:
            return 0
        reporter = users["demo-coordinator"]
        cities = list(Region.objects.filter(level=Region.Level.CITY).order_by("sort_order"))
        city_indicators = list(indicators_expected(plan=plan, region=cities[0])) if cities else []
        measures = list(measures_for_narrative(plan=plan))
        existing = set(Submission.objects.filter(plan=plan, region__isnull=False).values_list("period_id", "region_id"))
        targets = {t.indicator_id: t for t in Target.objects.filter(indicator__plan=plan, region__isnull=True)}
        total_size = sum(Decimal(1 + (len(cities) - i) % 5) / 2 for i in range(len(cities))) or Decimal(1)
        created = self._bodies(plan=plan, periods=periods, targets=targets, user=reporter, rng=rng)
        latest = periods[-1]
        for city_index, city in enumerate(cities):
            size = Decimal(1 + (len(cities) - city_index) % 5) / 2  # larger and smaller cities
            for period_index, period in enumerate(periods):
                if (period.id, city.id) in existing:
                    continue
                status: str = Submission.Status.CONFIRMED
                if period == latest:
                    # The last quarter is in flight: a mix of states, and two cities have not reported.
                    in_flight = [
                        Submission.Status.CONFIRMED,
                        Submission.Status.CITY_APPROVED,
                        Submission.Status.SUBMITTED,
                        Submission.Status.RETURNED,
                        Submission.Status.DRAFT,
                        None,
                    ][city_index % 6]
                    if in_flight is None:
                        continue
                    status = in_flight
                submitted_at = timezone.make_aware(datetime.combine(period.deadline, time(12))) - timedelta(
                    days=rng.randint(-3, 9)
                )
                submission = Submission.objects.create(
                    plan=plan,
                    period=period,
                    region=city,
                    status=status,
                    created_by=reporter,
                    submitted_at=None if status == Submission.Status.DRAFT else submitted_at,
                    is_late=submitted_at.date() > period.deadline,
                    confirmed_at=submitted_at if status == Submission.Status.CONFIRMED else None,
                    confirmed_by=reporter if status == Submission.Status.CONFIRMED else None,
                    submitted_by=None if status == Submission.Status.DRAFT else reporter,
                    return_reason=(DEMO_NOTE + "部分数据口径需核实，请补充说明。")
                    if status == Submission.Status.RETURNED
                    else "",
                )
                Transition.objects.create(
                    submission=submission, action="create", to_status=status, actor=reporter, reason=DEMO_NOTE
                )
                bulk_create_with_history(
                    [
                        _demo_value(
                            submission=submission,
                            indicator=indicator,
                            target=targets.get(indicator.pk),
                            share=size / total_size,
                            step=period_index,
                            rng=rng,
                            user=reporter,
                        )
                        for indicator in city_indicators
                    ],
                    DataValue,
                    default_user=reporter,
                    default_change_reason=DEMO_NOTE,
                )
                if period == latest and measures:
                    bulk_create_with_history(
                        [
                            Narrative(
                                submission=submission,
                                measure=m,
                                progress=f"{DEMO_NOTE}{city.name}推进“{m.title}”工作，本季度按计划实施。",
                                problems=f"{DEMO_NOTE}基层统计口径尚需统一。",
                                next_steps=f"{DEMO_NOTE}下季度继续推进并完善台账。",
                                updated_by=reporter,
                            )
                            for m in measures[:5]
                        ],
                        Narrative,
                        default_user=reporter,
                        default_change_reason=DEMO_NOTE,
                    )
                created += 1
        return created


def _demo_value(
    *,
    submission,
    indicator: Indicator,
    target,
    share: Decimal,
    step: int,
    rng: random.Random,
    user,
) -> DataValue:
    """A plausible synthetic value: `share` is the reporter's part of the province (a city's weight, or 1
    for a provincial body); figures with a target grow towards it, with noise, and some fall short."""
    growth = Decimal(1) + Decimal(step) / Decimal(60)
    noise = Decimal(rng.randint(85, 115)) / Decimal(100)
    value = DataValue(submission=submission, indicator=indicator, updated_by=user, comment=DEMO_NOTE)
    if indicator.kind == Indicator.Kind.MILESTONE:
        value.done = step > 8 + (indicator.pk % 12)
        value.done_on = submission.period.end if value.done else None
    elif indicator.kind in (Indicator.Kind.RATIO, Indicator.Kind.SHARE):
        goal = (target.value / indicator.scale) if target is not None else Decimal("0.5")
        ratio = min(Decimal("0.99"), goal * Decimal("0.75") * growth * noise)
        denominator = (Decimal(100000) * share * 13).quantize(Decimal(1))
        value.denominator = max(denominator, Decimal(1))
        value.numerator = (value.denominator * ratio).quantize(Decimal(1))
    elif indicator.kind == Indicator.Kind.STOCK:
        base = target.value * Decimal("0.7") if target is not None else Decimal(5000) * 13
        value.value = (base * share * growth * noise).quantize(Decimal(1))
    else:
        # A yearly target is met over four quarters; flows without one get a modest quarterly count.
        yearly = target.value if target is not None and target.per_year else Decimal(1200) * 13
        value.value = (yearly / 4 * share * noise).quantize(Decimal(1))
    return value
