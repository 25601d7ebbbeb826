"""Security administration over the API (三员分立): the security administrator unlocks accounts and resets a
lost second factor; the audit administrator reads the security log and checks its hash chain. Nobody else
may do either."""

from axes.utils import reset
from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from measures.serializers import ErrorSerializer
from portal.accounts.models import Role, SecurityEvent
from portal.accounts.security import security_chain_verify, security_event_record
from portal.accounts.selectors import user_scope
from portal.accounts.services import second_factor_reset

DENIED = {
    401: OpenApiResponse(ErrorSerializer, description="未登录。 Not authenticated."),
    403: OpenApiResponse(ErrorSerializer, description="角色无权。 Your role may not do this."),
}


class HasRole(permissions.BasePermission):
    role = ""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and user_scope(user=request.user).has(self.role))


class IsSecurityAdmin(HasRole):
    role = Role.SECURITY_ADMIN
    message = "只有安全管理员可以解除锁定。"


class IsSecurityAdminForSecondFactor(HasRole):
    role = Role.SECURITY_ADMIN
    message = gettext_lazy("只有安全管理员可以重置第二因素。")


class IsAuditAdmin(HasRole):
    role = Role.AUDIT_ADMIN
    message = "只有审计管理员可以查看安全审计日志。"


class UnlockSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)


class UnlockResultSerializer(serializers.Serializer):
    username = serializers.CharField()
    cleared_attempts = serializers.IntegerField()


class SecondFactorResetSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)


class SecondFactorResetResultSerializer(serializers.Serializer):
    username = serializers.CharField()
    devices_removed = serializers.IntegerField()


class SecurityEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = SecurityEvent
        fields = [
            "id", "at", "username", "roles", "region", "event", "success", "object_type", "object_id", "ip",
            "request_id", "detail", "prev_hash", "hash",
        ]  # fmt: skip


class ChainSerializer(serializers.Serializer):
    intact = serializers.BooleanField()
    first_broken_id = serializers.IntegerField(allow_null=True)


class UnlockViewSet(viewsets.ViewSet):
    permission_classes = [IsSecurityAdmin]

    @extend_schema(
        tags=["security 安全"],
        summary="解除账号锁定 · Unlock an account locked after failed logins",
        request=UnlockSerializer,
        responses={200: UnlockResultSerializer, 400: OpenApiResponse(ErrorSerializer), **DENIED},
    )
    def create(self, request: Request) -> Response:
        data = UnlockSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        cleared = reset(username=username)
        security_event_record(
            event=SecurityEvent.Event.UNLOCK,
            success=True,
            user=request.user,
            detail={"unlocked": username, "cleared_attempts": cleared},
        )
        return Response(UnlockResultSerializer({"username": username, "cleared_attempts": cleared}).data)


class SecondFactorResetViewSet(viewsets.ViewSet):
    permission_classes = [IsSecurityAdminForSecondFactor]

    @extend_schema(
        tags=["security 安全"],
        summary="重置第二因素（手机丢失）· Reset a user's second factor (a lost phone)",
        description=(
            "删除该账号的身份验证器和恢复码；其已验证的会话在下一次请求时失效，下次登录须重新绑定。\n\n"
            "Removes the user's authenticator and recovery codes; sessions verified with them stop counting "
            "at their next request, and the next sign-in enrols again."
        ),
        request=SecondFactorResetSerializer,
        responses={200: SecondFactorResetResultSerializer, 400: OpenApiResponse(ErrorSerializer), **DENIED},
    )
    def create(self, request: Request) -> Response:
        data = SecondFactorResetSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        target = get_user_model().objects.filter(username=username).first()
        if target is None:
            raise serializers.ValidationError({"username": [_("没有该用户名的账号。")]})
        removed = second_factor_reset(user=target, by=request.user)
        return Response(SecondFactorResetResultSerializer({"username": username, "devices_removed": removed}).data)


@extend_schema_view(
    list=extend_schema(
        tags=["security 安全"],
        summary="安全审计日志 · The security log",
        responses={200: SecurityEventSerializer(many=True), **DENIED},
    ),
    chain=extend_schema(
        tags=["security 安全"],
        summary="校验日志哈希链 · Verify the log's hash chain",
        responses={200: ChainSerializer, **DENIED},
    ),
)
class SecurityEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuditAdmin]
    serializer_class = SecurityEventSerializer
    queryset = SecurityEvent.objects.order_by("-id")
    filterset_fields = ["event", "success", "username"]

    @action(detail=False, methods=["get"])
    def chain(self, request: Request) -> Response:
        broken = security_chain_verify()
        return Response(ChainSerializer({"intact": broken is None, "first_broken_id": broken}).data)


routes = [
    ("security/unlock", UnlockViewSet, "security-unlock"),
    ("security/second-factor-reset", SecondFactorResetViewSet, "security-second-factor-reset"),
    ("security/events", SecurityEventViewSet, "security-event"),
]
