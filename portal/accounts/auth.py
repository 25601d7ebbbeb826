"""Token authentication for API clients: django-rest-knox's, without its per-request housekeeping.

knox, on every request, reads all of the user's other tokens to delete the expired ones among them (one
query each request, a DELETE now and then). Which token is presented is still checked in full here: its
digest, its own expiry (an expired one is deleted and refused, as knox does) and the user being active.
The other tokens' expired rows are removed by the nightly `api_tokens_expired_purge` instead; until then
they refuse themselves, since each is checked against its own expiry whenever it is presented.

On PostgreSQL the presented key's tokens and their users are read by one hand-written query instead of a
queryset with select_related (building and compiling that queryset cost more than the query, on every API
request); the instances are those the queryset would return (`common.rows`), and every check is knox's."""

import binascii
from hmac import compare_digest
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from knox.signals import token_expired
from rest_framework import exceptions

from common.rows import model_column, model_columns, model_fields, model_from_row


def _tokens_with_users(key: str) -> list[Any]:
    """The tokens stored under `key` with their users, as `filter(token_key=key).select_related("user")`."""
    token_model, user_model = get_token_model(), get_user_model()
    quote = connection.ops.quote_name
    user_id = quote(token_model._meta.get_field("user").column)  # type: ignore[union-attr]
    token_key = quote(token_model._meta.get_field("token_key").column)  # type: ignore[union-attr]
    sql = (
        f"SELECT {model_columns(token_model, 't')}, {model_columns(user_model, 'u')} "  # noqa: S608 - the models' own names
        f"FROM {quote(token_model._meta.db_table)} t JOIN {quote(user_model._meta.db_table)} u "
        f"ON u.{model_column(user_model._meta.pk)} = t.{user_id} WHERE t.{token_key} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [key])
        rows = cursor.fetchall()
    width = len(model_fields(token_model))
    tokens = []
    for row in rows:
        token = model_from_row(token_model, row[:width])
        token.user = model_from_row(user_model, row[width:])
        tokens.append(token)
    return tokens


class TokenAuthentication(KnoxTokenAuthentication):
    def authenticate_credentials(self, token: bytes) -> tuple[Any, Any]:
        """knox's own check (django-rest-knox 5), the tokens read by `_tokens_with_users` on PostgreSQL."""
        if connection.vendor != "postgresql":
            return super().authenticate_credentials(token)
        msg = _("Invalid token.")
        text = token.decode("utf-8")
        for auth_token in _tokens_with_users(text[: CONSTANTS.TOKEN_KEY_LENGTH]):
            if self._cleanup_token(auth_token):
                continue
            try:
                digest = hash_token(text)
            except (TypeError, binascii.Error):
                raise exceptions.AuthenticationFailed(msg) from None
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(msg)

    def _cleanup_token(self, auth_token: Any) -> bool:
        """True (and the token deleted) when the presented token has expired."""
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False
