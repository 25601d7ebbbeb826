"""Writes to accounts: granting and ending memberships, the second factor, enabling and disabling accounts."""

import unicodedata
from datetime import date

from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp import devices_for_user
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import get_token_model

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


RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "身份验证器"
RECOVERY_DEVICE_NAME = "恢复码"


def _otp_token_clean(token: str) -> str:
    # Full-width digits (１２３４５６) from a Chinese input method and spaces copied with a recovery code
    # are what a person typed, not a different code.
    return "".join(unicodedata.normalize("NFKC", token or "").split()).lower()


@transaction.atomic
def second_factor_check(*, user: User, token: str, via: str) -> Device | None:
    """The device that accepts this code, or None; either way one security event. A recovery code works
    once. Six digits are tried against the authenticator app only and anything else against the recovery
    codes only, so a typo does not count against the other device's throttle."""
    from portal.accounts.security import security_event_record

    cleaned = _otp_token_clean(token)
    device: Device | None = None
    kind = "totp" if len(cleaned) == 6 and cleaned.isdigit() else "static"
    model = TOTPDevice if kind == "totp" else StaticDevice
    if cleaned:
        # django-otp throttles each device (1, 2, 4, … seconds after each failure) until a success: that
        # bounds guessing even though a correct password resets django-axes' failure count.
        for candidate in model.objects.devices_for_user(user, confirmed=True).select_for_update():
            if candidate.verify_token(cleaned):
                device = candidate
                break
    security_event_record(
        event=SecurityEvent.Event.SECOND_FACTOR,
        success=device is not None,
        user=user,
        detail={"action": "verify", "via": via, "kind": kind},
    )
    return device


@transaction.atomic
def second_factor_enrol_start(*, user: User) -> TOTPDevice:
    """The unconfirmed authenticator device being enrolled; the same one on every visit until confirmed."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


@transaction.atomic
def second_factor_enrol_confirm(*, user: User, device: TOTPDevice, token: str) -> list[str] | None:
    """Confirm the app with its first code and issue fresh recovery codes (returned once, to show once).
    None when the code is wrong."""
    from portal.accounts.security import security_event_record

    device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user, confirmed=False)
    ok = device.verify_token(_otp_token_clean(token))
    security_event_record(
        event=SecurityEvent.Event.SECOND_FACTOR,
        success=ok,
        user=user,
        detail={"action": "enrol", "via": "web", "kind": "totp"},
    )
    if not ok:
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    StaticDevice.objects.filter(user=user).delete()
    recovery = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _index in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=recovery, token=code) for code in codes)
    return codes


@transaction.atomic
def second_factor_reset(*, user: User, by: User | AnonymousUser) -> int:
    """Remove every device of the user (a lost phone): their next sign-in enrols again. Sessions that
    passed with a removed device stop counting as verified at their next request. Returns how many
    devices were removed."""
    from portal.accounts.security import security_event_record

    removed = 0
    for device in list(devices_for_user(user, confirmed=None)):
        device.delete()
        removed += 1
    security_event_record(
        event=SecurityEvent.Event.SECOND_FACTOR,
        success=True,
        user=by,
        obj=user,
        detail={"action": "reset", "target": user.get_username(), "devices_removed": removed},
    )
    return removed


@transaction.atomic
def second_factor_device_set(*, user: User, key_hex: str, recovery_codes: list[str]) -> TOTPDevice:
    """Give the user an authenticator with this key and exactly these recovery codes (the demo accounts,
    whose key and codes are published). Safe to run again: codes used up since are restored."""
    device, _created = TOTPDevice.objects.update_or_create(
        user=user, name=TOTP_DEVICE_NAME, defaults={"key": key_hex, "confirmed": True}
    )
    recovery, _created = StaticDevice.objects.update_or_create(
        user=user, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True}
    )
    recovery.token_set.all().delete()
    StaticToken.objects.bulk_create(StaticToken(device=recovery, token=code) for code in recovery_codes)
    return device


def _sessions_of(user: User) -> list[str]:
    # Django keeps no index from user to session. The table holds one row per browser signed in within the
    # idle limit, a few hundred at most here, so decoding each is cheap and needs no second table to keep
    # in step with logins and logouts.
    keys = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=500):
        if session.get_decoded().get(SESSION_KEY) == str(user.pk):
            keys.append(session.session_key)
    return keys


@transaction.atomic
def user_active_set(*, user: User, active: bool, by: User | AnonymousUser | None = None) -> User:
    """Enable or disable an account. Disabling ends every browser session and deletes every API token of
    the account at once, so nothing issued before keeps working, not even after it is enabled again."""
    from portal.accounts.security import security_event_record

    sessions_ended = tokens_deleted = 0
    if user.is_active != active:
        user.is_active = active
        user.save(update_fields=["is_active"])
    if not active:
        session_keys = _sessions_of(user)
        sessions_ended, _by_model = Session.objects.filter(session_key__in=session_keys).delete()
        tokens_deleted, _by_model = get_token_model().objects.filter(user=user).delete()
    security_event_record(
        event=SecurityEvent.Event.ACCOUNT_ACTIVE,
        success=True,
        user=by,
        obj=user,
        detail={
            "target": user.get_username(),
            "active": active,
            "sessions_ended": sessions_ended,
            "tokens_deleted": tokens_deleted,
        },
    )
    return user


def tokens_expired_purge() -> int:
    """Delete API tokens past their expiry (nightly; API authentication checks only the presented token)."""
    deleted, _by_model = get_token_model().objects.filter(expiry__lt=timezone.now()).delete()
    return deleted
