"""Request types for views."""

from django.contrib.auth.models import User
from django.http import HttpRequest


class AuthenticatedRequest(HttpRequest):
    """What `login_required` guarantees to a view: a signed-in user, never AnonymousUser."""

    user: User
