"""The API's one pagination: limit and offset, refused with 400 when malformed.

DRF's LimitOffsetPagination reads `?offset=abc` or `?limit=-5` as "no value" and answers the first page: a
client's typo would look like a short list. Here each must be a whole number within its documented bounds, and
the bounds are in the schema, so what the schema calls invalid is what the API refuses.
"""

import re
import unicodedata
from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

DIGITS = re.compile(r"[0-9]+")
# The largest page a client may ask for; the default page (PAGE_SIZE) is smaller.
MAX_LIMIT = 1000
# PostgreSQL takes OFFSET as bigint; a larger number is a client error, not a page to look for.
MAX_OFFSET = 2**31 - 1


def _whole_number(request: Request, name: str, *, minimum: int, maximum: int, default: int | None) -> int | None:
    raw = request.query_params.getlist(name)
    if not raw:
        return default
    # One value: `?offset=1&offset=2` is ambiguous. Full-width digits are read as digits, as everywhere else.
    text = unicodedata.normalize("NFKC", raw[-1]).strip() if len(raw) == 1 else ""
    if not DIGITS.fullmatch(text) or not minimum <= int(text) <= maximum:
        raise ValidationError(
            {name: [_("应为 %(minimum)d 到 %(maximum)d 之间的整数。") % {"minimum": minimum, "maximum": maximum}]}
        )
    return int(text)


class StrictLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def get_limit(self, request: Request) -> int | None:
        return _whole_number(request, self.limit_query_param, minimum=1, maximum=MAX_LIMIT, default=self.default_limit)

    def get_offset(self, request: Request) -> int:
        return _whole_number(request, self.offset_query_param, minimum=0, maximum=MAX_OFFSET, default=0) or 0

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        bounds = {self.limit_query_param: (1, MAX_LIMIT), self.offset_query_param: (0, MAX_OFFSET)}
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            minimum, maximum = bounds[parameter["name"]]
            parameter["schema"] = {**parameter["schema"], "minimum": minimum, "maximum": maximum}
        return parameters
