"""Periods in the admin go through the services: the deadline rule holds and only coordinators act."""

from datetime import date

from django.contrib.auth.models import Permission

from reporting.models import Period


def _staff(user):
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_period", "change_period"]))
    return user


def test_coordinator_moves_a_deadline_in_the_admin(client, coordinator, period):
    client.force_login(_staff(coordinator))
    url = f"/admin/reporting/period/{period.pk}/change/"
    assert client.get(url).status_code == 200
    client.post(url, {"deadline": "2026-01-20"})
    period.refresh_from_db()
    assert (period.deadline, period.version) == (date(2026, 1, 20), 2)


def test_deadline_before_quarter_end_is_refused_and_nothing_changes(client, coordinator, period):
    client.force_login(_staff(coordinator))
    client.post(f"/admin/reporting/period/{period.pk}/change/", {"deadline": "2025-12-01"})
    assert Period.objects.get(pk=period.pk).deadline == date(2026, 1, 10)


def test_staff_without_the_coordinator_role_cannot_move_a_deadline(client, admin_user, period):
    client.force_login(_staff(admin_user))
    client.post(f"/admin/reporting/period/{period.pk}/change/", {"deadline": "2026-02-01"})
    assert Period.objects.get(pk=period.pk).deadline == date(2026, 1, 10)
