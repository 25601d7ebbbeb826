"""Writes to accounts: granting and ending memberships."""

from datetime import date

from django.contrib.auth.models import User
from django.db import transaction

from measures.models import Region, ResponsibleBody
from portal.accounts.models import Membership


@transaction.atomic
def membership_grant(
    *,
    user: User,
    role: str,
    valid_from: date,
    region: Region | None = None,
    body: ResponsibleBody | None = None,
    valid_to: date | None = None,
) -> Membership:
    """Grant a role; granting the same (user, role, scope) again returns the existing membership."""
    existing = Membership.objects.filter(user=user, role=role, region=region, body=body, valid_to__isnull=True).first()
    if existing is not None:
        return existing
    membership = Membership(user=user, role=role, region=region, body=body, valid_from=valid_from, valid_to=valid_to)
    membership.full_clean()
    membership.save()
    return membership


@transaction.atomic
def membership_end(*, membership: Membership, on: date) -> Membership:
    membership.valid_to = on
    membership.full_clean()
    membership.save()
    return membership
