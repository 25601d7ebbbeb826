"""Model instances from rows of hand-written SQL, as the ORM builds them from its own.

For the few hot reads where building and compiling a queryset costs more than PostgreSQL takes to answer it:
the SQL selects a model's concrete columns in their order (`model_columns`), and `model_from_row` converts
each value as the ORM's compiler would (the back end's and the field's converters) and makes the instance
with `Model.from_db`, so it is the instance a queryset would have returned."""

from typing import Any, cast

from django.db import connection, models


def model_fields(model: type[models.Model], names: tuple[str, ...] | None = None) -> list[models.Field]:
    """The model's concrete fields in their order, or those of them whose attname is in `names`."""
    return [f for f in model._meta.concrete_fields if names is None or f.attname in names]


def model_column(field: models.Field) -> str:
    # Concrete fields, each with a column (Field.column is None only for a field without one).
    return connection.ops.quote_name(cast(str, field.column))


def model_columns(model: type[models.Model], alias: str, names: tuple[str, ...] | None = None) -> str:
    """`alias.col, …` of `model_fields`, for a SELECT list."""
    return ", ".join(f"{alias}.{model_column(f)}" for f in model_fields(model, names))


def model_from_row(model: type[models.Model], values: Any, names: tuple[str, ...] | None = None) -> Any:
    """The instance of a row of `model_columns` (only the fields in `names` loaded, as `.only()` would)."""
    fields = model_fields(model, names)
    converted = []
    for raw, field in zip(values, fields, strict=True):
        col = field.get_col(model._meta.db_table)
        value = raw
        for converter in (*connection.ops.get_db_converters(col), *col.get_db_converters(connection)):
            value = converter(value, col, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)
