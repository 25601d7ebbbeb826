"""Import-export mappings for the admin: responsible bodies and regions, keyed by their codes.

Files carry natural keys (codes), never database ids, so an export from one installation imports into
another, and an export re-imports to the same data.
"""

from datetime import date, datetime
from io import BytesIO
from typing import Any

import tablib
from django.db.models import Case, IntegerField, Model, QuerySet, Value, When
from django.utils.encoding import force_str
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources, widgets
from import_export.formats.base_formats import XLSX

from measures.models import Region, ResponsibleBody

# Characters that make a spreadsheet read a cell as a formula (CSV injection). Import-export's own
# escaping (IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT) deletes the "=" and stringifies every cell, which
# mangles data; a leading quote is reversible and leaves numbers alone.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def spreadsheet_text_escape(*, text: str) -> str:
    """Neutralise a text cell that a spreadsheet would run as a formula by prefixing a single quote.

    A text that already starts with a quote followed by a trigger or another quote is quoted too, so
    that `spreadsheet_text_unescape` can always undo exactly what was done here.
    """
    if text.startswith(FORMULA_TRIGGERS) or (text.startswith(QUOTE) and text[1:2] in (*FORMULA_TRIGGERS, QUOTE)):
        return QUOTE + text
    return text


def spreadsheet_text_unescape(*, text: str) -> str:
    if text.startswith(QUOTE) and len(text) > 1 and text[1] in (*FORMULA_TRIGGERS, QUOTE):
        return text[1:]
    return text


class SafeTextWidget(widgets.CharWidget):
    """A text column that can neither smuggle a formula out nor lose its content on the way back."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str | None:
        cleaned = super().clean(value, row, **kwargs)
        if cleaned is None:
            return None
        return spreadsheet_text_unescape(text=cleaned)

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        if value is None:
            return ""
        return spreadsheet_text_escape(text=force_str(value))


class DateOnlyWidget(widgets.DateWidget):
    """ISO dates in CSV; a spreadsheet's date cell (read back as a datetime) becomes a plain date again."""

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%d")

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> date | None:
        if isinstance(value, datetime):
            return value.date()
        return super().clean(value, row, **kwargs)


class CodeForeignKeyWidget(widgets.ForeignKeyWidget):
    """A foreign key written as the related object's code; an unknown code is a row error that names it."""

    def __init__(self, model: type[Model], field: str = "code", **kwargs: Any) -> None:
        super().__init__(model, field, **kwargs)

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        if value is None or force_str(value).strip() == "":
            return None
        code = spreadsheet_text_unescape(text=force_str(value).strip())
        try:
            return self.get_instance_by_lookup_fields(code, row, **kwargs)
        except self.model.DoesNotExist:
            raise ValueError(
                gettext("%(model)s“%(code)s”不存在") % {"model": self.model._meta.verbose_name, "code": code}
            ) from None

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str | None:
        rendered = super().render(value, obj, **kwargs)
        if rendered is None or rendered == "":
            # A spreadsheet gets a truly empty cell, a CSV an empty field.
            return None if kwargs.get("force_native_type") else ""
        return spreadsheet_text_escape(text=force_str(rendered))


class FormulaFreeXLSX(XLSX):
    """XLSX import that refuses formula cells: openpyxl reads them as None, which would silently blank data."""

    def create_dataset(self, in_stream: bytes) -> tablib.Dataset:
        import openpyxl

        book = openpyxl.load_workbook(BytesIO(in_stream), read_only=True, data_only=False)
        for row in book.active.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    raise ValueError(
                        gettext("单元格 %(cell)s 含有公式，请只填写数值或文字") % {"cell": cell.coordinate}
                    )
        return super().create_dataset(in_stream)


class PortalResource(resources.ModelResource):
    """Shared behaviour: validate every row with `full_clean()` and import all rows or none."""

    def import_data(self, dataset: Any, *args: Any, **kwargs: Any) -> Any:
        # A file with one bad row must not leave the other rows half-applied.
        kwargs.setdefault("rollback_on_validation_errors", True)
        return super().import_data(dataset, *args, **kwargs)

    class Meta:
        abstract = True


def text_field(name: str) -> fields.Field:
    return fields.Field(attribute=name, column_name=name, widget=SafeTextWidget())


class ResponsibleBodyResource(PortalResource):
    code = text_field("code")
    name = text_field("name")
    name_en = text_field("name_en")
    short_name = text_field("short_name")
    kind = text_field("kind")
    is_active = fields.Field(attribute="is_active", column_name="is_active", widget=widgets.BooleanWidget())

    class Meta:
        model = ResponsibleBody
        name = _("责任单位（按代码）")
        fields = ("code", "name", "name_en", "short_name", "kind", "is_active")
        import_id_fields = ("code",)
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True


class RegionResource(PortalResource):
    code = text_field("code")
    name = text_field("name")
    name_en = text_field("name_en")
    level = text_field("level")
    parent = fields.Field(attribute="parent", column_name="parent", widget=CodeForeignKeyWidget(Region))
    division_year = fields.Field(attribute="division_year", column_name="division_year", widget=widgets.IntegerWidget())
    sort_order = fields.Field(attribute="sort_order", column_name="sort_order", widget=widgets.IntegerWidget())

    class Meta:
        model = Region
        name = _("行政区划（按代码）")
        fields = ("code", "name", "name_en", "level", "parent", "division_year", "sort_order")
        import_id_fields = ("code",)
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def filter_export(self, queryset: QuerySet[Region], **kwargs: Any) -> QuerySet[Region]:
        # Parents before children, whatever order the changelist shows, so that the exported file
        # imports top-down into a table that lacks some of its rows.
        depth = Case(
            When(level=Region.Level.PROVINCE, then=Value(0)),
            When(level=Region.Level.CITY, then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        )
        return queryset.select_related("parent").order_by(depth, "sort_order", "code")
