"""Number formatting for the dashboards: a figure in its indicator's decimals, with digit grouping."""

from decimal import Decimal, InvalidOperation

from django import template

from reporting.status import STATUS_LABELS, Status

register = template.Library()


@register.filter
def num(value: Decimal | float | int | str | None, decimals: int | str = 0) -> str:
    """`{{ figure.value|num:indicator.decimals }}` → "150,000" or "929.6"; "—" when there is none."""
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value))
        places = int(decimals)
    except (InvalidOperation, ValueError, TypeError):
        return str(value)
    quantum = Decimal(1).scaleb(-places) if places > 0 else Decimal(1)
    return f"{number.quantize(quantum):,}"


@register.filter
def signed(value: Decimal | None, decimals: int | str = 0) -> str:
    """A gap with its sign: "+12.5", "−3" (a real minus sign, so it is not read as a dash)."""
    if value is None:
        return "—"
    text = num(abs(value), decimals)
    if value > 0:
        return f"+{text}"
    if value < 0:
        return f"−{text}"
    return text


@register.filter
def status_label(status: Status | str | None) -> str:
    if status is None:
        return str(STATUS_LABELS[Status.NO_DATA])
    return str(STATUS_LABELS[Status(status)])


@register.filter
def get_item(mapping: dict, key: str) -> object:
    """`{{ counts|get_item:status }}`: a dict entry by a key held in a variable."""
    return mapping.get(key, "")


@register.filter
def absolute(value: int | None) -> int | None:
    """Days overdue from a negative "days left"."""
    return None if value is None else abs(value)
