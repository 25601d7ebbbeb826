"""Password rules of 等保 2.0 level 3: complexity, and rotation after PASSWORD_MAX_AGE_DAYS.

ASVS 5 advises against both; a provincial system is graded under 等保, so both are on by default and
can be switched off by setting (PASSWORD_COMPLEXITY=false, PASSWORD_MAX_AGE_DAYS=0)."""

import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

CLASSES = [re.compile(r"[a-z]"), re.compile(r"[A-Z]"), re.compile(r"[0-9]"), re.compile(r"[^a-zA-Z0-9]")]


class ComplexityValidator:
    """At least three of: lower case, upper case, digits, other characters. Also records when the
    password was set (Django calls `password_changed` on every validator when a password is saved),
    which is what the rotation rule reads."""

    def validate(self, password: str, user=None) -> None:
        if not settings.PASSWORD_COMPLEXITY:
            return
        if sum(1 for pattern in CLASSES if pattern.search(password)) < 3:
            raise ValidationError(
                _("密码须包含大写字母、小写字母、数字、符号中的至少三类。"), code="password_too_simple"
            )

    def password_changed(self, password: str, user=None) -> None:
        if user is None or user.pk is None:
            return
        from portal.accounts.models import PasswordState

        PasswordState.objects.update_or_create(user=user, defaults={"changed_at": timezone.now()})

    def get_help_text(self) -> str:
        return _("密码须包含大写字母、小写字母、数字、符号中的至少三类。")


def password_valid_until(user):
    """When the user's password expires, or None when rotation is off."""
    days = settings.PASSWORD_MAX_AGE_DAYS
    if not days:
        return None
    from portal.accounts.models import PasswordState

    changed = PasswordState.objects.filter(user=user).values_list("changed_at", flat=True).first()
    # No record: the password was set when the account was made (create_user hashes it without the
    # validators' hook), so the account's creation time is when it was set.
    return (changed or user.date_joined) + timedelta(days=days)


def password_expired(user) -> bool:
    until = password_valid_until(user)
    return until is not None and timezone.now() > until
