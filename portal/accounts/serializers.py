"""Shapes of the token login: what a client sends and what it gets back."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from portal.accounts.models import Role


class TokenLoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
    otp_token = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        help_text=_(
            "第二因素：身份验证器的 6 位动态验证码或一个恢复码；系统管理员、安全管理员、审计管理员、协调小组办公室"
            "和督查审计账号必填"
        ),
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text=_("以 “Authorization: Token <token>” 发送；只显示这一次"))
    expiry = serializers.DateTimeField(allow_null=True, help_text=_("令牌到期时间"))
    username = serializers.CharField()
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices))
