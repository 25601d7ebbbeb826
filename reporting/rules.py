"""Who may act on a submission: `rules` predicates over the same memberships that scope the querysets.

Each permission is one predicate; services check them before any write, views use them to decide
which buttons to show. State (draft, locked, closed period) is checked by the services, not here, so
that a refusal for state says why (409) and a refusal for identity says nothing (404/403).
"""

import rules

from portal.accounts.models import Role
from portal.accounts.selectors import user_scope


@rules.predicate
def is_coordinator(user) -> bool:
    return user_scope(user=user).has(Role.COORDINATOR)


@rules.predicate
def is_auditor(user) -> bool:
    return user_scope(user=user).has(Role.AUDITOR)


@rules.predicate
def is_reporter_of(user, submission) -> bool:
    scope = user_scope(user=user)
    if submission is None:
        return False
    if submission.region_id is not None:
        return submission.region_id in scope.cities(Role.CITY_REPORTER)
    return scope.has(Role.BODY_REPORTER) and submission.body_id in scope.body_ids


@rules.predicate
def is_city_reviewer_of(user, submission) -> bool:
    if submission is None or submission.region_id is None:
        return False
    return submission.region_id in user_scope(user=user).cities(Role.CITY_REVIEWER)


@rules.predicate
def can_read(user, submission) -> bool:
    scope = user_scope(user=user)
    if scope.sees_everything:
        return True
    if submission is None:
        return False
    if submission.region_id is not None:
        return submission.region_id in scope.cities(Role.CITY_REPORTER, Role.CITY_REVIEWER)
    return submission.body_id in scope.body_ids


rules.add_perm("reporting.view_submission", can_read)
rules.add_perm("reporting.edit_submission", is_reporter_of)
rules.add_perm("reporting.submit_submission", is_reporter_of)
rules.add_perm("reporting.city_review_submission", is_city_reviewer_of)
rules.add_perm("reporting.confirm_submission", is_coordinator)
rules.add_perm("reporting.reopen_submission", is_coordinator)
rules.add_perm("reporting.manage_periods", is_coordinator)
rules.add_perm("reporting.view_history", is_coordinator | is_auditor | can_read)
