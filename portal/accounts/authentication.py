"""API token authentication: django-rest-knox's, less its sweep of the user's other tokens on every request."""

from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication
from knox.signals import token_expired


class PortalTokenAuthentication(TokenAuthentication):
    """knox reads all of the user's tokens on every request to delete the expired ones (one query per API
    call). Here the presented token's own expiry is checked exactly as knox does (an expired token is
    refused and deleted); the user's other expired tokens, which can sign nothing in either, are deleted by
    the nightly purge (`tokens_expired_purge`)."""

    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False


class PortalTokenScheme(KnoxTokenScheme):
    """The same OpenAPI security scheme as knox's own (drf-spectacular matches the exact class)."""

    target_class = "portal.accounts.authentication.PortalTokenAuthentication"
