"""Accounts in the admin: the system administrator manages users and their memberships (roles and
scopes), with the history of every membership change visible."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from simple_history.admin import SimpleHistoryAdmin

from portal.accounts.models import Membership, SecurityEvent
from portal.accounts.services import user_active_set

User = get_user_model()


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["role", "region", "body", "valid_from", "valid_to"]
    fk_name = "user"


@admin.register(Membership)
class MembershipAdmin(SimpleHistoryAdmin):
    list_display = ["user", "role", "region", "body", "valid_from", "valid_to"]
    list_filter = ["role", "region", "body"]
    search_fields = ["user__username", "region__name", "body__name"]
    list_select_related = ["user", "region", "body"]


admin.site.unregister(User)
# django-otp's own device pages would let the system administrator read TOTP keys and delete a device
# unlogged; a lost factor is reset by the security administrator through the logged endpoint (三员分立).
for device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(device_model):
        admin.site.unregister(device_model)


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    inlines = [MembershipInline]
    list_display = ["username", "email", "is_active", "is_staff", "last_login"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data:
            # Through the service: disabling ends the account's sessions and API tokens at once, logged.
            user_active_set(user=obj, active=obj.is_active, by=request.user)


@admin.register(SecurityEvent)
class SecurityEventAdmin(admin.ModelAdmin):
    """Read-only: the log is append-only for everyone, administrators included."""

    list_display = ["at", "event", "success", "username", "roles", "region", "object_type", "object_id", "ip"]
    list_filter = ["event", "success"]
    search_fields = ["username", "object_id", "ip", "request_id"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
