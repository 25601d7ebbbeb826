"""The second-factor form: one field for a six-digit code from the authenticator app or a recovery code."""

from django import forms
from django.utils.translation import gettext_lazy as _


class SecondFactorForm(forms.Form):
    otp_token = forms.CharField(
        label=_("验证码"),
        max_length=32,
        help_text=_("身份验证器中的 6 位动态验证码，或一个恢复码（每个恢复码只能用一次）。"),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}),
    )
