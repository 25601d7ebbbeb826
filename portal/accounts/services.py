"""Writes to accounts: granting and ending memberships."""

from datetime import date

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from measures.models import Region, ResponsibleBody
from portal.accounts.models import SEPARATED_ROLES, Membership, Role, SecurityEvent


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
    if role in SEPARATED_ROLES:
        held = (
            Membership.objects.filter(user=user, role__in=SEPARATED_ROLES, valid_to__isnull=True)
            .exclude(role=role)
            .first()
        )
        if held is not None:
            raise ValidationError(
                {
                    "role": [
                        _("三员分立：该账号已是“%(held)s”，不能再授予“%(role)s”。")
                        % {"held": held.get_role_display(), "role": Role(role).label}
                    ]
                }
            )
    membership = Membership(user=user, role=role, region=region, body=body, valid_from=valid_from, valid_to=valid_to)
    membership.full_clean()
    membership.save()
    _role_change_record(membership=membership, change="grant")
    return membership


def _role_change_record(*, membership: Membership, change: str) -> None:
    from portal.accounts.security import security_event_record

    security_event_record(
        event=SecurityEvent.Event.ROLE_CHANGE,
        success=True,
        user=membership.user,
        obj=membership,
        detail={
            "change": change,
            "role": membership.role,
            "region": membership.region.code if membership.region else None,
            "body": membership.body.code if membership.body else None,
            "valid_from": str(membership.valid_from),
            "valid_to": str(membership.valid_to) if membership.valid_to else None,
        },
    )


@transaction.atomic
def membership_end(*, membership: Membership, on: date) -> Membership:
    membership.valid_to = on
    membership.full_clean()
    membership.save()
    _role_change_record(membership=membership, change="end")
    return membership
