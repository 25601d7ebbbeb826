"""Query fragments for submissions, kept as documented QuerySet methods so every list, detail page
and export scopes the same way."""

from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.db.models import Q

from portal.accounts.models import Role
from portal.accounts.selectors import user_scope


class SubmissionQuerySet(models.QuerySet):
    def visible_to(self, user: User | AnonymousUser) -> "SubmissionQuerySet":
        """Submissions the user may read. Coordinators and auditors read all; a city's reporters and
        reviewers read their city's; a body reporter reads the body's; anyone else reads none.

        Detail views use this too, so another city's submission answers 404, not 403."""
        scope = user_scope(user=user)
        if scope.sees_everything:
            return self.all()
        condition = Q(pk__in=[])
        cities = scope.cities(Role.CITY_REPORTER, Role.CITY_REVIEWER)
        if cities:
            condition |= Q(region_id__in=cities)
        if scope.has(Role.BODY_REPORTER) and scope.body_ids:
            condition |= Q(body_id__in=scope.body_ids)
        return self.filter(condition)

    def confirmed(self) -> "SubmissionQuerySet":
        """Only what the province confirmed: the data official figures count."""
        return self.filter(status="confirmed")

    def with_related(self) -> "SubmissionQuerySet":
        return self.select_related("plan", "period", "region", "body", "created_by", "submitted_by")
