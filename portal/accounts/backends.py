"""Authentication backend that refuses the demo accounts whenever DEBUG is off, so a demo database
copied to a server can never be logged into with the published demo passwords."""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend

DEMO_GROUP = "演示账号"


class PortalModelBackend(ModelBackend):
    def user_can_authenticate(self, user) -> bool:
        if not super().user_can_authenticate(user):
            return False
        if settings.DEBUG:
            return True
        return not user.groups.filter(name=DEMO_GROUP).exists()
