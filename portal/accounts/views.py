"""Web login and logout, recording each attempt in the security log."""

from django.contrib.auth import views as auth_views

from portal.accounts.models import SecurityEvent
from portal.accounts.security import security_event_record


class LoginView(auth_views.LoginView):
    def form_valid(self, form):
        security_event_record(
            event=SecurityEvent.Event.LOGIN, success=True, user=form.get_user(), detail={"via": "web"}
        )
        return super().form_valid(form)

    def form_invalid(self, form):
        security_event_record(
            event=SecurityEvent.Event.LOGIN_FAILED,
            success=False,
            username=str(form.data.get("username", ""))[:150],
            detail={"via": "web"},
        )
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            security_event_record(
                event=SecurityEvent.Event.LOGOUT, success=True, user=request.user, detail={"via": "web"}
            )
        return super().post(request, *args, **kwargs)
