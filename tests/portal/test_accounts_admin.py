"""The system administrator manages accounts and roles; reporters cannot reach the admin at all."""

from datetime import date

from django.contrib.auth.models import Permission

from portal.accounts.models import Membership


def test_admin_role_manages_memberships_in_the_admin(client, admin_user, nanjing_reporter):
    admin_user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_user", "change_user", "view_membership", "add_membership"])
    )
    client.force_login(admin_user)
    assert client.get("/admin/auth/user/").status_code == 200
    page = client.get(f"/admin/auth/user/{nanjing_reporter.pk}/change/")
    assert page.status_code == 200
    assert "设区市填报员" in page.content.decode()
    assert client.get("/admin/accounts/membership/").status_code == 200


def test_reporters_are_kept_out_of_the_admin(client, nanjing_reporter):
    client.force_login(nanjing_reporter)
    response = client.get("/admin/accounts/membership/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert Membership.objects.filter(user=nanjing_reporter, valid_from=date(2018, 1, 1)).count() == 1
