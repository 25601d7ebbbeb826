"""Reads about who a user is: their active memberships, looked up once per request."""

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import CharField, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone
from django_otp import user_has_device

from portal.accounts.models import SECOND_FACTOR_ROLES, Membership, Role


@dataclass(frozen=True)
class Scope:
    """What a user's active memberships allow, flattened: roles and the ids of their cities and bodies."""

    roles: frozenset[str] = frozenset()
    city_ids_by_role: dict[str, frozenset[int]] = field(default_factory=dict)
    body_ids: frozenset[int] = frozenset()

    def has(self, role: str) -> bool:
        return role in self.roles

    def cities(self, *roles: str) -> frozenset[int]:
        out: set[int] = set()
        for role in roles or tuple(self.city_ids_by_role):
            out |= self.city_ids_by_role.get(role, frozenset())
        return frozenset(out)

    @property
    def sees_everything(self) -> bool:
        return bool(self.roles & {Role.COORDINATOR, Role.AUDITOR})

    def text(self) -> str:
        """The whole scope as text, the same for equal scopes: part of the key of anything kept per reader."""
        cities = ";".join(
            f"{role}:{','.join(map(str, sorted(ids)))}" for role, ids in sorted(self.city_ids_by_role.items())
        )
        return (
            f"roles={','.join(sorted(self.roles))}|cities={cities}|bodies={','.join(map(str, sorted(self.body_ids)))}"
        )


def memberships_active(*, user: User | AnonymousUser, on: date | None = None):
    day = on or timezone.localdate()
    if not user.is_authenticated or not user.is_active:
        return Membership.objects.none()
    return Membership.objects.filter(user=user, valid_from__lte=day).filter(
        Q(valid_to__isnull=True) | Q(valid_to__gte=day)
    )


def with_memberships(users: QuerySet, *, day: date | None = None) -> QuerySet:
    """Users with their memberships active on `day` (default today) read in the same query (PostgreSQL: an
    array column), so that `user_scope` costs no query of its own on that day; elsewhere the users unchanged."""
    if connection.vendor != "postgresql":
        return users
    day = day or timezone.localdate()
    text = Concat(
        "role",
        Value(":"),
        Coalesce(Cast("region_id", CharField()), Value("")),
        Value(":"),
        Coalesce(Cast("body_id", CharField()), Value("")),
        output_field=CharField(),
    )
    rows = (
        Membership.objects.filter(user=OuterRef("pk"), valid_from__lte=day)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=day))
        .values(row=text)
    )
    return users.annotate(_portal_memberships=ArraySubquery(rows), _portal_memberships_on=Value(day))


def memberships_sql(*, user_id: int, day: date) -> tuple[str, list[Any]]:
    """PostgreSQL: an ARRAY(…) expression of the memberships of user `user_id` active on `day`, as the texts
    `with_memberships` reads, for a caller that reads them in a statement of its own (then
    `memberships_attach`); with its parameters."""
    table = Membership._meta.db_table
    sql = (
        "ARRAY(SELECT role || ':' || COALESCE(region_id::text, '') || ':' || COALESCE(body_id::text, '') "  # noqa: S608 - the model's table
        f"FROM {table} WHERE user_id = %s AND valid_from <= %s AND (valid_to IS NULL OR valid_to >= %s))"
    )
    return sql, [user_id, day, day]


def memberships_attach(*, user: User, rows: list[str], day: date) -> None:
    """Give `user` the memberships read by `memberships_sql` for `day`, so that `user_scope` costs no query."""
    setattr(user, "_portal_memberships", rows)  # noqa: B010 - the per-request attributes with_memberships sets
    setattr(user, "_portal_memberships_on", day)  # noqa: B010
    if hasattr(user, "_portal_scope"):
        delattr(user, "_portal_scope")


def _membership_rows(user: User | AnonymousUser, on: date | None) -> list[tuple[str, int | None, int | None]]:
    read = getattr(user, "_portal_memberships", None)
    if on is None and read is not None and getattr(user, "_portal_memberships_on", None) == timezone.localdate():
        if not user.is_active:
            return []
        rows = []
        for text in read:
            role, region_id, body_id = text.split(":")
            rows.append((role, int(region_id) if region_id else None, int(body_id) if body_id else None))
        return rows
    return list(memberships_active(user=user, on=on).values_list("role", "region_id", "body_id"))


def user_scope(*, user: User | AnonymousUser, on: date | None = None) -> Scope:
    """The user's scope, cached on the user object for the rest of the request."""
    cached = getattr(user, "_portal_scope", None)
    if cached is not None and on is None:
        return cached
    roles: set[str] = set()
    cities: dict[str, set[int]] = {}
    bodies: set[int] = set()
    for role, region_id, body_id in _membership_rows(user, on):
        roles.add(role)
        if region_id is not None:
            cities.setdefault(role, set()).add(region_id)
        if body_id is not None:
            bodies.add(body_id)
    scope = Scope(
        roles=frozenset(roles),
        city_ids_by_role={k: frozenset(v) for k, v in cities.items()},
        body_ids=frozenset(bodies),
    )
    if on is None and user.is_authenticated:
        setattr(user, "_portal_scope", scope)  # noqa: B010 - a per-request cache on the user object
    return scope


def second_factor_required(*, user: User | AnonymousUser) -> bool:
    """Whether this user must pass a TOTP or recovery code after the password. Staff and superusers too,
    with or without a role: they reach the admin site, which changes accounts and roles."""
    if not settings.PORTAL_OTP_REQUIRED or not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser:
        return True
    return bool(user_scope(user=user).roles & set(SECOND_FACTOR_ROLES))


def second_factor_enrolled(*, user: User | AnonymousUser) -> bool:
    """Whether the user has a confirmed device. Once enrolled, always enrolled: someone who lost the app
    and used up the recovery codes asks the security administrator for a reset, because letting a password
    alone enrol a new app would make the password the only factor again."""
    return user_has_device(user, confirmed=True)
