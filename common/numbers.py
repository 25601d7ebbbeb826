"""One number parser for every way data comes in (API, web form, XLSX), so they accept and refuse alike.

DRF and Django forms both accept full-width digits (１２) and "-0"; we normalise those deliberately here
instead of letting each entry path do it differently.
"""

import unicodedata
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# Stored as NUMERIC(20, 4): 16 integer digits. A larger figure is a typing error, not a statistic.
MAX_ABS = Decimal("1e15")
MAX_DECIMAL_PLACES = 4


def decimal_parse(raw: object, *, field: str) -> Decimal | None:
    """Parse a user-supplied number; None for empty. Raises ValidationError keyed by `field`."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise ValidationError({field: _("应为数字，收到的是布尔值。")})
    if isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, int | float):
        # Floats go through str() so that 0.1 is 0.1, not its binary approximation.
        try:
            value = Decimal(str(raw))
        except InvalidOperation as exc:  # pragma: no cover - str(float) always parses
            raise ValidationError({field: _("不是有效的数字。")}) from exc
    elif isinstance(raw, str):
        text = unicodedata.normalize("NFKC", raw).strip().replace(",", "")
        if text == "":
            return None
        try:
            value = Decimal(text)
        except InvalidOperation as exc:
            raise ValidationError({field: _("“%(value)s”不是有效的数字。") % {"value": raw[:40]}}) from exc
    else:
        raise ValidationError({field: _("应为数字。")})

    if value.is_nan():
        raise ValidationError({field: _("不能为 NaN（非数字）。")})
    if value.is_infinite():
        raise ValidationError({field: _("不能为无穷大。")})
    if abs(value) >= MAX_ABS:
        raise ValidationError({field: _("数值过大：绝对值须小于 10 的 15 次方。")})
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_DECIMAL_PLACES:
        rounded = value.quantize(Decimal(1).scaleb(-MAX_DECIMAL_PLACES))
        if rounded != value:
            raise ValidationError({field: _("最多保留 4 位小数。")})
        value = rounded
    if value == 0:
        # "-0" and "0.000" are both zero; store one zero.
        value = Decimal(0)
    return value
