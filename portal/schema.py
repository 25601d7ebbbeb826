"""The project's drf-spectacular AutoSchema: what every operation of a kind answers, documented once."""

from typing import Any

from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse

from measures.serializers import ErrorSerializer

BAD_QUERY = OpenApiResponse(
    ErrorSerializer,
    description="查询参数有误（分页参数或筛选条件），errors 中列出参数名。 Bad query parameter (paging or filter).",
)


class PortalKnoxTokenScheme(KnoxTokenScheme):
    """The portal's knox authentication (`portal.accounts.auth`) is documented as knox's own."""

    target_class = "portal.accounts.auth.TokenAuthentication"
    priority = 1  # before knox's own extension, which matches subclasses too


class PortalAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        # Every paginated list refuses a malformed limit or offset with 400 (common.pagination), filters or not.
        if self.method == "GET" and self._is_list_view() and self._get_paginator() and "400" not in responses:
            responses["400"] = self._get_response_for_code(BAD_QUERY, "400", direction=direction)
        return responses
