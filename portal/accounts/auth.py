"""Token authentication for API clients: django-rest-knox's, without its per-request housekeeping.

knox, on every request, reads all of the user's other tokens to delete the expired ones among them (one
query each request, a DELETE now and then). Which token is presented is still checked in full here: its
digest, its own expiry (an expired one is deleted and refused, as knox does) and the user being active.
The other tokens' expired rows are removed by the nightly `api_tokens_expired_purge` instead; until then
they refuse themselves, since each is checked against its own expiry whenever it is presented."""

from typing import Any

from django.utils import timezone
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.signals import token_expired


class TokenAuthentication(KnoxTokenAuthentication):
    def _cleanup_token(self, auth_token: Any) -> bool:
        """True (and the token deleted) when the presented token has expired."""
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False
