"""Number formatting for the dashboards: a figure in its indicator's decimals, with digit grouping."""

import html
from decimal import Decimal, InvalidOperation

from django import template
from django.utils.formats import localize
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from indicators.models import Indicator
from reporting.selectors.dashboards import CityRow
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


@register.simple_tag
def city_rows(rows: list[CityRow], indicator: Indicator) -> SafeString:
    """The rows of an indicator's city ranking table: byte for byte what this loop of _indicator_body.html
    rendered (a test renders both), the lines of its body being

        <tr>
          <td class="num">{{ row.rank }}</td>
          <th scope="row">{{ row.region.name }}</th>
          <td class="num">{% if ind.kind == "milestone" %}{% if row.figure.done_count %}
            {% translate "已完成" %}{% else %}{% translate "未完成" %}{% endif %}{% else %}
            {{ row.figure.value|num:ind.decimals }}{% endif %}</td>
          {% if ind.has_parts %}<td class="num">{{ row.figure.numerator|num:0 }}</td>
            <td class="num">{{ row.figure.denominator|num:0 }}</td>{% endif %}
          <td>{% if row.carried_from %}<span class="tag tag--carried">{% blocktranslate with code=row.carried_from %}
            沿用 {{ code }} 数据{% endblocktranslate %}</span>{% endif %}</td>
        </tr>

    (each on one line, indented as in the page). At national scale the ranking has 333 prefectures, and the
    template engine's work per cell made the page's first render several times a kept one's. Every value is
    escaped as the template escapes it: names and codes are plain text from the database (never marked
    safe), for which Django's `escape` is `html.escape`; the translated literals are safe, as the template's
    are."""
    milestone = indicator.kind == Indicator.Kind.MILESTONE
    decimals = indicator.decimals
    done, not_done = gettext("已完成"), gettext("未完成")
    carried_text = gettext("沿用 %(code)s 数据")
    parts = []
    for row in rows:
        figure = row.figure
        value = (done if figure.done_count else not_done) if milestone else html.escape(num(figure.value, decimals))
        shares = (
            f'<td class="num">{html.escape(num(figure.numerator, 0))}</td>'
            f'<td class="num">{html.escape(num(figure.denominator, 0))}</td>'
            if indicator.has_parts
            else ""
        )
        note = (
            f'<span class="tag tag--carried">{carried_text % {"code": html.escape(row.carried_from)}}</span>'
            if row.carried_from
            else ""
        )
        parts.append(
            "\n              <tr>"
            f'\n                <td class="num">{html.escape(localize(row.rank))}</td>'
            f'\n                <th scope="row">{html.escape(row.region.name)}</th>'
            f'\n                <td class="num">{value}</td>'
            f"\n                {shares}"
            f"\n                <td>{note}</td>"
            "\n              </tr>"
            "\n            "
        )
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped
