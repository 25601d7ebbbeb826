"""Authentication backend that refuses the demo accounts whenever DEBUG is off, so a demo database
copied to a server can never be logged into with the published demo passwords."""

import functools
from datetime import date

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

DEMO_GROUP = "演示账号"


class PortalModelBackend(ModelBackend):
    def user_can_authenticate(self, user) -> bool:
        if not super().user_can_authenticate(user):
            return False
        if settings.DEBUG:
            return True
        demo = getattr(user, "_portal_is_demo", None)
        if demo is not None:  # read with the user (get_user)
            return not demo
        return not user.groups.filter(name=DEMO_GROUP).exists()

    def get_user(self, user_id):
        """A session's user, read in one query with what every request asks next: whether it is a demo
        account, and its memberships active today (`user_scope` uses them instead of a query of its own)."""
        try:
            user = _users_annotated(timezone.localdate()).get(pk=user_id)
        except get_user_model().DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None


@functools.lru_cache(maxsize=2)
def _users_annotated(day: date) -> QuerySet:
    """The users with their demo flag and the memberships active on `day`, built once per day and process:
    resolving the annotations cost ~1 ms of CPU per request (as much as the rest of the user's read); each
    request filters a clone, so the cached QuerySet itself is never evaluated."""
    from portal.accounts.selectors import with_memberships

    users = get_user_model()._default_manager.annotate(
        _portal_is_demo=Exists(Group.objects.filter(user=OuterRef("pk"), name=DEMO_GROUP))
    )
    return with_memberships(users, day=day)
